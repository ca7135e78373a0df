//! Saving and loading an atlas as `atlas.json` in its directory.
//!
//! The file is compact JSON: rankings are arrays of `[image, score, y, x]` and statistics
//! `[count, sum, sum_of_squares]` with the sums as exact `"<hex>p<exp>"` strings. It is always
//! written in canonical form (images sorted by path). Scores are JSON numbers that read back to
//! the identical `f32`: the shortest form when it does, else the exact `f64` value.
//!
//! ```text
//! {"format":"featurescope-atlas","version":1,"model":"inception_v3","k":2,
//!  "images":["a.png","cats/b.jpg","dogs/c.png"],
//!  "skipped":[["broken.jpg","cannot decode: unexpected EOF"]],
//!  "layers":[{"id":"Mixed_5b","shape":[2,2,2],
//!    "rf":{"jump":[8,8],"lo":[-20,-20],"hi":[30,30],"input":[299,299]},
//!    "by_max":[[[0,3.0,0,0],[1,2.25,0,1]],[[0,0.7,1,1],[1,0.3,1,0]]],
//!    "by_mean":[[[2,1.0,0,0],[1,0.9375,0,1]],[[0,0.175,1,1],[1,0.15,1,0]]],
//!    "stats":[[3,"19p-2","f1p-4"],[3,"1p0","4a3d708f5c29p-47"]]}]}
//! ```
//!
//! (`"19p-2"` is `0x19 * 2^-2 = 6.25`, the exact sum of the maxima 3, 2.25 and 1.)

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use serde::ser::Error as _;
use serde::{Deserialize, Serialize, Serializer};

use super::exact::MaxStats;
use super::topk::{Entry, TopK};
use super::{
    Atlas, FORMAT_VERSION, LayerAtlas, LayerSpec, MAX_IMAGES, MAX_TEXT, RfGeometry, check_header,
    check_text, path_cmp,
};
use crate::error::MapsError;

/// Name of the atlas file inside an atlas directory.
pub const ATLAS_FILE: &str = "atlas.json";
/// Value of the file's `"format"` key.
const FORMAT_NAME: &str = "featurescope-atlas";
/// Largest atlas file accepted by [`Atlas::load`], in bytes.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

impl Atlas {
    /// Writes `dir/atlas.json` (creating `dir`) in canonical form, atomically: the data goes to
    /// `atlas.json.tmp`, is synced, then renamed over `atlas.json`.
    pub fn save(&self, dir: &Path) -> Result<(), MapsError> {
        std::fs::create_dir_all(dir).map_err(|e| MapsError::io(dir, e))?;
        let path = dir.join(ATLAS_FILE);
        let tmp = dir.join(format!("{ATLAS_FILE}.tmp"));
        let (order, map) = self.canonical_order();
        let out = FileOut {
            format: FORMAT_NAME,
            version: self.version,
            model: &self.model,
            k: self.k,
            images: order.iter().map(|&i| &self.images[i as usize]).collect(),
            skipped: self.skipped.iter().collect(),
            layers: self.layers.iter().map(|l| LayerOut::new(l, &map)).collect(),
        };
        write_json(&tmp, &out)?;
        std::fs::rename(&tmp, &path).map_err(|e| MapsError::io(&path, e))
    }

    /// Reads `dir/atlas.json`, checking everything: format and version, limits, index ranges,
    /// shapes, ranking order and sizes, statistics. Errors name the file; nothing panics on a
    /// corrupt file. The result is canonical.
    pub fn load(dir: &Path) -> Result<Atlas, MapsError> {
        let path = dir.join(ATLAS_FILE);
        let bad = |message: String| MapsError::AtlasFile {
            path: path.clone(),
            message,
        };
        let bytes = read_limited(&path)?;
        let header: Header =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not an atlas: {e}")))?;
        if header.format != FORMAT_NAME {
            return Err(bad(format!(
                "format is {:?}, not {FORMAT_NAME:?}",
                header.format
            )));
        }
        if header.version != FORMAT_VERSION {
            return Err(bad(format!(
                "version {} is not supported (this program reads version {FORMAT_VERSION})",
                header.version
            )));
        }
        let file: FileIn = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let mut atlas = file.into_atlas().map_err(bad)?;
        atlas.canonicalize();
        Ok(atlas)
    }

    /// `(order, map)`: the image indices sorted by path, and each index's rank in that order.
    pub(crate) fn canonical_order(&self) -> (Vec<u32>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.images.len() as u32).collect();
        let cmp = path_cmp(&self.images);
        order.sort_by(|&a, &b| cmp(a, b));
        let mut map = vec![0u32; order.len()];
        for (new, &old) in (0u32..).zip(&order) {
            map[old as usize] = new;
        }
        (order, map)
    }
}

/// Serialises `value` to `path`, flushed and synced.
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), MapsError> {
    let io = |e| MapsError::io(path, e);
    let file = File::create(path).map_err(io)?;
    let mut w = BufWriter::new(file);
    serde_json::to_writer(&mut w, value).map_err(|e| MapsError::AtlasFile {
        path: path.to_path_buf(),
        message: format!("cannot write: {e}"),
    })?;
    w.flush().map_err(io)?;
    let file = w.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}

