#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, written into corpus/<target>/. Real encoders where there
is one (Pillow, in a throwaway virtualenv with a pinned version); the rest (Radiance HDR,
safetensors, a torch.save-layout zip, hostile pickles) by the formats' specifications with the
Python standard library. Rerunning reproduces the committed files.
"""
import io, json, os, pickle, struct, subprocess, sys, tempfile, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MARKER = "/tmp/featurescope-fuzz-pickle-ran"
# Must match IMAGE_NAMES in crates/net/src/fuzzing.rs: an image input's first byte picks the name.
NAMES = ["x", "x.tga", "x.png", "x.jpg", "x.ico", "x.pnm", "x.hdr", "x.dds"]


def in_venv():
    """Rerun this script inside the hostile fixtures' throwaway virtualenv (same pinned Pillow)."""
    sys.path.insert(0, os.path.join(ROOT, "crates/net/tests/hostile"))
    from make_fixtures import run_in_venv
    run_in_venv(os.path.abspath(__file__))


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def image_seeds():
    from PIL import Image
    img = Image.new("RGB", (16, 12))
    img.putdata([(x * 16, y * 20, 90) for y in range(12) for x in range(16)])
    rgba = img.convert("RGBA")
    rgba.putalpha(128)
    seeds = {
        "png": (img, "PNG", {}, 0), "rgba.png": (rgba, "PNG", {}, 0),
        "gray.png": (img.convert("L"), "PNG", {}, 0), "jpg": (img, "JPEG", {"quality": 80}, 0),
        "progressive.jpg": (img, "JPEG", {"progressive": True}, 0),
        "cmyk.jpg": (img.convert("CMYK"), "JPEG", {}, 0),
        "gif": (img.convert("P"), "GIF", {}, 0), "bmp": (img, "BMP", {}, 0),
        "tiff": (img, "TIFF", {}, 0), "lzw.tiff": (img, "TIFF", {"compression": "tiff_lzw"}, 0),
        "webp": (img, "WEBP", {"lossless": True}, 0), "lossy.webp": (img, "WEBP", {"quality": 50}, 0),
        "ico": (img, "ICO", {}, 4), "ppm": (img, "PPM", {}, 5), "tga": (img, "TGA", {}, 1),
    }
    for name, (im, fmt, kw, pick) in seeds.items():
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        out("image", name, bytes([pick]) + buf.getvalue())
    # Animated GIF, two frames.
    buf = io.BytesIO()
    img.convert("P").save(buf, "GIF", save_all=True, append_images=[rgba.convert("P")], duration=100)
    out("image", "anim.gif", b"\x00" + buf.getvalue())
    # Radiance HDR: text header, then flat (uncompressed) RGBE pixels.
    w, h = 8, 4
    hdr = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y %d +X %d\n" % (h, w)
    hdr += bytes([128, 64, 32, 129]) * (w * h)
    out("image", "hdr", bytes([6]) + hdr)
    for name in ["cmyk.jpg", "broken_exif.jpg", "rgba_16bit.png"]:
        data = open(os.path.join(ROOT, "crates/net/tests/hostile", name), "rb").read()
        out("image", "hostile_" + name, b"\x00" + data)


def tfjs_seeds():
    def layer(cls, name, **config):
        config["name"] = name
        return {"class_name": cls, "name": name, "config": config}

    layers = [layer("InputLayer", "input_1"), layer("Conv2D", "conv2d_1"),
              layer("BatchNormalization", "batch_normalization_1", epsilon=0.001, scale=False),
              layer("Dense", "dense_1", units=2, activation="softmax")]
    topology = {"model_config": {"class_name": "Model", "config": {"layers": layers}}}
    weights = [
        {"name": "conv2d_1/kernel", "shape": [1, 1, 1, 2], "dtype": "float32"},
        {"name": "batch_normalization_1/beta", "shape": [2], "dtype": "float32",
         "quantization": {"dtype": "uint8", "min": -1.0, "scale": 0.01}},
        {"name": "batch_normalization_1/moving_mean", "shape": [2], "dtype": "float32",
         "quantization": {"dtype": "uint16", "min": 0.0, "scale": 0.001}},
        {"name": "batch_normalization_1/moving_variance", "shape": [2], "dtype": "float32",
         "quantization": {"dtype": "float16"}},
        {"name": "dense_1/kernel", "shape": [2, 2], "dtype": "float32"},
    ]
    manifest = [{"paths": ["group1-shard1of1.bin"], "weights": weights}]
    shard = struct.pack("<2f", 0.5, -0.5) + bytes([10, 200]) + struct.pack("<2H", 1, 60000)
    shard += struct.pack("<2H", 0x3C00, 0x4000) + struct.pack("<4f", 1, 0, 0, 1)
    model = json.dumps({"modelTopology": topology, "weightsManifest": manifest}).encode()
    out("tfjs", "small", model + b"\x00" + shard)
    real = open(os.path.join(ROOT, "weights/inception_v3_nsfwjs/model.json"), "rb").read()
    shard1 = open(os.path.join(ROOT, "weights/inception_v3_nsfwjs/group1-shard1of6.bin"), "rb").read()
    out("tfjs", "bundled_truncated", real + b"\x00" + shard1[:2048])


