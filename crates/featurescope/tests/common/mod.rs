//! Helpers shared by the binary's test files: the repository, the sample photos, running the
//! built binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

/// Run the binary with `args`, send it `signal` (`"INT"`, `"TERM"`) once its first stderr line
/// ("… to analyse", printed once its handler is in place) is out, and wait for it: a failed
/// exit must say "interrupted". Returns whether it exited successfully.
pub fn interrupt_after_start(args: &[&str], signal: &str) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    assert!(first.contains("to analyse"), "{first}");
    signal_and_wait(&mut child, stderr, signal).0.success()
}

/// Send a running `child` `signal` (`"INT"`, `"TERM"`), read the rest of its stderr and wait
/// for it: a failed exit must say "interrupted". Its exit status and the rest of stderr.
pub fn signal_and_wait(
    child: &mut std::process::Child,
    mut stderr: impl std::io::Read,
    signal: &str,
) -> (std::process::ExitStatus, String) {
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    if !status.success() {
        assert!(rest.contains("interrupted"), "{rest}");
    }
    (status, rest)
}