/// The file's bytes, refusing files over [`MAX_FILE_BYTES`].
fn read_limited(path: &Path) -> Result<Vec<u8>, MapsError> {
    let too_big = || MapsError::AtlasFile {
        path: path.to_path_buf(),
        message: format!("larger than the {MAX_FILE_BYTES}-byte limit"),
    };
    let file = File::open(path).map_err(|e| MapsError::io(path, e))?;
    let len = file.metadata().map_err(|e| MapsError::io(path, e))?.len();
    if len > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| MapsError::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'static str,
    version: u32,
    model: &'a str,
    k: usize,
    images: Vec<&'a String>,
    skipped: Vec<(&'a String, &'a String)>,
    layers: Vec<LayerOut<'a>>,
}

#[derive(Serialize)]
struct LayerOut<'a> {
    id: &'a str,
    shape: [usize; 3],
    rf: &'a RfGeometry,
    by_max: Rankings<'a>,
    by_mean: Rankings<'a>,
    stats: Vec<(u64, String, String)>,
}

impl<'a> LayerOut<'a> {
    fn new(l: &'a LayerAtlas, map: &'a [u32]) -> Self {
        let (by_max, by_mean, stats) = l.parts();
        LayerOut {
            id: &l.id,
            shape: l.shape(),
            rf: &l.rf,
            by_max: Rankings { lists: by_max, map },
            by_mean: Rankings {
                lists: by_mean,
                map,
            },
            stats: stats.iter().map(MaxStats::encode).collect(),
        }
    }
}

/// One ranking kind of every channel, image indices renumbered through `map`.
struct Rankings<'a> {
    lists: &'a [TopK],
    map: &'a [u32],
}

impl Serialize for Rankings<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.lists.iter().map(|t| Ranking {
            entries: t.entries(),
            map: self.map,
        }))
    }
}

struct Ranking<'a> {
    entries: &'a [Entry],
    map: &'a [u32],
}

impl Serialize for Ranking<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.entries.iter().map(|e| {
            let image = self.map.get(e.image as usize).copied().unwrap_or(e.image);
            (image, Score(e.score), e.y, e.x)
        }))
    }
}

/// An `f32` written so that serde_json reads back the identical value.
struct Score(f32);

impl Serialize for Score {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if reads_back(&v, v) {
            s.serialize_f32(v)
        } else if reads_back(&f64::from(v), v) {
            s.serialize_f64(f64::from(v))
        } else {
            Err(S::Error::custom(format!(
                "score {v:e} cannot be written exactly"
            )))
        }
    }
}

/// How `save` writes the score `v`.
#[cfg(test)]
pub(crate) fn score_json(v: f32) -> String {
    serde_json::to_string(&Score(v)).unwrap_or_default()
}

/// Whether `written` as JSON parses back as `f32` to exactly `v`.
fn reads_back(written: &impl Serialize, v: f32) -> bool {
    serde_json::to_string(written)
        .ok()
        .and_then(|s| serde_json::from_str::<f32>(&s).ok())
        .is_some_and(|back| back.to_bits() == v.to_bits())
}

/// The part of the file read first, to report format and version before anything else.
#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    #[allow(dead_code)]
    format: String,
    #[allow(dead_code)]
    version: u32,
    model: String,
    k: u64,
    images: Vec<String>,
    skipped: Vec<(String, String)>,
    layers: Vec<LayerIn>,
}

/// `[image, score, y, x]`.
type EntryIn = (u32, f32, u32, u32);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerIn {
    id: String,
    shape: [u64; 3],
    rf: RfGeometry,
    by_max: Vec<Vec<EntryIn>>,
    by_mean: Vec<Vec<EntryIn>>,
    stats: Vec<(u64, String, String)>,
}

impl FileIn {
    /// Checks everything and builds the atlas.
    fn into_atlas(self) -> Result<Atlas, String> {
        let k = usize::try_from(self.k).map_err(|_| format!("k = {} is too large", self.k))?;
        let specs = self
            .layers
            .iter()
            .map(|l| Ok((l.id.clone(), shape_usize(l.shape)?, l.rf)))
            .collect::<Result<Vec<LayerSpec>, String>>()?;
        check_header(&self.model, k, &specs)?;
        let index = image_index(&self.images)?;
        let skipped = skip_list(self.skipped, &index)?;
        let layers = self
            .layers
            .into_iter()
            .zip(&specs)
            .map(|(l, spec)| layer_in(l, spec, k, &self.images))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Atlas {
            version: FORMAT_VERSION,
            model: self.model,
            k,
            images: self.images,
            index,
            skipped,
            layers,
        })
    }
}

/// `[C, H, W]` as `usize`, refusing values beyond the limits before any use.
fn shape_usize(shape: [u64; 3]) -> Result<[usize; 3], String> {
    let too_big = || format!("shape {shape:?} is too large");
    let d = |v: u64| usize::try_from(v).map_err(|_| too_big());
    Ok([d(shape[0])?, d(shape[1])?, d(shape[2])?])
}

