#!/usr/bin/env python3
"""Make the TensorFlow (TF-for-Poets `.pb`, Keras 2 `.h5`) and ONNX import fixtures, with the
real tools: TensorFlow, tf_keras, PyTorch's ONNX exporter and ONNX Runtime.

Why: featurescope's importers must read the files people really have, so these fixtures are
written and run by the tools that write such files, never by featurescope's own code. The weights
are the bundled nsfwjs Inception-V3 weights (weights/inception_v3_nsfwjs, read by
fixture_common.py); the reference activations are computed by the same tools on
assets/samples/chelsea_299.png.

Writes into crates/net/tests/imports/generated/:
  poets/retrained_graph.pb        frozen GraphDef in the 2015 `inception-2015-12-05` style
                                  (DecodeJpeg prefix, conv2d_params +
                                  BatchNormWithGlobalNormalization, CheckNumerics/control_dependency
                                  wrappers, Concat joins, a MAX pool in mixed_10/tower_2)
                                  + retrain.py's 3-class final_training_ops head
  poets/retrained_labels.txt      its labels (daisy, roses, tulips)
  poets.reference.safetensors, poets.layers.json                     run by TensorFlow (feed Mul:0)
  poets/optimized_graph.pb        retrained_graph.pb through TF's optimize_for_inference
                                  (input Mul, output final_result): BN folded, BiasAdd
  poets_optimized.reference.safetensors, poets_optimized.layers.json run by TensorFlow
  poets/classify_image_graph_def.pb  the same network with the original 1008-class `softmax` head
  poets_1008.reference.safetensors, poets_1008.layers.json           run by TensorFlow
  poets/other_graph.pb            a foreign frozen graph (small conv net) to be refused
  keras2.h5                       tf_keras (Keras 2) full model: InceptionV3 base + nsfwjs head
  keras2_weights.h5               the same, save_weights (no model config)
  keras2.reference.safetensors, keras2.layers.json                   run by tf_keras
  torchvision.onnx                torchvision inception_v3 with the bundled weights, exported by
                                  torch.onnx.export (TorchScript exporter, opset 17)
  torchvision_onnx.reference.safetensors, torchvision_onnx.layers.json  run by ONNX Runtime
  other.onnx                      a foreign small conv net exported by torch, to be refused
  torchvision.pth                 the same weights as torchvision.onnx, torch.save of the state dict
                                  of torchvision's inception_v3 with its AuxLogits (seeded random),
                                  as the official file is laid out
  torchvision.safetensors         the same weights, safetensors.torch.save_file of the state dict
                                  (no AuxLogits, as timm's inception_v3 has none)
  torch_NAME.reference.safetensors, torch_NAME.layers.json   (NAME: chelsea, coffee) torch's own
                                  activations of the model loaded from torchvision.pth, fed the
                                  input of ../../reference/NAME.torchvision.safetensors

Run with the system python: `python3 crates/net/tests/imports/make_tf_onnx.py`. It creates (or
reuses) two virtualenvs with pinned versions, $FEATURESCOPE_FIXTURE_VENV_TF (default
/tmp/featurescope-fixtures-tf) and $FEATURESCOPE_FIXTURE_VENV_ONNX (default
/tmp/featurescope-fixtures-onnx), and runs its TensorFlow and ONNX parts inside them
(`--part tf` / `--part onnx`, each also runnable alone). torch comes from the PyTorch CPU wheel
index when that host is reachable, else from PyPI (the CUDA build; it runs on the CPU here).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_TF = Path(os.environ.get("FEATURESCOPE_FIXTURE_VENV_TF", "/tmp/featurescope-fixtures-tf"))
VENV_ONNX = Path(
    os.environ.get("FEATURESCOPE_FIXTURE_VENV_ONNX", "/tmp/featurescope-fixtures-onnx")
)
# Everything pinned, transitive dependencies included (pip freeze of working venvs).
# tensorflow-cpu 2.19.0 on Linux is a thin package that depends on tensorflow 2.19.1.
PINS_TF = [
    "tensorflow-cpu==2.19.0",
    "tensorflow==2.19.1",
    "tf_keras==2.19.0",
    "numpy==2.1.3",
    "pillow==11.3.0",
    "h5py==3.16.0",
    "protobuf==5.29.6",
    "keras==3.15.1",
    "absl-py==2.5.1",
    "astunparse==1.6.3",
    "flatbuffers==25.12.19",
    "gast==0.7.0",
    "google-pasta==0.2.0",
    "grpcio==1.85.3",
    "libclang==18.1.1",
    "ml_dtypes==0.6.0",
    "opt_einsum==3.4.0",
    "optree==0.20.0",
    "packaging==26.4",
    "six==1.17.0",
    "tensorboard==2.19.0",
    "tensorboard-data-server==0.7.2",
    "tensorflow-io-gcs-filesystem==0.37.1",
    "termcolor==3.3.0",
    "typing_extensions==4.16.0",
    "wrapt==2.5.2",
    "requests==2.34.2",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "idna==3.20",
    "urllib3==2.8.0",
    "Markdown==3.11.3",
    "markdown-it-py==4.3.0",
    "MarkupSafe==3.0.4",
    "mdurl==0.1.2",
    "namex==0.1.0",
    "Pygments==2.21.0",
    "rich==15.0.0",
    "Werkzeug==3.1.9",
]
# torch's own CUDA dependencies (PyPI build) are pinned exactly by torch's metadata.
PINS_TORCH = ["torch==2.9.1", "torchvision==0.24.1"]
PINS_ONNX = [
    "onnx==1.19.1",
    "safetensors==0.8.0",
    "onnxruntime==1.23.2",
    "numpy==2.1.3",
    "pillow==11.3.0",
    "protobuf==7.36.2",
    "ml_dtypes==0.6.0",
    "coloredlogs==15.0.1",
    "humanfriendly==10.0",
    "flatbuffers==25.12.19",
    "packaging==26.4",
    "sympy==1.14.0",
    "mpmath==1.3.0",
    "filelock==4.3.1",
    "fsspec==2026.9.0",
    "Jinja2==3.1.6",
    "MarkupSafe==3.0.4",
    "networkx==3.6.1",
    "typing_extensions==4.16.0",
]
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MARKER = "FEATURESCOPE_FIXTURE_TF_ONNX_CHILD"


def _norm(req: str) -> str:
    """`Name==1.2+local` -> `name==1.2` (case, `_` vs `-`, local version label ignored)."""
    return req.strip().lower().replace("_", "-").split("+", 1)[0]


def _reachable(host: str, port: int = 443) -> bool:
    try:
        with socket.create_connection((host, port), timeout=5):
            return True
    except OSError:
        return False


def _ensure_venv(venv: Path, pins: list[str], torch_pins: list[str] = ()) -> float:
    """Create/complete the venv; returns the seconds spent installing (0 when reused)."""
    t0 = time.monotonic()
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating venv {venv}", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(venv)])
    freeze = subprocess.run(
        [str(py), "-m", "pip", "freeze"], capture_output=True, text=True, check=True
    ).stdout
    have = {_norm(line) for line in freeze.splitlines()}
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    missing_torch = [p for p in torch_pins if _norm(p) not in have]
    if missing_torch:
        if _reachable("download.pytorch.org"):
            print(f"installing into {venv} from the PyTorch CPU index: {' '.join(torch_pins)}",
                  flush=True)
            subprocess.check_call(
                pip + ["--index-url", TORCH_CPU_INDEX, "--extra-index-url",
                       "https://pypi.org/simple", *torch_pins]
            )
        else:
            print(f"installing into {venv} from PyPI (PyTorch CPU index unreachable; the PyPI "
                  f"build brings CUDA libraries and runs on the CPU): {' '.join(torch_pins)}",
                  flush=True)
            subprocess.check_call(pip + list(torch_pins))
    missing = [p for p in pins if _norm(p) not in have]
    if missing:
        print(f"installing into {venv}: {' '.join(missing)}", flush=True)
        subprocess.check_call(pip + list(torch_pins) + list(pins))
    return time.monotonic() - t0 if (missing or missing_torch) else 0.0


def _run_part(venv: Path, part: str) -> float:
    t0 = time.monotonic()
    env = dict(os.environ)
    env.update({MARKER: "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})
    subprocess.check_call(
        [str(venv / "bin" / "python"), str(Path(__file__).resolve()), "--part", part], env=env
    )
    return time.monotonic() - t0


def main_outer() -> None:
    parts = sys.argv[sys.argv.index("--part") + 1:] if "--part" in sys.argv else ["tf", "onnx"]
    t_install = 0.0
    if "tf" in parts:
        t_install += _ensure_venv(VENV_TF, PINS_TF)
    if "onnx" in parts:
        t_install += _ensure_venv(VENV_ONNX, PINS_ONNX, PINS_TORCH)
    t_run = 0.0
    if "tf" in parts:
        t_run += _run_part(VENV_TF, "tf")
    if "onnx" in parts:
        t_run += _run_part(VENV_ONNX, "onnx")
    print(f"install {t_install:.0f}s (0 = venvs reused), run {t_run:.0f}s", flush=True)


if __name__ == "__main__" and os.environ.get(MARKER) != "1":
    main_outer()
    sys.exit(0)

# ----------------------------------------------------------------------------------------------
# Inside a venv from here on.

sys.path.insert(0, str(HERE))

import re  # noqa: E402

import numpy as np  # noqa: E402

import fixture_common as fc  # noqa: E402

T0 = time.monotonic()
CHECKS: list[str] = []


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def wrote(path: Path) -> None:
    print(f"wrote {path.relative_to(fc.REPO)}  {path.stat().st_size:,} bytes", flush=True)


def check(msg: str) -> None:
    CHECKS.append(msg)
    print("check:", msg, flush=True)


def compare_to_reference(name: str, acts_nchw: dict, probs, ref: dict, skip=()) -> tuple:
    """Largest |diff| / layer max over the reference's sample points, and the head's |diff|."""
    worst = (0.0, "")
    for lid, a in acts_nchw.items():
        if lid in skip or f"{lid}.sample_index" not in ref:
            continue
        rv = ref[f"{lid}.sample_value"]
        scale = max(float(np.abs(ref[f"{lid}.channel_max"]).max()), float(np.abs(rv).max()), 1e-12)
        d = float(np.abs(np.asarray(a).reshape(-1)[ref[f"{lid}.sample_index"]] - rv).max()) / scale
        if d > worst[0]:
            worst = (d, lid)
    dp = None
    if probs is not None:
        dp = float(np.abs(np.asarray(probs) - ref["head.probabilities.full"]).max())
    return worst, dp


# ==============================================================================================
# TensorFlow part


class GraphBuilder:
    """A GraphDef written node by node with TensorFlow's own protobuf classes, in the style of
    the 2015 `inception-2015-12-05` graph (producer 8, so BatchNormWithGlobalNormalization is
    accepted)."""

    def __init__(self, weights: dict):
        from tensorflow.core.framework import graph_pb2

        self.gd = graph_pb2.GraphDef()
        self.gd.versions.producer = 8
        self.weights = weights
        self.next_conv = 1
        self.channels: dict[str, int] = {}
        self.taps: dict[str, str] = {}  # torchvision id -> node name

    # -- protobuf helpers ------------------------------------------------------------------
    def node(self, name: str, op: str, inputs=(), **attrs) -> str:
        from tensorflow.core.framework import attr_value_pb2

        n = self.gd.node.add()
        n.name = name
        n.op = op
        n.input.extend(inputs)
        for k, v in attrs.items():
            if isinstance(v, attr_value_pb2.AttrValue):
                n.attr[k].CopyFrom(v)
            else:
                raise TypeError(k)
        return name

    @staticmethod
    def a_type(dt):
        from tensorflow.core.framework import attr_value_pb2

        return attr_value_pb2.AttrValue(type=dt)

    @staticmethod
    def a(**kw):
        from tensorflow.core.framework import attr_value_pb2

        return attr_value_pb2.AttrValue(**kw)

    @staticmethod
    def a_ints(values):
        from tensorflow.core.framework import attr_value_pb2

        return attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(i=list(values)))

    def const(self, name: str, value) -> str:
        import tensorflow as tf

        tp = tf.make_tensor_proto(value)
        return self.node(name, "Const", dtype=self.a_type(tp.dtype), value=self.a(tensor=tp))

    # -- layers ----------------------------------------------------------------------------
    def prefix(self) -> str:
        """DecodeJpeg/contents -> DecodeJpeg -> Cast -> ExpandDims -> ResizeBilinear -> Sub
        -> Mul."""
        from tensorflow.core.framework import types_pb2 as T

        self.const("DecodeJpeg/contents", np.array(b"", dtype=object))
        self.node("DecodeJpeg", "DecodeJpeg", ["DecodeJpeg/contents"],
                  channels=self.a(i=3), ratio=self.a(i=1), fancy_upscaling=self.a(b=True),
                  try_recover_truncated=self.a(b=False), acceptable_fraction=self.a(f=1.0),
                  dct_method=self.a(s=b""))
        self.node("Cast", "Cast", ["DecodeJpeg"], SrcT=self.a_type(T.DT_UINT8),
                  DstT=self.a_type(T.DT_FLOAT), Truncate=self.a(b=False))
        self.const("ExpandDims/dim", np.int32(0))
        self.node("ExpandDims", "ExpandDims", ["Cast", "ExpandDims/dim"],
                  T=self.a_type(T.DT_FLOAT), Tdim=self.a_type(T.DT_INT32))
        self.const("ResizeBilinear/size", np.array([299, 299], dtype=np.int32))
        self.node("ResizeBilinear", "ResizeBilinear", ["ExpandDims", "ResizeBilinear/size"],
                  T=self.a_type(T.DT_FLOAT), align_corners=self.a(b=False),
                  half_pixel_centers=self.a(b=False))
        self.const("Sub/y", np.float32(128.0))
        self.node("Sub", "Sub", ["ResizeBilinear", "Sub/y"], T=self.a_type(T.DT_FLOAT))
        self.const("Mul/y", np.float32(1.0 / 128.0))
        self.node("Mul", "Mul", ["Sub", "Mul/y"], T=self.a_type(T.DT_FLOAT))
        self.channels["Mul"] = 3
        return "Mul"

    def _wrap(self, s: str, pre: str, final_op: str, **final_attrs) -> str:
        """<s>/CheckNumerics -> <s>/control_dependency (Identity, ^CheckNumerics) -> <s>."""
        from tensorflow.core.framework import types_pb2 as T

        f = self.a_type(T.DT_FLOAT)
        self.node(f"{s}/CheckNumerics", "CheckNumerics", [pre], T=f,
                  message=self.a(s=f"{s}/CheckNumerics".encode()))
        self.node(f"{s}/control_dependency", "Identity", [pre, f"^{s}/CheckNumerics"], T=f)
        return self.node(s, final_op, [f"{s}/control_dependency"], T=f, **final_attrs)

    def conv(self, s: str, x: str, k: tuple[int, int], out_c: int, stride: int = 1,
             padding: str = "SAME", tap: str | None = None) -> str:
        from tensorflow.core.framework import types_pb2 as T

        i = self.next_conv
        self.next_conv += 1
        kernel = self.weights[f"conv2d_{i}/kernel"]
        in_c = self.channels[x]
        assert kernel.shape == (k[0], k[1], in_c, out_c), (s, i, kernel.shape, k, in_c, out_c)
        bn = f"batch_normalization_{i}"
        f = self.a_type(T.DT_FLOAT)
        self.const(f"{s}/conv2d_params", kernel)
        self.node(f"{s}/Conv2D", "Conv2D", [x, f"{s}/conv2d_params"], T=f,
                  strides=self.a_ints([1, stride, stride, 1]), padding=self.a(s=padding.encode()),
                  use_cudnn_on_gpu=self.a(b=True), data_format=self.a(s=b"NHWC"),
                  dilations=self.a_ints([1, 1, 1, 1]))
        self.const(f"{s}/batchnorm/beta", self.weights[f"{bn}/beta"])
        self.const(f"{s}/batchnorm/gamma", np.ones(out_c, dtype=np.float32))
        self.const(f"{s}/batchnorm/moving_mean", self.weights[f"{bn}/moving_mean"])
        self.const(f"{s}/batchnorm/moving_variance", self.weights[f"{bn}/moving_variance"])
        self.node(f"{s}/batchnorm", "BatchNormWithGlobalNormalization",
                  [f"{s}/Conv2D", f"{s}/batchnorm/moving_mean", f"{s}/batchnorm/moving_variance",
                   f"{s}/batchnorm/beta", f"{s}/batchnorm/gamma"],
                  T=f, variance_epsilon=self.a(f=fc.BN_EPSILON),
                  scale_after_normalization=self.a(b=True))
        out = self._wrap(s, f"{s}/batchnorm", "Relu")
        self.channels[out] = out_c
        if tap:
            self.taps[tap] = out
        return out

    def pool(self, s: str, x: str, kind: str, k: int = 3, stride: int = 1,
             padding: str = "SAME", tap: str | None = None) -> str:
        out = self._wrap(s, x, {"max": "MaxPool", "avg": "AvgPool"}[kind],
                         ksize=self.a_ints([1, k, k, 1]),
                         strides=self.a_ints([1, stride, stride, 1]),
                         padding=self.a(s=padding.encode()), data_format=self.a(s=b"NHWC"))
        self.channels[out] = self.channels[x]
        if tap:
            self.taps[tap] = out
        return out

    def concat(self, name: str, parts: list[str], tap: str) -> str:
        from tensorflow.core.framework import types_pb2 as T

        self.const(f"{name}/concat_dim", np.int32(3))
        self.node(name, "Concat", [f"{name}/concat_dim", *parts], N=self.a(i=len(parts)),
                  T=self.a_type(T.DT_FLOAT))
        self.channels[name] = sum(self.channels[p] for p in parts)
        self.taps[tap] = name
        return name

    # -- the network -----------------------------------------------------------------------
    def block_a(self, m: str, t: str, x: str, pool_features: int) -> str:
        b1 = self.conv(f"{m}/conv", x, (1, 1), 64, tap=f"{t}.branch1x1")
        b5 = self.conv(f"{m}/tower/conv", x, (1, 1), 48, tap=f"{t}.branch5x5_1")
        b5 = self.conv(f"{m}/tower/conv_1", b5, (5, 5), 64, tap=f"{t}.branch5x5_2")
        b3 = self.conv(f"{m}/tower_1/conv", x, (1, 1), 64, tap=f"{t}.branch3x3dbl_1")
        b3 = self.conv(f"{m}/tower_1/conv_1", b3, (3, 3), 96, tap=f"{t}.branch3x3dbl_2")
        b3 = self.conv(f"{m}/tower_1/conv_2", b3, (3, 3), 96, tap=f"{t}.branch3x3dbl_3")
        bp = self.pool(f"{m}/tower_2/pool", x, "avg", tap=f"{t}.branch_pool.avg_pool")
        bp = self.conv(f"{m}/tower_2/conv", bp, (1, 1), pool_features, tap=f"{t}.branch_pool")
        return self.concat(f"{m}/join", [b1, b5, b3, bp], t)

    def block_b(self, m: str, t: str, x: str) -> str:
        b3 = self.conv(f"{m}/conv", x, (3, 3), 384, 2, "VALID", tap=f"{t}.branch3x3")
        bd = self.conv(f"{m}/tower/conv", x, (1, 1), 64, tap=f"{t}.branch3x3dbl_1")
        bd = self.conv(f"{m}/tower/conv_1", bd, (3, 3), 96, tap=f"{t}.branch3x3dbl_2")
        bd = self.conv(f"{m}/tower/conv_2", bd, (3, 3), 96, 2, "VALID", tap=f"{t}.branch3x3dbl_3")
        bp = self.pool(f"{m}/pool", x, "max", 3, 2, "VALID", tap=f"{t}.branch_pool.max_pool")
        return self.concat(f"{m}/join", [b3, bd, bp], t)

    def block_c(self, m: str, t: str, x: str, c7: int) -> str:
        b1 = self.conv(f"{m}/conv", x, (1, 1), 192, tap=f"{t}.branch1x1")
        b7 = self.conv(f"{m}/tower/conv", x, (1, 1), c7, tap=f"{t}.branch7x7_1")
        b7 = self.conv(f"{m}/tower/conv_1", b7, (1, 7), c7, tap=f"{t}.branch7x7_2")
        b7 = self.conv(f"{m}/tower/conv_2", b7, (7, 1), 192, tap=f"{t}.branch7x7_3")
        bd = self.conv(f"{m}/tower_1/conv", x, (1, 1), c7, tap=f"{t}.branch7x7dbl_1")
        bd = self.conv(f"{m}/tower_1/conv_1", bd, (7, 1), c7, tap=f"{t}.branch7x7dbl_2")
        bd = self.conv(f"{m}/tower_1/conv_2", bd, (1, 7), c7, tap=f"{t}.branch7x7dbl_3")
        bd = self.conv(f"{m}/tower_1/conv_3", bd, (7, 1), c7, tap=f"{t}.branch7x7dbl_4")
        bd = self.conv(f"{m}/tower_1/conv_4", bd, (1, 7), 192, tap=f"{t}.branch7x7dbl_5")
        bp = self.pool(f"{m}/tower_2/pool", x, "avg", tap=f"{t}.branch_pool.avg_pool")
        bp = self.conv(f"{m}/tower_2/conv", bp, (1, 1), 192, tap=f"{t}.branch_pool")
        return self.concat(f"{m}/join", [b1, b7, bd, bp], t)

    def block_d(self, m: str, t: str, x: str) -> str:
        b3 = self.conv(f"{m}/tower/conv", x, (1, 1), 192, tap=f"{t}.branch3x3_1")
        b3 = self.conv(f"{m}/tower/conv_1", b3, (3, 3), 320, 2, "VALID", tap=f"{t}.branch3x3_2")
        b7 = self.conv(f"{m}/tower_1/conv", x, (1, 1), 192, tap=f"{t}.branch7x7x3_1")
        b7 = self.conv(f"{m}/tower_1/conv_1", b7, (1, 7), 192, tap=f"{t}.branch7x7x3_2")
        b7 = self.conv(f"{m}/tower_1/conv_2", b7, (7, 1), 192, tap=f"{t}.branch7x7x3_3")
        b7 = self.conv(f"{m}/tower_1/conv_3", b7, (3, 3), 192, 2, "VALID", tap=f"{t}.branch7x7x3_4")
        bp = self.pool(f"{m}/pool", x, "max", 3, 2, "VALID", tap=f"{t}.branch_pool.max_pool")
        return self.concat(f"{m}/join", [b3, b7, bp], t)

    def block_e(self, m: str, t: str, x: str, pool_kind: str) -> str:
        b1 = self.conv(f"{m}/conv", x, (1, 1), 320, tap=f"{t}.branch1x1")
        b3 = self.conv(f"{m}/tower/conv", x, (1, 1), 384, tap=f"{t}.branch3x3_1")
        a = self.conv(f"{m}/tower/mixed/conv", b3, (1, 3), 384, tap=f"{t}.branch3x3_2a")
        b = self.conv(f"{m}/tower/mixed/conv_1", b3, (3, 1), 384, tap=f"{t}.branch3x3_2b")
        b3 = self.concat(f"{m}/tower/mixed", [a, b], f"{t}.branch3x3")
        bd = self.conv(f"{m}/tower_1/conv", x, (1, 1), 448, tap=f"{t}.branch3x3dbl_1")
        bd = self.conv(f"{m}/tower_1/conv_1", bd, (3, 3), 384, tap=f"{t}.branch3x3dbl_2")
        a = self.conv(f"{m}/tower_1/mixed/conv", bd, (1, 3), 384, tap=f"{t}.branch3x3dbl_3a")
        b = self.conv(f"{m}/tower_1/mixed/conv_1", bd, (3, 1), 384, tap=f"{t}.branch3x3dbl_3b")
        bd = self.concat(f"{m}/tower_1/mixed", [a, b], f"{t}.branch3x3dbl")
        bp = self.pool(f"{m}/tower_2/pool", x, pool_kind, tap=f"{t}.branch_pool.{pool_kind}_pool")
        bp = self.conv(f"{m}/tower_2/conv", bp, (1, 1), 192, tap=f"{t}.branch_pool")
        return self.concat(f"{m}/join", [b1, b3, bd, bp], t)

    def body(self) -> str:
        """Everything from Mul to pool_3/_reshape ([1, 2048])."""
        from tensorflow.core.framework import types_pb2 as T

        x = self.prefix()
        x = self.conv("conv", x, (3, 3), 32, 2, "VALID", tap="Conv2d_1a_3x3")
        x = self.conv("conv_1", x, (3, 3), 32, 1, "VALID", tap="Conv2d_2a_3x3")
        x = self.conv("conv_2", x, (3, 3), 64, 1, "SAME", tap="Conv2d_2b_3x3")
        x = self.pool("pool", x, "max", 3, 2, "VALID", tap="maxpool1")
        x = self.conv("conv_3", x, (1, 1), 80, 1, "VALID", tap="Conv2d_3b_1x1")
        x = self.conv("conv_4", x, (3, 3), 192, 1, "VALID", tap="Conv2d_4a_3x3")
        x = self.pool("pool_1", x, "max", 3, 2, "VALID", tap="maxpool2")
        x = self.block_a("mixed", "Mixed_5b", x, 32)
        x = self.block_a("mixed_1", "Mixed_5c", x, 64)
        x = self.block_a("mixed_2", "Mixed_5d", x, 64)
        x = self.block_b("mixed_3", "Mixed_6a", x)
        for m, t, c7 in [("mixed_4", "Mixed_6b", 128), ("mixed_5", "Mixed_6c", 160),
                         ("mixed_6", "Mixed_6d", 160), ("mixed_7", "Mixed_6e", 192)]:
            x = self.block_c(m, t, x, c7)
        x = self.block_d("mixed_8", "Mixed_7a", x)
        x = self.block_e("mixed_9", "Mixed_7b", x, "avg")
        x = self.block_e("mixed_10", "Mixed_7c", x, "max")
        assert self.next_conv == 95, self.next_conv
        x = self.pool("pool_3", x, "avg", 8, 1, "VALID", tap="avgpool")
        self.const("pool_3/_reshape/shape", np.array([1, 2048], dtype=np.int32))
        return self.node("pool_3/_reshape", "Reshape", [x, "pool_3/_reshape/shape"],
                         T=self.a_type(T.DT_FLOAT), Tshape=self.a_type(T.DT_INT32))

    def retrain_head(self, x: str, w: np.ndarray, b: np.ndarray) -> str:
        """retrain.py's layer, as freezing leaves it (variables -> Const + `/read` Identity)."""
        from tensorflow.core.framework import types_pb2 as T

        f = self.a_type(T.DT_FLOAT)
        self.node("input/BottleneckInputPlaceholder", "PlaceholderWithDefault", [x],
                  dtype=f, shape=self.a(shape=self._shape([-1, w.shape[0]])))
        self.const("final_training_ops/weights/final_weights", w)
        self.node("final_training_ops/weights/final_weights/read", "Identity",
                  ["final_training_ops/weights/final_weights"], T=f)
        self.const("final_training_ops/biases/final_biases", b)
        self.node("final_training_ops/biases/final_biases/read", "Identity",
                  ["final_training_ops/biases/final_biases"], T=f)
        self.node("final_training_ops/Wx_plus_b/MatMul", "MatMul",
                  ["input/BottleneckInputPlaceholder",
                   "final_training_ops/weights/final_weights/read"],
                  T=f, transpose_a=self.a(b=False), transpose_b=self.a(b=False))
        self.node("final_training_ops/Wx_plus_b/add", "Add",
                  ["final_training_ops/Wx_plus_b/MatMul",
                   "final_training_ops/biases/final_biases/read"], T=f)
        return self.node("final_result", "Softmax", ["final_training_ops/Wx_plus_b/add"], T=f)

    def softmax_head(self, x: str, w: np.ndarray, b: np.ndarray) -> str:
        """The original 1008-class head of classify_image_graph_def.pb."""
        from tensorflow.core.framework import types_pb2 as T

        f = self.a_type(T.DT_FLOAT)
        self.const("softmax/weights", w)
        self.const("softmax/biases", b)
        self.node("softmax/logits/MatMul", "MatMul", [x, "softmax/weights"], T=f,
                  transpose_a=self.a(b=False), transpose_b=self.a(b=False))
        self.node("softmax/logits", "Add", ["softmax/logits/MatMul", "softmax/biases"], T=f)
        return self.node("softmax", "Softmax", ["softmax/logits"], T=f)

    @staticmethod
    def _shape(dims):
        from tensorflow.core.framework import tensor_shape_pb2

        return tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
        )


