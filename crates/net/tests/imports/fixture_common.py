"""Shared helpers for the import-fixture generators (make_keras3.py, make_tf_onnx.py).

The fixtures under `generated/` are model files made by the real tools (Keras 3, TensorFlow,
ONNX exporters) from the bundled nsfwjs Inception-V3 weights, plus reference activations computed
by those same tools. Nothing here touches featurescope's own code: the point is that the Rust
importers are tested against what other people's tools really write.

Pure numpy + stdlib (no safetensors package: the format is written by hand). Import this from a
venv that has numpy; `chelsea()` additionally needs Pillow.

API:
- REPO, OUT (OUT is created on demand by `out_dir()` / `write_reference`)
- bundled_weights() -> {manifest name: float32 array}, e.g. "conv2d_1/kernel" (HWIO),
  "batch_normalization_1/beta" | "/moving_mean" | "/moving_variance" (no gamma: scale=False),
  "dense_1/kernel" ([in, out]), "dense_1/bias"
- bundled_topology() -> the model.json "modelTopology" dict (model_config inside)
- conv_order() -> ["conv2d_1", ..., "conv2d_94"]; conv i's BN is "batch_normalization_i"
- BN_EPSILON = 0.001
- chelsea() -> uint8 [299, 299, 3]
- preprocess(img) -> float32 NHWC [1, 299, 299, 3], x / 127.5 - 1 (Keras' InceptionV3 way)
- taps(maxpool_e2=False) -> the 123 tap dicts {layer, keras_layer, kind, shape_nchw}
- write_reference(name, input_nchw, taps, probabilities, layers, tool, nhwc=False, full=())
- read_safetensors(path) -> {name: array}
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[4]
OUT = REPO / "crates" / "net" / "tests" / "imports" / "generated"
WEIGHTS_DIR = REPO / "weights" / "inception_v3_nsfwjs"
REFERENCE_DIR = REPO / "crates" / "net" / "tests" / "reference"
BN_EPSILON = 0.001
SAMPLES = 256


def out_dir() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT


# ---------------------------------------------------------------------------------------------
# Bundled TF.js weights


def _model_json() -> dict:
    return json.loads((WEIGHTS_DIR / "model.json").read_text())


def bundled_topology() -> dict:
    """The model.json `modelTopology` (keras_version, backend, model_config, training_config)."""
    return _model_json()["modelTopology"]


_NP_DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "int32": np.int32,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "bool": np.bool_,
}


def bundled_weights() -> dict[str, np.ndarray]:
    """All weights of the bundled TF.js layers model, dequantized as TF.js does.

    Quantized entries are dequantized in float64 (`q * scale + min`) and rounded once to float32;
    float16 entries are widened to float32. Keys are the manifest names.
    """
    model = _model_json()
    out: dict[str, np.ndarray] = {}
    for group in model["weightsManifest"]:
        blob = b"".join((WEIGHTS_DIR / p).read_bytes() for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            shape = tuple(entry["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            q = entry.get("quantization")
            if q is not None:
                qdt = np.dtype(_NP_DTYPES[q["dtype"]]).newbyteorder("<")
                raw = np.frombuffer(blob, dtype=qdt, count=count, offset=offset)
                offset += count * qdt.itemsize
                if q["dtype"] == "float16":
                    values = raw.astype(np.float32)
                else:
                    values = (raw.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
            else:
                dt = np.dtype(_NP_DTYPES[entry["dtype"]]).newbyteorder("<")
                values = np.frombuffer(blob, dtype=dt, count=count, offset=offset).copy()
                offset += count * dt.itemsize
                if values.dtype in (np.float16, np.dtype("<f2")):
                    values = values.astype(np.float32)
            name = entry["name"]
            assert name not in out, f"duplicate weight {name}"
            out[name] = values.reshape(shape)
        assert offset == len(blob), f"manifest covers {offset} of {len(blob)} bytes"

    convs = [k for k in out if k.startswith("conv2d_")]
    bns = {k.split("/")[0] for k in out if k.startswith("batch_normalization_")}
    dense = {k.split("/")[0] for k in out if k.startswith("dense_")}
    assert len(convs) == 94 and all(k.endswith("/kernel") for k in convs), len(convs)
    assert len(bns) == 94, len(bns)
    assert dense == {"dense_1", "dense_2", "dense_3"}, dense
    for b in bns:
        for part in ("beta", "moving_mean", "moving_variance"):
            assert f"{b}/{part}" in out, f"{b}/{part} missing"
        assert f"{b}/gamma" not in out
    assert len(out) == 94 + 94 * 3 + 6, len(out)
    return out


def conv_order() -> list[str]:
    """conv2d_1 .. conv2d_94 in creation order (numeric suffix order)."""
    names = {k.split("/")[0] for k in bundled_weights() if k.startswith("conv2d_")}
    order = sorted(names, key=lambda n: int(n.rsplit("_", 1)[1]))
    assert order == [f"conv2d_{i}" for i in range(1, 95)]
    return order


# ---------------------------------------------------------------------------------------------
# Input image and taps


def chelsea() -> np.ndarray:
    """assets/samples/chelsea_299.png as uint8 RGB [299, 299, 3] (read with Pillow)."""
    from PIL import Image

    with Image.open(REPO / "assets" / "samples" / "chelsea_299.png") as im:
        img = np.asarray(im.convert("RGB"), dtype=np.uint8)
    assert img.shape == (299, 299, 3), img.shape
    return img


def preprocess(img: np.ndarray) -> np.ndarray:
    """Keras InceptionV3 preprocessing: float32 NHWC [1, H, W, 3], x / 127.5 - 1."""
    x = img.astype(np.float32)[None]
    return x / np.float32(127.5) - np.float32(1.0)


def taps(maxpool_e2: bool = False) -> list[dict]:
    """The 123 taps of chelsea.layers.json (without `head.probabilities`), in order.

    Each: {"layer": torchvision-path id, "keras_layer": Keras-2/TF.js layer name, "kind",
    "shape_nchw"}. With maxpool_e2=True (TF-for-Poets graph: last block's pool branch is a max
    pool), `Mixed_7c.branch_pool.avg_pool` becomes `Mixed_7c.branch_pool.max_pool`, kind maxpool.
    """
    doc = json.loads((REFERENCE_DIR / "chelsea.layers.json").read_text())
    out = []
    for entry in doc["layers"]:
        if entry["layer"].startswith("head."):
            continue
        entry = dict(entry)
        if maxpool_e2 and entry["layer"] == "Mixed_7c.branch_pool.avg_pool":
            entry["layer"] = "Mixed_7c.branch_pool.max_pool"
            entry["kind"] = "maxpool"
        out.append(entry)
    assert len(out) == 123, len(out)
    return out


# ---------------------------------------------------------------------------------------------
# safetensors, by hand

_ST_DTYPES = {
    ("f", 4): "F32",
    ("f", 8): "F64",
    ("f", 2): "F16",
    ("i", 8): "I64",
    ("i", 4): "I32",
    ("u", 1): "U8",
}
_ST_NP = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write tensors (sorted by name) as safetensors: u64 LE header length, JSON, raw LE bytes."""
    header: dict = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        st = _ST_DTYPES[(arr.dtype.kind, arr.dtype.itemsize)]
        arr = arr.astype(_ST_NP[st], copy=False)
        data = arr.tobytes(order="C")
        header[name] = {
            "dtype": st,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + a : base + b], dtype=_ST_NP[info["dtype"]]).reshape(
            info["shape"]
        )
    return out


