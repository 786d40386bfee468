"""Input pipeline: training steps/s of `train_local` vs a bare torch loop over pre-made batches.

    python benchmarks/input_pipeline.py            # class model, batch 64, 50 steps, 3 interleaved repeats
    python benchmarks/input_pipeline.py --smoke    # tiny sizes, seconds

Both sides train the same model (same initial weights) on the same batches, with the same AdamW
parameter groups and gradient clipping, in this one process with the same threads. The bare loop
gets every batch ready-made (indexed, padding trimmed) before the clock starts, so the difference is
what `train_local` does per step besides the maths: drawing and slicing the batch, the objective's
logged scalars, the finiteness checks and the logit-scale clamp.
Figure: steps/s of `train_local` / steps/s of the bare loop, medians of interleaved repeats on CPU
time (see `_common.best`; wall times are in the details). Target ≥ 0.9 (the data path is not the
bottleneck).
"""

from __future__ import annotations

import copy

from _common import best, interleaved, median, parser, result, set_threads

TARGET = 0.9


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    if args.smoke:
        args.steps, args.repeats = 4, 1
    set_threads(args.threads)

    import torch

    from fedaid_lite.config import Experiment
    from fedaid_lite.data import make_hospitals
    from fedaid_lite.data.tensors import to_tensors
    from fedaid_lite.losses import clip_loss
    from fedaid_lite.model import build_model
    from fedaid_lite.train import batch_indices, train_local

    cfg = (Experiment.tiny() if args.smoke else Experiment.default()).override(
        {"train.threads": args.threads, "train.device": "cpu"})
    hospitals = make_hospitals(cfg.data)
    data = to_tensors(hospitals.pooled("train"), hospitals.tokenizer, cfg.model.max_text_len)
    device = torch.device("cpu")
    model = build_model(cfg.model, len(hospitals.tokenizer), cfg.seed, image_size=data.images.shape[-1])
    initial = copy.deepcopy(model.state_dict())
    seed = 7
    batches = [data.batch(idx, device) for idx in batch_indices(len(data), cfg.train.batch_size, args.steps, seed)]

    def library() -> None:
        model.load_state_dict(initial)
        train_local(model, data, args.steps, cfg.train, device, seed=seed)

    def bare() -> None:
        model.load_state_dict(initial)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.train.weight_decay},
                                 {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}], lr=cfg.train.lr)
        model.train()
        for b in batches:
            image_emb, text_emb = model(b.images, b.input_ids, b.attention_mask)
            loss = clip_loss(image_emb, text_emb, model.scale(), b.text_ids)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
            opt.step()
        model.eval()

    bare()                                  # warm-up, so first-call costs land on neither side
    times = interleaved({"train_local": library, "bare": bare}, args.repeats)
    lib, bare_t = times["train_local"], times["bare"]
    ratio = median(bare_t) / median(lib)   # = steps/s(train_local) / steps/s(bare), CPU time (see _common.best)
    print(f"{args.steps} steps, batch {cfg.train.batch_size}: train_local {lib}, bare {bare_t}", flush=True)
    result("input pipeline (train_local / bare loop, steps/s)", ratio, "x", f">= {TARGET}", ratio >= TARGET,
           train_local_steps_per_cpu_s=args.steps / median(lib), bare_steps_per_cpu_s=args.steps / median(bare_t),
           wall_ratio=best(bare_t, "wall") / best(lib, "wall"), min_ratio=best(bare_t) / best(lib),
           steps=args.steps,
           batch_size=cfg.train.batch_size, threads=args.threads)


if __name__ == "__main__":
    main()
