"""Synthetic heterogeneous hospitals (chest-radiograph-like images + reports) and manifest I/O."""

from .check import CheckReport, check_manifest
from .generate import make_hospitals
from .prompts import zero_shot_prompts
from .manifest import ManifestError, load_hospitals, load_manifest, write_dataset
from .summary import (KNOBS, example_cases, format_case, format_cases, format_site_examples, format_sites,
                      format_spreads, format_summary, heterogeneity_knobs, heterogeneity_summary, spreads)
from .tokenizer import load_tokenizer, save_tokenizer, train_tokenizer
from .types import FINDINGS, MENTION_CODES, Hospitals, PairedData

__all__ = ["FINDINGS", "MENTION_CODES", "PairedData", "Hospitals", "make_hospitals", "load_hospitals",
           "load_manifest", "write_dataset", "ManifestError", "check_manifest", "CheckReport",
           "heterogeneity_summary", "format_summary", "example_cases", "format_case", "format_cases",
           "format_site_examples", "format_sites", "format_spreads", "spreads", "heterogeneity_knobs", "KNOBS",
           "zero_shot_prompts", "train_tokenizer", "save_tokenizer", "load_tokenizer"]
