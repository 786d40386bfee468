"""Procedural chest anatomy as soft masks on a normalised grid (y down; patient's right = image left).

All functions are vectorised over an (N, N) grid; nothing loops over pixels. Densities are added up in
findings.render_density; acquisition.py turns the density map into a stored grayscale image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RIGHT, LEFT = -1, 1   # side codes: patient's right lung sits on the image's left


@dataclass(frozen=True)
class Grid:
    """Pixel-centre coordinates in [0, 1] for an n x n image."""

    n: int
    x: np.ndarray  # (n, n) float32, column coordinate
    y: np.ndarray  # (n, n) float32, row coordinate


def make_grid(n: int) -> Grid:
    """The coordinate grid for an n x n native image."""
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    y, x = np.meshgrid(c, c, indexing="ij")
    return Grid(n, x, y)


@dataclass(frozen=True)
class Anatomy:
    """One patient's body habitus and positioning."""

    lung_dx: float        # lung centre offset from the midline
    lung_hw: float        # lung half-width at the base
    apex: float           # lung apex height
    diaphragm: float      # dome height of the right hemidiaphragm
    heart_w: float        # heart half-width (normal size)
    heart_h: float
    heart_x: float        # heart centre x
    body_w: float         # body ellipse half-width
    rib_phase: float      # vertical offset of the rib pattern
    rib_period: float
    vessel_phase: float
    vessel_k: int         # number of vessel streaks per hilum
    angle: float          # patient rotation in radians
    shift_x: float        # patient position
    shift_y: float


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw a patient's anatomy (the 'anatomy' stage of the seed tree)."""
    u = rng.random(15)
    return Anatomy(
        lung_dx=0.185 + 0.02 * u[0], lung_hw=0.155 + 0.02 * u[1], apex=0.13 + 0.04 * u[2],
        diaphragm=0.72 + 0.06 * u[3], heart_w=0.15 + 0.02 * u[4], heart_h=0.12 + 0.02 * u[5],
        heart_x=0.525 + 0.02 * u[6], body_w=0.44 + 0.05 * u[7], rib_phase=float(u[8]),
        rib_period=0.068 + 0.012 * u[9], vessel_phase=6.283 * float(u[10]), vessel_k=int(9 + 5 * u[11]),
        angle=(u[12] - 0.5) * 0.08, shift_x=(u[13] - 0.5) * 0.04, shift_y=(u[14] - 0.5) * 0.04)


def posed(g: Grid, a: Anatomy) -> tuple[np.ndarray, np.ndarray]:
    """Grid coordinates in the patient's frame (rotation and shift applied)."""
    c, s = np.cos(a.angle), np.sin(a.angle)
    x0, y0 = g.x - 0.5 - a.shift_x, g.y - 0.5 - a.shift_y
    return (c * x0 - s * y0 + 0.5).astype(np.float32), (s * x0 + c * y0 + 0.5).astype(np.float32)


def smooth_step(v: np.ndarray, width: float) -> np.ndarray:
    """Soft 0->1 transition of a signed distance-like value over `width`."""
    out = np.multiply(v, np.float32(0.5 / width), dtype=np.float32)
    out += np.float32(0.5)
    np.maximum(out, 0.0, out=out)
    return np.minimum(out, 1.0, out=out)   # min/max beat np.clip's overhead on small arrays


def diaphragm_y(x: np.ndarray, a: Anatomy, side: int, elevate: float = 0.0) -> np.ndarray:
    """Height of a hemidiaphragm: a dome, lower toward the costophrenic angle."""
    cx = 0.5 + side * a.lung_dx
    base = a.diaphragm + (0.025 if side == LEFT else 0.0) - elevate
    return base + 1.1 * (x - cx) ** 2


def lung_mask(x: np.ndarray, y: np.ndarray, a: Anatomy, side: int, elevate: float = 0.0,
              collapse: float = 0.0) -> np.ndarray:
    """Soft mask of one lung; `collapse` shrinks it toward its hilum (pneumothorax)."""
    cx = 0.5 + side * a.lung_dx
    if collapse > 0:
        hx, hy = cx - side * 0.06, 0.45
        x = hx + (x - hx) / (1 - collapse)
        y = hy + (y - hy) / (1 - collapse * 0.6)
    yd = diaphragm_y(x, a, side, elevate)
    depth = (y - a.apex) / np.maximum(yd - a.apex, 1e-3)
    hw = a.lung_hw * np.sqrt(np.clip(depth, 0.0, 1.0) + 0.02)
    lateral = np.minimum(hw - np.abs(x - cx), 0.5)
    m = smooth_step(lateral, 0.02) * smooth_step(depth, 0.05) * smooth_step(yd - y, 0.015)
    return m.astype(np.float32)


