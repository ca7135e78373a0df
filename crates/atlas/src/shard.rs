//! Splitting a collection into shards that machines build independently, and the record an
//! output directory keeps of which shards it holds.
//!
//! A file belongs to one shard by a hash of its path relative to the collection's folder
//! ([`shard_of`]): what a file's shard is depends on that path alone, not on the other files.
//! A task that runs hours after the others, or again after a failure, on a folder where files
//! were added meanwhile or one that a node lists differently, still builds exactly its own
//! files; no file lands in two parts or in none (an "every N-th file of the sorted list" rule
//! shifts every later file by one when a file is added). The price is parts whose sizes vary by
//! about the square root of their size (20 000 ± 140 images for 1.28 M in 64 parts).
//!
//! Each directory built from shards holds [`SHARDS_FILE`]: the shard count, the indices it
//! holds and the assignment rule. A part records its one index (written once, exclusively, so
//! two tasks sent to one directory cannot both build there); a merge of some parts records
//! their union, and a merge of all of them records nothing: it is then an atlas of the whole
//! collection, the same bytes as one run over it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use featurescope_maps::Overwrite;
use featurescope_maps::atlas::fnv1a64;

/// The file in an output directory that says which shards it holds.
pub const SHARDS_FILE: &str = "shards.json";

/// The assignment rule [`shard_of`] implements, as recorded in [`SHARDS_FILE`]: parts built
/// with another rule are never merged with these.
pub const ASSIGNMENT: &str = "fnv1a64-fmix64-of-relative-path";

/// The most shards a collection is split into.
pub const MAX_SHARDS: usize = 1 << 20;

/// Part `index` of `count` of a collection (`index` from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// The whole collection: part 0 of 1.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Part `index` of `count`; fails unless `index < count <= MAX_SHARDS`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || count > MAX_SHARDS {
            bail!("{count} shards: expected 1 to {MAX_SHARDS}");
        }
        if index >= count {
            bail!("shard index {index} is not below the {count} shards (indices start at 0)");
        }
        Ok(Self { index, count })
    }

    /// `I/N`, as `--shard` takes it.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}`: expected I/N with 0 <= I < N, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (i, n) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse());
        Self::new(i, n.map_err(|_| bad())?).map_err(|_| bad())
    }

    /// The index, from 0.
    pub fn index(self) -> usize {
        self.index
    }

    /// How many shards there are.
    pub fn count(self) -> usize {
        self.count
    }

    /// Whether this is the whole collection (one shard).
    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// Whether the file at `rel_path` (relative to the collection's folder, `/`-separated)
    /// belongs to this shard.
    pub fn contains(self, rel_path: &str) -> bool {
        shard_of(rel_path, self.count) == self.index
    }

    /// The name of this part's directory in a folder of parts: `part-0003-of-0008`.
    pub fn part_name(self) -> String {
        let width = self.count.to_string().len().max(4);
        format!(
            "part-{:0width$}-of-{:0width$}",
            self.index,
            self.count,
            width = width
        )
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Which of `count` shards the file at `rel_path` belongs to: FNV-1a 64 of the path's bytes,
/// mixed by MurmurHash3's 64-bit finaliser (FNV's low bits alone follow the last bytes), mapped
/// onto `0..count` by a 128-bit multiply (the high bits, evenly).
pub fn shard_of(rel_path: &str, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    let h = fmix64(fnv1a64(rel_path.as_bytes()));
    ((u128::from(h) * count as u128) >> 64) as usize
}

/// MurmurHash3's `fmix64`: every input bit affects every output bit.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Some shards of one collection's split into `count`: what a directory holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardSet {
    count: usize,
    indices: BTreeSet<usize>,
}

impl ShardSet {
    /// The one shard a part holds.
    pub fn of(shard: Shard) -> Self {
        Self {
            count: shard.count,
            indices: BTreeSet::from([shard.index]),
        }
    }

