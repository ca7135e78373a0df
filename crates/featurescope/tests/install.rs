//! featurescope as an installed desktop program: the built binary copied into a temporary prefix
//! with no checkout and no `weights/` beside it still analyses a photo from another directory;
//! `featurescope install` / `uninstall` write and remove a valid desktop entry and icons under
//! `$XDG_DATA_HOME`; a headless run prints nothing alarming; the window opens on a bare file
//! argument (as "Open with" passes it) under Xvfb; the `.deb` builds, lists the right files,
//! installs, runs and uninstalls.
//!
//! Checks that need tools the machine may lack (desktop-file-validate, xvfb-run, cargo-deb, root
//! for dpkg) skip with a message, unless `FEATURESCOPE_REQUIRE_DESKTOP=1` (set by `.ci/run`,
//! which installs the tools) makes a missing tool a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn required() -> bool {
    std::env::var_os("FEATURESCOPE_REQUIRE_DESKTOP").is_some_and(|v| v == "1")
}

/// Whether `tool` runs; if not, skip (or fail where the tools are required).
fn have(tool: &str, args: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !required(),
            "`{tool}` is required here (FEATURESCOPE_REQUIRE_DESKTOP=1)"
        );
        eprintln!("skipping: `{tool}` is not available");
    }
    ok
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A scratch world: a prefix holding only the binary, a home, a data dir and a work dir, and a
/// command for the installed binary that sees only them (no checkout, no weights variable).
struct Prefix {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
}