# ---------------------------------------------------------------------------------------------
# Reference writer


def sample_indices(layer_id: str, size: int) -> np.ndarray:
    """256 sorted flat indices, deterministic per layer id (seed = crc32 of the id)."""
    rng = np.random.default_rng(zlib.crc32(layer_id.encode()))
    k = min(SAMPLES, size)
    return np.sort(rng.choice(size, size=k, replace=False)).astype(np.int64)


def write_reference(
    name: str,
    input_nchw: np.ndarray,
    taps: dict[str, np.ndarray],
    probabilities: np.ndarray,
    layers: list[dict],
    tool: str,
    nhwc: bool = False,
    full: tuple[str, ...] | list[str] = (),
) -> tuple[Path, Path]:
    """Write OUT/name.reference.safetensors and OUT/name.layers.json.

    input_nchw: float32 [1, 3, 299, 299], exactly what the tool was fed (transpose NHWC inputs
      yourself: `x.transpose(0, 3, 1, 2)`).
    taps: {layer id: activation}. NCHW [1, C, H, W] by default; with nhwc=True every tap is
      given as NHWC [1, H, W, C] and transposed here. 2-D [1, C] taps are taken as [1, C, 1, 1].
    probabilities: [1, N] (or [N]) head softmax, stored as `head.probabilities.full`.
    layers: the tap list in order (dicts with layer, kind, shape_nchw; an optional `tool_layer`,
      the name of the layer in the tool's model that produced the tap, is kept; other keys such
      as taps()' `keras_layer` are dropped).
      Every non-head entry needs a tap of exactly that NCHW shape. A `head.probabilities` entry
      (kind dense, [1, N]) is appended when absent, as in chelsea.layers.json.
    full: layer ids whose whole tensor is also stored as `L.full`.
    """
    out_dir()
    tensors: dict[str, np.ndarray] = {}
    x = np.asarray(input_nchw, dtype=np.float32)
    assert x.shape == (1, 3, 299, 299), x.shape
    tensors["input"] = x

    entries = []
    seen = set()
    for entry in layers:
        lid = entry["layer"]
        assert lid not in seen, f"duplicate layer {lid}"
        seen.add(lid)
        shape = [int(v) for v in entry["shape_nchw"]]
        row = {"layer": lid, "kind": entry["kind"], "shape_nchw": shape}
        if "tool_layer" in entry:
            row["tool_layer"] = entry["tool_layer"]
        entries.append(row)
        if lid.startswith("head."):
            continue
        assert lid in taps, f"no activation for tap {lid}"
        t = np.asarray(taps[lid], dtype=np.float32)
        if t.ndim == 2:
            t = t.reshape(t.shape[0], t.shape[1], 1, 1)
        elif nhwc:
            t = t.transpose(0, 3, 1, 2)
        t = np.ascontiguousarray(t)
        assert list(t.shape) == shape, f"{lid}: shape {list(t.shape)} vs {shape}"
        assert np.all(np.isfinite(t)), f"{lid}: non-finite values"
        idx = sample_indices(lid, t.size)
        tensors[f"{lid}.sample_index"] = idx
        tensors[f"{lid}.sample_value"] = t.reshape(-1)[idx].astype(np.float32)
        plane = t[0].reshape(t.shape[1], -1)
        tensors[f"{lid}.channel_mean"] = plane.astype(np.float64).mean(axis=1).astype(np.float32)
        tensors[f"{lid}.channel_max"] = plane.max(axis=1).astype(np.float32)
        if lid in full:
            tensors[f"{lid}.full"] = t
    extra = set(taps) - seen
    assert not extra, f"taps not listed in layers: {sorted(extra)}"

    p = np.asarray(probabilities, dtype=np.float32)
    if p.ndim == 1:
        p = p[None]
    assert p.ndim == 2 and p.shape[0] == 1, p.shape
    tensors["head.probabilities.full"] = p
    if "head.probabilities" not in seen:
        entries.append({"layer": "head.probabilities", "kind": "dense", "shape_nchw": list(p.shape)})

    st_path = OUT / f"{name}.reference.safetensors"
    js_path = OUT / f"{name}.layers.json"
    write_safetensors(st_path, tensors)
    js_path.write_text(json.dumps({"tool": tool, "layers": entries}, indent=1) + "\n")
    return st_path, js_path


