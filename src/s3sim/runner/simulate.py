"""Run one configuration: :func:`simulate` (config -> RunResult) and :func:`evaluate` (named parameters ->
scalar outcomes)."""

from __future__ import annotations

import dataclasses
import functools
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from ..config import PARAMETERS, S3SimConfig, to_object, validate
from ..config.compose import check_parameter, check_world_and_horizon
from ..errors import ConfigError
from ..model import S3Model
from .manifest import git_revision, package_versions, platform_info
from .result import RunResult


def simulate(config: Any = None, seed: int | None = None, *, policy: Any = None, world: Any = None,
             replicate: int | None = None) -> RunResult:
    """Run the model for burn-in + horizon steps and return its tables.

    Parameters
    ----------
    config:
        A config from :func:`s3sim.compose` (default: the default config).
    seed:
        Run seed (default: ``config.seed``).
    policy:
        Optional policy object (see :class:`s3sim.S3Model`).
    replicate:
        Replicate number (default: ``config.replicate``); its streams are spawned from the seed.
    """
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    model = S3Model(config, seed=seed, policy=policy, world=world, replicate=replicate)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    tables = model.tables()
    t3 = time.perf_counter()
    cfg = model.config
    manifest = {
        "status": "completed",
        "seed": model.seed,
        "replicate": model.replicate,
        "regions": _region_table(model.world),
        "config": OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True),
        "steps": int(model.steps),
        "burn_in": int(cfg.model.burn_in),
        "policy": None if model.policy is None else getattr(model.policy, "name", type(model.policy).__name__),
        "policy_setup": (model.policy.describe(model) if hasattr(model.policy, "describe") else None),
        "timings": {"init_seconds": t1 - t0, "run_seconds": t2 - t1, "tables_seconds": t3 - t2,
                    "seconds_per_step": (t2 - t1) / max(model.steps, 1)},
        "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "versions": package_versions(),
        "git": git_revision(),
        "platform": platform_info(),
        "ledger": dict(model.ledger),
    }
    return RunResult(manifest=manifest, **tables)


def _region_table(world: Any) -> list[dict[str, Any]]:
    """Region ids, names, countries and coordinates, so analyses can draw maps from stored runs alone."""
    r = world.regions
    out = []
    for i, rid in enumerate(r.ids):
        row = {"id": str(rid)}
        for attr, key in (("names", "name"), ("countries", "country"), ("lon", "lon"), ("lat", "lat")):
            values = getattr(r, attr, None)
            if values is not None:
                v = values[i]
                row[key] = v.item() if hasattr(v, "item") else v
        out.append(row)
    return out


_FIELDS = {f.name for f in dataclasses.fields(S3SimConfig)}
_KIND_WANTED = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _has_kind(value: Any, kind: type) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    return isinstance(value, kind)


def config_from_params(base: Any = None, **params: Any) -> S3SimConfig:
    """A validated config with the named parameters (names from :data:`s3sim.PARAMETERS`) replaced.

    Faster than composing with Hydra, for many-run studies; the result is identical to composing with the
    matching ``model.<name>=value`` / ``world.<name>=value`` overrides. Without ``base`` only the named parameters
    and the rules across parameters are checked (the defaults pass :func:`~s3sim.config.validate`, checked once per
    process), which gives the same verdict as validating the whole config at a fraction of its cost (a stress test
    builds one config per sample).
    """
    from_defaults = base is None
    cfg = to_object(base) if base is not None else S3SimConfig()
    changes: dict[str, dict[str, Any]] = {"model": {}, "world": {}, "policy": {}}
    for name, value in params.items():
        if name == "seed":
            raise ConfigError("seed", value, "the seed argument of evaluate(), not a parameter")
        if name not in PARAMETERS:
            raise ConfigError(name, value, f"a parameter name from s3sim.PARAMETERS ({', '.join(PARAMETERS)})")
        p = PARAMETERS[name]
        section, _, field = p.key.partition(".")
        if isinstance(value, np.generic):  # numpy scalars from samplers (SALib, EMA Workbench)
            value = value.item()
        if p.kind is int and isinstance(value, float) and float(value).is_integer():
            value = int(value)
        if p.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not _has_kind(value, p.kind):
            raise ConfigError(p.key, value, _KIND_WANTED[p.kind])
        changes[section][field] = value
    cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **c)
                                      for section, c in changes.items()})
    if from_defaults and _defaults_valid():
        # as validate(): every changed parameter (in the registry's order, so the same one is named first), then
        # the rules across parameters; policy regions and pilots, which no parameter sets, are empty by default
        named = {f"{section}.{field}" for section, c in changes.items() for field in c}
        for p in PARAMETERS.values():
            if p.key in named:
                section, _, field = p.key.partition(".")
                check_parameter(p, changes[section][field])
        check_world_and_horizon(cfg)
    else:
        validate(cfg)
    return cfg


@functools.cache
def _defaults_valid() -> bool:
    """Whether the default config passes :func:`~s3sim.config.validate` (it must; raises otherwise)."""
    validate(S3SimConfig())
    return not S3SimConfig().policy.regions and not S3SimConfig().policy.pilots


def evaluate(seed: int = 0, policy: Any = None, *, replicate: int | None = None, **params: Any) -> dict[str, float]:
    """The model as a plain function: named parameters in, end-of-run scalar outcomes out.

    >>> out = evaluate(seed=1, n_agents=300, horizon=8, burn_in=4)   # doctest: +SKIP
    >>> sorted(out)[:3]                                                # doctest: +SKIP
    ['clustering', 'collaborations', 'entry_rate']

    Parameter names are those of :data:`s3sim.PARAMETERS` (world and policy parameters carry a ``world_`` or
    ``policy_`` prefix); the outcomes are listed in :data:`s3sim.indicators.outcomes.OUTCOMES`. ``policy`` is a
    regime name (``"cluster_s3"``, the same as ``policy_regime=...``) or a policy object. Runs headless (no Mesa
    agent objects).
    """
    params.setdefault("materialize_agents", False)
    if isinstance(policy, str):
        params["policy_regime"] = policy
        policy = None
    cfg = config_from_params(**params)
    return simulate(cfg, seed=seed, policy=policy, replicate=replicate).outcomes()