def run_graph(gd, fetch: dict[str, str], feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Import a GraphDef into a fresh tf.Graph and run it in a v1 Session."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        keys = list(fetch)
        res = sess.run([f"{fetch[k]}:0" for k in keys], feed_dict=feed)
    return dict(zip(keys, res))


def op_counts(gd) -> str:
    from collections import Counter

    c = Counter(n.op for n in gd.node)
    return ", ".join(f"{op} {n}" for op, n in sorted(c.items(), key=lambda t: (-t[1], t[0])))


def head_weights(rng, features: np.ndarray, n: int, spread: float = 4.0):
    """Seeded random [2048, n] weights + [n] biases scaled so the logits spread ~`spread` on
    these features: probabilities not one-hot."""
    w = rng.standard_normal((features.shape[-1], n))
    logits = features.astype(np.float64) @ w
    w *= spread / float(logits.max() - logits.min())
    b = 0.1 * rng.standard_normal(n)
    return w.astype(np.float32), b.astype(np.float32)


def tap_layers_for(taps: list[dict], tap_nodes: dict[str, str], acts: dict, gd) -> list[dict]:
    """The layers.json entries; tool_layer = `node name (op)`."""
    ops = {n.name: n.op for n in gd.node}
    layers = []
    for tap in taps:
        lid = tap["layer"]
        a = acts[lid]
        if a.ndim == 4:
            shape = [a.shape[0], a.shape[3], a.shape[1], a.shape[2]]
        else:
            shape = [a.shape[0], a.shape[1], 1, 1]
        assert shape == tap["shape_nchw"], (lid, a.shape, tap["shape_nchw"])
        layers.append({**tap, "tool_layer": f"{tap_nodes[lid]} ({ops[tap_nodes[lid]]})"})
    return layers


def part_poets(weights: dict, img: np.ndarray, ref: dict, out: Path) -> None:
    import tensorflow as tf
    from tensorflow.python.tools import optimize_for_inference_lib

    poets = out / "poets"
    poets.mkdir(parents=True, exist_ok=True)
    taps = fc.taps(maxpool_e2=True)
    tap_ids = [t["layer"] for t in taps]
    # The graph's own preprocessing, (x - 128) / 128, as float32 NHWC.
    x = (img.astype(np.float32)[None] - np.float32(128.0)) * np.float32(1.0 / 128.0)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    tool = f"tensorflow {tf.__version__} (import_graph_def + Session, fed Mul:0)"

    # Body once (without head) to scale the random heads on the real bottleneck features.
    probe = GraphBuilder(weights)
    feat_node = probe.body()
    assert sorted(probe.taps) == sorted(tap_ids), set(probe.taps) ^ set(tap_ids)
    feats = run_graph(probe.gd, {"f": feat_node}, {"Mul:0": x})["f"]
    rng = np.random.default_rng(2015)

    # ---- retrained_graph.pb --------------------------------------------------------------
    g = GraphBuilder(weights)
    g.retrain_head(g.body(), *head_weights(rng, feats, 3))
    (poets / "retrained_graph.pb").write_bytes(g.gd.SerializeToString(deterministic=True))
    wrote(poets / "retrained_graph.pb")
    (poets / "retrained_labels.txt").write_text("daisy\nroses\ntulips\n")
    wrote(poets / "retrained_labels.txt")
    log(f"retrained_graph.pb: {len(g.gd.node)} nodes: {op_counts(g.gd)}")
    fetch = {**g.taps, "__probs": "final_result"}
    res = run_graph(g.gd, fetch, {"Mul:0": x})
    probs = res.pop("__probs")
    check(f"poets probabilities {np.array2string(probs[0], precision=4)}")
    assert probs.max() < 0.95 and abs(float(probs.sum()) - 1) < 1e-5, probs
    layers = tap_layers_for(taps, g.taps, res, g.gd)
    # Sanity against the TF.js reference (input differs: (x-128)/128 vs x/127.5-1, and
    # mixed_10/tower_2 is a max pool here), so only the stem is close.
    acts_nchw = {k: (v.transpose(0, 3, 1, 2) if v.ndim == 4 else v) for k, v in res.items()}
    worst, _ = compare_to_reference("poets", {"Conv2d_1a_3x3": acts_nchw["Conv2d_1a_3x3"]},
                                    None, ref)
    check(f"poets Conv2d_1a_3x3 vs TF.js reference (inputs differ by <=1/128 scale): "
          f"max |diff|/max {worst[0]:.2e}")
    assert worst[0] < 0.05, worst
    poets_acts = res
    for p in fc.write_reference("poets", x_nchw, res, probs, layers, tool, nhwc=True,
                                full=("Conv2d_1a_3x3", "Mixed_5b", "Mixed_7c")):
        wrote(p)
    # The whole graph also runs from its JPEG prefix (DecodeJpeg/contents fed a JPEG).
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=95)
    jp = run_graph(g.gd, {"p": "final_result"}, {"DecodeJpeg/contents:0": buf.getvalue()})["p"]
    check(f"poets from DecodeJpeg/contents (JPEG q95 of chelsea): probabilities "
          f"{np.array2string(jp[0], precision=4)} "
          f"(vs PNG {np.array2string(probs[0], precision=4)})")

    # ---- optimized_graph.pb ----------------------------------------------------------------
    opt = optimize_for_inference_lib.optimize_for_inference(
        g.gd, ["Mul"], ["final_result"], tf.float32.as_datatype_enum
    )
    (poets / "optimized_graph.pb").write_bytes(opt.SerializeToString(deterministic=True))
    wrote(poets / "optimized_graph.pb")
    log(f"optimized_graph.pb: {len(opt.node)} nodes, producer {opt.versions.producer}: "
        f"{op_counts(opt)}")
    names = {n.name: n for n in opt.node}
    missing = [lid for lid in tap_ids if g.taps[lid] not in names]
    assert not missing, missing
    res = run_graph(opt, {**g.taps, "__probs": "final_result"}, {"Mul:0": x})
    oprobs = res.pop("__probs")
    layers = tap_layers_for(taps, g.taps, res, opt)
    worst = max((float(np.abs(res[k] - poets_acts[k]).max())
                 / max(float(np.abs(poets_acts[k]).max()), 1e-12), k) for k in tap_ids)
    dp = float(np.abs(oprobs - probs).max())
    check(f"poets_optimized vs poets: taps max |diff|/max {worst[0]:.2e} ({worst[1]}), "
          f"probabilities max |diff| {dp:.2e}")
    assert worst[0] < 1e-3 and dp < 1e-4, (worst, dp)
    for p in fc.write_reference("poets_optimized", x_nchw, res, oprobs, layers,
                                tool.replace("Session", "Session, after optimize_for_inference"),
                                nhwc=True):
        wrote(p)

    # ---- classify_image_graph_def.pb (1008 classes) -------------------------------------------
    g2 = GraphBuilder(weights)
    g2.softmax_head(g2.body(), *head_weights(rng, feats, 1008, spread=12.0))
    (poets / "classify_image_graph_def.pb").write_bytes(
        g2.gd.SerializeToString(deterministic=True))
    wrote(poets / "classify_image_graph_def.pb")
    res = run_graph(g2.gd, {**g2.taps, "__probs": "softmax"}, {"Mul:0": x})
    probs2 = res.pop("__probs")
    assert probs2.shape == (1, 1008)
    check(f"poets_1008: max probability {probs2.max():.4f} (class {int(probs2.argmax())})")
    assert probs2.max() < 0.95
    for k in tap_ids:
        assert np.array_equal(res[k], poets_acts[k]), k
    for p in fc.write_reference("poets_1008", x_nchw, res, probs2,
                                tap_layers_for(taps, g2.taps, res, g2.gd), tool, nhwc=True):
        wrote(p)

    # ---- other_graph.pb: a foreign frozen graph ------------------------------------------------
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    r = np.random.default_rng(3)

    class SmallNet(tf.Module):
        def __init__(self):
            super().__init__()
            self.k1 = tf.Variable(r.standard_normal((3, 3, 3, 16)).astype(np.float32) * 0.2)
            self.k2 = tf.Variable(r.standard_normal((3, 3, 16, 32)).astype(np.float32) * 0.1)
            self.k3 = tf.Variable(r.standard_normal((3, 3, 32, 64)).astype(np.float32) * 0.1)
            self.b3 = tf.Variable(np.zeros(64, np.float32))
            self.w = tf.Variable(r.standard_normal((64, 10)).astype(np.float32) * 0.1)
            self.b = tf.Variable(np.zeros(10, np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 64, 64, 3], tf.float32, name="input")])
        def __call__(self, x):
            h = tf.nn.relu(tf.nn.conv2d(x, self.k1, 2, "SAME"))
            h = tf.nn.relu(tf.nn.conv2d(h, self.k2, 2, "SAME"))
            h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, self.k3, 2, "SAME"), self.b3))
            h = tf.reduce_mean(h, axis=[1, 2])
            return tf.nn.softmax(tf.matmul(h, self.w) + self.b, name="output")

    net = SmallNet()
    frozen = convert_variables_to_constants_v2(net.__call__.get_concrete_function())
    ogd = frozen.graph.as_graph_def()
    (poets / "other_graph.pb").write_bytes(ogd.SerializeToString(deterministic=True))
    wrote(poets / "other_graph.pb")
    log(f"other_graph.pb: {len(ogd.node)} nodes: {op_counts(ogd)}")

    describe_pb(poets / "retrained_graph.pb", "conv")
    describe_pb(poets / "optimized_graph.pb", "conv")


