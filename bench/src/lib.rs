//! Benchmarks of the libprocess-rs runtime against raw baselines, shared by the criterion suites
//! and the `transport` binary. Every workload here runs its baseline beside it in the same run,
//! so figures are quoted as ratios on this noisy shared machine.

pub mod alloc_shapes;
pub mod codec_mix;
pub mod dsim;
pub mod local;
pub mod peers;
pub mod remote;
pub mod scale;
pub mod sim;

use std::time::Duration;

/// Median of samples (sorted in place).
pub fn median(v: &mut [Duration]) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[v.len() / 2]
}

/// The best (largest) of several throughput runs, in messages per second.
pub fn best_rate(runs: impl IntoIterator<Item = f64>) -> f64 {
    runs.into_iter().fold(0.0, f64::max)
}

/// Loads a bench binary's flags from `args` (without the program) the way stout reads them
/// (`--name=value`, `--name` / `--no-name`, `--help`), but not from `MESOS_*` variables: a
/// benchmark's options are its command line. On `--help` prints the usage and exits 0; on a bad
/// flag prints the error and exits `bad_exit`.
pub fn load_flags(
    program: &str,
    table: &[libprocess::flags::Flag],
    args: impl IntoIterator<Item = String>,
    bad_exit: i32,
) -> libprocess::flags::Flags {
    use libprocess::flags::FlagsError;
    match libprocess::flags::load(program, table, args, |_| None) {
        Ok(f) => f,
        Err(FlagsError::Help(u)) => {
            print!("{u}");
            std::process::exit(0)
        }
        Err(FlagsError::Bad(e)) => {
            eprintln!("{program}: {e}\n\nSee --help for the flags.");
            std::process::exit(bad_exit)
        }
    }
}
