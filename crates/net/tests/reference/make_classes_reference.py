#!/usr/bin/env python3
"""Make the committed reference of class summaries (issue 19), by PyTorch autograd in float64:

  classes.reference.safetensors
    MODEL.classes                 (int64 [2]) the two classes
    MODEL.IMG.logits              (float64 [n]) the logits before the softmax
    MODEL.IMG.CLASS.LAYER         (float64 [C]) channel attribution Σ_{y,x} a_k(y,x) · ∂z/∂a_k(y,x)
                                  for every one of the 123 taps, z = logit CLASS
    MODEL.IMG.edges.LO.HI         (float64 [len(LO nodes), len(HI nodes)]) influence
                                  Σ_{y,x} a_j(y,x) · ∂a_k(y*,x*)/∂a_j(y,x), (y*,x*) the first
                                  row-major position of k's maximum, for the node lists in EDGES
    MODEL.IMG.CLASS.ambiguous     (int64 [n, 5]: the conv's position in chelsea.layers.json,
                                  channel, y, x, 1 if open in float64 — or one row of -1):
                                  ReLU gates whose float64 input lies within 1e-6 of its layer's
                                  largest magnitude of zero, which float32 (featurescope's
                                  arithmetic) may decide the other way
    MODEL.IMG.CLASS.gateJ.LAYER   (int64 [4]: channel, y, x, 1 if open) listed gate J, at LAYER
    MODEL.IMG.CLASS.flipJ.LAYER   (float32 [C]) the attributions with gate J alone on its other
                                  side (exact: a flip adds or removes the paths through one unit),
                                  only for the layers where that moves them by more than 1e-4 of
                                  the layer's largest magnitude

  MODEL `torchvision`: torchvision's inception_v3 with the bundled weights and the seeded fc of
  `../imports/generated/torchvision.onnx` (make_tf_onnx.torchvision_model; torchvision's
  avg-pool semantics), classes: the top-1 classes of chelsea and coffee.
  MODEL `bundled`: the same module with the bundled model's semantics: Keras avg pools (padded
  zeros not counted) and the nsfwjs head (Dense 256 ReLU, Dense 128 ReLU, Dense 5), its logits
  checked against TensorFlow.js' probabilities in NAME.safetensors; classes 0 and 2.
  IMG: chelsea, coffee (the 299x299 inputs of NAME.torchvision.safetensors).

Taps PyTorch has no module for are read off modules that hold the same values: a block's avg
pool is the input of its `branch_pool` conv, a block's max pool the last channels of its concat,
an E block's inner concat its two convs.

Run with the system python: `python3 crates/net/tests/reference/make_classes_reference.py`; it
runs itself in the ONNX fixtures' venv (make_tf_onnx.py's, with torch and torchvision, made by
make_tf_onnx.py --part onnx if missing; $FEATURESCOPE_FIXTURE_VENV_ONNX). A few minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMPORTS = HERE.parent / "imports"
VENV_ONNX = Path(
    os.environ.get("FEATURESCOPE_FIXTURE_VENV_ONNX", "/tmp/featurescope-fixtures-onnx")
)
MARKER = "FEATURESCOPE_REFERENCE_CHILD"
IMAGES = ("chelsea", "coffee")
BUNDLED_CLASSES = (0, 2)
EDGES = {
    ("maxpool2", "Mixed_5b"): ([64, 26], [59, 67]),
    ("Mixed_5d", "Mixed_6a"): ([20, 93], [100, 500]),
    ("Mixed_6e", "Mixed_7a"): ([107, 306], [619, 1111]),
    ("Mixed_7b", "Mixed_7c"): ([832, 2025], [161, 1987]),
}
FLIP_KEEP = 1e-4


def main_outer() -> None:
    if not (VENV_ONNX / "bin" / "python").exists():
        subprocess.check_call([sys.executable, str(IMPORTS / "make_tf_onnx.py"), "--part", "onnx"])
    env = dict(os.environ, **{MARKER: "1", "CUDA_VISIBLE_DEVICES": ""})
    subprocess.check_call([str(VENV_ONNX / "bin" / "python"), __file__], env=env)


class Taps:
    """Every tap of the module as a tensor in the autograd graph, and each BasicConv2d's
    pre-ReLU value (for the ambiguous gates and their flips)."""

    def __init__(self, model, taps: list[dict]):
        import torch

        self.model, self.ids = model, [t["layer"] for t in taps]
        self.channels = {t["layer"]: t["shape_nchw"][1] for t in taps}
        self.out: dict[str, torch.Tensor] = {}
        self.pre: dict[int, torch.Tensor] = {}
        self.post: dict[int, torch.Tensor] = {}
        self.basic = [m for m in model.modules() if type(m).__name__ == "BasicConv2d"]
        names = {m: n for n, m in model.named_modules()}
        # Gates are named by their conv's position among the 123 taps (the catalogue's order).
        self.position = [self.ids.index(names[m]) for m in self.basic]
        for i, m in enumerate(self.basic):
            # A clone: torchvision's ReLU runs in place on the BatchNorm's output.
            m.bn.register_forward_hook(lambda _m, _i, o, i=i: self.pre.__setitem__(i, o.clone()))
            m.register_forward_hook(lambda _m, _i, o, i=i: self.post.__setitem__(i, o))
            m.register_forward_hook(lambda _m, _i, o, n=names[m]: self.out.__setitem__(n, o))
            if names[m].endswith(".branch_pool"):
                block = names[m].rsplit(".", 1)[0]
                m.register_forward_pre_hook(
                    lambda _m, i, b=block: self.out.__setitem__(f"{b}.branch_pool.avg_pool", i[0]))
        for name, m in model.named_children():
            if name.startswith("Mixed_") or name in ("maxpool1", "maxpool2", "avgpool"):
                m.register_forward_hook(lambda _m, _i, o, n=name: self.out.__setitem__(n, o))

    def run(self, x):
        """Logits, every tap with a tensor of its own in the graph by id, and the taps that are
        parts of others (`{tap: (block, first channel)}`: a B/D block's max pool is the last
        channels of its concat) or joins of others (`{tap: [parts]}`: an E block's inner
        concat), whose gradients are those of the tensors they are read from."""
        self.out.clear()
        logits = self.model(x)
        taps, parts, joins = {}, {}, {}
        for tap in self.ids:
            if tap in self.out:
                taps[tap] = self.out[tap]
            elif tap.endswith(".branch_pool.max_pool"):
                # The concat's last channels: the pool keeps the block input's channel count.
                block = tap.split(".")[0]
                parts[tap] = (block, self.out[block].shape[1] - self.channels[tap])
            else:
                block, inner = tap.split(".")
                ends = ("2a", "2b") if inner == "branch3x3" else ("3a", "3b")
                joins[tap] = [f"{block}.{inner}_{e}" for e in ends]
        return logits, taps, parts, joins

    def ambiguous(self):
        """(conv index, channel, y, x, 1 if open) of every gate whose float64 input lies within
        1e-6 of its layer's largest magnitude of zero, not zero itself."""
        import torch

        out = []
        for i in range(len(self.basic)):
            x = self.pre[i].detach()
            mask = (x != 0) & (x.abs() <= 1e-6 * x.abs().max())
            out += [[i, self.position[i], *idx[1:], int(x[tuple(idx)] > 0)]
                    for idx in torch.nonzero(mask).tolist()]
        return out


