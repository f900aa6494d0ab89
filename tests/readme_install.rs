//! The README's install lines ("Deployment with systemd (by hand)"), taken from README.md and run
//! as written in a temporary root standing for a fresh machine, give a configuration that passes
//! `checkpointd --check-config` once its secrets are created with `checkpointctl terminal init`
//! (the README's step for them). What the closest honest equivalent of a fresh machine changes,
//! and nothing else: every absolute path is under the temporary root, the binaries come from this
//! build's target directory, the lines that act on the running system (`systemd-sysusers`,
//! `udevadm`, `systemctl`) are not run, and the console group is the test's own (creating a
//! system group is `terminal init`'s job as root, tested in `scripts/deb-check`).
//! The Debian package's path is `scripts/deb-check`'s (run by `scripts/test`).

use std::path::Path;
use std::process::{Command, Output};

const README: &str = include_str!("../README.md");
const DAEMON: &str = env!("CARGO_BIN_EXE_checkpointd");

/// The first fenced block after the "by hand" heading: the install lines.
fn install_lines() -> Vec<&'static str> {
    let section = README
        .split_once("## Deployment with systemd (by hand)")
        .expect("the README's by-hand deployment section")
        .1;
    let block = section
        .split("```")
        .nth(1)
        .expect("a fenced block of install lines");
    block
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

/// Commands that act on the running system, not on files.
fn acts_on_the_system(line: &str) -> bool {
    ["systemd-sysusers", "udevadm", "systemctl"]
        .iter()
        .any(|command| line.starts_with(command))
}

/// `line` with its absolute paths moved under `root` and the release binaries taken from this
/// build.
fn rooted(line: &str, root: &Path) -> String {
    let binaries = Path::new(DAEMON).parent().expect("target directory");
    let root = root.display().to_string();
    line.replace("target/release/", &format!("{}/", binaries.display()))
        .replace(" /etc/", &format!(" {root}/etc/"))
        .replace(" /usr/", &format!(" {root}/usr/"))
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("run");
    assert!(
        output.status.success(),
        "{command:?}: {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_readme_install_lines_give_a_configuration_that_passes_check_config() {
    let lines = install_lines();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("cp -r firmware-config/* devices /etc/checkpointd/")),
        "{lines:?}"
    );
    let skipped: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| acts_on_the_system(line))
        .collect();
    assert_eq!(
        skipped,
        [
            "systemd-sysusers && udevadm control --reload",
            "systemctl enable --now checkpointd"
        ]
    );

    let root = tempfile::tempdir().expect("temp root");
    // What a fresh Debian machine has already.
    for dir in [
        "usr/bin",
        "usr/lib/systemd/system",
        "usr/lib/sysusers.d",
        "etc/udev/rules.d",
    ] {
        std::fs::create_dir_all(root.path().join(dir)).expect("fresh machine's directories");
    }
    let script: Vec<String> = lines
        .iter()
        .filter(|line| !acts_on_the_system(line))
        .map(|line| rooted(line, root.path()))
        .collect();
    run(Command::new("sh")
        .args(["-e", "-c", &script.join("\n")])
        .current_dir(env!("CARGO_MANIFEST_DIR")));

    let etc = root.path().join("etc/checkpointd");
    let config = etc.join("checkpoint.toml");
    let shipped = std::fs::read_to_string(&config).expect("the installed configuration");
    let group = nix::unistd::Group::from_gid(nix::unistd::getegid())
        .expect("own group")
        .expect("own group exists")
        .name;
    std::fs::write(
        &config,
        shipped
            .replace("\"/etc/checkpointd/", &format!("\"{}/", etc.display()))
            .replace("\"checkpointd-console\"", &format!("\"{group}\"")),
    )
    .expect("write the configuration");
    let config_arg = config.to_str().expect("utf-8 path");
    let installed = |binary: &str| root.path().join("usr/bin").join(binary);

    // Before its secrets exist the configuration is refused, as a configuration error.
    let refused = Command::new(installed("checkpointd"))
        .args(["--check-config", config_arg])
        .output()
        .expect("run checkpointd");
    assert_eq!(refused.status.code(), Some(78), "{refused:?}");

    run(Command::new(installed("checkpointctl")).args(["terminal", "init", "--config", config_arg]));
    assert!(etc.join("terminal.key").is_file() && etc.join("api.token").is_file());
    run(Command::new(installed("checkpointd")).args(["--check-config", config_arg]));
}
