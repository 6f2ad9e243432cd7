//! `scale`: the scale scenarios (offer storm, launch storm, master failover, `/master/state`,
//! master memory) with simulated agents and frameworks in child processes. See
//! `mesos_bench::scale::ScaleFlags` for the flags (`scale <scenario> --help`); every scenario
//! takes `--quick` and `--json`.

fn main() {
    mesos_bench::sim::child_main_if_requested();
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(mesos_bench::scale::main_with(&args));
}
