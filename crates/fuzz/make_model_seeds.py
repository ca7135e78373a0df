#!/usr/bin/env python3
"""Seeds for the model-file fuzz targets (h5, keras, pb, onnx), written by the real tools.

- h5 / keras: tiny Keras 3 models (Conv2D + BatchNormalization + a dense head, a nested one,
  a Sequential one) saved by Keras itself, in the import fixtures' virtualenv
  (crates/net/tests/imports/make_keras3.py makes it).
- pb / onnx: the foreign models crates/net/tests/imports/make_tf_onnx.py writes with
  TensorFlow and PyTorch's exporter (a small frozen conv net, a small ONNX conv net).

Run after crates/net/tests/imports/make_fixtures.sh: `python3 crates/fuzz/make_model_seeds.py`.
"""
import os, shutil, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
GENERATED = os.path.join(ROOT, "crates/net/tests/imports/generated")
VENV = os.environ.get("FEATURESCOPE_FIXTURE_VENV_KERAS3", "/tmp/featurescope-fixtures-keras3")


def out(target, name):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


def keras_seeds():
    os.environ["KERAS_BACKEND"] = "numpy"
    import keras
    keras.utils.set_random_seed(3)
    L = keras.layers

    def small(name):
        x = inp = keras.Input((9, 9, 3))
        for i in range(2):
            x = L.Conv2D(4, 3, padding="same", use_bias=False)(x)
            x = L.BatchNormalization(scale=False)(x)
            x = L.Activation("relu")(x)
        y = L.Conv2D(4, 1, use_bias=False)(x)
        y = L.BatchNormalization(scale=False)(y)
        x = L.Concatenate()([x, y])
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(3, activation="softmax")(x)
        return keras.Model(inp, x, name=name)

    base = small("base")
    nested_in = keras.Input((9, 9, 3))
    nested = keras.Model(nested_in, L.Dense(2)(L.Dropout(0.1)(base(nested_in))))
    seq = keras.Sequential([keras.Input((9, 9, 3)), L.Conv2D(2, 3), L.Flatten(), L.Dense(2)])
    for model, name in [(small("small"), "small"), (nested, "nested"), (seq, "sequential")]:
        model.save(out("h5", f"{name}.h5"))
        model.save(out("keras", f"{name}.keras"))
    small("w").save_weights(out("h5", "weights_only.weights.h5"))


if __name__ == "__main__":
    if sys.prefix != VENV:
        python = os.path.join(VENV, "bin", "python")
        if not os.path.exists(python):
            sys.exit(f"{python} is missing: run crates/net/tests/imports/make_fixtures.sh first")
        subprocess.run([python, os.path.abspath(__file__)], check=True)
        for target, name in [("pb", "poets/other_graph.pb"), ("onnx", "other.onnx")]:
            shutil.copy(os.path.join(GENERATED, name), out(target, os.path.basename(name)))
    else:
        keras_seeds()
