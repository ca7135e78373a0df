//! Helpers shared by the binary's test files: the repository, the sample photos, running the
//! built binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn sample(name: &str) -> PathBuf {
    repo().join("assets/samples").join(name)
}

/// Run the binary with these arguments (backtraces on, so a panic would show in stderr).
pub fn featurescope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that the command succeeded (its stdout and stderr in the message if not); returns
/// its stdout.
pub fn ok(o: &Output) -> String {
    ok_all(o);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// [`ok`], returning stdout and stderr together (what a terminal shows).
pub fn ok_all(o: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    text
}