    /// How many shards the collection was split into.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The shards held, ascending.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.indices.iter().copied()
    }

    /// The shards not held, ascending.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.count)
            .filter(|i| !self.indices.contains(i))
            .collect()
    }

    /// Whether every shard is held.
    pub fn is_complete(&self) -> bool {
        self.indices.len() == self.count
    }

    /// Both sets' shards; fails on different counts or a shard held by both.
    pub fn union(&self, other: &ShardSet) -> Result<ShardSet, String> {
        if self.count != other.count {
            return Err(format!(
                "one is split into {} shards, the other into {}",
                self.count, other.count
            ));
        }
        if let Some(i) = self.indices.intersection(&other.indices).next() {
            return Err(format!("shard {i}/{} is in both", self.count));
        }
        Ok(ShardSet {
            count: self.count,
            indices: self.indices.union(&other.indices).copied().collect(),
        })
    }

    /// `0/8` for one shard, else `0, 2-5 of 8`.
    pub fn describe(&self) -> String {
        match self.indices.iter().collect::<Vec<_>>()[..] {
            [one] => format!("{one}/{}", self.count),
            _ => format!("{} of {}", ranges(self.indices()), self.count),
        }
    }

    fn to_json(&self) -> String {
        serde_json::json!({
            "format": "featurescope-shards",
            "assignment": ASSIGNMENT,
            "count": self.count,
            "indices": self.indices,
        })
        .to_string()
    }

    fn from_json(text: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if v.get("format").and_then(|f| f.as_str()) != Some("featurescope-shards") {
            return Err("not a featurescope shards file".into());
        }
        let assignment = v.get("assignment").and_then(|a| a.as_str()).unwrap_or("");
        if assignment != ASSIGNMENT {
            return Err(format!(
                "files were assigned to shards by {assignment:?}, this program uses {ASSIGNMENT:?}"
            ));
        }
        let count = v.get("count").and_then(serde_json::Value::as_u64);
        let indices: Option<Vec<u64>> = v
            .get("indices")
            .and_then(|i| i.as_array())
            .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect());
        let (Some(count), Some(indices)) = (count, indices) else {
            return Err("count or indices missing".into());
        };
        let count = usize::try_from(count).map_err(|e| e.to_string())?;
        let mut set = ShardSet {
            count,
            indices: BTreeSet::new(),
        };
        for i in indices {
            let shard = Shard::new(usize::try_from(i).map_err(|e| e.to_string())?, count)
                .map_err(|e| e.to_string())?;
            set.indices.insert(shard.index);
        }
        if set.indices.is_empty() {
            return Err("no shard indices".into());
        }
        Ok(set)
    }
}

/// `0, 2-5, 9`: ascending numbers with runs joined.
pub fn ranges(sorted: impl IntoIterator<Item = usize>) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for i in sorted {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => runs.push((i, i)),
        }
    }
    let words: Vec<String> = runs
        .into_iter()
        .map(|(a, b)| match b - a {
            0 => a.to_string(),
            1 => format!("{a}, {b}"),
            _ => format!("{a}-{b}"),
        })
        .collect();
    words.join(", ")
}

