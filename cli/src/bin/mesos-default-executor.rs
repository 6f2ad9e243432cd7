//! The default executor: runs a task group's tasks for the agent that started it.
fn main() {
    std::process::exit(mesos_agent::executor::main("default"));
}
