"""Engine overhead: a FedAvg run (K clients x R rounds x S steps) vs the same K·R·S steps done centrally.

    python benchmarks/engine_overhead.py            # class model, K=3, R=2, S=20, two interleaved repeats
    python benchmarks/engine_overhead.py --smoke    # tiny sizes, seconds

Both sides run in this one process with the same torch threads, model config and batch size, in turn
(A B A B), and the medians are compared on CPU time (see `_common.best`; wall times are in the
details):
- federated: `run_federated` with evaluation replaced by a no-op (the last round is always evaluated,
  and evaluation is not engine overhead), from tokenising the clients' data to the last round;
- central: tokenise the pooled training data, build the model, one `train_local` of K·R·S steps.
What the ratio charges to the engine: per-round state copies, loading and averaging the K client
states, scoring each client's held-out share (FedAID's DRO signal), and a fresh optimizer per client.
Target (docs/budgets.md): ratio ≤ 1.10.
"""

from __future__ import annotations

import time

from _common import best, eval_disabled, first_sites, interleaved, median, parser, result, set_threads

TARGET = 1.10


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=20, help="local steps per client per round (class default 20)")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    if args.smoke:
        args.clients, args.rounds, args.steps, args.repeats = 2, 1, 2, 1
    set_threads(args.threads)

    import torch

    from fedaid_lite.config import Experiment
    from fedaid_lite.data import make_hospitals
    from fedaid_lite.data.tensors import to_tensors
    from fedaid_lite.federated import run_federated
    from fedaid_lite.model import build_model
    from fedaid_lite.train import train_local

    base = Experiment.tiny() if args.smoke else Experiment.default()
    cfg = base.override({"fed.algorithm": "fedavg", "fed.rounds": args.rounds, "train.local_steps": args.steps,
                         "train.threads": args.threads, "train.device": "cpu"})
    t0 = time.perf_counter()
    hospitals = first_sites(make_hospitals(cfg.data), args.clients)
    print(f"hospitals built in {time.perf_counter() - t0:.1f} s; {hospitals.num_sites} clients", flush=True)
    device = torch.device("cpu")
    steps = hospitals.num_sites * args.rounds * args.steps
    image_size = hospitals.train[0].images.shape[-1]
    undo = eval_disabled()

    def federated() -> None:
        run_federated(cfg, hospitals=hospitals, evalset=object(), device=device)

    def central() -> None:
        data = to_tensors(hospitals.pooled("train"), hospitals.tokenizer, cfg.model.max_text_len)
        model = build_model(cfg.model, len(hospitals.tokenizer), cfg.seed, image_size=image_size)
        train_local(model, data, steps, cfg.train, device, seed=cfg.seed)

    # Warm-up: first-call allocations and lazy imports should not land on whichever side runs first.
    warm = to_tensors(hospitals.train[0], hospitals.tokenizer, cfg.model.max_text_len)
    train_local(build_model(cfg.model, len(hospitals.tokenizer), 1, image_size=image_size), warm, 3, cfg.train,
                device, seed=0)
    times = interleaved({"federated": federated, "central": central}, args.repeats)
    undo()
    fed, cen = times["federated"], times["central"]
    ratio = median(fed) / median(cen)
    print(f"{steps} optimizer steps each; federated {fed}, central {cen}", flush=True)
    result("engine overhead (FedAvg / central, same steps)", ratio, "x", f"<= {TARGET:.2f}", ratio <= TARGET,
           federated_cpu_s=median(fed), central_cpu_s=median(cen), wall_ratio=best(fed, "wall") / best(cen, "wall"),
           min_ratio=best(fed) / best(cen), steps=steps,
           clients=hospitals.num_sites, rounds=args.rounds, local_steps=args.steps, threads=args.threads)


if __name__ == "__main__":
    main()