/// The shards the directory `dir` holds: `None` when it records none (an atlas of a whole
/// collection, or nothing yet).
pub fn read_shards(dir: &Path) -> Result<Option<ShardSet>> {
    let path = dir.join(SHARDS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    ShardSet::from_json(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Record that `dir` holds `shards` (atomically; replacing a record only under
/// [`Overwrite::Replace`]).
pub fn write_shards(dir: &Path, shards: &ShardSet, overwrite: Overwrite) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let text = shards.to_json();
    featurescope_maps::save::write_atomic(&dir.join(SHARDS_FILE), overwrite, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })?;
    Ok(())
}

/// Make sure the output directory `dir` is `shard`'s (`None`: the whole collection's) before
/// a build writes there: a directory that holds another shard, or an atlas of the whole
/// collection when a shard is asked for (and the reverse), is refused. A fresh part directory
/// records its shard first, exclusively: of two tasks sent to one directory, the second is
/// refused.
pub fn claim(dir: &Path, shard: Option<Shard>, has_atlas: bool) -> Result<()> {
    let wanted = shard.filter(|s| !s.is_whole()).map(ShardSet::of);
    let describe = |s: &Option<ShardSet>| match s {
        Some(s) => format!("shard {}", s.describe()),
        None => "the whole collection".to_string(),
    };
    let held = read_shards(dir)?;
    if held.is_some() || has_atlas {
        if held != wanted {
            bail!(
                "{} holds an atlas of {}, not of {}; choose another output folder",
                dir.display(),
                describe(&held),
                describe(&wanted)
            );
        }
        return Ok(());
    }
    let Some(wanted) = wanted else {
        return Ok(());
    };
    match write_shards(dir, &wanted, Overwrite::Refuse) {
        Ok(()) => Ok(()),
        // Another task recorded its shard there first: the same check again says whose.
        Err(_) if dir.join(SHARDS_FILE).exists() => claim(dir, shard, true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_names() {
        let s = Shard::parse("3/8").unwrap();
        assert_eq!((s.index(), s.count()), (3, 8));
        assert_eq!(s.to_string(), "3/8");
        assert_eq!(s.part_name(), "part-0003-of-0008");
        assert_eq!(
            Shard::new(7, 12_345).unwrap().part_name(),
            "part-00007-of-12345"
        );
        for bad in ["3", "8/8", "a/2", "1/0", "-1/2", ""] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.contains("expected I/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn every_file_is_in_exactly_one_shard_and_shards_are_even() {
        let files: Vec<String> = (0..20_000)
            .map(|i| format!("n{:08}/n{:08}_{i}.JPEG", i % 1000, i % 1000))
            .collect();
        for count in [1, 2, 3, 8, 64] {
            let mut sizes = vec![0usize; count];
            for f in &files {
                let inside: Vec<usize> = (0..count)
                    .filter(|&i| Shard::new(i, count).unwrap().contains(f))
                    .collect();
                assert_eq!(inside.len(), 1, "{f} in {inside:?} of {count}");
                sizes[inside[0]] += 1;
            }
            // Binomial: within 5 standard deviations of the mean.
            let mean = files.len() as f64 / count as f64;
            let sd = (mean * (1.0 - 1.0 / count as f64)).sqrt();
            for (i, &n) in sizes.iter().enumerate() {
                assert!(
                    (n as f64 - mean).abs() <= 5.0 * sd + 1e-9,
                    "shard {i}/{count}: {n} files, expected {mean:.0} ± {sd:.0}"
                );
            }
        }
    }

    #[test]
    fn the_rule_is_pinned() {
        // Computed by an independent implementation (Python, docs/SCALING.md): a change of
        // the rule must change ASSIGNMENT too, so old parts are never merged with new ones.
        let got: Vec<usize> = ["a.png", "b.png", "sub/c.jpg", "n01440764/x_1.JPEG"]
            .iter()
            .map(|p| shard_of(p, 8))
            .collect();
        assert_eq!(got, [3, 1, 5, 7]);
        assert_eq!(ASSIGNMENT, "fnv1a64-fmix64-of-relative-path");
    }

    #[test]
    fn sets_union_and_report_what_is_missing() {
        let a = ShardSet::of(Shard::new(0, 8).unwrap());
        let b = ShardSet::of(Shard::new(3, 8).unwrap());
        let ab = a.union(&b).unwrap();
        assert_eq!(ab.describe(), "0, 3 of 8");
        assert_eq!(ranges(ab.missing()), "1, 2, 4-7");
        assert!(ab.union(&a).unwrap_err().contains("shard 0/8 is in both"));
        let other = ShardSet::of(Shard::new(0, 4).unwrap());
        assert!(a.union(&other).unwrap_err().contains("8 shards"));
        assert_eq!(ShardSet::from_json(&ab.to_json()).unwrap(), ab);
        let foreign = ab.to_json().replace(ASSIGNMENT, "every-nth");
        assert!(
            ShardSet::from_json(&foreign)
                .unwrap_err()
                .contains("every-nth")
        );
    }

    #[test]
    fn a_directory_is_claimed_by_one_shard() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("p");
        let (s0, s1) = (Shard::new(0, 3).unwrap(), Shard::new(1, 3).unwrap());
        claim(&part, Some(s0), false).unwrap();
        // The same shard continues; another, or the whole collection, is refused.
        claim(&part, Some(s0), true).unwrap();
        let e = claim(&part, Some(s1), false).unwrap_err().to_string();
        assert!(
            e.contains("holds an atlas of shard 0/3, not of shard 1/3"),
            "{e}"
        );
        let e = claim(&part, None, true).unwrap_err().to_string();
        assert!(e.contains("not of the whole collection"), "{e}");
        // An atlas of the whole collection is not continued as a shard.
        let whole = dir.path().join("w");
        std::fs::create_dir_all(&whole).unwrap();
        claim(&whole, None, true).unwrap();
        let e = claim(&whole, Some(s1), true).unwrap_err().to_string();
        assert!(e.contains("holds an atlas of the whole collection"), "{e}");
        assert!(read_shards(&whole).unwrap().is_none());
    }
}
