"""The dual encoder: CNN image tower, tiny BERT text tower, one alignment block per modality, heads.

    image (B,1,H,W) -> image_encoder -> (B,T,H) tokens -> image_align ([CLS; tokens]) -> CLS -> image_proj -> z_v
    report ids (B,L) -> text_encoder (BERT) -> (B,L,H) tokens -> text_align ([CLS; tokens]) -> CLS -> text_proj -> z_t

z_v and z_t are L2-normalised (B, embed_dim). Parameters fall in two groups: "encoders" (the towers)
and "alignment" (alignment blocks, heads and `logit_scale`), so FedAID's stage 1 can freeze the towers.
Everything is built from config with random init: nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import BertConfig, BertModel

from .config import Experiment, ModelConfig

ENCODERS = ("image_encoder", "text_encoder")
ALIGNMENT = ("image_align", "text_align", "image_proj", "text_proj", "logit_scale")
WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"
MLP_RATIO = 2  # feed-forward width / hidden_size in every transformer layer (BERT uses 4; 2 halves the CPU cost)


def is_alignment_key(key: str) -> bool:
    """True for parameter/state-dict names of the alignment blocks, heads and logit scale (g, h); else encoders (f)."""
    return key.split(".", 1)[0] in ALIGNMENT


class ModelFileError(ValueError):
    """A saved model folder is missing, malformed, tampered with or truncated."""


class ConvImageEncoder(nn.Module):
    """A small CNN: a 4×4 patch stem (width), two stride-2 3×3 convs (2·width, 4·width), a 1×1 to `hidden`.

    A 64-px image becomes a 4×4 grid of 16 tokens (stride 16). The patch stem keeps full-resolution
    activations out of the network, which is most of the CPU cost of a CNN this size. GroupNorm, not
    BatchNorm: batch statistics of non-IID clients disagree, and averaging them across hospitals is
    meaningless.
    """

    STRIDE = 16

    def __init__(self, width: int, hidden: int, image_size: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=4), _group_norm(width), nn.GELU(),                  # (B, w, H/4, W/4)
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), _group_norm(2 * width), nn.GELU(),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1), _group_norm(4 * width), nn.GELU(),
            nn.Conv2d(4 * width, hidden, 1),                                                  # (B, hidden, H/16, W/16)
        )
        grid = math.ceil(image_size / self.STRIDE)
        # The convolutions see relative position only; a learned embedding tells the tokens where they are.
        self.pos = nn.Parameter(torch.randn(1, hidden, grid, grid) * 0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B,1,H,W) -> (B, T, hidden) tokens, T = ceil(H/16)·ceil(W/16)."""
        x = self.net(images)                       # (B, hidden, h, w)
        pos = self.pos
        if pos.shape[-2:] != x.shape[-2:]:         # another input size: stretch the grid, as ViTs do
            pos = F.interpolate(pos, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return (x + pos).flatten(2).transpose(1, 2)  # (B, h·w, hidden)


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


class AlignmentBlock(nn.Module):
    """One pre-norm transformer layer over [CLS; tokens], returning the CLS output (B, hidden).

    Only the CLS row is computed: every token is normed and projected to keys and values, but the
    query, attention output and MLP run for CLS alone. That is exactly the CLS output of a full layer
    (the other rows would be thrown away) at about a quarter of the cost. Written out, rather than
    `nn.TransformerEncoderLayer`, so train and eval mode run the same arithmetic: torch's eval fast
    path would make a frozen anchor differ from its live copy by rounding.
    """

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"model.hidden_size={hidden} must be divisible by model.heads={heads}")
        self.heads, self.dropout = heads, dropout
        self.cls = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)   # the learned query that pools the tokens
        self.norm1, self.norm2, self.norm_out = nn.LayerNorm(hidden), nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.q, self.kv, self.out = nn.Linear(hidden, hidden), nn.Linear(hidden, 2 * hidden), nn.Linear(hidden, hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, MLP_RATIO * hidden), nn.GELU(),
                                 nn.Linear(MLP_RATIO * hidden, hidden))
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B,T,H), mask (B,T) with 1 = real token -> (B,H)."""
        tokens = torch.cat([self.cls.expand(len(tokens), -1, -1), tokens], dim=1)       # (B, 1+T, H)
        if mask is not None:
            mask = F.pad(mask, (1, 0), value=1)
        b, t, h = tokens.shape
        d = h // self.heads
        x = self.norm1(tokens)
        q = self.q(x[:, :1]).view(b, 1, self.heads, d).transpose(1, 2)                 # (B, heads, 1, d)
        k, v = self.kv(x).view(b, t, 2, self.heads, d).permute(2, 0, 3, 1, 4)          # each (B, heads, T, d)
        # (B, 1, 1, T) boolean: True = may attend; padded keys are never attended to.
        attn_mask = None if mask is None else mask.bool()[:, None, None, :]
        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)   # (B, heads, 1, d)
        cls = tokens[:, 0] + self.drop(self.out(a.reshape(b, h)))                       # (B, H)
        cls = cls + self.drop(self.mlp(self.norm2(cls)))
        return self.norm_out(cls)


def _head(hidden: int, embed_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, embed_dim))


class DualEncoder(nn.Module):
    """CLIP-style dual encoder; `forward` returns L2-normalised (image_emb, text_emb), each (B, embed_dim)."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, image_size: int = 64) -> None:
        super().__init__()
        self.cfg, self.vocab_size, self.image_size = cfg, vocab_size, image_size
        h = cfg.hidden_size
        self.image_encoder = ConvImageEncoder(cfg.image_width, h, image_size)
        bert = BertConfig(vocab_size=vocab_size, hidden_size=h, num_hidden_layers=cfg.text_layers,
                          num_attention_heads=cfg.heads, intermediate_size=MLP_RATIO * h,
                          max_position_embeddings=cfg.max_text_len, type_vocab_size=1, pad_token_id=0,
                          hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout)
        self.text_encoder = BertModel(bert, add_pooling_layer=False)
        self.image_align = AlignmentBlock(h, cfg.heads, cfg.dropout)
        # A learned CLS on the text side too, not BERT's [CLS] output: that starts out nearly identical for
        # every report (mean pairwise cosine 0.999 at init vs 0.95 with a learned query), which stalled the
        # loss at log(batch) for tens of steps and left zero-shot AUROC near 0.5 after 750 steps (measured).
        self.text_align = AlignmentBlock(h, cfg.heads, cfg.dropout)
        self.image_proj, self.text_proj = _head(h, cfg.embed_dim), _head(h, cfg.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(cfg.logit_scale_init)))
        self._encoders_trainable = True

    def _encoder_grad(self) -> torch.set_grad_enabled:
        # Frozen towers run under no_grad: no activations kept for them, so stage 1 is cheaper.
        return torch.set_grad_enabled(torch.is_grad_enabled() and self._encoders_trainable)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B,1,H,W) float -> (B, embed_dim), unit norm."""
        with self._encoder_grad():
            tokens = self.image_encoder(images)                       # (B, T, H)
        return F.normalize(self.image_proj(self.image_align(tokens)), dim=-1)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B,L) ids and mask -> (B, embed_dim), unit norm."""
        with self._encoder_grad():
            tokens = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return F.normalize(self.text_proj(self.text_align(tokens, attention_mask)), dim=-1)

    def forward(self, images: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (image_emb, text_emb), each (B, embed_dim), unit norm; row i of each is pair i."""
        return self.encode_image(images), self.encode_text(input_ids, attention_mask)

    def scale(self) -> torch.Tensor:
        """exp(logit_scale), with the log clamped to `cfg.logit_scale_max` (CLIP: at most 100)."""
        return self.logit_scale.clamp(max=self.cfg.logit_scale_max).exp()

    @torch.no_grad()
    def clamp_logit_scale_(self) -> None:
        """Clamp the stored log scale in place, as open_clip's training loop does after each step."""
        self.logit_scale.clamp_(max=self.cfg.logit_scale_max)

    def parameter_groups(self) -> dict[str, list[str]]:
        """{"encoders": [names], "alignment": [names]}: every parameter name in exactly one group."""
        groups: dict[str, list[str]] = {"encoders": [], "alignment": []}
        for name, _ in self.named_parameters():
            groups["alignment" if is_alignment_key(name) else "encoders"].append(name)
        return groups

    @property
    def trainable(self) -> str:
        """"all" or "alignment" (encoders frozen), as last set by `set_trainable`."""
        return "all" if self._encoders_trainable else "alignment"

    def set_trainable(self, which: str) -> None:
        """"all": train everything; "alignment": freeze the encoders (requires_grad False, run under no_grad)."""
        if which not in ("all", "alignment"):
            raise ValueError(f"trainable={which!r}: choose 'all' or 'alignment'")
        self._encoders_trainable = which == "all"
        for name in ENCODERS:
            getattr(self, name).requires_grad_(self._encoders_trainable)


_INIT_LOCK = threading.Lock()


def build_model(cfg: ModelConfig, vocab_size: int, seed: int, image_size: int = 64) -> DualEncoder:
    """A freshly initialised `DualEncoder`; the same seed gives the same weights; global RNG untouched."""
    if vocab_size < 5:
        raise ValueError(f"vocab_size={vocab_size} is too small: the tokenizer needs at least its 5 special tokens")
    # The global RNG is one per process: two threads seeding and drawing from it at once (the dashboard's
    # runs and its ideal) would draw each other's numbers, so model inits take turns.
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DualEncoder(cfg, vocab_size, image_size)
    return model.eval()


def save_model(model: DualEncoder, directory: str | Path) -> Path:
    """Write `model.safetensors` and `config.json` (config, vocab size, sha256 of the weights) to `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(weights))
    meta = {"format": "fedaid-lite-dual-encoder", "version": 1, "model": dataclasses.asdict(model.cfg),
            "vocab_size": model.vocab_size, "image_size": model.image_size, "weights_sha256": sha256_file(weights)}
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return directory


def load_model(directory: str | Path) -> DualEncoder:
    """Load a folder written by `save_model` (never unpickles); a bad folder raises `ModelFileError`."""
    directory = Path(directory)
    cfg_path, weights = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for path in (cfg_path, weights):
        if not path.is_file():
            raise ModelFileError(f"{path} is missing; a model folder holds {CONFIG_FILE} and {WEIGHTS_FILE} "
                                 "written by save_model")
    try:
        meta = json.loads(cfg_path.read_text())
        cfg = Experiment().override({f"model.{k}": v for k, v in meta["model"].items()}).model
        vocab_size, image_size, expected = int(meta["vocab_size"]), int(meta["image_size"]), meta["weights_sha256"]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ModelFileError(f"{cfg_path} is not a valid model config ({err}); re-save the model") from None
    if sha256_file(weights) != expected:
        raise ModelFileError(f"{weights} does not match the sha256 recorded in {cfg_path}: the file was "
                             "modified or truncated; re-save or re-download the model")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{weights} is not a readable safetensors file ({err})") from None
    model = build_model(cfg, vocab_size, seed=0, image_size=image_size)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0:2]
        raise ModelFileError(f"{weights} does not fit the model in {cfg_path}: {' '.join(first)}") from None
    return model.eval()


def max_weight_difference(a: DualEncoder | str | Path, b: DualEncoder | str | Path) -> float:
    """The largest |difference| between two models' weights (models or saved folders); 0.0: the same weights."""
    first, second = (m.state_dict() if isinstance(m, DualEncoder) else load_model(m).state_dict() for m in (a, b))
    if first.keys() != second.keys() or any(first[k].shape != second[k].shape for k in first):
        raise ValueError("the two models do not have the same weights (different configs): compare models "
                         "of one config")
    return max(float((first[k] - second[k]).abs().max()) for k in first)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
