"""A research harness, not a library option: keep each client's AdamW state from one round to the next.

The library gives every `train_local` call a fresh AdamW (moments at zero), as the authors' clients do each
round. Hypothesis (issue 13): with the moments kept, a client's updates keep pointing where its own skewed
data pulled them last round, so local drift, and with it the skew's cost to FedAvg, grows. Used by
`research/grid.py` for variants with `research.keep_optimizer=1` (r17); in-process engine only.

How: the engines train every client on one working model whose parameters are loaded in place each round,
so an optimizer built once per (model, client data, trainable part) keeps pointing at the right tensors. The
patch wraps `algorithms.train_local` to name the client and `train._optimizer` to return that client's kept
optimizer (built the library's way the first time).
"""
from __future__ import annotations

import contextlib
import weakref

import fedaid_lite.algorithms as algorithms
import fedaid_lite.train as train

_kept: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # model -> {(id(data), trainable): AdamW}
_current: list = []


@contextlib.contextmanager
def keep_optimizer(enabled: bool):
    if not enabled:
        yield
        return
    original_train, original_opt = algorithms.train_local, train._optimizer

    def train_local(model, data, steps, cfg, device, objective=train.clip_objective, *, seed, trainable="all"):
        _current.append((model, (id(data), trainable)))
        try:
            return original_train(model, data, steps, cfg, device, objective, seed=seed, trainable=trainable)
        finally:
            _current.pop()

    def optimizer(model, cfg):
        owner, key = _current[-1]
        kept = _kept.setdefault(owner, {})
        if key not in kept:
            kept[key] = original_opt(model, cfg)
        return kept[key]

    algorithms.train_local, train._optimizer = train_local, optimizer
    try:
        yield
    finally:
        algorithms.train_local, train._optimizer = original_train, original_opt
