#!/usr/bin/env python3
"""Hostile image fixtures made by a real encoder (Pillow) or by hand where the point is a lie in
the header. Run from anywhere: it builds a throwaway virtualenv with a pinned Pillow and writes
next to itself. The files are committed; rerunning reproduces them.

  cmyk.jpg            CMYK JPEG (Adobe APP14 marker, as Photoshop writes them)
  broken_exif.jpg     a JPEG whose APP1 Exif block is garbage
  rgba_16bit.png      16-bit RGBA PNG
  claims_65535.jpg    a small JPEG whose SOF0 header claims 65535x65535 pixels
  huge_30000.png      a real, complete 30000x30000 1-bit grayscale PNG (zlib keeps it small)
"""
import os, struct, subprocess, sys, tempfile, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PILLOW = "pillow==11.3.0"


def run_in_venv(script):
    """Re-run `script` with `--inside` in a throwaway virtualenv holding the pinned Pillow."""
    venv = os.path.join(tempfile.gettempdir(), "featurescope-hostile-venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", venv])
        subprocess.check_call([py, "-m", "pip", "install", "-q", PILLOW])
    os.execv(py, [py, script, "--inside"])


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def huge_png(path, side=30000):
    raw_row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + 1-bit pixels
    comp = zlib.compressobj(9)
    parts = [comp.compress(raw_row) for _ in range(side)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", ihdr))
        f.write(chunk(b"IDAT", b"".join(parts)))
        f.write(chunk(b"IEND", b""))


def main():
    from PIL import Image

    grad = Image.new("RGB", (96, 64))
    grad.putdata([(x * 2, y * 3, 128) for y in range(64) for x in range(96)])

    grad.convert("CMYK").save(os.path.join(HERE, "cmyk.jpg"), quality=95)

    # A JPEG with an Exif block that is not TIFF at all.
    grad.save(os.path.join(HERE, "broken_exif.jpg"), quality=90,
              exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f garbage garbage garbage")

    # Pillow writes 16-bit only for single-channel modes: write 16-bit RGBA by hand.
    w, h = 64, 48
    rows = b"".join(b"\x00" + struct.pack(">HHHH", 10280, 41120, 56540, 65535) * w for _ in range(h))
    with open(os.path.join(HERE, "rgba_16bit.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(rows, 9)))
        f.write(chunk(b"IEND", b""))

    # A small baseline JPEG; then its SOF0 height and width are rewritten to 65535.
    small = os.path.join(HERE, "claims_65535.jpg")
    grad.save(small, quality=80)
    data = bytearray(open(small, "rb").read())
    i = data.find(b"\xff\xc0")
    assert i > 0, "no SOF0 marker"
    data[i + 5:i + 9] = struct.pack(">HH", 65535, 65535)
    open(small, "wb").write(bytes(data))

    huge_png(os.path.join(HERE, "huge_30000.png"))
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".py"):
            print(f"{name:20} {os.path.getsize(os.path.join(HERE, name)):>9} bytes")


if __name__ == "__main__":
    if "--inside" in sys.argv:
        main()
    else:
        run_in_venv(os.path.abspath(__file__))
