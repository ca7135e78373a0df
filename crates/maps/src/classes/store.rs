//! Saving and loading a class summary: one compact JSON file, always in one canonical form
//! (images and classes sorted, sums as exact `"<hex>p<exp>"` strings), written atomically.
//!
//! ```text
//! {"format":"featurescope-classes","version":1,"model":"inception_v3","mass":0.03,
//!  "names":["daisy","roses"],"layers":[["Mixed_5b",256]],
//!  "images":[["daisy/a.jpg",0,0],["roses/b.jpg",1,0]],"skipped":[["bad.jpg","cannot decode"]],
//!  "classes":[{"index":0,"images":1,"predicted":[[0,1]],"counts":[[0,1,…]],
//!    "attribution":[["0","1p-3",…]],"graph":null}, …]}
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ClassGraph, ClassStats, ClassSummary, FORMAT_VERSION, Filed, LayerSpec};
use crate::atlas::F32Sum;
use crate::error::MapsError;
use crate::save::{Overwrite, write_atomic};

/// Value of the file's `"format"` key.
const FORMAT_NAME: &str = "featurescope-classes";
/// Largest summary file accepted by [`ClassSummary::load`], in bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

#[derive(Serialize, Deserialize)]
struct FileData {
    format: String,
    version: u32,
    model: String,
    mass: f64,
    names: Vec<String>,
    layers: Vec<LayerSpec>,
    shard: Option<(u32, u32)>,
    images: Vec<(String, u32, u32)>,
    skipped: Vec<(String, String)>,
    classes: Vec<ClassData>,
}

#[derive(Serialize, Deserialize)]
struct ClassData {
    index: u32,
    images: u64,
    predicted: Vec<(u32, u64)>,
    counts: Vec<Vec<u64>>,
    attribution: Vec<Vec<String>>,
    graph: Option<GraphData>,
}

#[derive(Serialize, Deserialize)]
struct GraphData {
    nodes: Vec<(String, Vec<u32>)>,
    edges: Vec<(String, u32, String, u32, String)>,
    done: Vec<String>,
}

impl ClassSummary {
    /// Writes the summary to `path` in canonical form, atomically (temporary file, sync,
    /// rename), replacing what was there.
    pub fn save(&self, path: &Path) -> Result<(), MapsError> {
        let data = self.to_data();
        write_atomic(path, Overwrite::Replace, |w| {
            serde_json::to_writer(&mut *w, &data).map_err(std::io::Error::other)
        })
    }