def describe_pb(path: Path, scope: str) -> None:
    """Print one conv's nodes (name, op, inputs) and the first join, for the report."""
    from tensorflow.core.framework import graph_pb2

    gd = graph_pb2.GraphDef()
    gd.ParseFromString(path.read_bytes())
    print(f"--- {path.name}: nodes of scope `{scope}` and `mixed/join` "
          f"(versions.producer {gd.versions.producer})")
    for n in gd.node:
        if n.name == scope or n.name.startswith(scope + "/") or n.name.startswith(scope + "_bn") \
                or n.name.startswith("mixed/join") or n.name in ("Mul", "final_result") \
                or n.name.startswith("final_training_ops/Wx") or n.name.startswith("pool_3"):
            extra = ""
            if n.op == "Const":
                t = n.attr["value"].tensor
                dims = [d.size for d in t.tensor_shape.dim]
                extra = f" dtype {t.dtype} shape {dims}"
                if not dims:
                    from tensorflow.python.framework import tensor_util

                    extra += f" value {tensor_util.MakeNdarray(t)!r}"
            print(f"  {n.name:45s} {n.op:34s} {list(n.input)}{extra}")


by_creation = fc.by_creation
AUTO_RE = fc.AUTO_RE


def part_keras2(weights: dict, img: np.ndarray, ref: dict, out: Path) -> None:
    import h5py
    import tf_keras as keras

    taps = fc.taps()
    x = fc.preprocess(img)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    assert np.array_equal(x_nchw, ref["input"])
    keras.backend.clear_session()
    base = keras.applications.InceptionV3(include_top=False, weights=None,
                                          input_shape=(299, 299, 3))
    convs = by_creation(base.layers, "conv2d")
    bns = by_creation(base.layers, "batch_normalization")
    assert len(convs) == 94 and len(bns) == 94
    for i, (conv, bn) in enumerate(zip(convs, bns), start=1):
        k = weights[f"conv2d_{i}/kernel"]
        assert [tuple(w.shape) for w in conv.weights] == [k.shape], (conv.name, k.shape)
        conv.set_weights([k])
        bw = [weights[f"batch_normalization_{i}/{p}"] for p in ("beta", "moving_mean",
                                                                "moving_variance")]
        assert [w.name.split("/")[-1] for w in bn.weights] == [
            "beta:0", "moving_mean:0", "moving_variance:0"], [w.name for w in bn.weights]
        assert [tuple(w.shape) for w in bn.weights] == [w.shape for w in bw], bn.name
        assert abs(bn.epsilon - fc.BN_EPSILON) < 1e-12 and not bn.scale
        bn.set_weights(bw)
    h = keras.layers.AveragePooling2D((8, 8), strides=(8, 8), padding="valid")(base.output)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(256, activation="relu")(h)
    h = keras.layers.Dropout(0.5)(h)
    h = keras.layers.Dense(128, activation="relu")(h)
    h = keras.layers.Dropout(0.25)(h)
    h = keras.layers.Dense(5, activation="softmax")(h)
    model = keras.Model(base.input, h)
    dense = by_creation(model.layers, "dense")
    assert len(dense) == 3
    for layer, i in zip(dense, (1, 2, 3)):
        layer.set_weights([weights[f"dense_{i}/kernel"], weights[f"dense_{i}/bias"]])
    log(f"built tf_keras model {model.name}: {len(model.layers)} layers")

    by_name = {layer.name: layer for layer in model.layers}
    tap_map = {}
    for tap in taps:
        m = AUTO_RE.match(tap["keras_layer"])
        if m:
            tap_map[tap["layer"]] = by_creation(model.layers, m.group(1))[int(m.group(2)) - 1]
        else:
            tap_map[tap["layer"]] = by_name[tap["keras_layer"]]
    ids = list(tap_map)
    tap_model = keras.Model(model.input, [tap_map[i].output for i in ids] + [model.output])
    res = [np.asarray(r) for r in tap_model(x, training=False)]
    acts = dict(zip(ids, res[:-1]))
    probs = res[-1]
    layers = []
    for tap in taps:
        a = acts[tap["layer"]]
        assert [a.shape[0], a.shape[3], a.shape[1], a.shape[2]] == tap["shape_nchw"], tap
        layers.append({**tap, "tool_layer": tap_map[tap["layer"]].name})
    worst, dp = compare_to_reference(
        "keras2", {k: v.transpose(0, 3, 1, 2) for k, v in acts.items()}, probs, ref)
    check(f"keras2 (tf_keras) vs TF.js reference: head.probabilities max |diff| {dp:.2e}; "
          f"taps max |diff|/layer max {worst[0]:.2e} ({worst[1]})")
    assert dp < 1e-4 and worst[0] < 1e-4, (dp, worst)
    for p in fc.write_reference("keras2", x_nchw, acts, probs, layers,
                                f"tf_keras {keras.__version__} (TensorFlow backend)", nhwc=True):
        wrote(p)
    model.save(out / "keras2.h5")
    wrote(out / "keras2.h5")
    model.save_weights(out / "keras2_weights.h5")
    wrote(out / "keras2_weights.h5")
    with h5py.File(out / "keras2.h5", "r") as f:
        wn = f["model_weights"]["conv2d"].attrs["weight_names"]
        check(f"keras2.h5: keras_version {f.attrs.get('keras_version')!r}, backend "
              f"{f.attrs.get('backend')!r}, conv2d weight_names {list(wn)}")
    keras.backend.clear_session()
    m2 = keras.models.load_model(out / "keras2.h5", compile=False)
    d = float(np.abs(np.asarray(m2(x, training=False)) - probs).max())
    check(f"keras2.h5 reloaded by tf_keras: head max |diff| {d:.2e}")
    assert d < 1e-6


