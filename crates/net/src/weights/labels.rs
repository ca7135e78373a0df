//! Class names for a model's head, by one rule for every format ([`for_head`]): a file beside
//! its weights (TensorFlow for Poets' `retrained_labels.txt` next to its `.pb`;
//! `<weights>.labels.txt`, `labels.txt`, `class_names.json` or a single `*.labels.txt` next to
//! any weight file), used only when it names exactly as many classes as the head has; else
//! ImageNet's names for a head of 1000 classes (Keras' and torchvision's share one order) or
//! 1001 (TF-slim's: "background" first); else `class N`. A labels file is never shown for
//! another model that merely has as many classes.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::NetError;
use crate::weights::{WeightsFormat, WeightsSource};

/// The nsfwjs head's classes, in order (the bundled model).
pub const NSFWJS_LABELS: [&str; 5] = ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"];

/// ImageNet's 1000 class names, in the order Keras' `decode_predictions` and torchvision
/// share (sorted by WordNet id: `tench` first).
pub fn imagenet_labels() -> Vec<String> {
    include_str!("../../../../assets/imagenet_classes.txt")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The name TF-slim gives the class it puts before ImageNet's 1000.
pub const BACKGROUND: &str = "background";

/// The class names of a head with `classes` classes loaded from `source` in `format`, and the
/// file they came from (`None`: built in). One rule for every format:
/// 1. a labels file beside the weights that names exactly `classes` classes ([`find`]);
/// 2. the bundled model's five nsfwjs classes;
/// 3. 1000 classes: ImageNet's ([`imagenet_labels`]);
/// 4. 1001 classes: TF-slim's, [`BACKGROUND`] then ImageNet's 1000;
/// 5. otherwise `class 0`, `class 1`, ….
pub fn for_head(
    source: &WeightsSource,
    format: WeightsFormat,
    classes: usize,
) -> (Vec<String>, Option<PathBuf>) {
    if let WeightsSource::File(path) = source
        && let Some((file, names)) = find(path, format, classes)
    {
        return (names, Some(file));
    }
    let names = match classes {
        5 if *source == WeightsSource::Bundled => {
            NSFWJS_LABELS.iter().map(|s| s.to_string()).collect()
        }
        1000 => imagenet_labels(),
        1001 => std::iter::once(BACKGROUND.to_string())
            .chain(imagenet_labels())
            .collect(),
        n => (0..n).map(|i| format!("class {i}")).collect(),
    };
    (names, None)
}

/// Largest labels file read (ImageNet-21k's names are about 1 MB).
pub const MAX_LABELS_BYTES: u64 = 16 << 20;

/// Read a labels file: one name per line (`.txt`: blank lines and a trailing newline ignored),
/// or JSON: a list of names, `{"0": "daisy", …}`, or Keras' `class_indices` `{"daisy": 0, …}`.
pub fn read(path: &Path) -> Result<Vec<String>, NetError> {
    let meta = std::fs::metadata(path).map_err(|e| NetError::io(path, e))?;
    if !meta.is_file() {
        return Err(NetError::bad_weights(path, "not a file"));
    }
    if meta.len() > MAX_LABELS_BYTES {
        return Err(NetError::bad_weights(
            path,
            format!("{} bytes is too large for a labels file", meta.len()),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| NetError::bad_weights(path, format!("not a text labels file: {e}")))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let labels = if is_json {
        from_json(path, &text)?
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    if labels.is_empty() {
        return Err(NetError::bad_weights(
            path,
            "the labels file names no class",
        ));
    }
    Ok(labels)
}

fn from_json(path: &Path, text: &str) -> Result<Vec<String>, NetError> {
    let bad = |what: &str| NetError::bad_weights(path, what.to_string());
    let value: Value =
        serde_json::from_str(text).map_err(|e| bad(&format!("not a JSON labels file: {e}")))?;
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(bad(&format!("a class name is not a string: {other}"))),
            })
            .collect(),
        Value::Object(map) => {
            let mut pairs: Vec<(usize, String)> = Vec::with_capacity(map.len());
            for (k, v) in map {
                let pair = match (k.parse::<usize>(), v) {
                    (Ok(i), Value::String(name)) => (i, name),
                    (_, Value::Number(n)) => (n.as_u64().unwrap_or(u64::MAX) as usize, k),
                    _ => return Err(bad("expected {\"0\": name} or {name: index} entries")),
                };
                pairs.push(pair);
            }
            pairs.sort_by_key(|p| p.0);
            if pairs.iter().enumerate().any(|(i, p)| p.0 != i) {
                return Err(bad("the class indices are not 0, 1, 2, …"));
            }
            Ok(pairs.into_iter().map(|p| p.1).collect())
        }
        _ => Err(bad("expected a list of class names")),
    }
}

/// The files that may name `weights`' classes, most specific first.
pub fn candidates(weights: &Path, format: WeightsFormat) -> Vec<PathBuf> {
    let dir = weights.parent().unwrap_or(Path::new("."));
    let name = weights
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = weights
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    if format == WeightsFormat::TfGraph {
        out.push(dir.join("retrained_labels.txt"));
        out.push(dir.join("output_labels.txt"));
    }
    for n in [
        format!("{name}.labels.txt"),
        format!("{stem}.labels.txt"),
        format!("{stem}_labels.txt"),
        "labels.txt".to_string(),
        "class_names.json".to_string(),
        "classes.txt".to_string(),
    ] {
        out.push(dir.join(n));
    }
    // Any single `*.labels.txt` in the folder.
    if let Ok(entries) = std::fs::read_dir(dir) {
        let others: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(".labels.txt"))
            })
            .collect();
        if let [one] = others.as_slice() {
            out.push(one.clone());
        }
    }
    out.dedup();
    out
}

