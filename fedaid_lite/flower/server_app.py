"""The ServerApp: set up the server (as the in-process engine does), run `AlgorithmStrategy`, save the run.

Flower returns nothing to a notebook, so the run's output folder (`output-dir` in the run config) is
the result, in the in-process engine's layout: `history.json` and the round's checkpoint (rewritten
after every round by `rounds.RoundCore`, same record keys), `config.json`, and `model/` (the final
global model; LocalOnly also writes `local_models/`).

Started again on the same output folder (after a crash, a kill, or with a larger `fed.rounds`), the
ServerApp resumes from that checkpoint: model, DRO weights and anchor, kept client states, History; a
checkpoint of a different config is refused as the in-process engine refuses it (only `RUNTIME_ONLY`
keys such as `fed.rounds` may change). It ends with the same model as an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp
from tqdm.auto import tqdm

from ..config import Experiment
from ..data.types import Hospitals
from ..checkpoint import load_checkpoint
from ..federated import check_output_dir, finish_run, prepare_server
from ..history import History, atomic_write_text
from ..protocol import clone_state
from ..registry import make_algorithm
from ..rounds import OnRound, TrainedState
from .settings import RunnerSettings, split_run_config
from .strategy import AlgorithmStrategy


def run_server(grid: Grid, cfg: Experiment, settings: RunnerSettings, *, hospitals: Hospitals | None = None,
               on_round: OnRound | None = None, progress: bool = False) -> History:
    """The whole server side of one run on `grid`; returns (and saves) the History."""
    out = Path(settings.output_dir)
    # A checkpoint there is resumed; one of a different run is refused before anything is written.
    check_output_dir(cfg, out)
    # The server's own copy of the hospitals: evaluation data and the shared tokenizer.
    server = prepare_server(cfg, hospitals=hospitals)
    ckpt = load_checkpoint(out, server.device)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", cfg.to_json())
    bar = tqdm(total=cfg.fed.rounds, initial=ckpt.server_round if ckpt else 0, desc=f"{cfg.fed.algorithm} (flower)",
               unit="round", leave=False) if progress else None

    def after_round(record: dict[str, Any], trained: TrainedState) -> None:
        if bar is not None:
            bar.update(1)
        if on_round is not None:
            on_round(record, trained)

    strategy = AlgorithmStrategy(
        cfg, lambda k: make_algorithm(cfg, k), clone_state(server.runtime.model), evaluate=server.evaluator(),
        round_timeout=settings.round_timeout, min_nodes=settings.min_nodes, on_round=after_round,
        shared_config={"tokenizer": server.hospitals.tokenizer.backend_tokenizer.to_str()}, checkpoint_dir=out)
    if ckpt is not None:
        strategy.resume(ckpt)
    try:
        strategy.start(grid)
    finally:
        if bar is not None:
            bar.close()
        strategy.history.save(out / "history.json")
    finish_run(out, server.runtime, strategy.algo, strategy.global_state, strategy.client_states)
    return strategy.history


def build_server_app(defaults: Mapping[str, Any] | None = None, *, hospitals: Hospitals | None = None,
                     on_round: OnRound | None = None, progress: bool = False,
                     result: list[History] | None = None) -> ServerApp:
    """A ServerApp whose run_config is `defaults` updated by `context.run_config`; appends its History to `result`."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        cfg, settings = split_run_config({**(defaults or {}), **context.run_config})
        history = run_server(grid, cfg, settings, hospitals=hospitals, on_round=on_round, progress=progress)
        if result is not None:
            result.append(history)

    return app


app: ServerApp = build_server_app()
"""What `[tool.flwr.app.components] serverapp` points at."""
