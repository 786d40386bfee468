"""Findings: sampled from a patient archetype (with attributes), then drawn into a density map."""

from __future__ import annotations

from typing import Any

import numpy as np

from .anatomy import (LEFT, RIGHT, Anatomy, Grid, body_mask, clavicles, diaphragm_y, heart_mask, lung_mask,
                      mediastinum, posed, ribs, segments_distance, smooth_noise, smooth_step, vessels)
from .presets import FINDING_PROB
from .types import FINDINGS

LABELS = FINDINGS[:-1]      # the 8 sampled findings; no_finding is derived
SIDES = {"right": (RIGHT,), "left": (LEFT,), "bilateral": (RIGHT, LEFT)}
ZONE_Y = {"upper": 0.30, "mid": 0.44, "lower": 0.58}
LOBES = {("right", "upper"): "right upper lobe", ("right", "mid"): "right middle lobe",
         ("right", "lower"): "right lower lobe", ("left", "upper"): "left upper lobe",
         ("left", "mid"): "lingula", ("left", "lower"): "left lower lobe"}
DEVICE_SETS = {"icu": ("ett", "ngt", "cvc"), "oncology": ("port",), "cardiac": ("pacemaker",),
               "trauma": ("chest_tube",), "heart_failure": ("pacemaker",)}


def sample_findings(rng: np.random.Generator, archetype: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Ground-truth labels (len(FINDINGS),) int8 and per-finding attributes for one study."""
    u = rng.random(len(LABELS))
    present = u < np.asarray(FINDING_PROB[archetype])
    pick = lambda opts, p=None: str(opts[rng.choice(len(opts), p=p)])   # noqa: E731
    attrs: dict[str, Any] = {"archetype": archetype}
    for k, on in zip(LABELS, present):
        if not on:
            continue
        if k == "cardiomegaly":
            attrs[k] = {"severity": pick(("mild", "moderate", "severe"), [0.45, 0.35, 0.2])}
        elif k == "pleural_effusion":
            bilat = 0.6 if archetype == "heart_failure" else 0.2
            attrs[k] = {"side": pick(("right", "left", "bilateral"), [(1 - bilat) / 2] * 2 + [bilat]),
                        "size": pick(("small", "moderate", "large"), [0.45, 0.35, 0.2])}
        elif k == "consolidation":
            attrs[k] = {"side": pick(("right", "left")), "zone": pick(("upper", "mid", "lower"), [0.25, 0.3, 0.45])}
        elif k == "pneumothorax":
            attrs[k] = {"side": pick(("right", "left")), "size": pick(("small", "moderate", "large"), [0.4, 0.4, 0.2])}
        elif k == "nodule":
            attrs[k] = {"side": pick(("right", "left")), "zone": pick(("upper", "mid", "lower"), [0.4, 0.35, 0.25]),
                        "mm": int(rng.integers(9, 31))}
        elif k == "edema":
            attrs[k] = {"severity": pick(("mild", "moderate"), [0.5, 0.5])}
        elif k == "atelectasis":
            attrs[k] = {"side": pick(("right", "left", "bilateral"), [0.35, 0.35, 0.3])}
        elif k == "support_devices":
            base = DEVICE_SETS.get(archetype, ("cvc",))
            devices = [d for d in base if rng.random() < 0.8] or [base[0]]
            attrs[k] = {"devices": devices, "side": pick(("right", "left")), "cm": int(rng.integers(3, 7))}
    labels = np.zeros(len(FINDINGS), dtype=np.int8)
    labels[: len(LABELS)] = present
    labels[-1] = not present.any()
    return labels, attrs


def ap_logit(archetype: str) -> float:
    """Log-odds of a portable AP film for this archetype (before the site's bias)."""
    return {"normal": -2.5, "heart_failure": 0.0, "pneumonia": -0.5, "icu": 3.0, "oncology": -1.5,
            "trauma": 1.0, "cardiac": -0.5}[archetype]


def render_density(g: Grid, a: Anatomy, attrs: dict[str, Any], ap_view: bool, consp: dict[str, float],
                   rng: np.random.Generator) -> np.ndarray:
    """(n, n) float32 'density' (0 = air, ~1 = metal) of one study with its findings drawn in."""
    x, y = posed(g, a)
    elev = {RIGHT: 0.0, LEFT: 0.0}
    collapse = {RIGHT: 0.0, LEFT: 0.0}
    if "atelectasis" in attrs:
        for s in SIDES[attrs["atelectasis"]["side"]]:
            elev[s] = 0.03 * consp["atelectasis"]
    if "pneumothorax" in attrs:
        ptx = attrs["pneumothorax"]
        collapse[SIDES[ptx["side"]][0]] = {"small": 0.14, "moderate": 0.22, "large": 0.32}[ptx["size"]]
    lung = {s: lung_mask(x, y, a, s, elev[s]) for s in (RIGHT, LEFT)}
    aerated = {s: lung_mask(x, y, a, s, elev[s], collapse[s]) if collapse[s] else lung[s] for s in (RIGHT, LEFT)}
    scale = 1.12 if ap_view else 1.0         # AP magnifies the heart without any label: a confounder
    if "cardiomegaly" in attrs:
        sev = {"mild": 0.28, "moderate": 0.38, "severe": 0.5}[attrs["cardiomegaly"]["severity"]]
        scale *= 1.0 + sev * consp["cardiomegaly"]
    heart = heart_mask(x, y, a, scale)
    body = body_mask(x, y, a)
    tex = smooth_noise(rng, g.n, 6)
    lungs = (lung[RIGHT] + lung[LEFT]) * (1 - heart)
    air = (aerated[RIGHT] + aerated[LEFT]) * (1 - heart)

    d = 0.06 + 0.46 * body
    d = d - 0.34 * lungs + 0.025 * tex * lungs
    d = d + 0.10 * vessels(x, y, a) * air
    d = d + 0.07 * mediastinum(x, y) * (1 - lungs) + 0.08 * heart
    d = d + 0.07 * ribs(x, y, a) * body + 0.12 * clavicles(x, y, ap_view)
    bubble = np.sqrt(((x - 0.5 - a.lung_dx + 0.03) / 0.05) ** 2 + ((y - a.diaphragm - 0.08) / 0.03) ** 2)
    d = d - 0.12 * smooth_step(1 - bubble, 0.3)

    if "edema" in attrs:
        amp = (0.11 if attrs["edema"]["severity"] == "mild" else 0.17) * consp["edema"]
        haze = sum(np.exp(-np.hypot(x - 0.5 - s * 0.09, y - 0.45) / 0.13) for s in (RIGHT, LEFT))
        d = d + amp * haze * lungs + 0.5 * amp * vessels(x, y, a) * air
    if "pleural_effusion" in attrs:
        eff = attrs["pleural_effusion"]
        f = {"small": 0.12, "moderate": 0.22, "large": 0.34}[eff["size"]]
        for s in SIDES[eff["side"]]:
            cx = 0.5 + s * a.lung_dx
            yd = diaphragm_y(np.float32(cx), a, s, elev[s])
            top = yd - f * (yd - a.apex) - 0.5 * f * np.abs(x - cx)   # meniscus: higher laterally
            fluid = lung[s] * smooth_step(y - top, 0.03)
            d = d + 0.30 * consp["pleural_effusion"] * fluid
    if "consolidation" in attrs:
        c = attrs["consolidation"]
        s = SIDES[c["side"]][0]
        cx, cy = 0.5 + s * (a.lung_dx + 0.02), ZONE_Y[c["zone"]] + 0.03 * (rng.random() - 0.5)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 0.055 ** 2)) * (0.75 + 0.5 * smooth_noise(rng, g.n, 10))
        d = d + 0.30 * consp["consolidation"] * np.clip(blob, 0, 1) * lung[s]
    if "pneumothorax" in attrs:
        s = SIDES[attrs["pneumothorax"]["side"]][0]
        rim = np.clip(lung[s] - aerated[s], 0, 1)
        line = 4 * aerated[s] * (1 - aerated[s]) * lung[s]
        d = d - 0.08 * consp["pneumothorax"] * rim + 0.14 * consp["pneumothorax"] * line
    if "nodule" in attrs:
        nd = attrs["nodule"]
        s = SIDES[nd["side"]][0]
        r = 0.028 + 0.001 * nd["mm"]
        cx, cy = 0.5 + s * (a.lung_dx + 0.01), ZONE_Y[nd["zone"]]
        disk = smooth_step(r - np.hypot(x - cx, y - cy), 0.012)
        d = d + 0.30 * consp["nodule"] * disk
    if "atelectasis" in attrs:
        for s in SIDES[attrs["atelectasis"]["side"]]:
            cx = 0.5 + s * a.lung_dx
            yc = a.diaphragm - 0.08 - elev[s]
            dist = (y - yc) - 0.2 * s * (x - cx)
            band = np.exp(-dist ** 2 / (2 * 0.013 ** 2)) * smooth_step(0.11 - np.abs(x - cx), 0.03)
            d = d + 0.28 * consp["atelectasis"] * band * lung[s]
    if "support_devices" in attrs:
        d = d + 0.45 * consp["support_devices"] * _devices(x, y, attrs["support_devices"], a)
    return d.astype(np.float32)


