#!/usr/bin/env python3
"""Make the committed references of `featurescope groups` and `featurescope spatial`:

  groups.sklearn.json        scikit-learn's NMF(init="nndsvd", solver="mu",
                             beta_loss="frobenius", max_iter=200, tol=0, random_state=0), k = 6,
                             on the activations A (positions x channels) of Conv2d_1a_3x3,
                             Mixed_5b and Mixed_7c for chelsea and coffee (the TF.js activations
                             `L.full` in NAME.safetensors here): per case the relative error
                             ||A - WH||_F / ||A||_F, and per group (ordered left to right by the
                             mask's centre of mass) the centre (x, y) in map cells and the
                             strongest channel.
  NAME.spatial.safetensors   spatial attribution to a class by PyTorch autograd in float64, on
                             torchvision's inception_v3 with the bundled weights and the seeded
                             fc of `../imports/generated/torchvision.onnx` (the same model, built
                             by make_tf_onnx.torchvision_model): per layer L (Mixed_5d,
                             Mixed_6e) and class C, `L.C.spatial` (float64 [H, W]) =
                             sum over channels of A * d logit_C / dA; `logits` (float64 [1000]);
                             `classes` (int64 [2]: chelsea's and coffee's top classes);
                             `L.ambiguous_gates` (int64 [n, 4]: BasicConv2d index, channel,
                             y, x — or one row of -1): ReLU gates above L whose float64 input
                             lies within 1e-6 of its layer's max of zero, which float32 cannot
                             decide; `L.C.spatial_flipJ` (float32) is the map with gate J
                             alone on its other side.

Run with the system python: `python3 crates/net/tests/reference/make_groups_spatial.py`
(`--part groups` / `--part spatial` for one). The groups part creates or reuses a small venv,
$FEATURESCOPE_FIXTURE_VENV_SKLEARN (default /tmp/featurescope-fixtures-sklearn, ~250 MB, pinned
below); the spatial part runs in the ONNX fixtures' venv (make_tf_onnx.py's, with torch and
torchvision; made by make_tf_onnx.py --part onnx if missing). Both take a few seconds once the
venvs exist; the outputs are small and committed. The groups part also runs live:
`--venv-only` only makes the scikit-learn venv (`.ci/run` does, then requires the check), and
crates/featurescope/tests/layer_views.rs runs the groups part in it with
FEATURESCOPE_GROUPS_OUT naming a temporary file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMPORTS = HERE.parent / "imports"
VENV_SKLEARN = Path(
    os.environ.get("FEATURESCOPE_FIXTURE_VENV_SKLEARN", "/tmp/featurescope-fixtures-sklearn")
)
PINS_SKLEARN = [
    "scikit-learn==1.9.1",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "joblib==1.6.0",
    "threadpoolctl==3.8.0",
    "narwhals==2.29.0",
    "cloudpickle==3.1.3",
]
VENV_ONNX = Path(
    os.environ.get("FEATURESCOPE_FIXTURE_VENV_ONNX", "/tmp/featurescope-fixtures-onnx")
)
MARKER = "FEATURESCOPE_REFERENCE_CHILD"
IMAGES = ("chelsea", "coffee")
GROUP_LAYERS = ("Conv2d_1a_3x3", "Mixed_5b", "Mixed_7c")
GROUPS, ITERS = 6, 200
SPATIAL_LAYERS = ("Mixed_5d", "Mixed_6e")


def ensure_venv(venv: Path, pins: list[str]) -> None:
    """Create the venv if missing and install the pins it lacks."""
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating venv {venv}", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(venv)])
    freeze = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True,
                            check=True).stdout.lower().replace("_", "-").split()
    missing = [p for p in pins if p.lower().replace("_", "-") not in freeze]
    if missing:
        print(f"installing into {venv}: {' '.join(missing)}", flush=True)
        subprocess.check_call([str(py), "-m", "pip", "install", "--disable-pip-version-check",
                               "-q", *pins])


def main_outer() -> None:
    if "--venv-only" in sys.argv:
        # CI: make the scikit-learn venv the live groups test runs (nothing written here).
        ensure_venv(VENV_SKLEARN, PINS_SKLEARN)
        return
    parts = sys.argv[sys.argv.index("--part") + 1:] if "--part" in sys.argv else [
        "groups", "spatial"]
    runs = []
    if "groups" in parts:
        ensure_venv(VENV_SKLEARN, PINS_SKLEARN)
        runs.append((VENV_SKLEARN, "groups"))
    if "spatial" in parts:
        if not (VENV_ONNX / "bin" / "python").exists():
            # torch and torchvision, pinned and installed the way the import fixtures need.
            subprocess.check_call([sys.executable, str(IMPORTS / "make_tf_onnx.py"), "--part",
                                   "onnx"])
        runs.append((VENV_ONNX, "spatial"))
    for venv, part in runs:
        env = dict(os.environ, **{MARKER: "1", "CUDA_VISIBLE_DEVICES": ""})
        subprocess.check_call([str(venv / "bin" / "python"), __file__, "--part", part], env=env)


def centre(mask, width: int) -> tuple[float, float] | None:
    import numpy as np

    total = float(mask.sum(dtype=np.float64))
    if total <= 0:
        return None
    idx = np.arange(mask.size)
    return (float((mask * (idx % width)).sum(dtype=np.float64) / total),
            float((mask * (idx // width)).sum(dtype=np.float64) / total))


def part_groups() -> None:
    import warnings

    import numpy as np
    import sklearn
    from sklearn.decomposition import NMF

    # "mu cannot update zeros present in the initialization" (use nndsvda): known, and exactly
    # the algorithm the issue names; featurescope does the same.
    warnings.filterwarnings("ignore", message="The multiplicative update")

    import fixture_common as fc

    cases = []
    for image in IMAGES:
        ref = fc.read_safetensors(HERE / f"{image}.safetensors")
        for layer in GROUP_LAYERS:
            full = ref[f"{layer}.full"]  # [1, C, H, W] float32
            _, c, h, w = full.shape
            a = np.ascontiguousarray(full.reshape(c, h * w).T)  # positions x channels
            model = NMF(n_components=GROUPS, init="nndsvd", solver="mu", beta_loss="frobenius",
                        max_iter=ITERS, tol=0, random_state=0)
            wm = model.fit_transform(a)
            hm = model.components_
            error = float(model.reconstruction_err_) / float(np.linalg.norm(a.astype(np.float64)))
            groups = []
            for g in range(GROUPS):
                groups.append({"centre": centre(wm[:, g], w),
                               "strongest_channel": int(np.argmax(hm[g]))})
            groups.sort(key=lambda x: (x["centre"] or (float("inf"),) * 2))
            cases.append({"image": image, "layer": layer, "shape_chw": [c, h, w],
                          "error": error, "n_iter": int(model.n_iter_), "groups": groups})
            print(f"{image} {layer} [{c}x{h}x{w}]: error {error:.6f}", flush=True)
    out = {
        "tool": f"scikit-learn {sklearn.__version__}, numpy {np.__version__}",
        "settings": {"n_components": GROUPS, "init": "nndsvd", "solver": "mu",
                     "beta_loss": "frobenius", "max_iter": ITERS, "tol": 0,
                     "random_state": 0},
        "input": "NAME.safetensors `L.full` (TF.js activations), positions x channels, float32",
        "cases": cases,
    }
    # FEATURESCOPE_GROUPS_OUT: elsewhere than the committed file (the live check of
    # crates/featurescope/tests/layer_views.rs runs scikit-learn through here).
    path = Path(os.environ.get("FEATURESCOPE_GROUPS_OUT", HERE / "groups.sklearn.json"))
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}", flush=True)


def part_spatial() -> None:
    import numpy as np
    import torch

    import fixture_common as fc
    import make_tf_onnx as mk

    torch.set_num_threads(2)
    weights = fc.bundled_weights()
    tv_ref = fc.read_safetensors(HERE / "chelsea.torchvision.safetensors")
    model, basic = mk.torchvision_model(weights, tv_ref)
    model = model.double().eval()
    names = {m: n for n, m in model.named_modules()}
    taps, pre, flip = {}, {}, {}
    for name in SPATIAL_LAYERS:
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: taps.__setitem__(name, out))
    for i, m in enumerate(basic):
        m.bn.register_forward_hook(lambda _m, _i, out, i=i: pre.__setitem__(i, out))
        # Flip the listed ReLU gates for the second reference (see ambiguous() below): an open
        # gate passes no gradient, a closed one passes it as if open. Values are unchanged.
        m.register_forward_hook(lambda _m, _i, out, i=i: (
            out if i not in flip else
            torch.where(flip[i] & (pre[i] > 0), out.detach(), out)
            + torch.where(flip[i] & (pre[i] <= 0), pre[i] - pre[i].detach(), 0 * out)))

    def ambiguous(layer: str) -> dict[int, "torch.Tensor"]:
        """ReLU gates above `layer` whose float64 input lies within 1e-6 of its layer's largest
        magnitude of zero, not zero itself: float32 (featurescope's arithmetic) cannot decide
        their side, and a gate passes or blocks a unit's whole gradient."""
        order = [n for n, _ in model.named_children()]
        above = order[order.index(layer) + 1:]
        out = {}
        for i, m in enumerate(basic):
            if names[m].split(".")[0] in above:
                x = pre[i].detach().abs()
                mask = (x > 0) & (x <= 1e-6 * x.max())
                if mask.any():
                    out[i] = mask
        return out

    logits, inputs = {}, {}
    for image in IMAGES:
        x = fc.read_safetensors(HERE / f"{image}.torchvision.safetensors")["input"]
        inputs[image] = torch.from_numpy(x.astype(np.float64))
        with torch.no_grad():
            logits[image] = model(inputs[image])[0].numpy()
    classes = [int(np.argmax(logits[i])) for i in IMAGES]
    assert classes[0] != classes[1], classes
    for image in IMAGES:
        tensors = {"logits": logits[image], "classes": np.array(classes, np.int64)}
        for name in SPATIAL_LAYERS:
            flip.clear()
            with torch.no_grad():
                model(inputs[image])
            gates = ambiguous(name)
            listed = [[i, *idx[1:]] for i, mk_ in gates.items()
                      for idx in torch.nonzero(mk_).tolist()]
            for i, c, y, x in listed:
                print(f"{image} {name}: ambiguous gate {names[basic[i]]} channel {c} at ({y}, "
                      f"{x}): float64 input {float(pre[i][0, c, y, x]):.3e}", flush=True)
            tensors[f"{name}.ambiguous_gates"] = np.array(listed or [[-1, -1, -1, -1]], np.int64)
            variants = [("spatial", {}, np.float64)]
            for j, (i, c, y, x) in enumerate(listed):
                one = torch.zeros_like(gates[i])
                one[0, c, y, x] = True
                variants.append((f"spatial_flip{j}", {i: one}, np.float32))
            for variant, flipped, dtype in variants:
                flip.clear()
                flip.update(flipped)
                out = model(inputs[image])
                a = taps[name]
                for c in classes:
                    (g,) = torch.autograd.grad(out[0, c], [a], retain_graph=True)
                    m = (a * g).sum(dim=1)[0].detach().numpy()
                    tensors[f"{name}.{c}.{variant}"] = np.ascontiguousarray(m.astype(dtype))
                    print(f"{image} {name} class {c} {variant}: logit "
                          f"{float(out[0, c].detach()):.4f}, max |value| "
                          f"{np.abs(m).max():.4g}, sum {m.sum():.4f}", flush=True)
        path = HERE / f"{image}.spatial.safetensors"
        fc.write_safetensors(path, tensors)
        print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    if os.environ.get(MARKER) != "1":
        main_outer()
    else:
        sys.path.insert(0, str(IMPORTS))
        part = sys.argv[sys.argv.index("--part") + 1]
        {"groups": part_groups, "spatial": part_spatial}[part]()