def channel_sums(a, g):
    """Σ_{y,x} a·g per channel of one image (float64)."""
    return (a.detach() * g).sum(dim=(0, 2, 3)).numpy()


def attributions(taps_obj: Taps, x, c: int) -> tuple[dict, list]:
    """Per tap Σ a·∂z_c/∂a per channel (float64); and per ambiguous gate (conv, channel, y, x)
    the attributions with that gate alone on its other side. A gate's flip adds or removes the
    one path through its unit u: Δ ∂z/∂a = ± (∂z/∂post_u) · ∂pre_u/∂a, exactly (no value
    changes), so each flip costs a backward from u only."""
    import numpy as np
    import torch

    logits, taps, parts, joins = taps_obj.run(x)
    ids = list(taps)
    convs = sorted(taps_obj.post)

    def complete(sums: dict) -> dict:
        for tap, (block, start) in parts.items():
            sums[tap] = sums[block][start:]
        for tap, pieces in joins.items():
            sums[tap] = np.concatenate([sums[p] for p in pieces])
        return {t: sums[t] for t in taps_obj.ids}

    def sums_of(grads) -> dict:
        return {i: (np.zeros(taps[i].shape[1]) if g is None else channel_sums(taps[i], g))
                for i, g in zip(ids, grads)}

    grads = torch.autograd.grad(logits[0, c], [taps[i] for i in ids]
                                + [taps_obj.post[i] for i in convs],
                                retain_graph=True, allow_unused=True)
    plain_own = sums_of(grads[:len(ids)])
    plain = complete(dict(plain_own))
    g_post = dict(zip(convs, grads[len(ids):]))
    flips = []
    for i, tap, ch, y, xx, _ in taps_obj.ambiguous():
        pre = taps_obj.pre[i]
        g_u = g_post[i]
        g_u = 0.0 if g_u is None else float(g_u[0, ch, y, xx])
        sign = -1.0 if float(pre[0, ch, y, xx].detach()) > 0 else 1.0
        below = torch.autograd.grad(pre[0, ch, y, xx], [taps[t] for t in ids],
                                    retain_graph=True, allow_unused=True)
        delta = sums_of(below)
        flipped = complete({t: plain_own[t] + sign * g_u * delta[t] for t in ids})
        flips.append(((tap, ch, y, xx, int(sign < 0)), flipped))
    return plain, flips


