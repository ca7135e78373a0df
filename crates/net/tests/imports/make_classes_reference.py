"""Float64 autodiff references for class summaries (issue 19): channel attributions and graph
influences of the bundled model, computed by tf_keras in float64 with TensorFlow's GradientTape.

Writes crates/net/tests/reference/classes.reference.safetensors:
- `IMG.CLASS.LAYER` (float32 [C]): Σ_{y,x} a_k(y,x) · ∂z_CLASS/∂a_k(y,x) for every one of the 123
  taps, z the class logit before the softmax, IMG `chelsea` or `coffee`;
- `IMG.edges.LO.HI` (float32 [len(lo nodes), len(hi nodes)]): Σ_{y,x} a_j(y,x) · ∂a_k(y*,x*)/∂a_j(y,x)
  for the node lists below, (y*,x*) the first row-major position of k's maximum in float64.

The model is built as make_tf_onnx.py's part_keras2 builds it (tf_keras InceptionV3 with the
bundled TF.js weights, Keras avg-pool semantics, the nsfwjs head), with floatx float64 and the
last Dense without its softmax. Run in the tf venv of make_fixtures.sh (tf_keras, numpy, Pillow):
    /tmp/featurescope-fixtures-tf/bin/python crates/net/tests/imports/make_classes_reference.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_common as fc  # noqa: E402

CLASSES = (0, 2)
EDGES = {
    ("maxpool2", "Mixed_5b"): ([64, 26], [59, 67]),
    ("Mixed_5d", "Mixed_6a"): ([20, 93], [100, 500]),
    ("Mixed_6e", "Mixed_7a"): ([107, 306], [619, 1111]),
}


def image(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(fc.REPO / "assets" / "samples" / f"{name}_299.png") as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def build():
    import tf_keras as keras

    keras.backend.set_floatx("float64")
    weights = fc.bundled_weights()
    base = keras.applications.InceptionV3(include_top=False, weights=None,
                                          input_shape=(299, 299, 3))
    convs = fc.by_creation(base.layers, "conv2d")
    bns = fc.by_creation(base.layers, "batch_normalization")
    for i, (conv, bn) in enumerate(zip(convs, bns), start=1):
        conv.set_weights([weights[f"conv2d_{i}/kernel"].astype(np.float64)])
        bn.set_weights([weights[f"batch_normalization_{i}/{p}"].astype(np.float64)
                        for p in ("beta", "moving_mean", "moving_variance")])
    h = keras.layers.AveragePooling2D((8, 8), strides=(8, 8), padding="valid")(base.output)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(256, activation="relu")(h)
    h = keras.layers.Dense(128, activation="relu")(h)
    h = keras.layers.Dense(5, activation=None)(h)
    model = keras.Model(base.input, h)
    for layer, i in zip(fc.by_creation(model.layers, "dense"), (1, 2, 3)):
        layer.set_weights([weights[f"dense_{i}/kernel"].astype(np.float64),
                           weights[f"dense_{i}/bias"].astype(np.float64)])
    by_name = {layer.name: layer for layer in model.layers}
    ids, outs = [], []
    for tap in fc.taps():
        m = fc.AUTO_RE.match(tap["keras_layer"])
        layer = (fc.by_creation(model.layers, m.group(1))[int(m.group(2)) - 1] if m
                 else by_name[tap["keras_layer"]])
        ids.append(tap["layer"])
        outs.append(layer.output)
    return keras.Model(model.input, outs + [model.output]), ids


def main() -> None:
    import tensorflow as tf

    tap_model, ids = build()
    out = {}
    for name in ("chelsea", "coffee"):
        x = tf.constant(fc.preprocess(image(name)).astype(np.float64))
        for c in CLASSES:
            with tf.GradientTape() as tape:
                res = tap_model(x, training=False)
                z = res[-1][0, c]
            grads = tape.gradient(z, res[:-1])
            for i, a, g in zip(ids, res[:-1], grads):
                attr = np.zeros(a.shape[-1]) if g is None else np.sum(
                    (a * g).numpy()[0], axis=(0, 1))
                out[f"{name}.{c}.{i}"] = attr.astype(np.float32)
            print(f"{name} class {c}: logit {float(z):.6f}", flush=True)
        for (lo, hi), (los, his) in EDGES.items():
            w = np.zeros((len(los), len(his)))
            for col, k in enumerate(his):
                with tf.GradientTape() as tape:
                    res = tap_model(x, training=False)
                    a_lo, a_hi = res[ids.index(lo)], res[ids.index(hi)]
                    ch = a_hi[0, :, :, k]
                    flat = int(np.argmax(ch.numpy().reshape(-1)))
                    unit = ch[flat // ch.shape[1], flat % ch.shape[1]]
                g = tape.gradient(unit, a_lo).numpy()[0]
                for row, j in enumerate(los):
                    w[row, col] = np.sum(a_lo.numpy()[0, :, :, j] * g[:, :, j])
            out[f"{name}.edges.{lo}.{hi}"] = w.astype(np.float32)
            print(f"{name} edges {lo} → {hi}: {w.tolist()}", flush=True)
    path = fc.REFERENCE_DIR / "classes.reference.safetensors"
    fc.write_safetensors(path, out)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
