"""Dash callbacks, one module per page plus the shell and the shared job; registered by the factory."""

from __future__ import annotations

from callbacks import accuracy, alignment, compare, explore, home, jobs, report, shell, stimuli, tubularity
from callbacks.context import AppContext

MODULES = (shell, jobs, home, stimuli, explore, compare, tubularity, alignment, accuracy, report)


def register_callbacks(app, ctx: AppContext) -> None:
    for module in MODULES:
        module.register(app, ctx)