def part_tf() -> None:
    import tensorflow as tf

    os.nice(5)
    log(f"tensorflow {tf.__version__}, numpy {np.__version__}")
    out = fc.out_dir()
    weights = fc.bundled_weights()
    img = fc.chelsea()
    ref = fc.read_safetensors(fc.REFERENCE_DIR / "chelsea.safetensors")
    part_poets(weights, img, ref, out)
    part_keras2(weights, img, ref, out)
    log("tf part done")


# ==============================================================================================
# ONNX part


def torchvision_model(weights: dict, tv_ref: dict):
    """torchvision's `inception_v3` (eval, no aux logits, `transform_input=False`) with the
    bundled weights (BatchNorm gamma 1, eps 0.001) and a seeded random fc [1000, 2048] (seed
    1000, spread over chelsea's pooled features): the model `torchvision.onnx` is exported
    from (also used by ../reference/make_groups_spatial.py). Returns it and its 94
    BasicConv2d modules in order."""
    import torch
    import torchvision

    model = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False,
                                            transform_input=False)
    model.eval()
    basic = [m for m in model.modules() if type(m).__name__ == "BasicConv2d"]
    assert len(basic) == 94
    with torch.no_grad():
        for i, m in enumerate(basic, start=1):
            k = weights[f"conv2d_{i}/kernel"].transpose(3, 2, 0, 1)
            assert tuple(m.conv.weight.shape) == k.shape, (i, m.conv.weight.shape, k.shape)
            assert m.conv.bias is None
            m.conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(k)))
            bn = f"batch_normalization_{i}"
            m.bn.weight.fill_(1.0)
            m.bn.bias.copy_(torch.from_numpy(weights[f"{bn}/beta"]))
            m.bn.running_mean.copy_(torch.from_numpy(weights[f"{bn}/moving_mean"]))
            m.bn.running_var.copy_(torch.from_numpy(weights[f"{bn}/moving_variance"]))
            m.bn.eps = fc.BN_EPSILON
        rng = np.random.default_rng(1000)
        feats = tv_ref["avgpool.channel_mean"].astype(np.float64)
        w, b = head_weights(rng, feats[None], 1000, spread=12.0)
        model.fc.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
        model.fc.bias.copy_(torch.from_numpy(b))
    return model, basic


