"""Shared small-model fixtures for the model test suite (test_model_core, test_processes, test_properties,
test_patterns).

Models are kept small (a few hundred agents, a 4-step burn-in, 20-40 steps) so that the whole suite runs in
seconds once the numba kernels are cached. ``config_from_params`` is used where the Hydra path is not itself
under test: it yields the same validated config as ``s3sim.compose`` with ``model.<name>=value`` overrides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import s3sim
from s3sim.model.state import RI
from s3sim.runner.simulate import config_from_params

#: the small headless model used unless a test needs something else
SMALL: dict[str, Any] = dict(n_agents=400, burn_in=4, horizon=24, materialize_agents=False)


def small_config(**params: Any):
    """A validated config: :data:`SMALL` updated with ``params`` (names from ``s3sim.PARAMETERS``)."""
    return config_from_params(**{**SMALL, **params})


def small_model(seed: int = 0, **params: Any) -> s3sim.S3Model:
    """A fresh, unrun model over :func:`small_config`."""
    return s3sim.S3Model(small_config(**params), seed=seed)


def alive_firm_mask(model: s3sim.S3Model) -> np.ndarray:
    a = model.actors
    return a.alive[: a.n] & (a.kind[: a.n] != RI)


def total_wide(timeseries):
    """The ``ALL`` rows of a timeseries table as a step x indicator frame."""
    ts = timeseries[timeseries["region"] == "ALL"]
    wide = ts.pivot(index="step", columns="indicator", values="value")
    wide.columns = wide.columns.astype(str)
    return wide


@pytest.fixture
def make_config() -> Callable[..., Any]:
    """Factory fixture: ``make_config(**params)`` -> a small validated config."""
    return small_config


@pytest.fixture
def make_model() -> Callable[..., s3sim.S3Model]:
    """Factory fixture: ``make_model(seed=0, **params)`` -> a small unrun model."""
    return small_model


@pytest.fixture(scope="session")
def small_cfg():
    """A small config from the public Hydra path (``s3sim.compose``), headless."""
    return s3sim.compose(["model.n_agents=400", "model.burn_in=4", "model.horizon=20",
                          "model.materialize_agents=false"])


@pytest.fixture(scope="session")
def small_result(small_cfg):
    """One small run's tables (seed 1), shared read-only across tests."""
    return s3sim.simulate(small_cfg, seed=1)


@pytest.fixture(scope="module")
def materialised_model():
    """A small materialised (Mesa agents) model run for its whole horizon; module-scoped, treat as read-only."""
    model = s3sim.S3Model(small_config(materialize_agents=True, horizon=20), seed=3)
    model.run()
    return model


def pytest_collection_modifyitems(config, items):
    """Full-size studies (marked ``slow``) are opt-in: they run only when the marker expression names them
    (``pytest -m slow``)."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="full-size study: opt in with `pytest -m slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    """Say so when the installed pytest silently breaks xdist's ``--dist loadgroup`` (pytest 9.2:
    pytest-dev/pytest-xdist#1386): the suite still passes, but every module's fixtures are built on every worker,
    so ``make test`` runs slower. ``pyproject.toml`` holds pytest below 9.2; this catches a hand-installed one."""
    version = tuple(int(x) for x in pytest.__version__.split(".")[:2] if x.isdigit())
    if version >= (9, 2) and config.pluginmanager.hasplugin("xdist"):
        return (f"warning: pytest {pytest.__version__} breaks pytest-xdist's loadgroup distribution "
                "(pytest-dev/pytest-xdist#1386): install 'pytest<9.2' (make install does) for the faster make test")
    return None
