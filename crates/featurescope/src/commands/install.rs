//! `featurescope install` / `featurescope uninstall`: the desktop entry (with the image types it
//! opens, so file managers list it under "Open with") and the icons, in the user's XDG data
//! directory, following the Desktop Entry and Icon Theme specifications. Nothing is written
//! outside `$XDG_DATA_HOME` (default `~/.local/share`); every file is written atomically.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The desktop entry shipped in `assets/` (also the one the `.deb` installs), `Exec=featurescope %f`.
const DESKTOP_TEMPLATE: &str = include_str!("../../../../assets/featurescope.desktop");

/// The file name of the entry; equals the app id the window announces (`with_app_id`).
const DESKTOP_FILE: &str = "featurescope.desktop";

/// The icon in every size the hicolor theme has a folder for.
const ICONS: &[(u32, &[u8])] = &[
    (
        16,
        include_bytes!("../../../../assets/icons/hicolor/16x16/apps/featurescope.png"),
    ),
    (
        22,
        include_bytes!("../../../../assets/icons/hicolor/22x22/apps/featurescope.png"),
    ),
    (
        24,
        include_bytes!("../../../../assets/icons/hicolor/24x24/apps/featurescope.png"),
    ),
    (
        32,
        include_bytes!("../../../../assets/icons/hicolor/32x32/apps/featurescope.png"),
    ),
    (
        48,
        include_bytes!("../../../../assets/icons/hicolor/48x48/apps/featurescope.png"),
    ),
    (
        64,
        include_bytes!("../../../../assets/icons/hicolor/64x64/apps/featurescope.png"),
    ),
    (
        128,
        include_bytes!("../../../../assets/icons/hicolor/128x128/apps/featurescope.png"),
    ),
    (
        256,
        include_bytes!("../../../../assets/icons/hicolor/256x256/apps/featurescope.png"),
    ),
];

/// Run `install` for this program: the lines of what was written, on stdout.
pub(crate) fn install() -> Result<()> {
    let exe = std::env::current_exe().context("finding this program's path")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    print_lines(install_into(&exe, &data_home()?)?);
    Ok(())
}

/// Run `uninstall`: the lines of what was removed, on stdout.
pub(crate) fn uninstall() -> Result<()> {
    print_lines(uninstall_from(&data_home()?)?);
    Ok(())
}

fn print_lines(lines: Vec<String>) {
    for l in lines {
        println!("{l}");
    }
}

/// The user's data directory: `$XDG_DATA_HOME` when it is an absolute path (the spec says to
/// ignore a relative one), else `$HOME/.local/share`.
pub fn data_home() -> Result<PathBuf> {
    featurescope_app::data_home()
        .context("neither XDG_DATA_HOME nor HOME is set to an absolute path")
}

/// Every file `install` writes under `data_home`, desktop entry first.
pub fn installed_files(data_home: &Path) -> Vec<PathBuf> {
    let mut files = vec![data_home.join("applications").join(DESKTOP_FILE)];
    files.extend(ICONS.iter().map(|(size, _)| icon_path(data_home, *size)));
    files
}

fn icon_path(data_home: &Path, size: u32) -> PathBuf {
    data_home
        .join("icons/hicolor")
        .join(format!("{size}x{size}"))
        .join("apps/featurescope.png")
}

/// Quote one argument of an `Exec` key (Desktop Entry spec, "The Exec key"): arguments with
/// reserved characters go in double quotes with `"`, `` ` ``, `$` and `\` backslash-escaped;
/// then the value is escaped as a string (`\` → `\\`) and `%` doubled.
fn exec_arg(arg: &str) -> String {
    const RESERVED: &[char] = &[
        ' ', '\t', '\n', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(',
        ')', '`',
    ];
    let quoted = if arg.contains(RESERVED) {
        let mut q = String::from("\"");
        for c in arg.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    } else {
        arg.to_string()
    };
    quoted.replace('\\', "\\\\").replace('%', "%%")
}

/// The desktop entry for the binary at `exe`: the shipped entry with `Exec` and `TryExec`
/// pointing at `exe` (a desktop session's PATH often lacks `~/.cargo/bin`).
pub fn desktop_entry(exe: &Path) -> Result<String> {
    let exe = exe
        .to_str()
        .with_context(|| format!("{}: the path is not UTF-8", exe.display()))?;
    if exe.contains(['\n', '\r']) {
        bail!("{exe:?}: a path with a line break cannot go in a desktop entry");
    }
    let lines: Vec<String> = DESKTOP_TEMPLATE
        .lines()
        .map(|line| {
            if line.starts_with("Exec=") {
                format!("Exec={} %f", exec_arg(exe))
            } else if line.starts_with("TryExec=") {
                // TryExec is a plain string, not an Exec command line: only `\` is escaped.
                format!("TryExec={}", exe.replace('\\', "\\\\"))
            } else {
                line.to_string()
            }
        })
        .collect();
    Ok(lines.join("\n") + "\n")
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{}: no parent folder", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().map_or_else(
            || "featurescope".into(),
            |n| n.to_string_lossy().into_owned()
        ),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("writing {}", path.display())
    })
}

