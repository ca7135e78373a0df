//! The app's layers, read as text: the services (worker, tasks, dialogs, attribution jobs) and
//! the state, the actions and the core that applies them know nothing of the window — no egui,
//! no eframe, no panel or view — so the command line can use the services and tests can drive
//! the core without a window.

use std::path::{Path, PathBuf};

fn sources(under: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(under) else {
        return vec![under.to_path_buf()];
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

#[test]
fn services_state_and_core_know_nothing_of_the_window() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for part in [
        "services",
        "state",
        "core",
        "action.rs",
        "view.rs",
        "launch.rs",
    ] {
        for file in sources(&src.join(part)) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for word in [
                "egui",
                "eframe",
                "crate::panel",
                "crate::panels",
                "crate::inspector",
                "crate::widgets",
                "crate::app",
            ] {
                // Code only: what the comments say about the window is allowed.
                let code = |l: &str| l.split("//").next().unwrap_or_default().to_string();
                let hit = text.lines().map(code).find(|l| {
                    l.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                        .any(|w| w == word || w.starts_with(&format!("{word}::")))
                });
                assert!(
                    hit.is_none(),
                    "{} names `{word}`: {}",
                    file.display(),
                    hit.unwrap_or_default()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} files read");
}
