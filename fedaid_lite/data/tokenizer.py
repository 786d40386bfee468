"""A WordPiece tokenizer trained on the training reports, saved beside the data as `tokenizer.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_tokenizer(reports: Iterable[str], vocab_size: int = 2000, max_length: int = 64) -> PreTrainedTokenizerFast:
    """Train a lower-casing WordPiece tokenizer (BERT-style `[CLS] text [SEP]`) on `reports`."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                        show_progress=False)
    tok.train_from_iterator(list(reports), trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return _wrap(tok, max_length)


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, path: str | Path) -> Path:
    """Write the tokenizer as one `tokenizer.json` file (loadable by `load_tokenizer`)."""
    path = Path(path)
    tokenizer.backend_tokenizer.save(str(path))
    return path


def load_tokenizer(path: str | Path, max_length: int = 64) -> PreTrainedTokenizerFast:
    """Load a `tokenizer.json` written by `save_tokenizer` (no network, nothing unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file {path} not found; regenerate it with `fedaid-lite data make`")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as err:  # the tokenizers library raises a bare Exception on bad JSON
        raise ValueError(f"tokenizer file {path} is unreadable ({err}); regenerate it") from None
    return _wrap(tok, max_length)


def _wrap(tok: Tokenizer, max_length: int) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=max_length)
