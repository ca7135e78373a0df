//! The hostile-input table (`crates/net/tests/hostile/cases.rs`) through the binary: every
//! image case and every weight-file case run through `featurescope render`; each either
//! succeeds or exits non-zero with one line on stderr naming the file, and nothing panics.
//! Plus: outputs are never replaced without `--overwrite`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../net/tests/hostile/cases.rs"]
mod cases;

use std::ffi::OsString;

use cases::{Case, Expect};
use common::*;

fn render(
    image: &std::path::Path,
    weights: Option<&std::path::Path>,
    out: &std::path::Path,
) -> std::process::Output {
    let mut args: Vec<OsString> = [
        "render",
        "--layer",
        "Conv2d_1a_3x3",
        "--backend",
        "cpu",
        "--tile-px",
        "16",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.extend([
        OsString::from("--image"),
        image.into(),
        "--out".into(),
        out.into(),
    ]);
    if let Some(w) = weights {
        args.extend([OsString::from("--weights"), w.into()]);
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .args(&args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

fn judge(case: &Case, o: &std::process::Output) -> Option<String> {
    let err = stderr(o);
    if err.contains("panicked") {
        return Some(format!("{}: PANIC: {err}", case.name));
    }
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let name = case.file_name();
    match (&case.expect, o.status.success()) {
        (Expect::Analysed(_), true) => None,
        (Expect::Analysed(_), false) => Some(format!("{}: refused: {err}", case.name)),
        (Expect::Refused(_), true) => Some(format!("{}: accepted, expected refused", case.name)),
        (Expect::Refused(text), false) => {
            if lines.len() != 1 || !lines[0].starts_with("featurescope: error: ") {
                Some(format!("{}: not one error line: {err:?}", case.name))
            } else if !lines[0].contains(name.as_str()) || !lines[0].contains(text) {
                Some(format!(
                    "{}: {:?} should name {name} and say {text:?}",
                    case.name, lines[0]
                ))
            } else {
                None
            }
        }
    }
}

/// Run every case through `render` (with `weights` when the cases are weight files).
fn through_render(cases: &[Case], weights: bool) -> Vec<String> {
    let out = tempfile::tempdir().unwrap();
    let image = sample("chelsea_299.png");
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let out = out.path().join(format!("{i}.png"));
        let o = match weights {
            true => render(&image, Some(&case.path), &out),
            false => render(&case.path, None, &out),
        };
        let err = stderr(&o);
        eprintln!("{:45} exit {:?} {}", case.name, o.status.code(), err.trim());
        failures.extend(judge(case, &o));
    }
    failures
}

#[test]
fn every_hostile_image_through_render() {
    let dir = tempfile::tempdir().unwrap();
    let failures = through_render(&cases::image_cases(dir.path()), false);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_hostile_weight_file_through_render() {
    let dir = tempfile::tempdir().unwrap();
    let failures = through_render(&cases::weight_cases(dir.path()), true);
    assert!(
        !cases::pickle_marker(dir.path()).exists(),
        "a pickle ran code"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn outputs_are_replaced_only_with_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grid.png");
    std::fs::write(&out, b"keep me").unwrap();
    let image = sample("chelsea_299.png");
    let o = render(&image, None, &out);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already exists") && stderr(&o).contains("--overwrite"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let o = featurescope(&[
        "render",
        "--overwrite",
        "--layer",
        "Conv2d_1a_3x3",
        "--backend",
        "cpu",
        "--image",
        image.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(image::open(&out).is_ok(), "replaced by a PNG");
    // No temporary files left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // dump refuses before writing anything when one of its files exists.
    let dump = dir.path().join("dump");
    std::fs::create_dir(&dump).unwrap();
    std::fs::write(dump.join("Mixed_5b.npy"), b"old").unwrap();
    let o = featurescope(&[
        "dump",
        "--backend",
        "cpu",
        "--layers",
        "Conv2d_1a_3x3,Mixed_5b",
        "--image",
        image.to_str().unwrap(),
        "--out",
        dump.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(!dump.join("Conv2d_1a_3x3.npy").exists(), "nothing written");
}

/// Asked for the GPU where none can be used (no adapter on the APIs wgpu may use): a note on
/// stderr, then the work runs on the CPU.
#[test]
fn no_gpu_adapter_falls_back_to_the_cpu_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grid.png");
    let image = sample("chelsea_299.png");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .args([
            "render",
            "--backend",
            "wgpu",
            "--layer",
            "Conv2d_1a_3x3",
            "--image",
        ])
        .arg(&image)
        .arg("--out")
        .arg(&out)
        // OpenGL only: featurescope never runs compute on it, so no adapter is usable.
        .env("WGPU_BACKEND", "gl")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("featurescope: note:") && err.contains("running on the CPU"),
        "{err}"
    );
    assert!(image::open(&out).is_ok());
}
