//! Shell completions and man pages generated from a binary's clap definitions, so they never
//! drift from the options the binary really takes (`checkpointctl completions`, `man`, and the
//! same for `checkpointd`).

use std::path::Path;

use clap::{Command, ValueEnum};

/// Shells completions are generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// Writes the completion script of `command` for `shell` to `out`.
pub fn write_completions(shell: Shell, mut command: Command, out: &mut dyn std::io::Write) {
    let name = command.get_name().to_string();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut command, name, out);
}

/// Writes `NAME.1` for `command` and `NAME-SUB.1` for every visible subcommand (recursively)
/// into `dir`.
pub fn write_man_pages(command: Command, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(command, dir)
}

/// Every argument of `command` and its subcommands that has no help text, as
/// `command path: --argument`; empty when all are documented.
pub fn undocumented_arguments(command: &Command) -> Vec<String> {
    let mut missing = Vec::new();
    collect_undocumented(command, command.get_name(), &mut missing);
    missing
}

fn collect_undocumented(command: &Command, path: &str, missing: &mut Vec<String>) {
    for argument in command.get_arguments() {
        let generated = matches!(argument.get_id().as_str(), "help" | "version");
        if !generated && !argument.is_hide_set() && argument.get_help().is_none() {
            missing.push(format!("{path}: {}", argument.get_id()));
        }
    }
    for sub in command.get_subcommands() {
        collect_undocumented(sub, &format!("{path} {}", sub.get_name()), missing);
    }
}
