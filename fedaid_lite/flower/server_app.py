"""The ServerApp: build the initial model, run `AlgorithmStrategy`, save history.json and model/.

Flower returns nothing to a notebook, so the run's output folder (`output-dir` in the run config) is
the result: `history.json` (rewritten after every round, same record keys as the in-process engine),
`config.json`, and `model/` (the final global model; LocalOnly also writes `local_models/`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from ..algorithms import ClientRuntime, clone_state, make_algorithm
from ..config import Experiment
from ..data.types import Hospitals
from ..federated import evaluate_states, finish_run
from ..history import History, atomic_write_text
from ..pretrain import init_model
from ..train import configure_threads, resolve_device
from .settings import RunnerSettings, split_run_config
from .strategy import AlgorithmStrategy


def run_server(grid: Grid, cfg: Experiment, settings: RunnerSettings, *, hospitals: Hospitals | None = None,
               on_round: Callable[[dict[str, Any]], None] | None = None, progress: bool = False) -> History:
    """The whole server side of one run on `grid`; returns (and saves) the History."""
    from ..evaluate import evaluate, prepare_eval

    configure_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    if hospitals is None:
        from ..data import load_hospitals  # the server's copy: evaluation data and the shared tokenizer

        hospitals = load_hospitals(cfg.data)
    evalset = prepare_eval(hospitals, cfg.model, split=cfg.fed.eval_split)
    model = init_model(cfg, hospitals.tokenizer, image_size=hospitals.train[0].images.shape[-1])
    runtime = ClientRuntime(model, device, cfg)
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", cfg.to_json())
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.fed.rounds, desc=f"{cfg.fed.algorithm} (flower)", unit="round", leave=False)

    def after_round(record: dict[str, Any]) -> None:
        strategy.history.save(out / "history.json")   # after every round: a watcher sees progress
        if bar is not None:
            bar.update(1)
        if on_round is not None:
            on_round(record)

    strategy = AlgorithmStrategy(
        cfg, lambda k: make_algorithm(cfg, k), clone_state(model),
        evaluate=lambda states: evaluate_states(evaluate, runtime, states, evalset, device, None),
        round_timeout=settings.round_timeout, min_nodes=settings.min_nodes, on_round=after_round,
        shared_config={"tokenizer": hospitals.tokenizer.backend_tokenizer.to_str()})
    try:
        strategy.start(grid)
    finally:
        if bar is not None:
            bar.close()
        strategy.history.save(out / "history.json")
    finish_run(out, runtime, strategy.algo, strategy.global_state, strategy.client_states)
    return strategy.history


def build_server_app(defaults: Mapping[str, Any] | None = None, *, hospitals: Hospitals | None = None,
                     on_round: Callable[[dict[str, Any]], None] | None = None, progress: bool = False,
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