def heart_mask(x: np.ndarray, y: np.ndarray, a: Anatomy, scale: float) -> np.ndarray:
    """Soft elliptical heart; enlargement grows it mostly toward the patient's left."""
    w = a.heart_w * scale
    cx = a.heart_x + (w - a.heart_w) * 0.6
    cy = a.diaphragm - a.heart_h * 0.55
    r = np.sqrt(((x - cx) / w) ** 2 + ((y - cy) / (a.heart_h * (0.8 + 0.2 * scale))) ** 2)
    return smooth_step(1.0 - r, 0.12)


def body_mask(x: np.ndarray, y: np.ndarray, a: Anatomy) -> np.ndarray:
    """Soft-tissue outline of the trunk and neck."""
    trunk = np.sqrt(((x - 0.5) / a.body_w) ** 2 + ((y - 0.68) / 0.62) ** 2)
    neck = smooth_step(0.07 - np.abs(x - 0.5), 0.02) * (y < 0.2)
    return np.maximum(smooth_step(1.0 - trunk, 0.05), neck)


def mediastinum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Central soft-tissue band with the spine inside it."""
    band = smooth_step(0.065 - np.abs(x - 0.5), 0.02) * smooth_step(0.8 - y, 0.05)
    spine = smooth_step(0.03 - np.abs(x - 0.5), 0.01) * (0.8 + 0.2 * np.cos(y * 80.0) ** 2)
    trachea = smooth_step(0.014 - np.abs(x - 0.5), 0.008) * smooth_step(0.36 - y, 0.03)
    return band + 0.6 * spine - 1.2 * trachea


def ribs(x: np.ndarray, y: np.ndarray, a: Anatomy) -> np.ndarray:
    """Posterior rib arcs: thin bright bands bowing downward laterally."""
    u = np.abs(x - 0.5)
    yy = y - 0.9 * u * u + 0.05 * u
    phase = (yy / a.rib_period + a.rib_phase) % 1.0
    band = np.clip(1.0 - np.abs(phase - 0.5) * 5.0, 0.0, 1.0)
    region = smooth_step(0.42 - u, 0.03) * smooth_step(y - 0.1, 0.03) * smooth_step(0.8 - y, 0.05)
    return band * region * smooth_step(u - 0.04, 0.02)


def clavicles(x: np.ndarray, y: np.ndarray, ap_view: bool) -> np.ndarray:
    """Two slanted bars; higher on an AP (portable) film."""
    y0 = 0.12 if ap_view else 0.17
    u = np.abs(x - 0.5)
    line = y - (y0 - 0.12 * (u - 0.1))
    return smooth_step(0.012 - np.abs(line), 0.01) * smooth_step(0.35 - u, 0.02) * smooth_step(u - 0.05, 0.02)


def vessels(x: np.ndarray, y: np.ndarray, a: Anatomy) -> np.ndarray:
    """Branching-looking streaks radiating from both hila, fading peripherally."""
    out = np.zeros_like(x)
    for side in (RIGHT, LEFT):
        hx = 0.5 + side * 0.09
        dx, dy = x - hx, y - 0.45
        r = np.sqrt(dx * dx + dy * dy)
        theta = np.arctan2(dy, dx)
        streak = (0.5 + 0.5 * np.cos(a.vessel_k * theta + a.vessel_phase + 9.0 * r * side)) ** 6
        out += streak * np.exp(-r / 0.16)
    return out


def segments_distance(x: np.ndarray, y: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance from every grid point to a polyline with vertices `pts` (K, 2)."""
    d = np.full(x.shape, np.inf, dtype=np.float32)
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        vx, vy = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * vx + (y - y0) * vy) / max(vx * vx + vy * vy, 1e-9), 0.0, 1.0)
        d = np.minimum(d, np.hypot(x - x0 - t * vx, y - y0 - t * vy))
    return d


def smooth_noise(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] at n x n (bilinear upsampling of a cells x cells grid)."""
    small = rng.random((cells + 1, cells + 1), dtype=np.float32) * 2 - 1
    pos = np.linspace(0, cells, n, dtype=np.float32)
    i = np.minimum(pos.astype(np.int64), cells - 1)
    f = pos - i
    rows = small[i] * (1 - f)[:, None] + small[i + 1] * f[:, None]          # (n, cells+1)
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]     # (n, n)