def part_onnx() -> None:
    import onnx
    import onnxruntime as ort
    import torch
    import torchvision

    os.nice(5)
    torch.set_num_threads(2)
    log(f"torch {torch.__version__}, torchvision {torchvision.__version__}, onnx "
        f"{onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}")
    out = fc.out_dir()
    weights = fc.bundled_weights()
    taps = fc.taps()
    img = fc.chelsea()
    x = np.ascontiguousarray(fc.preprocess(img).transpose(0, 3, 1, 2))
    tv_ref = fc.read_safetensors(fc.REFERENCE_DIR / "chelsea.torchvision.safetensors")
    assert np.array_equal(x, tv_ref["input"])

    model, basic = torchvision_model(weights, tv_ref)
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x)).numpy()

    torch_state_dicts(model, out, taps)

    path = out / "torchvision.onnx"
    torch.onnx.export(model, (torch.from_numpy(x),), str(path), opset_version=17, dynamo=False)
    wrote(path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    g = proto.graph
    inits = {t.name: t for t in g.initializer}
    ops = [n.op_type for n in g.node]
    from collections import Counter

    log(f"torchvision.onnx: ir {proto.ir_version}, opset "
        f"{[(o.domain, o.version) for o in proto.opset_import]}, producer "
        f"{proto.producer_name} {proto.producer_version}; inputs {[i.name for i in g.input]}, "
        f"outputs {[o.name for o in g.output]}; {len(g.initializer)} initializers; "
        f"nodes {dict(Counter(ops))}")
    print("  node op sequence (run-length):", run_length(ops))
    print("  last nodes:",
          [(n.op_type, n.name, list(n.input), list(n.output)) for n in g.node[-6:]])
    conv_nodes = [n for n in g.node if n.op_type == "Conv"]
    print("  first 3 Conv nodes:", [(n.name, list(n.input), list(n.output),
                                     {a.name: onnx.helper.get_attribute_value(a)
                                      for a in n.attribute}) for n in conv_nodes[:3]])
    print("  initializer names (first 6, last 4):",
          [(t.name, list(t.dims)) for t in g.initializer[:6]],
          [(t.name, list(t.dims)) for t in g.initializer[-4:]])

    # Map the ONNX graph's nodes to the taps, in op order, checking shapes and folded weights.
    relus = [n for n in g.node if n.op_type == "Relu"]
    maxpools = [n for n in g.node if n.op_type == "MaxPool"]
    avgpools = [n for n in g.node if n.op_type == "AveragePool"]
    concats = [n for n in g.node if n.op_type == "Concat"]
    gaps = [n for n in g.node if n.op_type == "GlobalAveragePool"]
    assert len(conv_nodes) == 94 and len(relus) == 94, (len(conv_nodes), len(relus))
    # The TorchScript exporter flattens torch.cat([.., torch.cat([a, b]), ..]) in the E blocks
    # into one 6-input Concat: the inner concats (Mixed_7b.branch3x3, ...) may have no node.
    assert (len(maxpools), len(avgpools), len(gaps)) == (4, 9, 1)
    assert len(concats) in (11, 15), len(concats)
    inner_flattened = len(concats) == 11
    for i, (n, m) in enumerate(zip(conv_nodes, basic), start=1):
        wt = onnx.numpy_helper.to_array(inits[n.input[1]])
        scale = 1.0 / np.sqrt(m.bn.running_var.numpy().astype(np.float64) + fc.BN_EPSILON)
        folded = m.conv.weight.detach().numpy() * scale[:, None, None, None]
        assert wt.shape == folded.shape, (i, wt.shape)
        assert np.abs(wt - folded).max() <= 1e-5 * max(np.abs(folded).max(), 1), i
        bias = onnx.numpy_helper.to_array(inits[n.input[2]])
        expect_b = m.bn.bias.detach().numpy() - m.bn.running_mean.numpy() * scale
        assert np.abs(bias - expect_b).max() <= 1e-4 * max(np.abs(expect_b).max(), 1), i
        assert relus[i - 1].input[0] == n.output[0], (i, relus[i - 1].input, n.output)
    check("torchvision.onnx: Conv i = conv2d_i with BN folded (weights*gamma/sqrt(var+eps), "
          "bias = beta - mean*gamma/sqrt(var+eps)), each followed by its Relu")
    conv_taps = sorted((t for t in taps if t["kind"] == "conv"),
                       key=lambda t: int(t["keras_layer"].rsplit("_", 1)[1]))
    kind_order = {
        "maxpool": ["maxpool1", "maxpool2", "Mixed_6a.branch_pool.max_pool",
                    "Mixed_7a.branch_pool.max_pool"],
        "avgpool": [f"{b}.branch_pool.avg_pool" for b in
                    ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7b", "Mixed_7c")],
        "concat": ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                   "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b.branch3x3",
                   "Mixed_7b.branch3x3dbl", "Mixed_7b", "Mixed_7c.branch3x3",
                   "Mixed_7c.branch3x3dbl", "Mixed_7c"],
    }
    inner = {f"{b}.{br}": (f"{b}.{br}_{s}a", f"{b}.{br}_{s}b")
             for b in ("Mixed_7b", "Mixed_7c")
             for br, s in (("branch3x3", "2"), ("branch3x3dbl", "3"))}
    if inner_flattened:
        kind_order["concat"] = [c for c in kind_order["concat"] if c not in inner]
    tap_out: dict[str, tuple[str, str]] = {}
    for t, n in zip(conv_taps, relus):
        tap_out[t["layer"]] = (n.output[0], "Relu")
    for lid, n in zip(kind_order["maxpool"], maxpools):
        tap_out[lid] = (n.output[0], "MaxPool")
    for lid, n in zip(kind_order["avgpool"], avgpools):
        tap_out[lid] = (n.output[0], "AveragePool")
        cip = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        assert cip.get("count_include_pad") == 1, cip
    for lid, n in zip(kind_order["concat"], concats):
        tap_out[lid] = (n.output[0], "Concat")
    tap_out["avgpool"] = (gaps[0].output[0], "GlobalAveragePool")
    if inner_flattened:
        for b in ("Mixed_7b", "Mixed_7c"):
            outer = next(n for n in concats if tap_out[b][0] == n.output[0])
            parts = [tap_out[p][0] for p in (f"{b}.branch1x1", *inner[f"{b}.branch3x3"],
                                             *inner[f"{b}.branch3x3dbl"], f"{b}.branch_pool")]
            assert list(outer.input) == parts, (b, list(outer.input), parts)
    for lid in inner if inner_flattened else ():
        tap_out[lid] = (None, "Concat")
    assert sorted(tap_out) == sorted(t["layer"] for t in taps)

    # Extra graph outputs for every tap; ONNX Runtime runs it.
    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    have = {o.name for o in probe.graph.output}
    for lid in (t["layer"] for t in taps):
        name = tap_out[lid][0]
        if name is not None and name not in have:
            probe.graph.output.append(
                onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
            have.add(name)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    out_names = [o.name for o in sess.get_outputs()]
    res = dict(zip(out_names, sess.run(out_names, {in_name: x})))
    logits = res[g.output[0].name]
    assert logits.shape == (1, 1000)
    e = np.exp(logits.astype(np.float64) - logits.max())
    probs = (e / e.sum()).astype(np.float32)
    acts = {lid: res[tap_out[lid][0]] for lid in tap_out if tap_out[lid][0] is not None}
    for lid, (a, b) in inner.items() if inner_flattened else ():
        # No node of its own: the channel concat of its two ORT outputs, done here.
        acts[lid] = np.concatenate([acts[a], acts[b]], axis=1)
        tap_out[lid] = (f"{tap_out[a][0]} ++ {tap_out[b][0]}",
                        f"numpy concat of ORT outputs: the exporter merged this Concat into "
                        f"{tap_out[lid.split('.')[0]][0]}")
    layers = []
    for tap in taps:
        a = acts[tap["layer"]]
        assert list(a.shape) == tap["shape_nchw"], (tap, a.shape)
        name, op = tap_out[tap["layer"]]
        layers.append({**tap, "tool_layer": f"{name} ({op})"})
    if inner_flattened:
        check("torchvision.onnx: the E blocks' inner concats have no Concat node (the exporter "
              "flattened them into the block's 6-input Concat); their taps are numpy concats "
              "of the two Relu outputs")
    dl = float(np.abs(logits - torch_logits).max())
    worst, _ = compare_to_reference("torchvision_onnx", acts, None, tv_ref)
    check(f"torchvision_onnx: ORT logits vs torch eager max |diff| {dl:.2e}; taps vs "
          f"chelsea.torchvision reference (same weights, counted-pad avg pools) max |diff|/max "
          f"{worst[0]:.2e} ({worst[1]}); max probability {probs.max():.4f}")
    assert dl < 1e-3 and worst[0] < 1e-3, (dl, worst)
    assert probs.max() < 0.95
    tool = (f"onnxruntime {ort.__version__} (CPU) on torch.onnx.export (torch {torch.__version__}, "
            f"TorchScript exporter, opset 17); probabilities = numpy softmax of ORT's logits")
    for p in fc.write_reference("torchvision_onnx", x, acts, probs, layers, tool):
        wrote(p)

    # ---- other.onnx: a foreign small conv net ---------------------------------------------------
    torch.manual_seed(3)
    other = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10),
    ).eval()
    opath = out / "other.onnx"
    torch.onnx.export(other, (torch.zeros(1, 3, 64, 64),), str(opath), opset_version=17,
                      dynamo=False)
    wrote(opath)
    op = onnx.load(str(opath))
    log(f"other.onnx: nodes {[n.op_type for n in op.graph.node]}")
    log("onnx part done")