/// Path to index, refusing bad or duplicate paths and too many images.
fn image_index(images: &[String]) -> Result<HashMap<String, u32>, String> {
    if images.len() > MAX_IMAGES {
        return Err(format!("{} images, more than {MAX_IMAGES}", images.len()));
    }
    let mut index = HashMap::with_capacity(images.len());
    for (i, p) in (0u32..).zip(images) {
        check_text("image path", p)?;
        if index.insert(p.clone(), i).is_some() {
            return Err(format!("image {p:?} is listed twice"));
        }
    }
    Ok(index)
}

/// The skip list, refusing bad or duplicate paths, multi-line reasons and added images.
fn skip_list(
    skipped: Vec<(String, String)>,
    index: &HashMap<String, u32>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (path, reason) in skipped {
        check_text("skipped path", &path)?;
        if reason.len() > MAX_TEXT || reason.chars().any(char::is_control) {
            return Err(format!(
                "skip reason for {path:?} is too long or not one line"
            ));
        }
        if index.contains_key(&path) {
            return Err(format!("image {path:?} is both added and skipped"));
        }
        if out.insert(path.clone(), reason).is_some() {
            return Err(format!("skipped image {path:?} is listed twice"));
        }
    }
    Ok(out)
}

/// One layer, checked against its spec, `k` and the image table.
fn layer_in(
    l: LayerIn,
    spec: &LayerSpec,
    k: usize,
    images: &[String],
) -> Result<LayerAtlas, String> {
    let (id, shape, rf) = spec;
    let [c, h, w] = *shape;
    let err = |m: String| format!("layer {id:?}: {m}");
    for (what, n) in [
        ("by_max", l.by_max.len()),
        ("by_mean", l.by_mean.len()),
        ("stats", l.stats.len()),
    ] {
        if n != c {
            return Err(err(format!("{what} has {n} channels, the shape says {c}")));
        }
    }
    let check = RankingCheck { k, h, w, images };
    let mut by_max = Vec::with_capacity(c);
    let mut by_mean = Vec::with_capacity(c);
    let mut stats = Vec::with_capacity(c);
    let lists = l.by_max.into_iter().zip(l.by_mean).zip(l.stats);
    for (ch, ((max, mean), (count, sum, sum_sq))) in lists.enumerate() {
        let err = |m: String| err(format!("channel {ch}: {m}"));
        let s = MaxStats::decode(count, &sum, &sum_sq).map_err(&err)?;
        if s.count() > images.len() as u64 {
            return Err(err(format!(
                "count {count} exceeds the {} images",
                images.len()
            )));
        }
        let expected = (s.count() as usize).min(k);
        let max = check.list("by_max", max, expected).map_err(&err)?;
        let mean = check.list("by_mean", mean, expected).map_err(&err)?;
        if let Some(top) = max.first()
            && !s.top1_consistent(top.score)
        {
            return Err(err(
                "the best maximum is below the mean of the maxima".into()
            ));
        }
        by_max.push(TopK::from_sorted(k, max));
        by_mean.push(TopK::from_sorted(k, mean));
        stats.push(s);
    }
    Ok(LayerAtlas::from_parts(
        id, *shape, *rf, by_max, by_mean, stats,
    ))
}

/// What every stored ranking of a layer must satisfy.
struct RankingCheck<'a> {
    k: usize,
    h: usize,
    w: usize,
    images: &'a [String],
}

impl RankingCheck<'_> {
    /// The entries of one ranking, which must number `expected`, lie in range, be finite,
    /// strictly ordered and name each image at most once.
    fn list(&self, what: &str, raw: Vec<EntryIn>, expected: usize) -> Result<Vec<Entry>, String> {
        if raw.len() != expected {
            return Err(format!(
                "{what} has {} entries, expected {expected} (k = {} and the image count)",
                raw.len(),
                self.k
            ));
        }
        let cmp = path_cmp(self.images);
        let mut seen = Vec::with_capacity(raw.len());
        let mut out: Vec<Entry> = Vec::with_capacity(raw.len());
        for (i, (image, score, y, x)) in raw.into_iter().enumerate() {
            let e = Entry { image, score, y, x };
            let bad = |m: String| Err(format!("{what} entry {i}: {m}"));
            if image as usize >= self.images.len() {
                return bad(format!(
                    "image {image} out of range ({} images)",
                    self.images.len()
                ));
            }
            if !score.is_finite() {
                return bad(format!("score {score} is not finite"));
            }
            if y as usize >= self.h || x as usize >= self.w {
                return bad(format!("position ({y}, {x}) outside {}x{}", self.h, self.w));
            }
            if let Some(prev) = out.last()
                && Entry::rank_cmp_by(prev, &e, cmp) != std::cmp::Ordering::Less
            {
                return bad("out of order".into());
            }
            seen.push(image);
            out.push(e);
        }
        seen.sort_unstable();
        if seen.windows(2).any(|p| p[0] == p[1]) {
            return Err(format!("{what} lists an image twice"));
        }
        Ok(out)
    }
}
