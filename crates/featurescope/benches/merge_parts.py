#!/usr/bin/env python3
"""Time `featurescope atlas merge` of generated parts: its wall time and peak memory as the
number of parts (and images) grows. docs/SCALING.md has the numbers.

    cargo build --release -p featurescope
    python3 crates/featurescope/benches/merge_parts.py [--parts 8,16,32,64] \
        [--images-per-part 20000] [--top 9] [--keep DIR]

The parts are what a sharded `featurescope atlas` of all 123 taps writes (one split into the
largest count; the smaller rows merge its first parts, with --allow-missing), with synthetic
contents: the layer list (ids, shapes, receptive fields) comes from a real one-image atlas
made first; each part holds `--images-per-part` images and, per channel and ranking, the top
`--top` of them with random scores; statistics as if every image's maximum were 1. Every image
ranked in a part gets an input file in the part's inputs/ (a hard link to a small PNG, so the
merge links as many files as a real one, without the disk a real one needs). Peak memory is the
merge process's maximum resident set (Linux: getrusage of the child).
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ASSIGNMENT = "fnv1a64-fmix64-of-relative-path"


def f32(x):
    """x rounded to the nearest float32, printed so that it reads back as that float32."""
    v = struct.unpack("f", struct.pack("f", x))[0]
    return float(repr(v)) if float(repr(v)) == v else v


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def template(binary, work):
    """The layer list of a real atlas of all 123 taps (one image, top 1)."""
    images = os.path.join(work, "one")
    os.makedirs(images)
    shutil.copy(os.path.join(REPO, "assets/samples/chelsea_299.png"), images)
    out = os.path.join(work, "template")
    subprocess.run([binary, "atlas", "--images", images, "--out", out, "--top", "1",
                    "--backend", "cpu"], check=True, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, "atlas.json")) as f:
        atlas = json.load(f)
    png = os.path.join(out, "inputs", os.listdir(os.path.join(out, "inputs"))[0])
    return atlas["model"], [(l["id"], l["shape"], l["rf"]) for l in atlas["layers"]], png


def ranking(rng, m, k, h, w, lo, hi):
    picks = rng.sample(range(m), min(k, m))
    entries = [(i, f32(rng.uniform(lo, hi)), rng.randrange(h), rng.randrange(w)) for i in picks]
    # Score descending, then image (paths sort like indices) ascending.
    entries.sort(key=lambda e: (-e[1], e[0]))
    return [list(e) for e in entries]


def write_part(root, index, count, m, k, model, layers, png, rng):
    part = os.path.join(root, f"part-{index:04d}-of-{count:04d}")
    os.makedirs(os.path.join(part, "inputs"))
    images = [f"train/s{index:04d}/img{j:06d}.JPEG" for j in range(m)]
    referenced = set()
    out_layers = []
    stats = [m, f"{m:x}p0", f"{m:x}p0"]
    for lid, (c, h, w), rf in layers:
        by_max, by_mean = [], []
        for _ in range(c):
            a = ranking(rng, m, k, h, w, 1.0, 10.0)
            b = ranking(rng, m, k, h, w, 0.0, 1.0)
            referenced.update(e[0] for e in a)
            referenced.update(e[0] for e in b)
            by_max.append(a)
            by_mean.append(b)
        out_layers.append({"id": lid, "shape": [c, h, w], "rf": rf, "by_max": by_max,
                           "by_mean": by_mean, "stats": [stats] * c})
    atlas = {"format": "featurescope-atlas", "version": 1, "model": model, "k": k,
             "images": images, "skipped": [], "layers": out_layers}
    with open(os.path.join(part, "atlas.json"), "w") as f:
        json.dump(atlas, f, separators=(",", ":"))
    with open(os.path.join(part, "shards.json"), "w") as f:
        json.dump({"format": "featurescope-shards", "assignment": ASSIGNMENT, "count": count,
                   "indices": [index]}, f)
    with open(os.path.join(part, "collection.json"), "w") as f:
        json.dump({"root": "/data/imagenet"}, f)
    # One copy of the PNG per part, linked once per ranked image (a file has at most ~65 000
    # links on ext4).
    own = os.path.join(root, f".input-{index:04d}.png")
    shutil.copy(png, own)
    for i in referenced:
        name = f"{fnv1a64(images[i].encode()):016x}.png"
        os.link(own, os.path.join(part, "inputs", name))
    return len(referenced)


def timed(cmd):
    """Run cmd; its wall time in seconds and peak resident set in KB (measured in a fresh
    process whose only child it is: ru_maxrss of children is the largest child's)."""
    probe = ("import resource, subprocess, sys\n"
             "subprocess.run(sys.argv[1:], check=True, stderr=subprocess.DEVNULL)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-c", probe] + cmd, check=True, capture_output=True,
                         text=True).stdout
    return time.monotonic() - t, int(out.split()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="8,16,32,64")
    ap.add_argument("--images-per-part", type=int, default=20000)
    ap.add_argument("--top", type=int, default=9)
    ap.add_argument("--binary", default=os.path.join(REPO, "target/release/featurescope"))
    ap.add_argument("--keep", help="generate the parts here and keep them")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="featurescope-merge-")
    os.makedirs(work, exist_ok=True)
    model, layers, png = template(args.binary, work)
    channels = sum(l[1][0] for l in layers)
    print(f"{len(layers)} layers, {channels} channels, top {args.top}, "
          f"{args.images_per_part} images per part")
    print("| parts | images | parts' `atlas.json` | merge wall time | merge peak RSS | "
          "merged `atlas.json` | input files linked |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rng = random.Random(0)
    counts = [int(x) for x in args.parts.split(",")]
    total = max(counts)
    # One build of `total` parts; merging its first n (n < total with --allow-missing) is the
    # merge of n parts: the same work, the missing ones only named.
    root = os.path.join(work, "parts")
    if not os.path.isdir(root):
        t = time.monotonic()
        for i in range(total):
            write_part(root, i, total, args.images_per_part, args.top, model, layers, png, rng)
        print(f"(generated {total} parts in {time.monotonic() - t:.0f} s)", file=sys.stderr)
    parts = sorted(p for p in os.listdir(root) if p.startswith("part-"))
    for n in counts:
        dirs = [os.path.join(root, p) for p in parts[:n]]
        json_bytes = sum(os.path.getsize(os.path.join(d, "atlas.json")) for d in dirs)
        out = os.path.join(work, f"merged-{n}")
        shutil.rmtree(out, ignore_errors=True)
        extra = ["--allow-missing"] if n < total else []
        wall, peak_kb = timed([args.binary, "atlas", "merge"] + dirs + ["--out", out] + extra)
        linked = len(os.listdir(os.path.join(out, "inputs")))
        print(f"| {n} | {n * args.images_per_part:,} | {json_bytes / 1e6:,.0f} MB | {wall:.1f} s "
              f"| {peak_kb / 1024:,.0f} MB | {os.path.getsize(os.path.join(out, 'atlas.json')) / 1e6:,.1f} MB "
              f"| {linked:,} |", flush=True)
        shutil.rmtree(out)
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
