"""Algorithm cost: seconds per round of FedAID and MOON relative to FedAvg, same config, one process.

    python benchmarks/algorithm_cost.py            # class model, K=3 clients, S=20 local steps, one run each
    python benchmarks/algorithm_cost.py --smoke    # tiny sizes, seconds

Each algorithm runs `run_federated` for 2 rounds with evaluation replaced by a no-op, in turn
(FedAvg, FedAID, MOON; again with --repeats); the figure is round 2 (MOON has no previous local
model in a client's first round, so round 1 would flatter it), fastest of the repeats, on CPU time
(see `_common.best`; wall-time ratios are in the details). A round's time includes the local steps,
aggregation and scoring each client's held-out share.
Where the extra cost comes from, by design: FedAID runs the frozen anchor model forward on every
batch (binding) and scores with the same objective; its stage 1 trains only the alignment blocks
(cheaper backward). MOON runs two frozen models (global and previous) forward on every batch.
Target (docs/budgets.md): FedAID ≤ 1.6x FedAvg; MOON is reported for comparison.
"""

from __future__ import annotations

import time

from _common import eval_disabled, first_sites, parser, result, set_threads

TARGET = 1.6
ALGORITHMS = ("fedavg", "fedaid", "moon")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="local steps per client per round (class default 20)")
    p.add_argument("--repeats", type=int, default=1, help="CPU time is steady, one run of each is enough")
    args = p.parse_args()
    if args.smoke:
        args.clients, args.steps, args.repeats = 2, 2, 1
    set_threads(args.threads)

    import torch

    from fedaid_lite.config import Experiment
    from fedaid_lite.data import make_hospitals
    from fedaid_lite.federated import run_federated

    base = Experiment.tiny() if args.smoke else Experiment.default()
    cfg = base.override({"fed.rounds": 2, "train.local_steps": args.steps, "train.threads": args.threads,
                         "train.device": "cpu", "fed.stage1_steps": min(base.fed.stage1_steps, args.steps - 1)})
    t0 = time.perf_counter()
    hospitals = first_sites(make_hospitals(cfg.data), args.clients)
    print(f"hospitals built in {time.perf_counter() - t0:.1f} s; {hospitals.num_sites} clients", flush=True)
    undo = eval_disabled()
    device = torch.device("cpu")
    cpu: dict[str, list[float]] = {a: [] for a in ALGORITHMS}
    wall: dict[str, list[float]] = {a: [] for a in ALGORITHMS}
    for _ in range(args.repeats):
        for algo in ALGORITHMS:
            marks: list[float] = []                      # CPU clock at the end of each round
            history = run_federated(cfg.override({"fed.algorithm": algo}), hospitals=hospitals, evalset=object(),
                                    device=device, on_round=lambda _rec, _trained: marks.append(time.process_time()))
            cpu[algo].append(marks[-1] - marks[-2])
            wall[algo].append(float(history.records[-1]["round_seconds"]))
    undo()
    per_round = {a: min(v) for a, v in cpu.items()}
    print("round-2 CPU seconds: " + ", ".join(f"{a} {v}" for a, v in cpu.items()), flush=True)
    print("round-2 wall seconds: " + ", ".join(f"{a} {v}" for a, v in wall.items()), flush=True)
    detail = dict(clients=hospitals.num_sites, local_steps=args.steps, threads=args.threads,
                  fedavg_round_cpu_s=per_round["fedavg"])
    fedaid = per_round["fedaid"] / per_round["fedavg"]
    result("FedAID round / FedAvg round", fedaid, "x", f"<= {TARGET}", fedaid <= TARGET,
           fedaid_round_cpu_s=per_round["fedaid"], wall_ratio=min(wall["fedaid"]) / min(wall["fedavg"]), **detail)
    moon = per_round["moon"] / per_round["fedavg"]
    result("MOON round / FedAvg round", moon, "x", "(reported)", None, moon_round_cpu_s=per_round["moon"],
           wall_ratio=min(wall["moon"]) / min(wall["fedavg"]), **detail)


if __name__ == "__main__":
    main()
