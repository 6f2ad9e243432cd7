//! The status-keeping init of nested containers (see `mesos_containerizer::init`):
//! `mesos-container-init --status_path=<file> -- <program> [args...]`.
fn main() {
    std::process::exit(mesos_containerizer::init::main(
        std::env::args_os().skip(1).collect(),
    ));
}