def torch_taps(model, x: np.ndarray) -> tuple[dict, np.ndarray]:
    """Every tap of torchvision's inception_v3 on `x` (NCHW), by torch in eager mode, and the
    logits. Module outputs are caught by forward hooks (convs after their ReLU, the stem's max
    pools, the block concats, the global pool); the pools torchvision calls as functions inside
    a block (`F.avg_pool2d(x, 3, 1, 1)` in A/C/E, `F.max_pool2d(x, 3, 2)` in B/D) are the same
    calls on the block's hooked input, and the E blocks' inner concats the same `torch.cat`."""
    import torch
    import torch.nn.functional as F

    acts: dict[str, np.ndarray] = {}
    block_inputs: dict[str, torch.Tensor] = {}
    hooks = []
    for name, m in model.named_modules():
        block = name.startswith("Mixed_") and "." not in name
        if type(m).__name__ == "BasicConv2d" or block or name in ("maxpool1", "maxpool2",
                                                                    "avgpool"):
            hooks.append(m.register_forward_hook(
                lambda _m, _i, o, name=name: acts.__setitem__(name, o.detach().numpy().copy())))
        if block:
            hooks.append(m.register_forward_pre_hook(
                lambda _m, i, name=name: block_inputs.__setitem__(name, i[0].detach().clone())))
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
        for h in hooks:
            h.remove()
        for name, xin in block_inputs.items():
            if type(getattr(model, name)).__name__ in ("InceptionB", "InceptionD"):
                pooled = F.max_pool2d(xin, kernel_size=3, stride=2)
                acts[f"{name}.branch_pool.max_pool"] = pooled.numpy()
            else:
                pooled = F.avg_pool2d(xin, kernel_size=3, stride=1, padding=1)
                acts[f"{name}.branch_pool.avg_pool"] = pooled.numpy()
        for b in ("Mixed_7b", "Mixed_7c"):
            for inner, (p, q) in (("branch3x3", ("2a", "2b")), ("branch3x3dbl", ("3a", "3b"))):
                parts = [torch.from_numpy(acts[f"{b}.{inner}_{s}"]) for s in (p, q)]
                acts[f"{b}.{inner}"] = torch.cat(parts, 1).numpy()
    return acts, logits


