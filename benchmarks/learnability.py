"""Learnability check: a small supervised CNN trained centrally on generated images, AUROC per finding.

The default preset is tuned so every finding lands in 0.80-0.95 AUROC here: learnable, with room for
federated training to lose and gain. One training run moves a finding's AUROC by up to ~0.1 (seed of the
CNN's init and batch order), so the check trains `--seeds` CNNs on the same data and judges the mean.
Prints a markdown table (pasted into fedaid_lite/data/readme.py, which writes data_samples/README.md).

    python benchmarks/learnability.py            # ~2k train images at 64 px, 3 CNNs, ~2 min on 2 cores
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from fedaid_lite.config import DataConfig
from fedaid_lite.data import FINDINGS, PairedData, make_hospitals


def small_cnn(n_out: int, width: int = 16) -> nn.Module:
    """~100k-parameter CNN with GroupNorm: 64 -> 32 -> 16 -> 8 -> 4, then a linear head on the 4x4 map.

    The head keeps *where* a feature fired (a finding's zone matters), unlike global average pooling.
    """
    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, padding=1, stride=2), nn.GroupNorm(4, cout), nn.ReLU())
    w = width
    return nn.Sequential(block(1, w), block(w, 2 * w), block(2 * w, 4 * w), block(4 * w, 2 * w),
                         nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(2 * w * 16, n_out))


def tensors(d: PairedData) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(d.images).float().unsqueeze(1) / 255.0   # (N, 1, H, W)
    return (x - 0.5) / 0.25, torch.from_numpy(d.labels).float()  # labels (N, F)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-per-site", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--difficulty", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0, help="first training seed")
    ap.add_argument("--seeds", type=int, default=3, help="CNNs trained (seeds seed, seed+1, ...); the mean is judged")
    args = ap.parse_args()
    if args.seeds < 1:
        ap.error(f"--seeds must be >= 1, got {args.seeds}")
    torch.set_num_threads(args.threads)
    cfg = dataclasses.replace(DataConfig(), n_per_site=args.n_per_site, difficulty=args.difficulty)
    t0 = time.time()
    h = make_hospitals(cfg)
    train = PairedData.concat([h.pooled("train"), h.pooled("val")])
    test = PairedData.concat([h.pooled("test"), h.global_test])
    xtr, ytr = tensors(train)
    xte, yte = tensors(test)
    runs = [train_and_score(xtr, ytr, xte, args.epochs, seed) for seed in range(args.seed, args.seed + args.seeds)]
    y = yte.numpy()
    print(f"train {len(xtr)} images, test {len(xte)} (per-site test + global test), {args.epochs} epochs, "
          f"{args.seeds} training seeds from {args.seed}, {time.time() - t0:.0f} s\n")
    print("| finding | test positives | AUROC (mean) | min-max over seeds |\n|---|---|---|---|")
    for i, k in enumerate(FINDINGS):
        if not 0 < y[:, i].sum() < len(y):
            print(f"| {k} | {int(y[:, i].sum())} | nan | |")
            continue
        aucs = [roc_auc_score(y[:, i], scores[:, i]) for scores in runs]
        auc = sum(aucs) / len(aucs)
        flag = "" if 0.80 <= auc <= 0.95 else " (outside 0.80-0.95)"
        print(f"| {k} | {int(y[:, i].sum())} | {auc:.3f}{flag} | {min(aucs):.3f}-{max(aucs):.3f} |")


def train_and_score(xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, epochs: int, seed: int):
    """Train one small CNN with this seed; its sigmoid scores on the test images, (N, F) numpy."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = small_cnn(len(FINDINGS))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((len(xtr) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xtr), generator=gen).split(64):
            xb = xtr[idx]
            if torch.rand((), generator=gen) < 0.5:   # small shifts: the model must find the finding, not a pixel
                xb = torch.roll(xb, shifts=(int(torch.randint(-3, 4, (), generator=gen)),
                                            int(torch.randint(-3, 4, (), generator=gen))), dims=(2, 3))
            loss = loss_fn(model(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        return torch.cat([torch.sigmoid(model(xte[i:i + 256])) for i in range(0, len(xte), 256)]).numpy()


if __name__ == "__main__":
    main()
