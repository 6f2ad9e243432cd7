//! What a task or an executor runs: `CommandInfo` with its URIs and environment (in
//! `mesos.proto`; here on their own so that tasks and containers (health checks) can both use
//! them without importing each other).

use serde::{Deserialize, Serialize};

use super::enums::proto_enum;

fn yes() -> bool {
    true
}

/// A URI for the fetcher.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandUri {
    /// Path or URL.
    pub value: String,
    /// Mark the fetched file executable.
    #[serde(default)]
    pub executable: Option<bool>,
    /// Extract archives (default true).
    #[serde(default = "yes")]
    pub extract: bool,
    /// Use the fetcher cache.
    #[serde(default)]
    pub cache: Option<bool>,
    /// Name in the sandbox.
    #[serde(default)]
    pub output_file: Option<String>,
}

proto_enum!(
    /// How an environment variable's value is given.
    VariableType {
        Unknown = 0 => "UNKNOWN",
        Value = 1 => "VALUE",
        Secret = 2 => "SECRET",
    } fallback Unknown
);

fn value_type() -> VariableType {
    VariableType::Value
}

/// One environment variable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its kind (default VALUE).
    #[serde(rename = "type", default = "value_type")]
    pub kind: VariableType,
    /// Its value.
    #[serde(default)]
    pub value: Option<String>,
}

/// Environment variables.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// The variables.
    #[serde(default)]
    pub variables: Vec<Variable>,
}

/// What to run: a shell command (`shell`, the default) or an argv (`value` + `arguments`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandInfo {
    /// Files to fetch into the sandbox first.
    #[serde(default)]
    pub uris: Vec<CommandUri>,
    /// Environment.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// Run `value` with `/bin/sh -c` (default true).
    #[serde(default = "yes")]
    pub shell: bool,
    /// The command (shell) or the program (argv).
    #[serde(default)]
    pub value: Option<String>,
    /// argv when not `shell`.
    #[serde(default)]
    pub arguments: Vec<String>,
    /// Run as this user.
    #[serde(default)]
    pub user: Option<String>,
}

impl CommandInfo {
    /// What to exec: `/bin/sh` with `-c <value>` for a shell command, else `value` with
    /// `arguments[1..]` (argv[0] is the program).
    pub fn argv(&self) -> (String, Vec<String>) {
        let value = self.value.clone().unwrap_or_default();
        if self.shell {
            ("/bin/sh".into(), vec!["-c".into(), value])
        } else {
            (value, self.arguments.iter().skip(1).cloned().collect())
        }
    }

    /// Its environment variables as pairs (an unset value is empty).
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.environment
            .iter()
            .flat_map(|e| e.variables.iter())
            .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
            .collect()
    }

    /// A shell command.
    pub fn shell(cmd: &str) -> CommandInfo {
        CommandInfo {
            uris: Vec::new(),
            environment: None,
            shell: true,
            value: Some(cmd.to_string()),
            arguments: Vec::new(),
            user: None,
        }
    }
}
