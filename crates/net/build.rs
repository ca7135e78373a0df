//! Compiles the bundled default model into the crate: reads `weights/inception_v3_nsfwjs/
//! model.json`, and writes `include_bytes!` of every shard its manifest lists into
//! `$OUT_DIR/bundled_weights.rs`. A missing or damaged bundle fails the build with a message
//! that says what to do, instead of a binary that cannot start.

use std::path::{Path, PathBuf};

const BUNDLE: &str = "../../weights/inception_v3_nsfwjs";

fn fail(msg: &str) -> ! {
    eprintln!("error: featurescope's bundled weights: {msg}");
    eprintln!(
        "       The default model is compiled into the binary from `weights/inception_v3_nsfwjs/` \
         (see weights/README.md). Restore it with `git checkout -- weights/` in the repository."
    );
    std::process::exit(1)
}

/// The shard file names in the manifest's `"paths": [...]` arrays, in order.
fn shard_names(json: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = json;
    while let Some(i) = rest.find("\"paths\"") {
        rest = &rest[i + 7..];
        let Some(open) = rest.find('[') else { break };
        let Some(close) = rest[open..].find(']') else {
            break;
        };
        let list = &rest[open + 1..open + close];
        names.extend(
            list.split(',')
                .map(|s| s.trim().trim_matches('"').to_string())
                .filter(|s| !s.is_empty()),
        );
        rest = &rest[open + close..];
    }
    names
}

fn checked(path: &Path) -> PathBuf {
    let meta = std::fs::metadata(path)
        .unwrap_or_else(|e| fail(&format!("{} is missing ({e})", path.display())));
    let head = std::fs::read(path)
        .map(|b| b.into_iter().take(40).collect::<Vec<u8>>())
        .unwrap_or_default();
    if meta.len() == 0 || head.starts_with(b"version https://git-lfs") {
        fail(&format!(
            "{} is empty or a Git LFS pointer, not the weights",
            path.display()
        ));
    }
    println!("cargo:rerun-if-changed={}", path.display());
    path.canonicalize()
        .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())))
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| fail("no manifest dir"));
    let dir = Path::new(&manifest).join(BUNDLE);
    let json_path = checked(&dir.join("model.json"));
    let json = std::fs::read_to_string(&json_path)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", json_path.display())));
    let names = shard_names(&json);
    if names.is_empty() {
        fail("model.json lists no weight shards");
    }
    let mut code = format!(
        "/// `model.json` of the bundled model.\npub(crate) const MODEL_JSON: &str = include_str!({:?});\n\
         /// Its shards, by the names the manifest gives them.\n\
         pub(crate) const SHARDS: &[(&str, &[u8])] = &[\n",
        json_path.display().to_string()
    );
    for name in &names {
        let p = checked(&dir.join(name));
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            p.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| fail("no OUT_DIR")));
    std::fs::write(out.join("bundled_weights.rs"), code)
        .unwrap_or_else(|e| fail(&format!("writing the generated code: {e}")));
    println!("cargo:rerun-if-changed=build.rs");
}
