#!/usr/bin/env bash
# Remake cka_reference.json: the fixture's 8 images and its model B (the bundled model with
# torchvision's average pools and every weight from Mixed_6a up re-initialised, seeded), both
# models `featurescope dump`ed on the CPU, then cka_reference.py in a throwaway venv with NumPy.
# Needs about 1 GB in a temporary folder. Run from anywhere; commits nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$repo"
# Builds the binary too (the tests' build: the same features as `cargo test --workspace`).
FEATURESCOPE_CKA_FIXTURE_DIR="$work/fixture" \
  cargo test --release --workspace --test compare -- --ignored --exact write_cka_fixture
bin="$repo/target/release/featurescope"
for img in "$work"/fixture/images/*; do
  name="$(basename "$img")"
  "$bin" dump --image "$img" --out "$work/dumps/a/$name" --backend cpu
  "$bin" dump --image "$img" --weights "$work/fixture/model_b.safetensors" \
    --out "$work/dumps/b/$name" --backend cpu
done
# A Python with NumPy: FEATURESCOPE_NUMPY_PYTHON, or a throwaway venv with pinned NumPy.
python="${FEATURESCOPE_NUMPY_PYTHON:-}"
if [ -z "$python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet "numpy==2.1.3"
  python="$work/venv/bin/python"
fi
"$python" "$here/cka_reference.py" "$work/dumps" 4 > "$here/cka_reference.json"
echo "wrote $here/cka_reference.json"
