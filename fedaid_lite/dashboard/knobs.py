"""The dashboard's knobs: slider values and chosen algorithms, and the configs they make (no widgets, no threads)."""

from __future__ import annotations

from typing import Any

from ..config import Experiment
from ..names import DASHBOARD_ALGORITHMS, label

KNOBS = {"label_skew": "data.label_skew", "image_shift": "data.image_shift", "report_shift": "data.report_shift",
         "bind_lambda": "fed.bind_lambda", "dro_rho": "fed.dro_rho", "rounds": "fed.rounds"}
"""Knob name -> the config key it sets."""
DATA_KNOBS = ("label_skew", "image_shift", "report_shift")
"""The knobs that change the hospitals (and so the ideal)."""
ALGORITHMS = {label(name): name for name in DASHBOARD_ALGORITHMS}
"""Display label -> algorithm name, for the algorithm dropdowns."""
DEFAULT_ALGORITHMS = ("FedAvg", "FedAID")


class Knobs:
    """The knob values on top of a base config; every change is validated by the config itself."""

    def __init__(self, base: Experiment) -> None:
        self.base = base
        self.values: dict[str, Any] = self.defaults()
        self.algorithms: list[str] = list(DEFAULT_ALGORITHMS)

    def defaults(self) -> dict[str, Any]:
        """The base config's value of every knob."""
        return {k: _get(self.base, key) for k, key in KNOBS.items()}

    def config(self) -> Experiment:
        """The base config with the current knob values (raises ValueError naming a bad value)."""
        return self.base.override({KNOBS[k]: v for k, v in self.values.items()})

    def ideal_config(self) -> Experiment:
        """What the ideal for the current knobs is trained with: the preset plus the data sliders only."""
        return self.base.override({KNOBS[k]: self.values[k] for k in DATA_KNOBS})

    def set(self, name: str, value: Any) -> None:
        """Change knob `name` (ValueError for an unknown knob or a value the config refuses)."""
        if name not in KNOBS:
            raise ValueError(f"unknown dashboard knob {name!r}; knobs are {', '.join(KNOBS)}")
        self.base.override({KNOBS[name]: value})        # validate now, with the config's own message
        self.values[name] = value

    def set_algorithms(self, names: list[str]) -> None:
        """One or two of FedAvg / FedProx / FedAID, trained taking turns round by round and drawn side by side."""
        names = [n for n in dict.fromkeys(names) if n]
        bad = [n for n in names if n not in ALGORITHMS]
        if bad or not 1 <= len(names) <= 2:
            raise ValueError(f"choose one or two algorithms from {', '.join(ALGORITHMS)}; got {names}")
        self.algorithms = names

    def note(self, running: bool, run_cfg: Experiment | None) -> str:
        """What the knobs mean for the run on screen (made with `run_cfg`): when a change applies, '' if none.

        Compared with the run's own config, so a change that run already applied says nothing.
        """
        if run_cfg is None:
            return ""
        cfg = self.config()
        keeps = " (this run keeps its settings)" if running else ""
        if cfg.data != run_cfg.data:
            return "data sliders changed: the hospitals are rebuilt on the next Train" + keeps
        if cfg != run_cfg:
            return "settings changed: they apply on the next Train" + keeps
        return ""

    def reset(self) -> None:
        """Back to the base config's values (the chosen algorithms stay)."""
        self.values = self.defaults()


def _get(cfg: Experiment, dotted: str) -> Any:
    section, name = dotted.split(".")
    return getattr(getattr(cfg, section), name)