def edges(taps_obj: Taps, x) -> dict:
    import numpy as np
    import torch

    out = {}
    for (lo, hi), (los, his) in EDGES.items():
        w = np.zeros((len(los), len(his)))
        for col, k in enumerate(his):
            _, taps, _, _ = taps_obj.run(x)
            ch = taps[hi][0, k]
            flat = int(torch.argmax(ch.detach().reshape(-1)))
            unit = ch[flat // ch.shape[1], flat % ch.shape[1]]
            (g,) = torch.autograd.grad(unit, [taps[lo]])
            a = taps[lo].detach()
            for row, j in enumerate(los):
                w[row, col] = float((a[0, j] * g[0, j]).sum())
        out[f"edges.{lo}.{hi}"] = w
        print(f"  edges {lo} → {hi}: {w.tolist()}", flush=True)
    return out


def bundled_model(weights: dict, tv_ref: dict):
    """make_tf_onnx.torchvision_model with the nsfwjs head; avg pools switched to Keras'
    semantics by `keras_pools`."""
    import numpy as np
    import torch

    import make_tf_onnx as mk

    model, _ = mk.torchvision_model(weights, tv_ref)
    layers = []
    for i, (n_in, n_out) in enumerate(((2048, 256), (256, 128), (128, 5)), start=1):
        lin = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[f"dense_{i}/kernel"].T)))
            lin.bias.copy_(torch.from_numpy(weights[f"dense_{i}/bias"]))
        layers += [lin, torch.nn.ReLU()] if i < 3 else [lin]
    model.fc = torch.nn.Sequential(*layers)
    return model


def keras_pools(on: bool) -> None:
    """torchvision's blocks call F.avg_pool2d(x, 3, 1, 1), counting padded zeros; Keras does
    not count them."""
    import torch.nn.functional as F
    import torchvision.models.inception as inception

    class Keras:
        def __getattr__(self, name):
            return getattr(F, name)

        @staticmethod
        def avg_pool2d(*args, **kw):
            return F.avg_pool2d(*args, **kw, count_include_pad=False)

    inception.F = Keras() if on else F