def _devices(x: np.ndarray, y: np.ndarray, dev: dict[str, Any], a: Anatomy) -> np.ndarray:
    """Radiopaque lines and boxes, ~1 px wide at 64 px."""
    side = RIGHT if dev["side"] == "right" else LEFT
    w = 0.012
    paths = []
    for kind in dev["devices"]:
        if kind == "ett":
            paths.append(np.array([[0.5, 0.0], [0.5, 0.30 - 0.01 * dev["cm"]]]))
        elif kind == "ngt":
            paths.append(np.array([[0.49, 0.0], [0.49, 0.55], [0.5 + a.lung_dx - 0.03, a.diaphragm + 0.09]]))
        elif kind == "cvc":
            paths.append(np.array([[0.5 + side * 0.12, 0.05], [0.5 + side * 0.05, 0.24], [0.48, 0.36]]))
        elif kind == "chest_tube":
            cx = 0.5 + side * (a.lung_dx + 0.12)
            paths.append(np.array([[cx, 0.7], [cx - side * 0.04, 0.45], [cx - side * 0.08, 0.25]]))
        elif kind == "port":
            paths.append(np.array([[0.5 + side * 0.2, 0.22], [0.5 + side * 0.06, 0.2], [0.48, 0.36]]))
        elif kind == "pacemaker":
            paths.append(np.array([[0.72, 0.2], [0.55, 0.26], [0.47, 0.5], [0.5, 0.62]]))
    out = np.zeros_like(x)
    for p in paths:
        out = np.maximum(out, np.exp(-segments_distance(x, y, p) ** 2 / (2 * w * w)))
    for kind in dev["devices"]:
        if kind in ("pacemaker", "port"):
            bx, by = (0.72, 0.2) if kind == "pacemaker" else (0.5 + side * 0.2, 0.22)
            box = smooth_step(0.035 - np.abs(x - bx), 0.01) * smooth_step(0.025 - np.abs(y - by), 0.01)
            out = np.maximum(out, box)
    return out
