"""The scanner: view, exposure/LUT, blur, noise, edge processing, grid, marker; and image conversion.

`to_model_image` is the ONE conversion from any stored image (PNG/JPEG, any size, L/RGB/16-bit) to the
model input, used both for generated images and for manifests, so both paths see identical pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .presets import Scanner


def sample_acquisition(rng: np.random.Generator, sc: Scanner, ap_logit: float) -> dict[str, Any]:
    """Per-image acquisition parameters: the site's profile plus jitter (the 'acquisition' stage)."""
    u = rng.random(8)
    ap = bool(u[0] < 1.0 / (1.0 + np.exp(-(ap_logit + sc.ap_bias))))
    return {
        "view": "AP" if ap else "PA",
        "gamma": round(sc.gamma * (0.93 + 0.14 * u[1]), 4),
        "blur": round(max(0.0, sc.blur * (0.85 + 0.3 * u[2])), 4),
        "noise": round(sc.noise * (0.8 + 0.4 * u[3]) * (1.3 if ap else 1.0), 4),   # portable films are noisier
        "unsharp": round(sc.unsharp, 4),
        "heel": round(sc.heel * (0.7 + 0.6 * u[4]), 4),
        "grid": round(sc.grid, 4),
        "window": [round(sc.window_lo + 0.02 * (u[5] - 0.5), 4), round(sc.window_hi + 0.04 * (u[6] - 0.5), 4)],
        "marker": int(sc.marker), "marker_corner": int(sc.marker_corner),
        "inverted": bool(u[7] < sc.invert_rate),
        "size": int(sc.native_size),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
    }


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge padding (pure numpy, a handful of shifted sums)."""
    if sigma < 0.05:
        return img
    r = max(1, int(np.ceil(2.0 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    n, m = img.shape
    p = np.pad(img, ((r, r), (0, 0)), mode="edge")
    out = sum(k[i] * p[i:i + n] for i in range(2 * r + 1))
    p = np.pad(out, ((0, 0), (r, r)), mode="edge")
    return sum(k[i] * p[:, i:i + m] for i in range(2 * r + 1))


def acquire(density: np.ndarray, acq: dict[str, Any]) -> np.ndarray:
    """(n, n) uint8 stored image from a density map and acquisition parameters."""
    rng = np.random.default_rng(acq["noise_seed"])
    n = density.shape[0]
    lo, hi = acq["window"]
    img = np.clip((gaussian_blur(density, acq["blur"]) - lo) / (hi - lo), 0.0, 1.0)
    if acq["unsharp"] > 0:
        img = img + acq["unsharp"] * (img - gaussian_blur(img, 1.5))
    rows = (np.arange(n, dtype=np.float32) + 0.5) / n
    img = img * (1.0 - acq["heel"] * (rows[:, None] - 0.5))
    if acq["grid"] > 0:
        img = img + acq["grid"] * np.sin(np.arange(n, dtype=np.float32) * 2.1)[None, :]
    img = np.clip(img, 0.0, 1.0) ** acq["gamma"]
    noise = rng.standard_normal((n, n), dtype=np.float32)
    img = img + noise * (acq["noise"] * np.sqrt(img + 0.05) + 0.004)
    img = np.clip(img, 0.0, 1.0)
    if acq["inverted"]:
        img = 1.0 - img
    out = np.round(img * 255.0).astype(np.uint8)
    if acq["marker"]:
        out = _burn_marker(out, acq["marker_corner"], "R" if acq["view"] == "PA" else "AP")
    return out


def _burn_marker(img: np.ndarray, corner: int, text: str) -> np.ndarray:
    """Burn a bright letter marker into a corner (a shortcut a model can learn)."""
    pil = Image.fromarray(img)
    n = img.shape[0]
    pos = [(2, 2), (n - 4 - 6 * len(text), 2), (2, n - 12), (n - 4 - 6 * len(text), n - 12)][corner]
    ImageDraw.Draw(pil).text(pos, text, fill=250)
    return np.asarray(pil)


def to_model_image(img: Image.Image | np.ndarray, size: int) -> np.ndarray:
    """Any image -> (size, size) uint8 grayscale: resize the shorter side to `size`, then centre-crop."""
    pil = Image.fromarray(img) if isinstance(img, np.ndarray) else img
    if pil.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(pil, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        pil = Image.fromarray(np.round((arr - lo) / max(hi - lo, 1e-9) * 255).astype(np.uint8))
    elif pil.mode != "L":
        pil = pil.convert("RGB").convert("L")
    w, h = pil.size
    if (w, h) != (size, size):
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        pil = pil.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None)
        left, top = (nw - size) // 2, (nh - size) // 2
        pil = pil.crop((left, top, left + size, top + size))
    return np.asarray(pil, dtype=np.uint8)
