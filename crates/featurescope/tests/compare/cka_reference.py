"""The CKA reference: the same minibatch estimator as `featurescope compare`, in float64 NumPy,
over `featurescope dump`s of both models.

    python3 cka_reference.py DUMPS BATCH > cka_reference.json

DUMPS holds `a/<image>/<layer>.npy` and `b/<image>/<layer>.npy` (float32 [1, C, H, W]) for every
image; images are taken in sorted order, BATCH at a time (a last batch of fewer than 4 images is
left out, as featurescope does). Per batch: K = X Xᵀ and L = Y Yᵀ of the flattened activations,
HSIC₁ (Song et al. 2012, the unbiased estimator Nguyen, Raghu & Kornblith 2021 use); per layer
CKA = Σ HSIC₁(K, L) / √(Σ HSIC₁(K, K) · Σ HSIC₁(L, L)). `make_cka_reference.sh` runs it.
"""
import json
import sys
from pathlib import Path

import numpy as np


def hsic1(k: np.ndarray, l: np.ndarray) -> float:
    n = k.shape[0]
    k = k.copy()
    l = l.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones = np.ones(n)
    trace = float(np.sum(k * l.T))
    term2 = float(ones @ k @ ones) * float(ones @ l @ ones) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * float(ones @ k @ l @ ones)
    return (trace + term2 - term3) / (n * (n - 3))


def gram(dumps: Path, side: str, images: list, layer: str) -> np.ndarray:
    x = np.stack([np.load(dumps / side / i / f"{layer}.npy").astype(np.float64).ravel() for i in images])
    return x @ x.T


def main() -> None:
    dumps, batch = Path(sys.argv[1]), int(sys.argv[2])
    images = sorted(p.name for p in (dumps / "a").iterdir())
    layers = sorted(p.stem for p in (dumps / "a" / images[0]).glob("*.npy") if p.stem != "head")
    batches = [images[i:i + batch] for i in range(0, len(images), batch)]
    out = {"images": images, "batch": batch, "cka": {}}
    for layer in layers:
        sums = np.zeros(3)
        for b in batches:
            if len(b) < 4:
                continue
            k, l = gram(dumps, "a", b, layer), gram(dumps, "b", b, layer)
            sums += [hsic1(k, l), hsic1(k, k), hsic1(l, l)]
        out["cka"][layer] = sums[0] / np.sqrt(sums[1] * sums[2])
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