/// Run a desktop database tool if it is installed; what it did, in words.
fn refresh(tool: &str, args: &[&str], dir: &Path) -> Option<String> {
    let status = Command::new(tool)
        .args(args)
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    Some(if status.success() {
        format!("ran {tool} {}", dir.display())
    } else {
        format!("{tool} {} failed ({status})", dir.display())
    })
}

/// Install the desktop entry and icons for the binary at `exe` under `data_home`; the lines to
/// print, one per file written or tool run.
pub fn install_into(exe: &Path, data_home: &Path) -> Result<Vec<String>> {
    let entry = desktop_entry(exe)?;
    let mut report = Vec::new();
    let desktop = data_home.join("applications").join(DESKTOP_FILE);
    write_atomic(&desktop, entry.as_bytes())?;
    report.push(format!("wrote {}", desktop.display()));
    for (size, png) in ICONS {
        let path = icon_path(data_home, *size);
        write_atomic(&path, png)?;
        report.push(format!("wrote {}", path.display()));
    }
    report.extend(refresh_databases(data_home));
    report.push(format!(
        "featurescope is in the applications menu and in \"Open with\" for images; it starts {}",
        exe.display()
    ));
    Ok(report)
}

/// Let the desktop see the change now: the MIME cache that "Open with" reads, and the icon cache.
fn refresh_databases(data_home: &Path) -> Vec<String> {
    let mut report = Vec::new();
    let apps = data_home.join("applications");
    if let Some(r) = refresh("update-desktop-database", &["-q"], &apps) {
        report.push(r);
    }
    let hicolor = data_home.join("icons/hicolor");
    if let Some(r) = refresh("gtk-update-icon-cache", &["-q", "-t", "-f"], &hicolor) {
        report.push(r);
    }
    report
}

/// Remove what [`install_into`] wrote (the folders stay); the lines to print.
pub fn uninstall_from(data_home: &Path) -> Result<Vec<String>> {
    let mut report = Vec::new();
    for path in installed_files(data_home) {
        match std::fs::remove_file(&path) {
            Ok(()) => report.push(format!("removed {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    if report.is_empty() {
        report.push(format!(
            "nothing to remove: featurescope is not installed under {}",
            data_home.display()
        ));
    } else {
        report.extend(refresh_databases(data_home));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_quoting_follows_the_spec() {
        assert_eq!(exec_arg("/usr/bin/featurescope"), "/usr/bin/featurescope");
        assert_eq!(exec_arg("/home/a b/fs"), "\"/home/a b/fs\"");
        // `$` is escaped inside quotes, then the backslash is escaped as a string.
        assert_eq!(exec_arg("/x/$y"), "\"/x/\\\\$y\"");
        assert_eq!(exec_arg("/x/100%"), "/x/100%%");
    }

    #[test]
    fn entry_points_at_the_binary() {
        let e = desktop_entry(Path::new("/opt/my apps/featurescope")).expect("entry");
        assert!(e.contains("Exec=\"/opt/my apps/featurescope\" %f\n"), "{e}");
        assert!(e.contains("TryExec=/opt/my apps/featurescope\n"), "{e}");
        assert!(e.contains("MimeType=image/png;image/jpeg;"), "{e}");
        assert!(desktop_entry(Path::new("/a\nb")).is_err());
    }

    #[test]
    fn icons_are_the_sizes_they_claim() {
        for (size, png) in ICONS {
            let img = image::load_from_memory(png).expect("icon decodes");
            assert_eq!((img.width(), img.height()), (*size, *size));
        }
    }
}
