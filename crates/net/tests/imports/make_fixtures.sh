#!/usr/bin/env bash
# Make every import fixture with the real tools, each in its own throwaway virtualenv with
# pinned packages: Keras 3 (numpy backend) for .h5/.keras, TensorFlow + tf_keras for the
# TensorFlow-for-Poets graphs and the Keras 2 .h5, PyTorch's exporter + ONNX Runtime for ONNX.
# Writes crates/net/tests/imports/generated/ (about 1 GB, git-ignored); `crates/net/tests/
# imports.rs` reads it. `.ci/run` runs this before the tests.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3 "$here/make_keras3.py"
python3 "$here/make_tf_onnx.py"
