#!/usr/bin/env python3
"""Make the Keras 3 import fixtures, with Keras 3 itself (numpy backend).

Why: featurescope's Keras importer must read the files people really have, so these fixtures are
written by the real tool (Keras 3.x `model.save` / `save_weights`), never by featurescope's own
code. The weights are the bundled nsfwjs Inception-V3 weights (weights/inception_v3_nsfwjs),
mapped onto `keras.applications.InceptionV3` by creation order; the reference activations are
computed by Keras on assets/samples/chelsea_299.png.

Writes into crates/net/tests/imports/generated/:
  keras3.h5          full nsfwjs model (InceptionV3 base + nsfwjs head), model.save, legacy HDF5
  keras3.keras       the same model, model.save, Keras 3 zip format
  keras3.weights.h5  the same model, model.save_weights (weights only, no config)
  keras3.reference.safetensors, keras3.layers.json   Keras' own activations (shared by the 3)
  transfer.keras     InceptionV3 as a nested, frozen (trainable=False) sub-model
                     + GlobalAveragePooling2D + Dropout(0.2) + Dense(3, softmax)
  transfer.h5        the same, model.save legacy HDF5
  transfer_sequential.keras  the same layers as a Sequential (base, pooling, dropout, dense)
  transfer.reference.safetensors, transfer.layers.json
  resnet50.h5        a foreign model (ResNet50, random weights) the importer must refuse

Run with the system python: `python3 crates/net/tests/imports/make_keras3.py`. It creates (or
reuses) a virtualenv with pinned versions at $FEATURESCOPE_FIXTURE_VENV_KERAS3
(default /tmp/featurescope-fixtures-keras3) and re-executes itself there with KERAS_BACKEND=numpy.
(The Keras numpy backend runs its convolutions and pools through jax.lax, hence jax.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = Path(os.environ.get("FEATURESCOPE_FIXTURE_VENV_KERAS3", "/tmp/featurescope-fixtures-keras3"))
# Everything pinned, transitive dependencies included (pip freeze of a working venv).
PINS = [
    "keras==3.15.1",
    "h5py==3.16.0",
    "numpy==2.4.6",
    "pillow==13.0.0",
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "scipy==1.17.1",
    "ml_dtypes==0.6.0",
    "opt_einsum==3.4.0",
    "absl-py==2.5.1",
    "namex==0.1.0",
    "optree==0.20.0",
    "packaging==26.4",
    "rich==15.0.0",
    "markdown-it-py==4.3.0",
    "mdurl==0.1.2",
    "Pygments==2.21.0",
    "typing_extensions==4.16.0",
]
MARKER = "FEATURESCOPE_FIXTURE_KERAS3_CHILD"


def _norm(req: str) -> str:
    return req.strip().lower().replace("_", "-")


def _bootstrap() -> None:
    """Unless already inside the venv, make sure it exists with PINS, then exec into it."""
    if os.environ.get(MARKER) == "1" and Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = VENV / "bin" / "python"
    if not py.exists():
        print(f"creating venv {VENV}", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    freeze = subprocess.run(
        [str(py), "-m", "pip", "freeze"], capture_output=True, text=True, check=True
    ).stdout
    have = {_norm(line) for line in freeze.splitlines()}
    missing = [p for p in PINS if _norm(p) not in have]
    if missing:
        print(f"installing into {VENV}: {' '.join(missing)}", flush=True)
        subprocess.check_call(
            [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", *PINS]
        )
    env = dict(os.environ)
    env.update({MARKER: "1", "KERAS_BACKEND": "numpy", "JAX_PLATFORMS": "cpu"})
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.execve(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]], env)


if __name__ == "__main__":
    _bootstrap()

# ----------------------------------------------------------------------------------------------
# Inside the venv from here on.

os.environ["KERAS_BACKEND"] = "numpy"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(HERE))

import re  # noqa: E402

import numpy as np  # noqa: E402

import fixture_common as fc  # noqa: E402

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def wrote(path: Path) -> None:
    print(f"wrote {path.relative_to(fc.REPO)}  {path.stat().st_size:,} bytes", flush=True)


# Auto-generated Keras layer names: `prefix` for the first, `prefix_N` after (Keras 3), or
# `prefix_1`, `prefix_2`, ... (Keras 2 / TF.js). Explicit names (mixed0, ...) do not use a number.
by_creation = fc.by_creation
AUTO_RE = fc.AUTO_RE


def tap_layers(layers, taps: list[dict]) -> dict[str, object]:
    """Tap id -> Keras 3 layer. TF.js auto names (`activation_7`) map to the N-th auto-named
    Keras 3 layer of that class in creation order; explicit names (`mixed9_1`) map by name."""
    by_name = {layer.name: layer for layer in layers}
    out = {}
    for tap in taps:
        name = tap["keras_layer"]
        m = AUTO_RE.match(name)
        if m:
            assert m.group(2), name
            layer = by_creation(layers, m.group(1))[int(m.group(2)) - 1]
        else:
            layer = by_name[name]
        out[tap["layer"]] = layer
    return out


def load_base_weights(base, weights: dict) -> None:
    """Bundled conv i / BN i (TF.js numbering) -> Keras 3 conv/BN i in creation order."""
    convs = by_creation(base.layers, "conv2d")
    bns = by_creation(base.layers, "batch_normalization")
    assert len(convs) == 94 and len(bns) == 94, (len(convs), len(bns))
    for i, (conv, bn, name) in enumerate(zip(convs, bns, fc.conv_order()), start=1):
        assert name == f"conv2d_{i}"
        kernel = weights[f"{name}/kernel"]
        assert [tuple(w.shape) for w in conv.weights] == [kernel.shape], (conv.name, kernel.shape)
        conv.set_weights([kernel])
        b = f"batch_normalization_{i}"
        bn_w = [weights[f"{b}/{p}"] for p in ("beta", "moving_mean", "moving_variance")]
        assert not bn.scale and bn.center, bn.name
        assert [w.path.rsplit("/", 1)[-1] for w in bn.weights] == [
            "beta",
            "moving_mean",
            "moving_variance",
        ], [w.path for w in bn.weights]
        assert [tuple(w.shape) for w in bn.weights] == [w.shape for w in bn_w], bn.name
        assert abs(bn.epsilon - fc.BN_EPSILON) < 1e-12
        bn.set_weights(bn_w)


def run_taps(model_inputs, tap_map: dict, head_output, x: np.ndarray):
    """One inference of a Model(inputs, [tap outputs..., head output]); tap_map values are
    layers (their single output) or symbolic tensors."""
    import keras

    ids = list(tap_map)
    outs = [
        v.output if isinstance(v, keras.layers.Layer) else v for v in (tap_map[i] for i in ids)
    ] + [head_output]
    tap_model = keras.Model(model_inputs, outs)
    res = tap_model(x, training=False)
    res = [np.asarray(r) for r in res]
    return {i: r for i, r in zip(ids, res[:-1])}, res[-1]


def main() -> None:
    import h5py
    import keras

    os.nice(5)
    assert keras.backend.backend() == "numpy", keras.backend.backend()
    log(f"keras {keras.__version__} backend {keras.backend.backend()}, h5py {h5py.__version__}, "
        f"numpy {np.__version__}")
    out = fc.out_dir()
    weights = fc.bundled_weights()
    taps = fc.taps()
    ref = fc.read_safetensors(fc.REFERENCE_DIR / "chelsea.safetensors")

    img = fc.chelsea()
    x = keras.applications.inception_v3.preprocess_input(img.astype(np.float32)[None].copy())
    x = np.asarray(x, dtype=np.float32)
    assert np.array_equal(x, fc.preprocess(img))
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    assert np.array_equal(x_nchw, ref["input"]), "chelsea input differs from the TF.js reference"
    checks = []

    # ---- keras3: full nsfwjs model ------------------------------------------------------------
    keras.backend.clear_session()
    base = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(299, 299, 3)
    )
    load_base_weights(base, weights)
    h = keras.layers.AveragePooling2D((8, 8))(base.output)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(256, activation="relu")(h)
    h = keras.layers.Dropout(0.5)(h)
    h = keras.layers.Dense(128, activation="relu")(h)
    h = keras.layers.Dropout(0.25)(h)
    h = keras.layers.Dense(5, activation="softmax")(h)
    model = keras.Model(base.input, h, name="nsfwjs_inception_v3")
    dense = by_creation(model.layers, "dense")
    assert len(dense) == 3
    for layer, i in zip(dense, (1, 2, 3)):
        layer.set_weights([weights[f"dense_{i}/kernel"], weights[f"dense_{i}/bias"]])
    log(f"built keras3 model: {len(model.layers)} layers, {len(model.weights)} weights")

    tap_map = tap_layers(model.layers, taps)
    acts, probs = run_taps(model.inputs, tap_map, model.output, x)
    log("keras3 inference done")
    layers = []
    for tap in taps:
        a = acts[tap["layer"]]
        shape_nchw = [a.shape[0], a.shape[3], a.shape[1], a.shape[2]]
        assert shape_nchw == tap["shape_nchw"], (tap, a.shape)
        layers.append({**tap, "tool_layer": tap_map[tap["layer"]].name})
    # Sanity: Keras' activations at the TF.js reference's own sample points.
    worst = (0.0, "")
    for tap in taps:
        lid = tap["layer"]
        a = acts[lid].transpose(0, 3, 1, 2).reshape(-1)
        rv = ref[f"{lid}.sample_value"]
        scale = max(float(np.abs(ref[f"{lid}.channel_max"]).max()), float(np.abs(rv).max()), 1e-12)
        d = float(np.abs(a[ref[f"{lid}.sample_index"]] - rv).max()) / scale
        if d > worst[0]:
            worst = (d, lid)
    dp = float(np.abs(probs - ref["head.probabilities.full"]).max())
    checks.append(f"keras3 vs TF.js reference: head probabilities max |diff| {dp:.2e}; "
                  f"taps at reference samples max |diff|/layer max {worst[0]:.2e} ({worst[1]})")
    assert dp < 1e-4, dp
    assert worst[0] < 1e-4, worst
    for p in fc.write_reference(
        "keras3", x_nchw, acts, probs, layers, f"keras {keras.__version__} (numpy backend)",
        nhwc=True,
    ):
        wrote(p)

    model.save(out / "keras3.h5")
    wrote(out / "keras3.h5")
    model.save(out / "keras3.keras")
    wrote(out / "keras3.keras")
    model.save_weights(out / "keras3.weights.h5")
    wrote(out / "keras3.weights.h5")
    gap_features = np.asarray(
        keras.layers.GlobalAveragePooling2D()(acts["Mixed_7c"]), dtype=np.float64
    )

    # ---- transfer: nested frozen base + new head ---------------------------------------------
    keras.backend.clear_session()
    base = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(299, 299, 3)
    )
    load_base_weights(base, weights)
    inputs = keras.Input(shape=(299, 299, 3))
    gap = keras.layers.GlobalAveragePooling2D()
    drop = keras.layers.Dropout(0.2)
    head = keras.layers.Dense(3, activation="softmax")
    outputs = head(drop(gap(base(inputs, training=False))))
    transfer = keras.Model(inputs, outputs, name="transfer")
    rng = np.random.default_rng(7)
    k = rng.standard_normal((2048, 3))
    logits = gap_features @ k
    k *= 2.0 / float(np.abs(logits - logits.mean()).max())  # logits spread ~4: not one-hot
    bias = 0.1 * rng.standard_normal(3)
    head.set_weights([k.astype(np.float32), bias.astype(np.float32)])
    base.trainable = False
    log(f"built transfer model: {len(transfer.layers)} layers, "
        f"{len(transfer.trainable_weights)} trainable / {len(transfer.weights)} weights")

    base_taps = [t for t in taps if t["layer"] != "avgpool"]
    tap_map = tap_layers(base.layers, base_taps)
    # Tap model on the base's own graph; the outer head layers are applied to base.output
    # (same layer objects, so the same weights), giving the true outputs of every layer.
    gap_out = gap(base.output)
    t_probs_out = head(drop(gap_out))
    t_acts, t_probs = run_taps(base.inputs, {**tap_map, "avgpool": gap_out}, t_probs_out, x)
    direct = np.asarray(transfer(x, training=False))
    dt = float(np.abs(direct - t_probs).max())
    checks.append(f"transfer: tap model head vs transfer(x) max |diff| {dt:.2e}; "
                  f"probabilities {np.array2string(t_probs[0], precision=4)}")
    assert dt < 1e-6, dt
    assert t_probs.max() < 0.95, t_probs
    for lid in tap_map:
        d = float(np.abs(t_acts[lid] - acts[lid]).max())
        assert d < 1e-5, (lid, d)
    t_layers = []
    for tap in taps:
        a = t_acts[tap["layer"]]
        if tap["layer"] == "avgpool":
            assert a.shape == (1, 2048), a.shape
            t_layers.append({**tap, "shape_nchw": [1, 2048, 1, 1],
                             "tool_layer": f"{gap.name} (GlobalAveragePooling2D, as [1,2048,1,1])"})
            t_acts["avgpool"] = a.reshape(1, 1, 1, 2048)
        else:
            assert [1, a.shape[3], a.shape[1], a.shape[2]] == tap["shape_nchw"], tap
            t_layers.append({**tap, "tool_layer": f"{base.name}/{tap_map[tap['layer']].name}"})
    for p in fc.write_reference(
        "transfer", x_nchw, t_acts, t_probs, t_layers,
        f"keras {keras.__version__} (numpy backend)", nhwc=True,
    ):
        wrote(p)
    transfer.save(out / "transfer.keras")
    wrote(out / "transfer.keras")
    transfer.save(out / "transfer.h5")
    wrote(out / "transfer.h5")
    # The same layers as a Sequential (another way people write it): same weights, same reference.
    sequential = keras.Sequential([keras.Input(shape=(299, 299, 3)), base, gap, drop, head],
                                  name="transfer_sequential")
    sequential.save(out / "transfer_sequential.keras")
    wrote(out / "transfer_sequential.keras")

    # ---- reload what was written, with Keras --------------------------------------------------
    for name, expect in [
        ("keras3.h5", probs), ("keras3.keras", probs),
        ("transfer.keras", t_probs), ("transfer.h5", t_probs),
        ("transfer_sequential.keras", t_probs),
    ]:
        keras.backend.clear_session()
        m = keras.models.load_model(out / name, compile=False)
        d = float(np.abs(np.asarray(m(x, training=False)) - expect).max())
        checks.append(f"reloaded {name}: head max |diff| {d:.2e}")
        assert d < 1e-6, (name, d)
    # Weights-only file: into a fresh copy of the architecture (new random weights).
    fresh = keras.models.clone_model(model)
    fresh.load_weights(out / "keras3.weights.h5")
    d = float(np.abs(np.asarray(fresh(x, training=False)) - probs).max())
    checks.append(f"keras3.weights.h5 loaded into a clone: head max |diff| {d:.2e}")
    assert d < 1e-6, d
    log("reloads checked")

    # ---- foreign model ------------------------------------------------------------------------
    keras.backend.clear_session()
    resnet = keras.applications.ResNet50(weights=None)
    resnet.save(out / "resnet50.h5")
    wrote(out / "resnet50.h5")

    for c in checks:
        print("check:", c)
    log("done")


if __name__ == "__main__":
    main()
