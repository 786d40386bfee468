"""The live dashboard: `dashboard(cfg)` in a notebook cell shows sliders, Train / Stop / Reset and live plots.

    from fedaid_lite.dashboard import dashboard
    dashboard(Experiment.tiny())          # the last expression of a cell displays it

`controller` holds the logic without widgets (tests drive it directly), `preparation` the background
job that builds the hospitals and the ideal reference, `widgets` binds ipywidgets to the controller.
"""

from __future__ import annotations

from .controller import DashboardController
from .widgets import Dashboard, dashboard

__all__ = ["Dashboard", "DashboardController", "dashboard"]