def part_child() -> None:
    import numpy as np
    import torch

    sys.path.insert(0, str(IMPORTS))
    import fixture_common as fc
    import make_tf_onnx as mk

    torch.set_num_threads(2)
    weights = fc.bundled_weights()
    tv_ref = fc.read_safetensors(HERE / "chelsea.torchvision.safetensors")
    tap_list = fc.taps()
    inputs = {}
    for image in IMAGES:
        x = fc.read_safetensors(HERE / f"{image}.torchvision.safetensors")["input"]
        inputs[image] = torch.from_numpy(x.astype(np.float64))
    tensors = {}
    for model_name in ("torchvision", "bundled"):
        keras_pools(model_name == "bundled")
        model = (mk.torchvision_model(weights, tv_ref)[0] if model_name == "torchvision"
                 else bundled_model(weights, tv_ref)).double().eval()
        taps_obj = Taps(model, tap_list)
        with torch.no_grad():
            logits = {i: taps_obj.run(inputs[i])[0][0].numpy().copy() for i in IMAGES}
        if model_name == "bundled":
            for image in IMAGES:
                p = torch.softmax(torch.from_numpy(logits[image]), 0).numpy()
                tfjs = fc.read_safetensors(HERE / f"{image}.safetensors")["head.probabilities.full"]
                dev = float(np.abs(p - tfjs.reshape(-1)).max())
                print(f"bundled {image}: probabilities vs TensorFlow.js: {dev:.2e}", flush=True)
                assert dev < 1e-4, dev
            classes = BUNDLED_CLASSES
        else:
            classes = tuple(int(np.argmax(logits[i])) for i in IMAGES)
        tensors[f"{model_name}.classes"] = np.array(classes, np.int64)
        for image in IMAGES:
            x = inputs[image]
            tensors[f"{model_name}.{image}.logits"] = logits[image]
            for c in classes:
                plain, flips = attributions(taps_obj, x, c)
                for tap, v in plain.items():
                    tensors[f"{model_name}.{image}.{c}.{tap}"] = v
                print(f"{model_name} {image} class {c}: logit {logits[image][c]:.5f}; "
                      f"{len(flips)} ambiguous gates", flush=True)
                tensors[f"{model_name}.{image}.{c}.ambiguous"] = np.array(
                    [list(g) for g, _ in flips] or [[-1, -1, -1, -1, -1]], np.int64)
                for j, ((i, ch, y, xx, is_open), flipped) in enumerate(flips):
                    tensors[f"{model_name}.{image}.{c}.gate{j}.{taps_obj.ids[i]}"] = np.array(
                        [ch, y, xx, is_open], np.int64)
                    kept = 0
                    for tap, v in flipped.items():
                        if np.array_equal(v, plain[tap]):
                            continue
                        scale = max(float(np.abs(plain[tap]).max()), 1e-300)
                        if float(np.abs(v - plain[tap]).max()) > FLIP_KEEP * scale:
                            tensors[f"{model_name}.{image}.{c}.flip{j}.{tap}"] = v.astype(
                                np.float32)
                            kept += 1
                    if kept:
                        print(f"  gate {j}: tap {i} channel {ch} at ({y}, {xx}) moves {kept} "
                              f"taps past {FLIP_KEEP:g}", flush=True)
            for key, w in edges(taps_obj, x).items():
                tensors[f"{model_name}.{image}.{key}"] = w
    keras_pools(False)
    path = HERE / "classes.reference.safetensors"
    fc.write_safetensors(path, tensors)
    print(f"wrote {path} ({path.stat().st_size} bytes)", flush=True)


if __name__ == "__main__":
    if os.environ.get(MARKER) != "1":
        main_outer()
    else:
        part_child()
