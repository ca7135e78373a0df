#!/usr/bin/env python3
"""The CPU baseline of docs/PERFORMANCE.md: featurescope against ONNX Runtime and PyTorch, same
weights, same 299x299 input, every tap an output, in one run on one machine.

    python3 crates/featurescope/benches/peers.py [--featurescope target/release/featurescope]
                                                 [--runs 30] [--threads N]

Creates or reuses a throwaway virtualenv (`$FEATURESCOPE_BENCH_VENV`, default
`/tmp/featurescope-bench-peers`) with the releases a person would install today, pinned: torch
2.15.0, torchvision 0.29.2, onnx 1.23.2 and onnxruntime 1.32.0, then prints one table:

    backend | what is timed | min ms | median ms | ratio to ONNX Runtime (median)

- ONNX Runtime 1.32.0: torchvision's inception_v3 with the bundled weights, exported by
  `torch.onnx.export` (BatchNorm folded by the exporter), with every Relu, Concat and pool output
  added as a graph output (the taps), all optimisations on, `--threads` intra-op threads.
- PyTorch 2.15.0 eager, `torch.no_grad`, with a forward hook on every module that is a tap (the
  usual "see the hidden layers" script), and without hooks.
- featurescope: `featurescope bench --backend cpu --json` (all 123 taps read back to host
  memory), and the plain burn forward from a second run with `--compare-plain`.

Each tool gets one warm-up and then `--runs` timed forwards, in `--rounds` rounds: in each round
the Python tools alternate run by run, then featurescope (a child process, so a round of its own)
takes its share of the runs. So every tool sees the machine at every stage of the run, and a
slow minute weighs on all of them alike.
Nothing here is a test: the numbers go to docs/PERFORMANCE.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
IMPORTS = REPO / "crates" / "net" / "tests" / "imports"
VENV = Path(os.environ.get("FEATURESCOPE_BENCH_VENV", "/tmp/featurescope-bench-peers"))
MARKER = "FEATURESCOPE_BENCH_PEERS_CHILD"
# The current releases (issue 23: the baseline is what a person would install today). The ONNX
# fixtures keep their own, older pins (crates/net/tests/imports/make_tf_onnx.py).
PINS = [
    "torch==2.15.0",
    "torchvision==0.29.2",
    "onnx==1.23.2",
    "onnxruntime==1.32.0",
    "numpy==2.4.6",
    "pillow==13.0.0",
    "protobuf==7.36.2",
]


def _norm(req: str) -> str:
    return req.strip().lower().replace("_", "-").split("+", 1)[0]


def bootstrap(argv: list[str]) -> None:
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
    env = dict(os.environ, **{MARKER: "1", "CUDA_VISIBLE_DEVICES": ""})
    os.execve(str(py), [str(py), str(Path(__file__).resolve()), *argv], env)


def stats(times: list[float]) -> tuple[float, float]:
    t = sorted(times)
    n = len(t)
    return t[0], (t[n // 2] if n % 2 else (t[n // 2 - 1] + t[n // 2]) / 2)


def build_torchvision(fc, np, torch, torchvision):
    """torchvision inception_v3 carrying the bundled weights (as make_tf_onnx.py builds it)."""
    weights = fc.bundled_weights()
    model = torchvision.models.inception_v3(
        weights=None, aux_logits=False, init_weights=False, transform_input=False
    )
    model.eval()
    basic = [m for m in model.modules() if type(m).__name__ == "BasicConv2d"]
    assert len(basic) == 94
    with torch.no_grad():
        for i, m in enumerate(basic, start=1):
            k = weights[f"conv2d_{i}/kernel"].transpose(3, 2, 0, 1)
            m.conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(k)))
            bn = f"batch_normalization_{i}"
            m.bn.weight.fill_(1.0)
            m.bn.bias.copy_(torch.from_numpy(weights[f"{bn}/beta"]))
            m.bn.running_mean.copy_(torch.from_numpy(weights[f"{bn}/moving_mean"]))
            m.bn.running_var.copy_(torch.from_numpy(weights[f"{bn}/moving_variance"]))
            m.bn.eps = fc.BN_EPSILON
        model.fc = torch.nn.Linear(2048, 5)
    return model.eval()


def onnx_with_taps(model, x, torch, onnx, path: Path) -> int:
    """Export, then make every Relu / Concat / pool output a graph output. Returns their count."""
    torch.onnx.export(model, (torch.from_numpy(x),), str(path), opset_version=17, dynamo=False)
    proto = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    g = proto.graph
    kinds = {"Relu", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool"}
    have = {o.name for o in g.output}
    infos = {v.name: v for v in g.value_info}
    added = 0
    for node in g.node:
        if node.op_type in kinds:
            for name in node.output:
                if name not in have and name in infos:
                    g.output.append(infos[name])
                    have.add(name)
                    added += 1
    onnx.save(proto, str(path))
    return added


def featurescope_bench(binary: Path, runs: int, *extra: str) -> dict:
    """One `featurescope bench --json` child: a warm-up and `runs` timed forwards."""
    out = subprocess.run(
        [str(binary), "bench", "--image",
         str(REPO / "assets" / "samples" / "chelsea_299.png"),
         "--backend", "cpu", "--runs", str(runs), "--json", *extra],
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--featurescope", type=Path, default=REPO / "target" / "release" / "featurescope")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    sys.path.insert(0, str(IMPORTS))
    import fixture_common as fc
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    x = np.ascontiguousarray(fc.preprocess(fc.chelsea()).transpose(0, 3, 1, 2))
    model = build_torchvision(fc, np, torch, torchvision)

    path = Path("/tmp/featurescope-bench-peers.onnx")
    n_out = onnx_with_taps(model, x, torch, onnx, path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}

    tap_names = {t["layer"] for t in fc.taps()}
    modules = dict(model.named_modules())
    hooked = sorted(tap_names & set(modules))
    acts: dict[str, object] = {}
    handles = []

    def hook_all():
        for name in hooked:
            handles.append(modules[name].register_forward_hook(
                lambda _m, _i, out, name=name: acts.__setitem__(name, out.detach())))

    def unhook_all():
        while handles:
            handles.pop().remove()

    xt = torch.from_numpy(x)

    def run_ort():
        sess.run(None, feed)

    def run_torch_hooks():
        acts.clear()
        with torch.no_grad():
            model(xt)

    def run_torch_plain():
        with torch.no_grad():
            model(xt)

    timed = {"ort": [], "hooks": [], "plain": [], "ours": [], "burn": []}
    run_ort()
    hook_all()
    run_torch_hooks()
    unhook_all()
    run_torch_plain()
    have_ours = args.featurescope.exists()
    rounds = max(1, min(args.rounds, args.runs))
    device = f"(no {args.featurescope}: build it with cargo build --release)"
    ours = {}
    for r in range(rounds):
        share = args.runs // rounds + (1 if r < args.runs % rounds else 0)
        for _ in range(share):
            for key, fn in (("ort", run_ort), ("hooks", run_torch_hooks),
                            ("plain", run_torch_plain)):
                if key == "hooks":
                    hook_all()
                t = time.perf_counter()
                fn()
                timed[key].append((time.perf_counter() - t) * 1e3)
                if key == "hooks":
                    unhook_all()
        if have_ours:
            ours = featurescope_bench(args.featurescope, share)
            timed["ours"] += ours["forward_ms"]
            device = ours["device"]
            plain = featurescope_bench(args.featurescope, share, "--compare-plain")
            timed["burn"] += plain["plain_ms"]

    rows = [
        (f"ONNX Runtime {ort.__version__}", f"{n_out} taps as graph outputs",
         *stats(timed["ort"])),
        (f"PyTorch {torch.__version__.split('+')[0]}",
         f"forward hooks on {len(hooked)} tap modules", *stats(timed["hooks"])),
        (f"PyTorch {torch.__version__.split('+')[0]}", "no hooks", *stats(timed["plain"])),
    ]
    if have_ours:
        rows += [
            ("featurescope (flex)", f"forward + {ours['taps']} taps read back",
             *stats(timed["ours"])),
            ("plain burn (flex)", "burn's Conv2d + BatchNorm modules and pools, head only",
             *stats(timed["burn"])),
        ]
    ort_median = rows[0][3]
    print(f"machine: {device}; {args.threads} threads; {args.runs} runs each in {rounds} "
          f"rounds; "
          f"{time.strftime('%Y-%m-%d')}")
    print("| backend | what is timed | min ms | median ms | ratio to ONNX Runtime |")
    print("| --- | --- | --- | --- | --- |")
    for name, what, mn, med in rows:
        print(f"| {name} | {what} | {mn:.1f} | {med:.1f} | {med / ort_median:.2f}x |")


if __name__ == "__main__":
    if os.environ.get(MARKER) != "1":
        bootstrap(sys.argv[1:])
    main()
