#!/usr/bin/env bash
# Make every import fixture with the real tools, each in its own throwaway virtualenv with
# pinned packages: Keras 3 (numpy backend) for .h5/.keras, TensorFlow + tf_keras for the
# TensorFlow-for-Poets graphs and the Keras 2 .h5, PyTorch's exporter + ONNX Runtime for ONNX,
# torch.save and safetensors for torchvision's .pth and .safetensors.
# Writes crates/net/tests/imports/generated/ (about 1 GB, git-ignored); `crates/net/tests/
# imports.rs` reads it. `.ci/run` runs this before the tests.
#
# One venv at a time. With FEATURESCOPE_FIXTURES_DISCARD_VENVS=1 (CI) each venv is deleted as
# soon as its files are written, and pip keeps no cache: the three venvs take ~10 GB together
# (PyPI's torch brings CUDA libraries), which a CI disk must not hold alongside the cargo build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
discard="${FEATURESCOPE_FIXTURES_DISCARD_VENVS:-0}"
if [ "$discard" = 1 ]; then export PIP_NO_CACHE_DIR=1; fi

done_with() {
  if [ "$discard" = 1 ]; then
    echo "discarding venv $1 ($(du -sh "$1" 2>/dev/null | cut -f1))"
    rm -rf "$1"
  fi
}

python3 "$here/make_keras3.py"
done_with "${FEATURESCOPE_FIXTURE_VENV_KERAS3:-/tmp/featurescope-fixtures-keras3}"
python3 "$here/make_tf_onnx.py" --part tf
done_with "${FEATURESCOPE_FIXTURE_VENV_TF:-/tmp/featurescope-fixtures-tf}"
python3 "$here/make_tf_onnx.py" --part onnx
done_with "${FEATURESCOPE_FIXTURE_VENV_ONNX:-/tmp/featurescope-fixtures-onnx}"
df -h . | tail -1