    /// Reads a summary, checking everything (format, version, shapes, that counts and
    /// predictions agree with the images); errors name the file.
    pub fn load(path: &Path) -> Result<ClassSummary, MapsError> {
        let bad = |message: String| MapsError::ClassesFile {
            path: path.to_path_buf(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| MapsError::io(path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| MapsError::io(path, e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(bad(format!("larger than the {MAX_FILE_BYTES}-byte limit")));
        }
        let data: FileData =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a class summary: {e}")))?;
        if data.format != FORMAT_NAME {
            return Err(bad(format!(
                "format is {:?}, not {FORMAT_NAME:?}",
                data.format
            )));
        }
        if data.version != FORMAT_VERSION {
            return Err(bad(format!(
                "version {} is not supported (this program reads {FORMAT_VERSION})",
                data.version
            )));
        }
        from_data(data).map_err(bad)
    }

    fn to_data(&self) -> FileData {
        FileData {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            model: self.model.clone(),
            mass: self.mass,
            names: self.names.clone(),
            layers: self.layers.clone(),
            shard: self.shard,
            images: self
                .images
                .iter()
                .map(|(p, f)| (p.clone(), f.class, f.predicted))
                .collect(),
            skipped: self.skipped.clone().into_iter().collect(),
            classes: self
                .classes
                .iter()
                .map(|(&index, s)| class_data(index, s))
                .collect(),
        }
    }
}

fn class_data(index: u32, s: &ClassStats) -> ClassData {
    ClassData {
        index,
        images: s.images,
        predicted: s.predicted.iter().map(|(&c, &n)| (c, n)).collect(),
        counts: s.counts.clone(),
        attribution: s
            .attribution
            .iter()
            .map(|l| l.iter().map(F32Sum::encode).collect())
            .collect(),
        graph: s.graph.as_ref().map(|g| GraphData {
            nodes: g.nodes.clone(),
            edges: g
                .edges
                .iter()
                .map(|e| {
                    let (f, t) = (&e.from, &e.to);
                    (f.0.clone(), f.1, t.0.clone(), t.1, e.sum.encode())
                })
                .collect(),
            done: g.done.clone(),
        }),
    }
}

fn from_data(data: FileData) -> Result<ClassSummary, String> {
    let mut s = ClassSummary::new(&data.model, data.mass, data.names, data.layers)
        .map_err(|e| e.to_string())?;
    s.set_shard(data.shard).map_err(|e| e.to_string())?;
    let n = s.names.len() as u32;
    let mut filed_per_class: BTreeMap<u32, u64> = BTreeMap::new();
    for (path, class, predicted) in data.images {
        if class >= n || predicted >= n {
            return Err(format!("{path}: class out of range"));
        }
        *filed_per_class.entry(class).or_insert(0) += 1;
        if s.images
            .insert(path.clone(), Filed { class, predicted })
            .is_some()
        {
            return Err(format!("{path} is listed twice"));
        }
    }
    for (path, why) in data.skipped {
        if s.images.contains_key(&path) {
            return Err(format!("{path} is both counted and skipped"));
        }
        s.skipped.insert(path, why);
    }
    for c in data.classes {
        let index = c.index;
        let stats = class_stats(&s, c)?;
        if filed_per_class.get(&index).copied().unwrap_or(0) != stats.images {
            return Err(format!(
                "class {index}: the image list disagrees with its count"
            ));
        }
        if s.classes.insert(index, stats).is_some() {
            return Err(format!("class {index} is listed twice"));
        }
    }
    if filed_per_class.keys().any(|c| !s.classes.contains_key(c)) {
        return Err("an image's class has no statistics".into());
    }
    Ok(s)
}

fn class_stats(s: &ClassSummary, c: ClassData) -> Result<ClassStats, String> {
    let what = format!("class {}", c.index);
    let n = s.names.len() as u32;
    if c.index >= n || c.predicted.iter().any(|(p, _)| *p >= n) {
        return Err(format!("{what}: class out of range"));
    }
    let predicted: BTreeMap<u32, u64> = c.predicted.into_iter().collect();
    if predicted.values().sum::<u64>() != c.images {
        return Err(format!("{what}: predictions do not add up to its images"));
    }
    let fits = |lens: Vec<usize>| {
        lens.len() == s.layers.len() && lens.iter().zip(&s.layers).all(|(n, (_, ch))| n == ch)
    };
    if !fits(c.counts.iter().map(Vec::len).collect()) {
        return Err(format!("{what}: counts do not match the layers"));
    }
    if c.counts.iter().flatten().any(|&k| k > c.images) {
        return Err(format!("{what}: a count exceeds its images"));
    }
    if !fits(c.attribution.iter().map(Vec::len).collect()) {
        return Err(format!("{what}: attributions do not match the layers"));
    }
    let attribution = c
        .attribution
        .iter()
        .map(|l| l.iter().map(|v| F32Sum::decode(v)).collect())
        .collect::<Result<Vec<Vec<F32Sum>>, String>>()?;
    let graph = c.graph.map(|g| graph(s, g)).transpose()?;
    Ok(ClassStats {
        images: c.images,
        predicted,
        counts: c.counts,
        attribution,
        graph,
    })
}

fn graph(s: &ClassSummary, g: GraphData) -> Result<ClassGraph, String> {
    for (layer, channels) in &g.nodes {
        let Some(l) = s.layer_index(layer) else {
            return Err(format!("graph node layer {layer} is not summarised"));
        };
        if channels.iter().any(|&k| k as usize >= s.layers[l].1) {
            return Err(format!("graph node out of range in {layer}"));
        }
    }
    let mut out = ClassGraph::new(g.nodes);
    if out.edges.len() != g.edges.len() {
        return Err("the graph's edges do not match its nodes".into());
    }
    for (e, (fl, fc, tl, tc, sum)) in out.edges.iter_mut().zip(g.edges) {
        if e.from != (fl, fc) || e.to != (tl, tc) {
            return Err("the graph's edges are not in canonical order".into());
        }
        e.sum = F32Sum::decode(&sum)?;
    }
    out.done = g.done;
    if out.done.windows(2).any(|w| w[0] >= w[1]) {
        return Err("the graph's images are not sorted".into());
    }
    Ok(out)
}
