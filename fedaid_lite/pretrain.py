"""Unimodal pretraining of the two towers on a public corpus, and loading it into a fresh model.

Federated vision-language pre-training in the paper starts from pretrained unimodal encoders (an
ImageNet ViT, a pretrained BERT): the federation learns the *alignment*, not vision and language from
nothing. We do the same at toy scale:

- the **public corpus** is a separate synthetic collection that no federated hospital contributes to:
  its own dataset seed (`PUBLIC_SEED`), one shared scanner and report style (a public archive), and the
  population case mix at every site (IID). `public_data_config` describes it;
- the **image tower** is pretrained supervised on the ground-truth findings (as ImageNet ViTs are
  pretrained supervised on ImageNet classes): mean-pooled tokens -> linear -> 8 logits, BCE;
- the **text tower** is pretrained with BERT's own objective, masked-language modelling
  (`transformers.BertForMaskedLM`, whose `.bert` has exactly our text tower's weights), on the reports only.

Only the towers (`image_encoder.*`, `text_encoder.*`) are saved; alignment blocks, heads and the logit
scale start at random, as in the paper. The checkpoint stores its vocabulary; `load_pretrained` maps
word-embedding rows to the run's tokenizer by token string, so any tokenizer works (tokens the public
corpus never saw keep their random rows).

    fedaid-lite pretrain --shipped        # regenerates data_samples/pretrained/{default,tiny} and its SHA256SUMS
    fedaid-lite pretrain --out DIR --set model.hidden_size=128      # towers for another architecture
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import DataConfig, Experiment, ModelConfig
from .data import make_hospitals
from .data.tensors import images_to_tensor, tokenize
from .model import ENCODERS, DualEncoder, build_model, sha256_file
from .pretrain_objectives import (IMAGE_OBJECTIVE_NAMES, TEXT_OBJECTIVE_NAMES, PretrainConfig, pretrain_image,
                                  pretrain_text)
from .train import configure_threads

PUBLIC_SEED = 777
"""Dataset seed of the public corpus; federated hospitals use `data.seed` (default 20261129), never this."""
FORMAT = "fedaid-lite-pretrained-towers"
WEIGHTS_FILE, META_FILE, VOCAB_FILE = "towers.safetensors", "pretrained.json", "vocab.json"
ARCH_KEYS = ("image_width", "hidden_size", "text_layers", "heads")
"""Model config fields a checkpoint must match (max_text_len may differ: position rows are copied as far as both go)."""
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data_samples" / "pretrained"


IMAGE_LOSS_KEY = {"findings": "image_bce", "simclr": "image_simclr"}


class PretrainedError(ValueError):
    """A pretrained checkpoint is missing, tampered with, or does not fit the model config."""


def public_data_config(data: DataConfig, n_per_site: int = 500) -> DataConfig:
    """The public corpus: PUBLIC_SEED, IID case mix, one shared scanner and report style."""
    return dataclasses.replace(data, manifest="", seed=PUBLIC_SEED, n_per_site=n_per_site, label_skew=float("inf"),
                               image_shift=0.0, report_shift=0.0, quantity_skew=0.0, global_test_size=10)


def default_checkpoint(model: ModelConfig) -> Path:
    """The shipped checkpoint whose architecture matches `model` (data_samples/pretrained/<preset>)."""
    for name in ("default", "tiny"):
        if _arch(Experiment.preset(name).model) == _arch(model):
            return SAMPLE_DIR / name
    return SAMPLE_DIR / "default"


def checkpoint_path(model: ModelConfig) -> Path:
    """`model.pretrained` when set, else the shipped checkpoint for this architecture."""
    return Path(model.pretrained) if model.pretrained else default_checkpoint(model)


def init_model(cfg: Experiment, tokenizer: Any, image_size: int, seed: int | None = None) -> DualEncoder:
    """The model a run starts from: `build_model`, then the pretrained towers when `model.init=pretrained`."""
    model = build_model(cfg.model, len(tokenizer), cfg.seed if seed is None else seed, image_size=image_size)
    if cfg.model.init == "pretrained":
        load_pretrained(model, tokenizer, checkpoint_path(cfg.model))
    return model


def check_checkpoint(model: ModelConfig) -> Path | None:
    """The checkpoint folder `model` will load (None for scratch), checked now: present, intact, same architecture."""
    if model.init != "pretrained":
        return None
    directory = checkpoint_path(model)
    _read_checkpoint(directory, model)
    return directory


def _read_checkpoint(directory: Path, model: ModelConfig) -> tuple[dict[str, int], Path]:
    """(vocab, weights path) of a checkpoint that is present, matches its sha256 and fits `model`."""
    meta_path, weights, vocab_path = directory / META_FILE, directory / WEIGHTS_FILE, directory / VOCAB_FILE
    for path in (meta_path, weights, vocab_path):
        if not path.is_file():
            raise PretrainedError(f"model.init=pretrained but {path} is missing; restore it with `fedaid-lite pretrain "
                                  f"--out {directory}` or set model.init=scratch")
    try:
        meta = json.loads(meta_path.read_text())
        vocab = json.loads(vocab_path.read_text())
        expected, arch = meta["weights_sha256"], {k: meta["model"][k] for k in ARCH_KEYS}
    except (ValueError, KeyError, TypeError) as err:
        raise PretrainedError(f"{meta_path} is not a valid pretrained-towers file ({err}); re-create it with "
                              f"`fedaid-lite pretrain --out {directory}`") from None
    if sha256_file(weights) != expected:
        raise PretrainedError(f"{weights} does not match the sha256 in {meta_path}: modified or truncated; re-create "
                              f"it with `fedaid-lite pretrain --out {directory}` or set model.init=scratch")
    mine = _arch(model)
    if arch != mine:
        diff = ", ".join(f"model.{k}={mine[k]} (checkpoint {arch[k]})" for k in ARCH_KEYS if arch[k] != mine[k])
        raise PretrainedError(f"the pretrained towers in {directory} do not fit this model: {diff}; set model.init="
                              f"scratch, or pretrain for this config with `fedaid-lite pretrain --out DIR --set ...` "
                              f"and set model.pretrained=DIR")
    return vocab, weights


def load_pretrained(model: DualEncoder, tokenizer: Any, directory: str | Path) -> DualEncoder:
    """Copy a checkpoint's towers into `model` in place (word embeddings matched by token string)."""
    directory = Path(directory)
    vocab, weights = _read_checkpoint(directory, model.cfg)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise PretrainedError(f"{weights} is not a readable safetensors file ({err})") from None
    own = model.state_dict()
    word_key = "text_encoder.embeddings.word_embeddings.weight"
    pos_key = "text_encoder.embeddings.position_embeddings.weight"
    with torch.no_grad():
        for key, value in state.items():
            if key not in own:
                raise PretrainedError(f"{weights} holds {key!r}, which this model does not have; re-create it")
            if key == word_key:
                _copy_rows_by_token(own[key], value, vocab, tokenizer.get_vocab())
            elif key == pos_key:
                n = min(len(own[key]), len(value))
                own[key][:n] = value[:n]
            elif own[key].shape != value.shape:
                if key == "image_encoder.pos":           # another image size: stretch the grid
                    own[key].copy_(F.interpolate(value, size=own[key].shape[-2:], mode="bilinear", align_corners=False))
                else:
                    raise PretrainedError(f"{weights}: {key} has shape {tuple(value.shape)}, the model "
                                          f"{tuple(own[key].shape)}; re-create the checkpoint for this config")
            else:
                own[key].copy_(value)
    return model


