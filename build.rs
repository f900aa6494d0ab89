//! Records the git commit the binaries are built from (`checkpointctl version`), when git and a
//! repository are available; a source tarball builds without it.

use std::path::Path;
use std::process::Command;

fn git(arguments: &[&str]) -> Option<String> {
    let output = Command::new("git").args(arguments).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_string()).filter(|text| !text.is_empty())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return;
    };
    // Rebuild when HEAD moves: watch HEAD itself and the branch ref it points to.
    for reference in ["HEAD".to_string()]
        .into_iter()
        .chain(git(&["symbolic-ref", "-q", "HEAD"]))
    {
        if let Some(path) = git(&["rev-parse", "--git-path", &reference])
            && Path::new(&path).exists()
        {
            let absolute = std::fs::canonicalize(&path).unwrap_or_else(|_| path.into());
            println!("cargo:rerun-if-changed={}", absolute.display());
        }
    }
    println!("cargo:rustc-env=CHECKPOINTD_GIT_COMMIT={commit}");
}