impl Prefix {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let bin = root.join("prefix/bin/featurescope");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_featurescope"), &bin).unwrap();
        for d in ["home", "data", "work"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        Self {
            _dir: dir,
            root,
            bin,
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.current_dir(self.root.join("work"))
            .env_remove("FEATURESCOPE_WEIGHTS")
            .env("HOME", self.root.join("home"))
            .env("XDG_DATA_HOME", self.root.join("data"))
            .env("RUST_BACKTRACE", "1");
        c
    }
}

#[test]
fn copied_binary_runs_on_its_bundled_model_from_anywhere() {
    let p = Prefix::new();
    // Nothing of the checkout is next to the binary or the working directory.
    assert!(!p.bin.parent().unwrap().join("weights").exists());
    let photo = p.root.join("work/cat.png");
    std::fs::copy(repo().join("assets/samples/chelsea.png"), &photo).unwrap();
    let o = p
        .command()
        .args([
            "dump",
            "--image",
            "cat.png",
            "--out",
            "acts",
            "--backend",
            "cpu",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let acts = p.root.join("work/acts");
    assert!(acts.join("Mixed_7c.npy").is_file());
    assert!(acts.join("head.npy").is_file(), "the bundled head ran");
    let layers = std::fs::read_dir(&acts).unwrap().count();
    assert_eq!(layers, 123 + 1, "{}", text(&o));

    let o = p
        .command()
        .args([
            "bench",
            "--image",
            "cat.png",
            "--backend",
            "cpu",
            "--runs",
            "1",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("weights   bundled inception_v3_nsfwjs"),
        "{}",
        text(&o)
    );
}

#[test]
fn headless_auto_backend_prints_nothing_alarming() {
    let p = Prefix::new();
    std::fs::copy(
        repo().join("assets/samples/coffee_299.png"),
        p.root.join("work/coffee.png"),
    )
    .unwrap();
    // A CI runner or ssh session: no Wayland, no X, no runtime dir.
    let o = p
        .command()
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DISPLAY")
        .args([
            "render",
            "--image",
            "coffee.png",
            "--layer",
            "mixed0",
            "--out",
            "grid.png",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("XDG_RUNTIME_DIR"), "{err}");
    assert!(!err.to_ascii_lowercase().contains("error"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "only our own line: {err}");
    assert!(err.starts_with("wrote grid.png"), "{err}");
}

#[test]
fn install_and_uninstall_a_desktop_entry() {
    let p = Prefix::new();
    let o = p.command().arg("install").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let data = p.root.join("data");
    let desktop = data.join("applications/featurescope.desktop");
    assert!(
        out.contains(&format!("wrote {}", desktop.display())),
        "{out}"
    );
    let entry = std::fs::read_to_string(&desktop).unwrap();
    let bin = p.bin.canonicalize().unwrap();
    assert!(
        entry.contains(&format!("Exec={} %f\n", bin.display())),
        "{entry}"
    );
    assert!(entry.contains("MimeType=image/png;image/jpeg;"), "{entry}");
    for size in [16, 22, 24, 32, 48, 64, 128, 256] {
        let icon = data.join(format!("icons/hicolor/{size}x{size}/apps/featurescope.png"));
        assert!(out.contains(&format!("wrote {}", icon.display())), "{out}");
        let img = image::open(&icon).unwrap();
        assert_eq!((img.width(), img.height()), (size, size));
    }
    if have("desktop-file-validate", &["--help"]) {
        let v = Command::new("desktop-file-validate")
            .arg(&desktop)
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", text(&v));
        assert!(!text(&v).contains("error"), "{}", text(&v));
    }
    // "Open with": update-desktop-database indexes the entry under its image types.
    if have("update-desktop-database", &["--help"]) {
        let cache = std::fs::read_to_string(data.join("applications/mimeinfo.cache")).unwrap();
        assert!(cache.contains("image/png=featurescope.desktop;"), "{cache}");
    }
    // Installing again over an existing installation is fine.
    let again = p.command().arg("install").output().unwrap();
    assert!(again.status.success(), "{}", text(&again));

    let o = p.command().arg("uninstall").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!desktop.exists());
    assert!(
        !data
            .join("icons/hicolor/48x48/apps/featurescope.png")
            .exists()
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains(&format!("removed {}", desktop.display())),
        "{out}"
    );
    let o = p.command().arg("uninstall").output().unwrap();
    assert!(o.status.success());
    assert!(text(&o).contains("nothing to remove"), "{}", text(&o));
}

#[test]
fn install_refuses_a_relative_or_missing_data_home() {
    let p = Prefix::new();
    let o = p
        .command()
        .env_remove("XDG_DATA_HOME")
        .env_remove("HOME")
        .arg("install")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.starts_with("featurescope: error: "), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn window_opens_on_a_bare_file_argument() {
    if !have("xvfb-run", &["--help"]) {
        return;
    }
    let p = Prefix::new();
    let photo = p.root.join("work/espresso photo.png");
    std::fs::copy(repo().join("assets/samples/coffee.png"), &photo).unwrap();
    let runtime = p.root.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    // As a desktop entry's `Exec=featurescope %f` runs it: one bare path, spaces and all.
    let o = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1400x900x24"])
        .arg(&p.bin)
        .args(["--backend", "cpu", "--startup-report"])
        .arg(&photo)
        .current_dir(p.root.join("work"))
        .env("HOME", p.root.join("home"))
        .env("XDG_DATA_HOME", p.root.join("data"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("FEATURESCOPE_WEIGHTS")
        .output()
        .unwrap();
    let all = text(&o);
    assert!(o.status.success(), "{all}");
    let report = all
        .lines()
        .find(|l| l.starts_with("startup: window "))
        .unwrap_or_else(|| panic!("no startup report: {all}"));
    assert!(report.contains("espresso photo.png"), "{report}");
    assert!(!report.contains(" - "), "every stage happened: {report}");
}

#[test]
fn debian_package_builds_installs_and_runs() {
    if !have("cargo", &["deb", "--version"]) || !have("dpkg-deb", &["--version"]) {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    // The binary this test run built (target/release/featurescope): packaged as it is.
    let o = Command::new("cargo")
        .current_dir(repo())
        .args(["deb", "-p", "featurescope", "--no-build", "--output"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let deb = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb was written");
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("featurescope_"), "{name}");
    let list = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    let list = text(&list);
    for path in [
        "./usr/bin/featurescope",
        "./usr/share/applications/featurescope.desktop",
        "./usr/share/icons/hicolor/16x16/apps/featurescope.png",
        "./usr/share/icons/hicolor/256x256/apps/featurescope.png",
        "./usr/share/doc/featurescope/copyright",
    ] {
        assert!(list.contains(path), "{path} missing from:\n{list}");
    }
    assert!(!list.contains("weights/"), "the model is inside the binary");
    let info = Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .output()
        .unwrap();
    let info = text(&info);
    assert!(info.contains("Depends: "), "{info}");
    assert!(info.contains("libc6"), "{info}");

    // Installing into the system needs root (CI runs as root) and no other featurescope there.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let preinstalled = Path::new("/usr/bin/featurescope").exists();
    if !root || preinstalled {
        assert!(!required() || !preinstalled, "/usr/bin/featurescope exists");
        assert!(!required() || root, "installing the .deb needs root");
        eprintln!("skipping dpkg -i: not root, or featurescope already installed");
        return;
    }
    let i = Command::new("dpkg").arg("-i").arg(&deb).output().unwrap();
    let installed = i.status.success();
    let version = Command::new("/usr/bin/featurescope")
        .arg("--version")
        .output();
    let r = Command::new("dpkg")
        .args(["-r", "featurescope"])
        .output()
        .unwrap();
    assert!(installed, "dpkg -i: {}", text(&i));
    let version = version.unwrap();
    assert!(version.status.success(), "{}", text(&version));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("featurescope {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(r.status.success(), "dpkg -r: {}", text(&r));
    assert!(!Path::new("/usr/bin/featurescope").exists());
}