def torch_state_dicts(model, out: Path, taps: list[dict]) -> None:
    """torchvision.pth and torchvision.safetensors: `model`'s weights as people's files hold
    them, written by torch and by safetensors; torch's activations of the .pth on the two
    photos of ../../reference, checked against the PyTorch reference there (made from
    ../shared's .pth: the same trunk weights, another random fc)."""
    import torch
    import torchvision
    from safetensors.torch import load_file, save_file

    def inception(aux_logits: bool):
        torch.manual_seed(2016)  # AuxLogits' random weights, in the .pth only
        return torchvision.models.inception_v3(weights=None, aux_logits=aux_logits,
                                               init_weights=False, transform_input=False)

    official = inception(aux_logits=True)
    missing, unexpected = official.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and missing, (missing, unexpected)
    assert all(k.startswith("AuxLogits.") for k in missing), missing
    pth = out / "torchvision.pth"
    torch.save(official.state_dict(), pth)
    wrote(pth)
    st = out / "torchvision.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(st))
    wrote(st)

    from_pth = inception(aux_logits=True)
    from_pth.load_state_dict(torch.load(pth, weights_only=True), strict=True)
    from_pth.eval()
    from_st = inception(aux_logits=False)
    from_st.load_state_dict(load_file(str(st)), strict=True)
    from_st.eval()
    keys = torch.load(pth, weights_only=True).keys()
    log(f"torchvision.pth: {len(keys)} tensors ({sum('AuxLogits' in k for k in keys)} AuxLogits, "
        f"{sum(k.endswith('num_batches_tracked') for k in keys)} num_batches_tracked); "
        f"torchvision.safetensors: {len(load_file(str(st)))} tensors")
    for image in ("chelsea", "coffee"):
        ref = fc.read_safetensors(fc.REFERENCE_DIR / f"{image}.torchvision.safetensors")
        x = np.ascontiguousarray(ref["input"])
        acts, logits = torch_taps(from_pth, x)
        with torch.no_grad():
            st_logits = from_st(torch.from_numpy(x)).numpy()
        assert np.array_equal(logits, st_logits), image
        worst, _ = compare_to_reference(f"torch_{image}", acts, None, ref)
        full = max(float(np.abs(acts[lid] - ref[f"{lid}.full"]).max())
                   / max(float(np.abs(ref[f"{lid}.full"]).max()), 1e-12)
                   for lid in ("Conv2d_1a_3x3", "Mixed_5b", "Mixed_7c"))
        check(f"torch_{image}: torchvision.pth's taps vs ../../reference/{image}.torchvision "
              f"(made from ../shared's .pth) max |diff|/max {worst[0]:.2e} ({worst[1]}) on the "
              f"samples, {full:.2e} on the full tensors; the .safetensors gives the same logits")
        assert worst[0] < 1e-4 and full < 1e-4, (image, worst, full)
        e = np.exp(logits.astype(np.float64) - logits.max())
        probs = (e / e.sum()).astype(np.float32)
        tool = (f"torch {torch.__version__} eager (torchvision {torchvision.__version__} "
                f"inception_v3 loaded from torchvision.pth); probabilities = numpy softmax of "
                f"torch's logits")
        for p in fc.write_reference(f"torch_{image}", x, {t["layer"]: acts[t["layer"]]
                                                           for t in taps}, probs, taps, tool,
                                    full=("Conv2d_1a_3x3", "Mixed_5b", "Mixed_7c")):
            wrote(p)


def run_length(ops: list[str]) -> str:
    out = []
    for op in ops:
        if out and out[-1][0] == op:
            out[-1][1] += 1
        else:
            out.append([op, 1])
    return " ".join(f"{o}x{n}" if n > 1 else o for o, n in out)


if __name__ == "__main__":
    part = sys.argv[sys.argv.index("--part") + 1]
    {"tf": part_tf, "onnx": part_onnx}[part]()
    print(f"{part} part: {time.monotonic() - T0:.0f}s", flush=True)