# Auto-generated Keras layer names: `prefix` for the first, `prefix_N` after (Keras 3, tf_keras),
# or `prefix_1`, `prefix_2`, ... (Keras 2.2 / TF.js). Explicit names (mixed0, ...) have no number.
AUTO_PREFIXES = {
    "activation": "Activation",
    "max_pooling2d": "MaxPooling2D",
    "average_pooling2d": "AveragePooling2D",
    "concatenate": "Concatenate",
    "conv2d": "Conv2D",
    "batch_normalization": "BatchNormalization",
    "dense": "Dense",
}
AUTO_RE = re.compile(r"^(%s)(?:_(\d+))?$" % "|".join(AUTO_PREFIXES))


def by_creation(layers, prefix: str) -> list:
    """The auto-named layers with this prefix, in creation order (name counter order: Keras 3 and
    tf_keras `conv2d`, `conv2d_1`, ...; TF.js/Keras 2.2 `conv2d_1`, `conv2d_2`, ...)."""
    found = []
    for layer in layers:
        m = AUTO_RE.match(layer.name)
        if m and m.group(1) == prefix:
            assert type(layer).__name__ == AUTO_PREFIXES[prefix], (layer.name, type(layer))
            found.append((int(m.group(2) or -1), layer))
    return [layer for _, layer in sorted(found, key=lambda t: t[0])]
