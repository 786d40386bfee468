"""Experiment configuration: frozen dataclasses, presets, and one checked `override`.

Every run is described by one `Experiment` (data, model, train, fed, seed). The same
dotted-key override serves papermill parameters, the CLI's `--set`, the dashboard's
sliders and Flower's `run_config`:

    cfg = Experiment.tiny().override({"fed.algorithm": "fedaid", "train.local-steps": 4})

Each field carries its allowed range or choices in its metadata; `override` and
`from_dict` reject unknown keys, wrong types and out-of-range values with a
`ValueError` that names the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .constraints import cross_field_problem, device_problem
from .names import ALGORITHMS

INF = math.inf


def _f(default: Any, doc: str, lo: float | None = None, hi: float | None = None,
       choices: tuple | None = None) -> Any:
    """A dataclass field with its documentation and allowed values in metadata."""
    return field(default=default, metadata={"doc": doc, "lo": lo, "hi": hi, "choices": choices})


@dataclass(frozen=True)
class DataConfig:
    """Which hospitals, how many cases, and how much they differ (0 = IID for each shift knob)."""

    manifest: str = _f("", "path to a manifest.csv to load instead of generating; '' = synthetic in memory")
    allow_outside_paths: bool = _f(False, "let manifest image paths point outside the manifest's folder (../x.png, "
                                   "absolute paths); off so a manifest from someone else cannot read arbitrary files")
    preset: str = _f("default", "named set of synthetic hospitals (fedaid_lite.data presets)")
    seed: int = _f(20261129, "dataset seed: root of the SeedSequence tree (site -> sample -> stage)", 0, 2**63 - 1)
    n_per_site: int = _f(400, "cases per hospital before quantity skew", 8, 100_000)
    image_size: int = _f(64, "model input size in pixels (images are resized to it)", 16, 512)
    label_skew: float = _f(0.1, "Dirichlet alpha over each site's case mix; inf = IID, small = strong skew "
                           "(default 0.1: the README headline's skew)",
                           1e-3, INF)
    image_shift: float = _f(1.0, "strength of per-site scanner differences; 0 = all sites share one scanner",
                            0.0, 1.0)
    report_shift: float = _f(0.0, "strength of per-site report styles; 0 = all sites share one style (the default: "
                             "with scanner and report style both per site, pooled training matches pairs by "
                             "hospital instead of by findings; README, Results)", 0.0, 1.0)
    quantity_skew: float = _f(0.0, "how unequal site sizes are; 0 = equal sizes", 0.0, 1.0)
    difficulty: float = _f(1.0, "scales how faint findings are; >1 harder, <1 easier", 0.1, 5.0)
    val_fraction: float = _f(0.1, "share of each site's patients held out for validation", 0.0, 0.5)
    test_fraction: float = _f(0.2, "share of each site's patients held out for testing", 0.05, 0.5)
    global_test_size: int = _f(300, "cases in the global balanced test set", 10, 100_000)
    vocab_size: int = _f(2000, "upper bound on the WordPiece vocabulary", 100, 50_000)


@dataclass(frozen=True)
class ModelConfig:
    """The dual encoder: CNN image tower, tiny BERT text tower, alignment blocks, heads."""

    image_width: int = _f(16, "channels of the first CNN stage (doubled at each stage)", 4, 256)
    hidden_size: int = _f(64, "width of the token sequences and alignment blocks", 16, 1024)
    text_layers: int = _f(2, "BERT layers in the text tower", 1, 12)
    heads: int = _f(4, "attention heads in the text tower and alignment blocks", 1, 16)
    embed_dim: int = _f(64, "dimension of the shared, L2-normalised embedding space", 4, 1024)
    max_text_len: int = _f(64, "reports are truncated to this many tokens", 8, 512)
    dropout: float = _f(0.0, "dropout in the transformer layers (0 keeps runs bit-reproducible)", 0.0, 0.9)
    logit_scale_init: float = _f(math.log(1 / 0.07), "initial log logit scale, log(1/temperature)", 0.0, 10.0)
    logit_scale_max: float = _f(math.log(100.0), "log logit scale is clamped to at most this", 0.0, 10.0)
    init: str = _f("pretrained", "towers start from the public-corpus pretraining (pretrained) or at random (scratch)",
                   choices=("pretrained", "scratch"))
    pretrained: str = _f("", "folder of pretrained towers (fedaid-lite pretrain --out DIR); '' = the shipped "
                         "data_samples/pretrained/<preset> matching the architecture")


@dataclass(frozen=True)
class TrainConfig:
    """Local optimisation: the same for every algorithm, counted in optimizer steps."""

    lr: float = _f(1e-3, "AdamW learning rate", 1e-7, 1.0)
    tower_lr_scale: float = _f(1.0, "the encoder towers' learning rate is lr x this; 0 = frozen towers", 0.0, 1.0)
    weight_decay: float = _f(0.01, "AdamW decoupled weight decay", 0.0, 1.0)
    batch_size: int = _f(64, "pairs per optimizer step", 2, 4096)
    local_steps: int = _f(20, "optimizer steps per client per round (all algorithms alike); 20 lets label skew "
                          "bias the local models (10 barely did: README Results)", 1, 100_000)
    grad_clip: float = _f(1.0, "max gradient norm; 0 = no clipping", 0.0, 1e6)
    device: str = _f("auto", "auto = CUDA, then MPS, then CPU", choices=("auto", "cpu", "cuda", "mps"))
    threads: int = _f(1, "torch CPU threads; 1 is safest on shared cores (Binder, Colab, CI), 0 = torch default",
                      0, 256)


@dataclass(frozen=True)
class FedConfig:
    """Federation and algorithm hyper-parameters."""

    algorithm: str = _f("fedavg", "which algorithm to run", choices=ALGORITHMS)
    rounds: int = _f(5, "communication rounds", 1, 10_000)
    fraction: float = _f(1.0, "share of clients sampled each round (seeded); 1 = all", 0.01, 1.0)
    prox_mu: float = _f(0.01, "FedProx proximal weight mu", 0.0, 1e3)
    moon_mu: float = _f(1.0, "MOON model-contrastive weight mu", 0.0, 1e3)
    moon_temperature: float = _f(0.5, "MOON temperature", 1e-3, 10.0)
    bind_lambda: float = _f(1.0, "FedAID binding weight lambda_bind (tuned on validation data, README Results); "
                            "0 = no binding", 0.0, 1e4)
    stage1_steps: int = _f(5, "FedAID stage-1 (alignment-only) steps; stage 2 gets local_steps - stage1_steps",
                           0, 100_000)
    two_stage: bool = _f(True, "FedAID: run stage 1 (frozen encoders) before stage 2; False = one stage")
    dro: bool = _f(True, "FedAID: learn client weights by the chi^2 DRO min-max; False = weights p")
    dro_rho: float = _f(1.0, "radius of the chi^2 ball around p", 0.0, 1e3)
    dro_eta: float = _f(0.5, "exponentiated-gradient step size", 0.0, 1e3)
    dro_holdout: float = _f(0.1, "share of each client's training data used to score its loss for DRO",
                            0.01, 0.5)
    eval_every: int = _f(1, "evaluate the global model every this many rounds (and at the last)", 1, 10_000)
    eval_split: str = _f("test", "held-out data the metrics use: test (per-site test + global test) or val "
                         "(per-site validation sets, pooled as the global set; tune hyper-parameters on this)",
                         choices=("test", "val"))


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "fed": FedConfig}


@dataclass(frozen=True)
class Experiment:
    """One complete, JSON-serialisable description of a run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    fed: FedConfig = field(default_factory=FedConfig)
    seed: int = _f(0, "training seed: model init, batch order, client sampling", 0, 2**63 - 1)

    def __post_init__(self) -> None:
        problem = cross_field_problem(self)
        if problem:
            raise ValueError(problem)

    def check_runnable(self) -> None:
        """Raise a one-line ValueError when this machine cannot run the config (train.device absent)."""
        problem = device_problem(self.train.device)
        if problem:
            raise ValueError(problem)

    @classmethod
    def default(cls) -> "Experiment":
        """The class preset: minutes on two CPU cores."""
        return cls()

    @classmethod
    def tiny(cls) -> "Experiment":
        """Seconds on CPU: what tests and SMOKE notebooks use."""
        return cls().override({
            "data.n_per_site": 48, "data.global_test_size": 60, "data.vocab_size": 500,
            "model.image_width": 8, "model.hidden_size": 32, "model.embed_dim": 32,
            "model.max_text_len": 48,
            "train.batch_size": 16, "train.local_steps": 6, "train.lr": 1e-3,
            "fed.rounds": 3, "fed.stage1_steps": 2,
        })

    @classmethod
    def preset(cls, name: str) -> "Experiment":
        """`default` or `tiny`, by name."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return PRESETS[name]()

    def override(self, mapping: Mapping[str, Any]) -> "Experiment":
        """A copy with dotted keys replaced (`"fed.rounds"`, `"train.local-steps"`); values are checked."""
        updates: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for raw_key, raw_value in mapping.items():
            key = str(raw_key).strip().replace("-", "_")
            section, _, name = key.rpartition(".")
            if not section:
                owner, name = type(self), key
                if name in SECTIONS or name not in _field_names(owner):
                    raise ValueError(f"unknown config key {raw_key!r}; known keys: {', '.join(known_keys())}")
                top[name] = _coerce(raw_key, _field(owner, name), raw_value)
                continue
            if section not in SECTIONS:
                raise ValueError(f"unknown config section in {raw_key!r}; sections are {', '.join(SECTIONS)}")
            owner = SECTIONS[section]
            if name not in _field_names(owner):
                raise ValueError(f"unknown config key {raw_key!r}; {section} has: "
                                 f"{', '.join(_field_names(owner))}")
            updates.setdefault(section, {})[name] = _coerce(raw_key, _field(owner, name), raw_value)
        sections = {s: dataclasses.replace(getattr(self, s), **u) for s, u in updates.items()}
        return dataclasses.replace(self, **sections, **top)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-safe; infinity is written as the string "inf")."""
        out: dict[str, Any] = {s: {k: _json_value(v) for k, v in dataclasses.asdict(getattr(self, s)).items()}
                               for s in SECTIONS}
        out["seed"] = self.seed
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Experiment":
        """Inverse of `to_dict`; unknown keys are errors."""
        flat: dict[str, Any] = {}
        for key, value in d.items():
            if isinstance(value, Mapping):
                flat.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        return cls().override(flat)

    def to_json(self) -> str:
        """`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def flat(self) -> dict[str, Any]:
        """`{"fed.rounds": 10, ...}`: every key, dotted (what papermill and the CLI set)."""
        d = self.to_dict()
        out = {f"{s}.{k}": v for s in SECTIONS for k, v in d[s].items()}
        out["seed"] = d["seed"]
        return out


PRESETS = {"default": Experiment.default, "tiny": Experiment.tiny}


def known_keys() -> list[str]:
    """Every dotted key `override` accepts."""
    return [f"{s}.{f.name}" for s, c in SECTIONS.items() for f in dataclasses.fields(c)] + ["seed"]


def describe() -> list[tuple[str, Any, str]]:
    """(key, default, documentation) for every key, for `--help` and the docs."""
    rows = []
    for s, c in SECTIONS.items():
        for f in dataclasses.fields(c):
            rows.append((f"{s}.{f.name}", f.default, f.metadata["doc"]))
    seed = _field(Experiment, "seed")
    rows.append(("seed", seed.default, seed.metadata["doc"]))
    return rows


def parse_assignments(items: list[str]) -> dict[str, str]:
    """`["fed.rounds=3", ...]` -> `{"fed.rounds": "3"}`; a missing `=` is a ValueError."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _field_names(owner: type) -> list[str]:
    return [f.name for f in dataclasses.fields(owner)]