def safetensors(tensors):
    header, blobs, offset = {}, [], 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def safetensors_seeds():
    f32 = lambda n: struct.pack("<%df" % n, *([0.25] * n))
    out("safetensors", "conv_bn", safetensors([
        ("Conv2d_1a_3x3.conv.weight", "F32", [32, 3, 3, 3], f32(864)),
        ("Conv2d_1a_3x3.bn.weight", "F32", [32], f32(32)),
        ("Conv2d_1a_3x3.bn.running_var", "F16", [32], b"\x00\x3c" * 32),
        ("fc.weight", "F32", [2, 2048], f32(4096)),
    ]))
    out("safetensors", "module_prefix", safetensors([
        ("module.fc.bias", "F32", [3], f32(3)), ("module.fc.weight", "BF16", [3, 2], b"\x80\x3f" * 6)]))
    out("safetensors", "int_tensor", safetensors([("Mixed_5b.branch1x1.bn.num_batches_tracked", "I64", [], b"\x01" + b"\x00" * 7)]))


class _Storage:
    pass


def _put(zf, name, data):
    """A stored entry with a fixed timestamp, so reruns write identical files."""
    zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)


def torch_zip(tensors):
    """A file in torch.save's zip layout: archive/data.pkl (a pickled OrderedDict of tensors
    rebuilt by torch._utils._rebuild_tensor_v2 from persistent storages) + archive/data/<key>."""
    import collections, types
    torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
    def _rebuild_tensor_v2(*a): pass
    _rebuild_tensor_v2.__module__ = "torch._utils"; _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    class FloatStorage: pass
    FloatStorage.__module__ = "torch"; FloatStorage.__qualname__ = "FloatStorage"
    torch.FloatStorage = FloatStorage; torch._utils = utils
    sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils

    class T:
        def __init__(self, key, shape, numel):
            self.key, self.shape, self.numel = key, shape, numel
        def __reduce__(self):
            stride, acc = [], 1
            for d in reversed(self.shape):
                stride.insert(0, acc); acc *= d
            st = _Storage(); st.key = self.key; st.numel = self.numel
            return (_rebuild_tensor_v2, (st, 0, tuple(self.shape), tuple(stride), False, collections.OrderedDict()))

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
            return None

    state, files = collections.OrderedDict(), {}
    for i, (name, shape) in enumerate(tensors):
        n = 1
        for d in shape: n *= d
        state[name] = T(str(i), shape, n)
        files[f"archive/data/{i}"] = struct.pack("<%df" % n, *([0.5] * n))
    buf = io.BytesIO(); P(buf, protocol=2).dump(state)
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        _put(zf, "archive/data.pkl", buf.getvalue())
        _put(zf, "archive/version", "3\n")
        for k, v in files.items():
            _put(zf, k, v)
    return z.getvalue()


def pth_seeds():
    out("pth", "state_dict.pth", torch_zip([("fc.weight", [2, 2048]), ("fc.bias", [2]),
                                            ("Conv2d_1a_3x3.conv.weight", [32, 3, 3, 3])]))
    evil = b"\x80\x02cposix\nsystem\nq\x00X" + struct.pack("<I", len("touch " + MARKER))
    evil += ("touch " + MARKER).encode() + b"q\x01\x85q\x02Rq\x03."
    out("pth", "evil_legacy.pth", evil)
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        _put(zf, "archive/data.pkl", evil)
    out("pth", "evil_zip.pth", z.getvalue())


def main():
    image_seeds(); tfjs_seeds(); safetensors_seeds(); pth_seeds()
    for t in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        files = os.listdir(os.path.join(HERE, "corpus", t))
        print(f"{t:12} {len(files):3} seeds")


if __name__ == "__main__":
    if "--inside" in sys.argv:
        main()
    else:
        in_venv()
