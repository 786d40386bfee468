"""The same algorithms on Flower (flwr 1.42): ClientApp, ServerApp, Strategy, simulation and deployment.

This package is the only place that imports `flwr`. It re-uses `fedaid_lite.algorithms` as is: the
ClientApp calls `algo.client_train` / `algo.client_score`, the Strategy calls `algo.aggregate` /
`algo.end_round`, so a Flower run and an in-process run are the same computation.

Importing it turns Flower's telemetry and update check off unless the caller chose otherwise (the
variables are read when `flwr` is first imported): a teaching toolkit never phones home.
"""

import os

for _name, _value in (("FLWR_TELEMETRY_ENABLED", "0"), ("FLWR_DISABLE_UPDATE_CHECK", "1"),
                      ("RAY_USAGE_STATS_ENABLED", "0"), ("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")):
    os.environ.setdefault(_name, _value)