def _field(owner: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(owner) if f.name == name)


def _json_value(v: Any) -> Any:
    return "inf" if isinstance(v, float) and math.isinf(v) else v


def _coerce(key: str, f: dataclasses.Field, value: Any) -> Any:
    """Convert `value` (possibly a CLI string) to the field's type and check its range."""
    kind = f.type if isinstance(f.type, type) else {"int": int, "float": float, "bool": bool, "str": str}[f.type]
    meta = f.metadata
    try:
        if kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
                v: Any = True
            elif isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
                v = False
            elif isinstance(value, bool):
                v = value
            else:
                raise TypeError
        elif kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            v = int(value) if not isinstance(value, str) else int(value.strip())
        elif kind is float:
            if isinstance(value, bool):
                raise TypeError
            v = float(value.strip().lower().replace("iid", "inf")) if isinstance(value, str) else float(value)
            if math.isnan(v):
                raise TypeError
        else:
            if not isinstance(value, str):
                raise TypeError
            v = value
    except (TypeError, ValueError):
        raise ValueError(f"{key}={value!r}: expected {kind.__name__}") from None
    if meta.get("choices") and v not in meta["choices"]:
        raise ValueError(f"{key}={value!r}: choose one of {', '.join(meta['choices'])}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{key}={value!r}: out of range, allowed {lo} to {hi}")
    return v
