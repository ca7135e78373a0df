//! Merging atlases: the parts of a sharded build (a folder of them, or each named), or any
//! atlases of disjoint collections. Exact: the result equals one run over all their images,
//! to the byte, whatever the order the parts are given or found in.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use featurescope_maps::Overwrite;
use featurescope_maps::atlas::{self, Atlas, INPUTS_DIR};

use crate::shard::{self, SHARDS_FILE, ShardSet, ranges};
use crate::{read_root, write_root};

/// How to merge.
#[derive(Clone, Copy, Debug)]
pub struct MergeOptions {
    /// Merge parts of a sharded build even when some of its shards are missing (the result
    /// records the shards it holds, so merging the rest in later completes it).
    pub allow_missing: bool,
    /// Replace an atlas already in the output directory.
    pub overwrite: Overwrite,
}

/// What a merge did.
#[derive(Clone, Debug)]
pub struct MergeSummary {
    /// The atlas directories merged, in the order merged (by shard, then path).
    pub merged: Vec<PathBuf>,
    /// Images in the result.
    pub images: usize,
    /// Files skipped in the result.
    pub skipped: usize,
    /// The shards of a sharded build the result holds (`None`: not built from shards).
    pub shards: Option<ShardSet>,
}

impl MergeSummary {
    /// The shards missing from the result (empty when complete or not sharded).
    pub fn missing(&self) -> Vec<usize> {
        self.shards
            .as_ref()
            .map_or_else(Vec::new, ShardSet::missing)
    }
}

/// The atlas directories `paths` name: each path is an atlas directory (it holds
/// `atlas.json`) or a folder whose sub-directories holding one are taken (a folder of parts).
pub fn find_atlases(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for p in paths {
        if p.join(atlas::ATLAS_FILE).is_file() {
            found.push(p.clone());
            continue;
        }
        let listing = std::fs::read_dir(p).with_context(|| format!("reading {}", p.display()))?;
        let mut inside: Vec<PathBuf> = listing
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.join(atlas::ATLAS_FILE).is_file())
            .collect();
        if inside.is_empty() {
            bail!(
                "{}: no {} in it or in its folders",
                p.display(),
                atlas::ATLAS_FILE
            );
        }
        inside.sort();
        found.extend(inside);
    }
    for (i, a) in found.iter().enumerate() {
        if found[..i].iter().any(|b| same_dir(a, b)) {
            bail!("{} is given twice", a.display());
        }
    }
    Ok(found)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The shards the atlases hold together: `None` when none was built from shards; fails when
/// some were and others were not, on different splits, or on a shard given twice.
fn shard_union(dirs: &[PathBuf], records: &[Option<ShardSet>]) -> Result<Option<ShardSet>> {
    let mut union: Option<(ShardSet, &Path)> = None;
    for (dir, record) in dirs.iter().zip(records) {
        let Some(record) = record else { continue };
        union = Some(match union {
            None => (record.clone(), dir),
            Some((u, first)) => {
                let joined = u.union(record).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot merge {} (shards {}) with {} and the others before it: {e}",
                        dir.display(),
                        record.describe(),
                        first.display()
                    )
                })?;
                (joined, first)
            }
        });
    }
    if let Some((_, sharded)) = &union
        && let Some((whole, _)) = dirs.iter().zip(records).find(|(_, r)| r.is_none())
    {
        bail!(
            "{} records no shards (an atlas of a whole collection) but {} is a part of a sharded \
             build ({SHARDS_FILE}); merge the parts of one build",
            whole.display(),
            sharded.display()
        );
    }
    Ok(union.map(|(u, _)| u))
}

