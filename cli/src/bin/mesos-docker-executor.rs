//! The docker executor: runs one task of type DOCKER through the Docker daemon for the agent
//! that started it (`--containerizers=docker,mesos`).
fn main() {
    std::process::exit(mesos_agent::executor::main("docker"));
}
