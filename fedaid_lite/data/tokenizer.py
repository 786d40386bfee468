"""A WordPiece tokenizer built from the training reports, saved beside the data as `tokenizer.json`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_tokenizer(reports: Iterable[str], vocab_size: int = 2000, max_length: int = 64) -> PreTrainedTokenizerFast:
    """Build a lower-casing WordPiece tokenizer (BERT-style `[CLS] text [SEP]`) from `reports`.

    The vocabulary is chosen deterministically: special tokens, every character seen (as a word start
    and as a `##` continuation, so any word can be spelled), then whole words by frequency, ties broken
    alphabetically, up to `vocab_size`. We do not use `tokenizers`' WordPieceTrainer: it breaks frequency
    ties in hash-map order, so two processes given the same reports build different vocabularies and
    "same seed, same numbers" fails across processes (papermill sweeps, Flower clients).
    """
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for report in reports:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(report)))
    chars = sorted({c for word in counts for c in word})
    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *chars, *(f"##{c}" for c in chars)):
        vocab.setdefault(token, len(vocab))
    for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= vocab_size:
            break
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
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