/// Merge the atlases in `dirs` ([`find_atlases`]) into `out`. Parts of a sharded build must
/// all be there unless `allow_missing`; the error names the missing shards. The input images
/// of every image still ranked are hard-linked (or copied) from the part that has them;
/// `atlas.json` is written last, atomically.
pub fn merge_atlases(dirs: &[PathBuf], out: &Path, opts: MergeOptions) -> Result<MergeSummary> {
    if opts.overwrite == Overwrite::Refuse && out.join(atlas::ATLAS_FILE).exists() {
        return Err(featurescope_maps::save::exists_error(&out.join(atlas::ATLAS_FILE)).into());
    }
    let records = dirs
        .iter()
        .map(|d| shard::read_shards(d))
        .collect::<Result<Vec<_>>>()?;
    let shards = shard_union(dirs, &records)?;
    if let Some(s) = &shards
        && !s.is_complete()
        && !opts.allow_missing
    {
        bail!(
            "missing shards {} of {} (found {}); merge them too, or pass --allow-missing",
            ranges(s.missing()),
            s.count(),
            ranges(s.indices())
        );
    }
    // By shard, then path: the order does not change the result, only the messages.
    let mut order: Vec<usize> = (0..dirs.len()).collect();
    order.sort_by_key(|&i| {
        (
            records[i].as_ref().and_then(|r| r.indices().next()),
            &dirs[i],
        )
    });
    let merged_dirs: Vec<PathBuf> = order.iter().map(|&i| dirs[i].clone()).collect();
    let merged = merge_in_memory(&merged_dirs)?;
    link_inputs(&merged, &merged_dirs, out)?;
    write_records(&merged_dirs, out, shards.as_ref())?;
    merged.save(out)?;
    atlas::prune_inputs(out, &merged)?;
    Ok(MergeSummary {
        merged: merged_dirs,
        images: merged.images().len(),
        skipped: merged.skipped().len(),
        shards,
    })
}

/// The merge of the atlases in `dirs`, loaded one at a time and joined like a binary counter
/// (equal sizes first): O(log n) atlases in memory, each image path moved O(log n) times.
fn merge_in_memory(dirs: &[PathBuf]) -> Result<Atlas> {
    let mut stack: Vec<(u32, Atlas)> = Vec::new();
    for dir in dirs {
        let mut next = (0u32, Atlas::load(dir)?);
        while stack.last().is_some_and(|(level, _)| *level == next.0) {
            let Some((level, top)) = stack.pop() else {
                break;
            };
            next = (level + 1, join(top, next.1, dir)?);
        }
        stack.push(next);
    }
    let mut rest = stack.into_iter().rev().map(|(_, a)| a);
    let first = rest.next().context("no atlas to merge")?;
    rest.try_fold(first, |acc, a| join(a, acc, Path::new("")))
}

fn join(a: Atlas, b: Atlas, last: &Path) -> Result<Atlas> {
    Atlas::merge(a, b).map_err(|e| {
        let at = if last.as_os_str().is_empty() {
            String::new()
        } else {
            format!(" (at {})", last.display())
        };
        anyhow::anyhow!("{e}{at}")
    })
}

/// Link (or copy) into `out/inputs/` the input image of every image ranked in `merged`, from
/// whichever of `dirs` has it.
fn link_inputs(merged: &Atlas, dirs: &[PathBuf], out: &Path) -> Result<()> {
    let mut sources: HashMap<OsString, PathBuf> = HashMap::new();
    for dir in dirs {
        let inputs = dir.join(INPUTS_DIR);
        let Ok(listing) = std::fs::read_dir(&inputs) else {
            continue;
        };
        for entry in listing {
            let entry = entry.with_context(|| format!("reading {}", inputs.display()))?;
            sources.entry(entry.file_name()).or_insert(entry.path());
        }
    }
    for id in merged.referenced_images() {
        let Some(image) = merged.images().get(id as usize) else {
            continue;
        };
        let dst = atlas::input_image_path(out, image);
        let Some(src) = dst.file_name().and_then(|name| sources.get(name)) else {
            continue;
        };
        link_or_copy(src, &dst)?;
    }
    Ok(())
}

/// Hard-link `src` to `dst`, copying if linking fails; nothing if `dst` exists.
fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    if dst.exists() {
        return Ok(());
    }
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    if std::fs::hard_link(src, dst).is_err() {
        std::fs::copy(src, dst).with_context(|| format!("writing {}", dst.display()))?;
    }
    Ok(())
}

/// The collection folder (when every part names the same one) and, for an incomplete set of
/// shards, which ones the result holds; a complete set records none (a whole collection's).
fn write_records(dirs: &[PathBuf], out: &Path, shards: Option<&ShardSet>) -> Result<()> {
    let roots: Vec<Option<PathBuf>> = dirs.iter().map(|d| read_root(d)).collect();
    if let Some(Some(root)) = roots.first()
        && roots.iter().all(|r| r.as_ref() == Some(root))
    {
        write_root(out, root)?;
    }
    match shards {
        Some(s) if !s.is_complete() => shard::write_shards(out, s, Overwrite::Replace),
        _ => match std::fs::remove_file(out.join(SHARDS_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", out.join(SHARDS_FILE).display()))
            }
            _ => Ok(()),
        },
    }
}
