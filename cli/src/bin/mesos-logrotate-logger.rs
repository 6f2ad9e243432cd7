//! The logrotate container logger's helper (see `mesos_containerizer::logger`):
//! `mesos-logrotate-logger --log_filename=<file> [--max_size=<bytes>]
//! [--logrotate_options=<lines>] [--logrotate_path=<logrotate>]` copies its standard input to
//! the file and rotates it with `logrotate` by size.
fn main() {
    std::process::exit(mesos_containerizer::logger::main(
        std::env::args_os().skip(1).collect(),
    ));
}