def _copy_rows_by_token(dest: torch.Tensor, src: torch.Tensor, src_vocab: dict[str, int],
                        dest_vocab: dict[str, int]) -> None:
    for token, i in dest_vocab.items():
        j = src_vocab.get(token)
        if j is not None and i < len(dest) and j < len(src):
            dest[i] = src[j]


def pretrain(cfg: Experiment, out_dir: str | Path, pcfg: PretrainConfig = PretrainConfig(),
             log: Callable[[str], None] | None = None) -> Path:
    """Pretrain both towers for `cfg.model` on the public corpus and write the checkpoint to `out_dir`."""
    configure_threads(cfg.train.threads)
    say = log or (lambda _msg: None)
    started = time.perf_counter()
    data_cfg = public_data_config(cfg.data, pcfg.n_per_site)
    public = make_hospitals(data_cfg)
    pool = public.pooled("train")
    say(f"public corpus: {len(pool)} training cases (seed {PUBLIC_SEED}), {time.perf_counter() - started:.0f} s")
    model = build_model(cfg.model, len(public.tokenizer), pcfg.seed, image_size=cfg.data.image_size)
    images = images_to_tensor(pool.images)
    labels = torch.from_numpy(np.asarray(pool.labels, np.float32))
    ids, mask = tokenize(public.tokenizer, pool.reports, cfg.model.max_text_len)
    img_loss = pretrain_image(model, images, labels, pcfg)
    say(f"image tower: {pcfg.image_steps} {pcfg.image_objective} steps, final loss {img_loss:.3f}")
    txt_loss = pretrain_text(model, ids, mask, labels, public.tokenizer, pcfg)
    say(f"text tower: {pcfg.text_steps} {pcfg.text_objective} steps, final loss {txt_loss:.3f}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    towers = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k.split(".", 1)[0] in ENCODERS}
    save_file(towers, str(out / WEIGHTS_FILE))
    (out / VOCAB_FILE).write_text(json.dumps(public.tokenizer.get_vocab(), sort_keys=True))
    meta = {"format": FORMAT, "version": 1, "model": dataclasses.asdict(cfg.model), "image_size": cfg.data.image_size,
            "pretrain": dataclasses.asdict(pcfg), "public_data": {k: ("inf" if v == float("inf") else v)
                                                                 for k, v in dataclasses.asdict(data_cfg).items()},
            "public_train_cases": len(pool), "objectives": {"image": IMAGE_OBJECTIVE_NAMES[pcfg.image_objective],
                                                            "text": TEXT_OBJECTIVE_NAMES[pcfg.text_objective]},
            "final_loss": {IMAGE_LOSS_KEY[pcfg.image_objective]: round(img_loss, 4),
                           f"text_{pcfg.text_objective}": round(txt_loss, 4)},
            "weights_sha256": sha256_file(out / WEIGHTS_FILE)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    say(f"wrote {out} in {time.perf_counter() - started:.0f} s")
    return out


def pretrain_shipped(root: str | Path = SAMPLE_DIR, log: Callable[[str], None] | None = None) -> Path:
    """Regenerate the shipped checkpoints (`<root>/default`, `<root>/tiny`) and `<root>/SHA256SUMS`."""
    from .data.manifest import write_sums

    root = Path(root)
    for name in ("default", "tiny"):
        pretrain(Experiment.preset(name), root / name, log=log)
    (root / "README.md").write_text(SHIPPED_README)
    write_sums(root)
    return root


SHIPPED_README = f"""# Pretrained towers (public corpus)

The image and text towers every run starts from when `model.init=pretrained` (the default), one folder per
model preset (`default`, `tiny`). Federated vision-language pre-training starts from unimodal encoders
pretrained on public data, as the paper's ImageNet ViT and pretrained BERT; these are their toy counterparts.

- Public corpus: synthetic cases from dataset seed {PUBLIC_SEED} (the hospitals use `data.seed`, another
  tree), IID case mix, one shared scanner and one report style; no federated hospital contributes to it
  (`tests/test_pretrain.py` checks that no image or case seed is shared).
- Image tower: supervised multi-label training on the ground-truth findings.
- Text tower: masked-language modelling (`transformers.BertForMaskedLM`) on the reports.
- Only the towers are stored; alignment blocks, projection heads and the logit scale start at random.
- Each folder: `towers.safetensors`, `vocab.json` (word rows are matched to a run's tokenizer by token),
  `pretrained.json` (configs, objectives, final losses, sha256 of the weights).

Regenerate byte for byte (about 2 minutes on 2 cores): `make pretrained`, i.e. `fedaid-lite pretrain --shipped`.
Towers for another architecture: `fedaid-lite pretrain --out DIR --set model.hidden_size=...`, then
`--set model.pretrained=DIR`. `SHA256SUMS` lists every file here.
"""


def _arch(model: ModelConfig | dict) -> dict[str, Any]:
    d = model if isinstance(model, dict) else dataclasses.asdict(model)
    return {k: d[k] for k in ARCH_KEYS}
