//! The command executor: runs one task's command for the agent that started it.
fn main() {
    std::process::exit(mesos_agent::executor::main("command"));
}
