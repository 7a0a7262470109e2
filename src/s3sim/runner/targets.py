"""Model functions for the stress test: ``f(params, seed, replicate) -> dict[str, float]``.

A target is any function with that signature: ``params`` maps parameter names to values, ``seed`` is the sample's
run seed (an int spawned by the stress engine) and ``replicate`` the replicate number; the run's random streams
are ``SeedSequence(seed).spawn(replicate + 1)[replicate]``, exactly as in :func:`s3sim.evaluate`. It returns the
raw result columns of one run. For parallel executors it must be a module-level (picklable) function.

Two targets ship with s3sim:

* ``s3``: :func:`s3_target`, the model through :func:`s3sim.evaluate`. Every regime the outputs name runs on the
  same seed and replicate (common random numbers: identical burn-in and random streams), and each outcome comes
  back as a column ``<regime>:<outcome>``;
* ``ishigami``: :func:`ishigami`, the Ishigami-Homma function (Ishigami & Homma 1990; Saltelli et al. 2008,
  *Global Sensitivity Analysis: The Primer*, section 4.3), the engine's verification target, whose Sobol' indices
  are known in closed form (:func:`ishigami_indices`).

:func:`evaluate_chunk` runs a target over one chunk of the design; it is the task the executors distribute.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

ISHIGAMI_A = 7.0
ISHIGAMI_B = 0.1
ISHIGAMI_PARAMS = ("x1", "x2", "x3")


def ishigami(params: Mapping[str, float], seed: int = 0, replicate: int = 0, *, a: float = ISHIGAMI_A,
             b: float = ISHIGAMI_B, noise: float = 0.0) -> dict[str, float]:
    """``y = sin x1 + a sin^2 x2 + b x3^4 sin x1``; with ``noise > 0`` a seeded N(0, noise^2) term is added."""
    x1, x2, x3 = (float(params[k]) for k in ISHIGAMI_PARAMS)
    y = math.sin(x1) + a * math.sin(x2) ** 2 + b * x3 ** 4 * math.sin(x1)
    if noise > 0:
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(replicate + 1)[replicate])
        y += noise * rng.standard_normal()
    return {"y": y}


def ishigami_indices(a: float = ISHIGAMI_A, b: float = ISHIGAMI_B) -> dict[str, list[float]]:
    """Analytic first-order and total Sobol' indices of the Ishigami function with x uniform on [-pi, pi]^3.

    Variances (Saltelli et al. 2008, section 4.3; Sobol' & Levitan 1999): V1 = (1 + b pi^4 / 5)^2 / 2,
    V2 = a^2 / 8, V13 = 8 b^2 pi^8 / 225, V = V1 + V2 + V13. With a = 7, b = 0.1: S1 = (0.3139, 0.4424, 0),
    ST = (0.5576, 0.4424, 0.2437).
    """
    pi = math.pi
    v1 = 0.5 * (1 + b * pi ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = 8 * b ** 2 * pi ** 8 / 225
    v = v1 + v2 + v13
    return {"S1": [v1 / v, v2 / v, 0.0], "ST": [(v1 + v13) / v, v2 / v, v13 / v]}


def scenario_names() -> list[str]:
    """What an s3 output may name as its regime: the registered regimes, then the policy presets of
    ``conf/policy`` that are not regimes (``as_applied``, ``pilot``: several regimes or pilots at once)."""
    from ..config.compose import CONFIG_DIR
    from ..policy import REGIMES

    presets = sorted(p.stem for p in (CONFIG_DIR / "policy").glob("*.yaml") if p.stem not in REGIMES)
    return [*REGIMES, *presets]


@functools.cache
def _preset_policy(name: str):
    """The PolicyConfig of a policy preset (``conf/policy/<name>.yaml``), composed once per process."""
    from ..config import to_object
    from ..config.compose import compose

    return to_object(compose([f"policy={name}"])).policy


def _build_config(params: Mapping[str, Any], preset: str | None):
    """``config_from_params(**params)``; with a policy ``preset``, that preset's policy config with the
    ``policy_*`` parameters applied on top."""
    import dataclasses

    from .simulate import config_from_params

    cfg = config_from_params(**params)
    if preset is None:
        return cfg
    return config_from_params(dataclasses.replace(cfg, policy=_preset_policy(preset)),
                              **{k: v for k, v in params.items() if k.startswith("policy_")})


@functools.lru_cache(maxsize=16)
def _cached_config(key: tuple, preset: str | None):
    return _build_config({name: value for name, _, value in key}, preset)


def _sample_config(merged: Mapping[str, Any], preset: str | None = None):
    """:func:`_build_config`, built and validated once for the replicates of a sample (they share their
    parameters; the key holds each value's type, so 1, 1.0 and True stay apart)."""
    key = tuple((name, type(value), value) for name, value in merged.items())
    try:
        hash(key)
    except TypeError:  # lists or mappings among the values: not cached
        return _build_config(merged, preset)
    return _cached_config(key, preset)


def s3_target(params: Mapping[str, Any], seed: int, replicate: int = 0, *, regimes: Sequence[str] = ("none",),
              fixed: Mapping[str, Any] | None = None, regions: Sequence[str] = (),
              times: Sequence[int] = ()) -> dict[str, float]:
    """Run the model once per regime on the same seed and replicate; columns ``<regime>:<outcome>`` and, for each
    of ``regions``, ``<regime>:<outcome>@<region>``; for each quarter ``q`` of ``times`` (quarters of the policy
    horizon before its end), the same columns followed by ``#q<q>``: the outcomes as the run stood after quarter
    ``q`` of the horizon (:meth:`S3Model.outcomes` with ``step=burn_in + q``; equal to those of a run whose horizon
    ends there when ``burn_in + q`` is a multiple of ``evidence_every``, which :func:`s3sim.runner.stress.resolve`
    requires).

    Identical to ``evaluate(seed, policy=regime, replicate=replicate, **fixed, **params)`` for each regime (a test
    checks it) but cheaper: the config is built and validated once per sample (not per replicate), the regimes
    share one burn-in (it is policy-free and every submodel draws from its own stream, so each regime's run
    continues from a copy of it: :meth:`S3Model.fork`, bit-identical to separate runs), the outcomes come straight
    from the records (:meth:`S3Model.outcomes`, equal to those of the tables) and no run manifest is assembled. A
    policy preset (``as_applied``) runs with the preset's policy config, with any ``policy_*`` parameter of the
    sample applied on top.
    """
    import dataclasses

    from ..model import S3Model
    from ..policy import REGIMES

    merged = {"materialize_agents": False, **dict(fixed or {}), **dict(params)}
    base = _sample_config(merged)
    cfgs = []
    for regime in regimes:
        if regime in REGIMES:
            cfgs.append(dataclasses.replace(base, policy=dataclasses.replace(base.policy, regime=regime)))
        else:
            cfgs.append(_sample_config(merged, preset=regime))
    if not cfgs:
        return {}
    # the regimes share one burn-in; only what outcomes() reads is recorded
    burn_in = base.model.burn_in
    models = S3Model.through_burn_in(cfgs, seed, replicate, full_records=False,
                                     outcome_steps=[burn_in + int(q) for q in times], _validated=True)
    out: dict[str, float] = {}
    for regime, model in zip(regimes, models):
        model.run()
        for q in (None, *times):
            step = None if q is None else burn_in + int(q)
            when = "" if q is None else f"#q{int(q)}"
            res = model.outcomes(step=step)
            out.update({f"{regime}:{k}{when}": float(v) for k, v in res.items()})
            for region in regions:
                res = model.outcomes(region=region, step=step)
                out.update({f"{regime}:{k}@{region}{when}": float(v) for k, v in res.items()})
    return out


def target_function(name: str | Callable, options: Mapping[str, Any]) -> Callable[..., dict[str, float]]:
    """The model function of a target: ``s3``, ``ishigami`` or a callable ``f(params, seed, replicate)``."""
    if callable(name):
        return name
    if name == "s3":
        return lambda p, s, r: s3_target(p, s, r, regimes=options["regimes"], fixed=options.get("fixed"),
                                         regions=options.get("regions", ()), times=options.get("times", ()))
    if name == "ishigami":
        return lambda p, s, r: ishigami(p, s, r, noise=float(options.get("noise", 0.0)))
    raise ValueError(f"unknown target {name!r}")


def evaluate_chunk(task: Mapping[str, Any], poll: Callable[[], None] | None = None):
    """Evaluate one chunk: every sample of the chunk times every replicate. The executors' task function.

    ``task`` holds ``target`` (name or module-level callable), ``options`` (regimes, fixed, noise), ``names``
    (parameter names), ``kinds`` (``"int"`` or ``"float"``), ``samples`` (sample ids), ``values`` (applied
    parameter values, one row per sample), ``seeds`` (run seed per sample) and ``replicates``. Returns a DataFrame
    with columns ``sample``, ``replicate`` and the target's result columns, rows ordered by sample then replicate.
    ``poll`` is called before each evaluation (in the command's own process: it raises to stop between two).
    """
    import pandas as pd

    f = target_function(task["target"], task["options"])
    names, kinds = task["names"], task["kinds"]
    rows = []
    for i, values, seed in zip(task["samples"], task["values"], task["seeds"]):
        params = {n: (int(v) if k == "int" else float(v)) for n, k, v in zip(names, kinds, values)}
        for r in range(int(task["replicates"])):
            if poll is not None:
                poll()
            res = f(params, int(seed), r)
            rows.append({"sample": int(i), "replicate": r, **{k: float(v) for k, v in res.items()}})
    return pd.DataFrame(rows)