/// The first labels file beside `weights` that names exactly `classes` classes.
pub fn find(
    weights: &Path,
    format: WeightsFormat,
    classes: usize,
) -> Option<(PathBuf, Vec<String>)> {
    if classes == 0 {
        return None;
    }
    candidates(weights, format)
        .into_iter()
        .filter(|p| p.is_file())
        .find_map(|p| match read(&p) {
            Ok(labels) if labels.len() == classes => Some((p, labels)),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_files_are_found_beside_the_weights_and_must_match_the_class_count() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let pb = dir.path().join("retrained_graph.pb");
        std::fs::write(&pb, b"").expect("write");
        assert_eq!(find(&pb, WeightsFormat::TfGraph, 3), None);
        std::fs::write(dir.path().join("labels.txt"), "a\nb\n").expect("write");
        assert_eq!(
            find(&pb, WeightsFormat::TfGraph, 3),
            None,
            "2 names for 3 classes"
        );
        std::fs::write(
            dir.path().join("retrained_labels.txt"),
            "daisy\nroses\ntulips\n",
        )
        .expect("write");
        let (file, labels) = find(&pb, WeightsFormat::TfGraph, 3).expect("found");
        assert!(file.ends_with("retrained_labels.txt"));
        assert_eq!(labels, ["daisy", "roses", "tulips"]);
        // Another format does not read TF for Poets' file name.
        assert_eq!(find(&pb, WeightsFormat::Onnx, 3), None);
        assert_eq!(
            find(&pb, WeightsFormat::Onnx, 2).map(|f| f.1),
            Some(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn json_labels_in_three_shapes() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let p = dir.path().join("class_names.json");
        for (text, ok) in [
            (r#"["cat", "dog"]"#, true),
            (r#"{"1": "dog", "0": "cat"}"#, true),
            (r#"{"dog": 1, "cat": 0}"#, true),
            (r#"{"dog": 2, "cat": 0}"#, false),
            (r#"[1, 2]"#, false),
            ("not json", false),
        ] {
            std::fs::write(&p, text).expect("write");
            let got = read(&p);
            assert_eq!(got.is_ok(), ok, "{text}: {got:?}");
            if ok {
                assert_eq!(got.ok(), Some(vec!["cat".to_string(), "dog".to_string()]));
            }
        }
    }
}
