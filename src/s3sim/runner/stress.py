"""The stress test: global sensitivity analysis of s3sim (or any model function) through SALib, with replicates,
policy contrasts on common random numbers, checkpointed and resumable evaluation on any executor, and analysis.

It follows SALib's sample -> evaluate -> analyze (and EMA Workbench's uncertainties / outcomes):

1. :func:`resolve` validates a config (``conf/stress.yaml`` and its groups ``sensitivity``, ``target``,
   ``executor``) into a :class:`StressSpec` before anything is evaluated: parameter names or groups from
   :data:`s3sim.PARAMETERS`, ranges (registry range or ``target.ranges``), outputs, method settings;
2. :meth:`StressTest.prepare` draws the design with SALib and stores it first (``design/samples.parquet`` with each
   sample's run seed, and ``design/problem.json`` with the problem, the settings and a fingerprint of everything
   that determines the evaluations). On an existing directory it checks the fingerprint and refuses a different
   design with a one-line error, so results of two configs are never mixed;
3. :meth:`StressTest.evaluate` runs the missing chunks (``evaluations/chunk-00012.parquet``, ``chunk_size``
   samples x all replicates x all regimes each, written atomically; a chunk is done iff its file exists) through an
   executor (:mod:`s3sim.runner.executors`). Running the same command again resumes: only missing chunks run;
4. :func:`s3sim.analysis.sensitivity.analyse` reads the stored files and writes indices, convergence, noise,
   robustness, scenario discovery, figures and ``summary.md``.

Seeds: everything derives from ``seed`` through spawn keys of ``numpy.random.SeedSequence(seed)``: the SALib
design from key (0,), sample i's run seed from key (1, i) (a 63-bit int drawn from that child), replicate r of
sample i runs on ``SeedSequence(run_seed).spawn(r + 1)[r]`` (the ``replicate=`` of :func:`s3sim.evaluate`), and the
bootstrap from key (2,). Every regime of a sample and replicate runs on the same seed (common random numbers), so a
contrast ``cluster_s3-topdown_s3:<outcome>`` is a paired difference. Results therefore do not depend on the chunk
order, the executor or the number of workers.

Python API (no Hydra needed)::

    from s3sim.runner.stress import run_stress
    report = run_stress({"target": {"name": "ishigami"}, "sensitivity": {"method": "sobol", "n": 1024}},
                        "outputs/stress/ishigami", executor="serial")
    report.indices()

CLI: ``s3sim-stress`` (a Hydra app over ``conf/stress.yaml``; see docs/stress-test.md).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import shlex
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.sensitivity import (
    APPLIED,
    EVALUATIONS,
    GROUP_METHODS,
    METHODS,
    PROBLEM,
    SAMPLES,
    SEED_KEY_DESIGN,
    SEED_KEY_SAMPLES,
    applied_values,
    check_settings,
    chunk_bounds,
    chunk_done,
    chunk_path,
    min_sample_size,
    result_lines,
    salib_problem,
    sampled_range,
)
from ..config.stress_schema import StressConfig, register_stress_configs
from ..errors import ConfigError, S3SimError, first_line
from ..files import atomic_json, atomic_table, remove_stale_temp_files
from .cli import fail, override_args
from .executors import Executor, SerialExecutor, make_executor
from .targets import ISHIGAMI_PARAMS, evaluate_chunk

PROG = "s3sim-stress"  # the prefix of its error lines

TARGETS = ("s3", "ishigami")
DESIGN_VERSION = 1


# ---------------------------------------------------------------------------------------------------------------
# the validated specification
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class StressSpec:
    """A validated stress test: what to sample, how to evaluate it, what to analyse."""

    method: str
    settings: dict[str, Any]
    seed: int
    chunk_size: int
    replicates: int
    params: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    target: dict[str, Any]
    target_fn: Any = None  # the target's name, or a module-level callable f(params, seed, replicate)
    executor: dict[str, Any] = field(default_factory=dict)
    figures: bool = True
    progress: bool = True

    @property
    def names(self) -> list[str]:
        return [p["name"] for p in self.params]

    def fingerprint_items(self) -> dict[str, Any]:
        """Everything that determines the stored design and evaluations (not the analysis settings, the outputs
        among evaluated columns, the executor or the figures)."""
        design_keys = {"sobol": ("n", "second_order"), "morris": ("n", "num_levels"), "fast": ("n", "m")}
        keys = design_keys.get(self.method, ("n",))
        return {"version": DESIGN_VERSION, "method": self.method,
                "design": {k: self.settings[k] for k in keys}, "seed": self.seed, "chunk_size": self.chunk_size,
                "replicates": self.replicates,
                "params": [{k: p[k] for k in ("name", "kind", "low", "high", "group", "dist") if k in p}
                           for p in self.params],
                "target": {k: v for k, v in self.target.items() if k != "regime"}}

    def fingerprint(self) -> str:
        text = json.dumps(self.fingerprint_items(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _to_plain(config: Any) -> dict[str, Any]:
    """A plain nested dict from a DictConfig, a StressConfig or a (partial) mapping, with defaults filled in."""
    from omegaconf import OmegaConf

    base = OmegaConf.structured(StressConfig)
    if isinstance(config, StressConfig):
        node = OmegaConf.structured(config)
    elif config is None:
        node = base
    else:
        if not OmegaConf.is_config(config):
            config = OmegaConf.create(dict(config))
        try:
            node = OmegaConf.merge(base, config)
        except Exception as exc:  # noqa: BLE001 - one-line user error
            key = getattr(exc, "full_key", None) or "config"
            raise ConfigError(key, getattr(exc, "value", None), first_line(exc)) from None
    plain = OmegaConf.to_container(node, resolve=True)
    plain.pop("hydra", None)
    return plain


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _catalogue(target: str | Callable) -> dict[str, dict[str, Any]]:
    """Parameters a target can vary: name -> kind, range, bounds, unit, meaning, group."""
    if target == "ishigami":
        return {n: dict(kind="float", range=(-math.pi, math.pi), bounds=(None, None), unit="-",
                        meaning=f"Ishigami input {n}, uniform on [-pi, pi]", group="ishigami")
                for n in ISHIGAMI_PARAMS}
    if target == "s3":
        from ..config import PARAMETERS

        return {p.name: dict(kind=p.kind.__name__, range=p.range, bounds=p.bounds, unit=p.unit, meaning=p.meaning,
                             group=p.group) for p in PARAMETERS.values()}
    return {}  # a callable: every parameter needs a range in target.ranges


def _parse_outputs(outputs: Sequence[Any], target: str | Callable, regime: str,
                   region_ids: Sequence[str] = ()) -> tuple[list[dict], list[str]]:
    """Output specs and the regimes to run. Syntax (target s3): ``outcome`` (run under ``target.regime``),
    ``regime:outcome``, or ``A-B:outcome`` (A minus B on the same seed and replicate), each optionally followed by
    ``@REGION`` for the outcome of one region. A regime is a registered regime or a policy preset of
    ``conf/policy`` (e.g. ``as_applied``, ``pilot``)."""
    if not outputs:
        raise ConfigError("target.outputs", list(outputs), "a non-empty list of outputs")
    specs, regimes = [], []
    if target == "s3":
        from ..indicators.outcomes import OUTCOMES, WHOLE_WORLD_ONLY
        from .targets import scenario_names

        names = scenario_names()
        syntax = ("an outcome (" + ", ".join(OUTCOMES) + "), regime:outcome or A-B:outcome, optionally "
                  "followed by @REGION, with regimes or policy presets " + ", ".join(names))
        if regime not in names:
            raise ConfigError("target.regime", regime, f"one of {', '.join(names)}")
        for o in outputs:
            if not isinstance(o, str):
                raise ConfigError("target.outputs", o, syntax)
            text = o.replace(" ", "")
            text, at, region = text.partition("@")
            if at and region not in region_ids:
                raise ConfigError("target.outputs", o, f"@REGION with a region of the world: "
                                                       f"{', '.join(region_ids)}")
            where = f"@{region}" if at else ""
            left, sep, outcome = text.rpartition(":")
            if outcome not in OUTCOMES:
                raise ConfigError("target.outputs", o, syntax)
            if at and outcome in WHOLE_WORLD_ONLY:
                raise ConfigError("target.outputs", o, f"{outcome} without @REGION (it compares the regions with "
                                                       "each other: one region has no value of it)")
            pair = left.split("-") if sep else [regime]
            if len(pair) == 2 and pair[0] == pair[1] and pair[0] in names:
                raise ConfigError("target.outputs", o, "A-B:outcome with two different regimes (a regime's "
                                                       "contrast with itself is zero)")
            if len(pair) > 2 or any(g not in names for g in pair):
                raise ConfigError("target.outputs", o, syntax)
            label = (f"{pair[0]}-{pair[1]}:{outcome}" if len(pair) == 2 else f"{pair[0]}:{outcome}") + where
            spec = dict(label=label, plus=f"{pair[0]}:{outcome}{where}",
                        minus=f"{pair[1]}:{outcome}{where}" if len(pair) == 2 else None)
            if label not in [s["label"] for s in specs]:
                specs.append(spec)
            regimes += [g for g in pair if g not in regimes]
        return specs, regimes
    allowed = ["y"] if target == "ishigami" else None
    for o in outputs:
        if not isinstance(o, str) or (allowed is not None and o not in allowed):
            raise ConfigError("target.outputs", o, "one of y" if allowed else "a result key of the target function")
        if o not in [s["label"] for s in specs]:
            specs.append(dict(label=o, plus=o, minus=None))
    return specs, []


# the settings that only some methods read: a value other than the default given with another method would be
# ignored, so it is refused (the defaults are those of the structured config)
_METHOD_SETTINGS = {"second_order": ("sobol",), "num_levels": ("morris",), "m": ("fast", "rbd_fast"),
                    "slices": ("pawn",)}


def _check_method_settings(method: str, s: Mapping[str, Any]) -> None:
    defaults = StressConfig().sensitivity
    for key, methods in _METHOD_SETTINGS.items():
        if method not in methods and s[key] != getattr(defaults, key):
            users = " and ".join(f"sensitivity={m}" for m in methods) + (" use" if len(methods) > 1 else " uses")
            raise ConfigError(f"sensitivity.{key}", s[key], f"{getattr(defaults, key)} (the default) with "
                                                            f"sensitivity={method}: only {users} it")


def _check_regime_used(t: Mapping[str, Any], tname: Any) -> None:
    """``target.regime`` names the regime of a bare outcome (s3 only); a regime no output uses would be ignored."""
    regime = t["regime"]
    if regime == "none":
        return
    if tname != "s3":
        raise ConfigError("target.regime", regime, "none (only the s3 target runs policy regimes)")
    if all(":" in str(o) for o in t["outputs"]):
        raise ConfigError("target.regime", regime, "none while every output names its regimes (regime:outcome or "
                                                   "A-B:outcome); target.regime applies to a bare outcome only")


def resolve(config: Any = None, *, target: Callable | None = None) -> StressSpec:
    """Validate a stress config (DictConfig, StressConfig or nested mapping) into a :class:`StressSpec`.

    ``target`` replaces the configured target by a module-level callable ``f(params, seed, replicate) -> dict``
    (its parameters need ``target.ranges``, its outputs are its result keys). Raises ConfigError (one line naming
    the field, the value and what is allowed) on any problem, before anything is evaluated.
    """
    c = _to_plain(config)
    s, t, e = c["sensitivity"], c["target"], c["executor"]
    seed = c["seed"]
    if not _is_int(seed) or seed < 0:
        raise ConfigError("seed", seed, "a non-negative integer")
    if not _is_int(c["chunk_size"]) or c["chunk_size"] < 1:
        raise ConfigError("chunk_size", c["chunk_size"], "a positive integer (samples per checkpointed chunk)")
    method = s["method"]
    if method not in METHODS:
        raise ConfigError("sensitivity.method", method, f"one of {', '.join(METHODS)}")
    n = s["n"]
    minimum, allowed = min_sample_size(method, s)
    if not _is_int(n) or n < minimum:
        raise ConfigError("sensitivity.n", n, allowed)
    if method == "morris" and (s["num_levels"] < 2 or s["num_levels"] % 2):
        raise ConfigError("sensitivity.num_levels", s["num_levels"], "an even integer >= 2 (Morris grid levels)")
    if s["m"] < 1:
        raise ConfigError("sensitivity.m", s["m"], "a positive integer")
    if s["slices"] < 2:
        raise ConfigError("sensitivity.slices", s["slices"], "an integer >= 2")
    check_settings(s)
    _check_method_settings(method, s)
    tname = target if target is not None else t["name"]
    if not callable(tname) and tname not in TARGETS:
        raise ConfigError("target.name", tname, f"one of {', '.join(TARGETS)}")
    if not _is_int(t["replicates"]) or t["replicates"] < 1:
        raise ConfigError("target.replicates", t["replicates"], "a positive integer")
    if not _is_num(t["noise"]) or t["noise"] < 0:
        raise ConfigError("target.noise", t["noise"], "a non-negative number")
    if tname != "ishigami" and t["noise"] != 0:
        raise ConfigError("target.noise", t["noise"], "0 (only the ishigami target adds noise; the model's "
                          "replicates are stochastic already)")
    params = _resolve_params(tname, t["params"], t["ranges"], t["fixed"])
    _resolve_groups(t.get("groups"), params, method, tname)
    _resolve_dists(t.get("dists"), params)
    if tname == "ishigami" and sorted(p["name"] for p in params) != list(ISHIGAMI_PARAMS):
        raise ConfigError("target.params", [p["name"] for p in params],
                          f"all of {', '.join(ISHIGAMI_PARAMS)} (the Ishigami function takes the three together)")
    fixed = dict(t["fixed"] or {})
    region_list: tuple[str, ...] = ()
    if tname == "s3" and any("@" in str(o) for o in t["outputs"] or ()):
        from ..config.compose import region_ids
        from .simulate import config_from_params

        world_fixed = {k: v for k, v in fixed.items() if k.startswith("world_")}
        region_list = region_ids(config_from_params(**world_fixed).world)
    outputs, regimes = _parse_outputs(t["outputs"], tname, t["regime"], region_list)
    _check_regime_used(t, tname)
    if tname == "s3":
        _check_fixed(fixed, params, regimes)
    elif fixed:
        raise ConfigError("target.fixed", fixed, "an empty mapping (only the s3 target has fixed parameters)")
    times, horizon = _resolve_times(t.get("times"), tname, params, fixed)
    outputs = outputs + [dict(o, label=f"{o['label']}#q{q}", plus=f"{o['plus']}#q{q}",
                              minus=f"{o['minus']}#q{q}" if o["minus"] else None, base=o["label"], quarter=q)
                         for q in times for o in outputs]
    make_executor(e["kind"], e["workers"], e["address"]).close()  # validates kind, workers and address
    tdesc: dict[str, Any] = {"name": tname if isinstance(tname, str) else f"{tname.__module__}.{tname.__qualname__}"}
    if tname == "s3":
        tdesc.update(regimes=regimes, fixed=fixed, regime=t["regime"])
        regions = sorted({o["plus"].partition("@")[2] for o in outputs if "@" in o["plus"] and "quarter" not in o})
        if regions:  # only then, so that the fingerprints of earlier designs stay the same
            tdesc["regions"] = regions
        if times:  # likewise
            tdesc.update(times=times, horizon=horizon)
    elif tname == "ishigami":
        tdesc.update(noise=float(t["noise"]))
    settings = {k: s[k] for k in ("n", "second_order", "num_levels", "m", "slices", "num_resamples", "conf_level",
                                  "convergence", "top_k", "ci_threshold")}
    return StressSpec(method=method, settings=settings, seed=int(seed), chunk_size=int(c["chunk_size"]),
                      replicates=int(t["replicates"]), params=params, outputs=outputs, target=tdesc,
                      target_fn=tname, executor=dict(e), figures=bool(c["figures"]), progress=bool(c["progress"]))


def _resolve_params(target, names, ranges, fixed) -> list[dict[str, Any]]:
    cat = _catalogue(target)
    if callable(target):
        cat = {k: dict(kind="float", range=None, bounds=(None, None), unit="-", meaning="", group="custom")
               for k in (ranges or {})}
    groups = sorted({v["group"] for v in cat.values()})
    varied = sorted(k for k, v in cat.items() if v["kind"] in ("int", "float") and
                    (v["range"] is not None or k in (ranges or {})))
    allowed = (f"a parameter with a plausible range ({', '.join(varied)}) or group:<name> "
               f"({', '.join(groups)}); other int/float parameters need target.ranges.<name>=[low,high]")
    if not names:
        raise ConfigError("target.params", list(names or []), allowed)
    chosen: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise ConfigError("target.params", name, allowed)
        if name.startswith("group:"):
            g = name.split(":", 1)[1]
            if g not in groups:
                raise ConfigError("target.params", name, f"group:<name> with a group of {', '.join(groups)}")
            members = [k for k in varied if cat[k]["group"] == g]
            if not members:
                raise ConfigError("target.params", name, "a group with parameters that have a plausible range")
            chosen += [k for k in members if k not in chosen and k not in (fixed or {})]
            continue
        if name not in cat:
            raise ConfigError("target.params", name, allowed)
        if cat[name]["kind"] not in ("int", "float"):
            raise ConfigError("target.params", name, f"a numeric parameter ({name} is {cat[name]['kind']}; hold it "
                              "in target.fixed instead)")
        if name in fixed:
            raise ConfigError("target.fixed", name, "a parameter that is not also varied in target.params")
        if name not in chosen:
            chosen.append(name)
    for name in ranges or {}:
        if name not in chosen:
            raise ConfigError(f"target.ranges.{name}", ranges[name], f"a range of a varied parameter "
                              f"({', '.join(chosen)})")
    params = []
    for name in chosen:
        info = cat[name]
        rng = (ranges or {}).get(name, info["range"])
        if rng is None:
            raise ConfigError("target.params", name, f"a parameter with a plausible range, or give "
                              f"target.ranges.{name}=[low,high]")
        if isinstance(rng, (str, bytes)) or not isinstance(rng, Sequence) or len(rng) != 2 or \
                not all(_is_num(v) for v in rng):
            raise ConfigError(f"target.ranges.{name}", rng, "a list [low, high] of two numbers")
        lo, hi = float(rng[0]), float(rng[1])
        if not lo < hi:
            raise ConfigError(f"target.ranges.{name}", list(rng), "a non-empty range [low, high] with low < high")
        blo, bhi = info["bounds"]
        if (blo is not None and lo < blo) or (bhi is not None and hi > bhi):
            raise ConfigError(f"target.ranges.{name}", list(rng),
                              f"a range inside the bounds [{'-inf' if blo is None else blo}, "
                              f"{'inf' if bhi is None else bhi}] of {name}")
        if info["kind"] == "int":
            if not (float(lo).is_integer() and float(hi).is_integer()):
                raise ConfigError(f"target.ranges.{name}", list(rng), f"integer limits ({name} is an integer)")
            lo, hi = int(lo), int(hi)
        params.append(dict(name=name, kind=info["kind"], low=lo, high=hi, unit=info["unit"],
                           meaning=info["meaning"]))
    return params


def _resolve_groups(groups: Any, params: list[dict[str, Any]], method: str, target) -> None:
    """Label each parameter with its group (``params[j]["group"]``) when ``target.groups`` names groups."""
    if groups is None or (isinstance(groups, Mapping) and not groups):
        return
    names = [p["name"] for p in params]
    if method not in GROUP_METHODS:
        raise ConfigError("target.groups", groups, f"{{}} with sensitivity={method} (groups work with "
                          f"{' and '.join(GROUP_METHODS)})")
    if groups == "catalogue":
        if callable(target):
            raise ConfigError("target.groups", groups, "a mapping label -> [parameter names] (a custom target "
                              "function has no catalogue groups)")
        cat = _catalogue(target)
        labels = {n: cat[n]["group"] for n in names}
    elif isinstance(groups, Mapping):
        labels = {}
        for label, members in groups.items():
            where = f"target.groups.{label}"
            if isinstance(members, str):
                members = [members]
            if not isinstance(members, Sequence) or not members:
                raise ConfigError(where, members, "a non-empty list of varied parameters")
            for name in members:
                if name not in names:
                    raise ConfigError(where, name, f"a varied parameter ({', '.join(names)})")
                if name in labels:
                    raise ConfigError(where, name, f"a parameter of one group only ({name} is in "
                                      f"target.groups.{labels[name]})")
                labels[name] = str(label)
            if str(label) in names and labels.get(str(label)) != str(label):
                raise ConfigError("target.groups", label, "a group label that is not the name of another "
                                  "varied parameter (an unlisted parameter is a group of that name)")
        for name in names:
            labels.setdefault(name, name)
    else:
        raise ConfigError("target.groups", groups, "{}, catalogue, or a mapping label -> [parameter names]")
    if len(set(labels.values())) < 2:
        raise ConfigError("target.groups", groups, "at least two groups (one group has no index to compare)")
    for p in params:
        p["group"] = labels[p["name"]]


DISTRIBUTIONS = ("unif", "logunif", "triang", "truncnorm")


def _resolve_dists(dists: Any, params: list[dict[str, Any]]) -> None:
    """Give each parameter of ``target.dists`` its distribution on its range (``params[j]["dist"]``: ``[name,
    *shape]``; a uniform parameter gets none, so that the fingerprints of uniform designs stay the same).

    Every distribution is bounded by the parameter's range, so every sample is a valid value; an integer
    parameter's distribution is on [low - 0.5, high + 0.5], rounded as for the uniform one."""
    if dists is None or (isinstance(dists, Mapping) and not dists):
        return
    if not isinstance(dists, Mapping):
        raise ConfigError("target.dists", dists, "a mapping parameter name -> distribution")
    by_name = {p["name"]: p for p in params}
    for name, spec in dists.items():
        field_name = f"target.dists.{name}"
        if name not in by_name:
            raise ConfigError(field_name, spec, f"a distribution of a varied parameter ({', '.join(by_name)})")
        p = by_name[name]
        allowed = (f"unif, logunif, [triang, peak] with 0 <= peak < 1, or [truncnorm, mean, sd] with sd > 0 "
                   f"(each on the range of {name}; norm and lognorm reach outside every range: truncnorm is a normal "
                   f"belief within it)")
        parts = [spec] if isinstance(spec, str) else list(spec) if isinstance(spec, Sequence) else None
        if not parts or not isinstance(parts[0], str) or parts[0] not in DISTRIBUTIONS:
            raise ConfigError(field_name, spec, allowed)
        kind, shape = parts[0], parts[1:]
        if not all(_is_num(v) and math.isfinite(float(v)) for v in shape):
            raise ConfigError(field_name, spec, allowed)
        shape = [float(v) for v in shape]
        lo, hi = sampled_range(p)
        if kind == "unif" and not shape:
            continue
        if kind == "logunif" and not shape:
            if lo <= 0:
                raise ConfigError(field_name, spec, f"a distribution that fits the range [{lo}, {hi}]: logunif "
                                  f"needs a positive range ({allowed})")
        elif kind == "triang" and len(shape) <= 1:
            shape = shape or [0.5]
            if not 0.0 <= shape[0] < 1.0:
                raise ConfigError(field_name, spec, allowed)
            if hi < 0:  # SALib's triangular distribution ends at a non-negative value
                raise ConfigError(field_name, spec, f"a distribution that fits the range [{lo}, {hi}]: SALib takes "
                                  "triang on ranges ending at 0 or above only (truncnorm is the other distribution "
                                  "with a mode)")
        elif kind == "truncnorm" and len(shape) == 2:
            if shape[1] <= 0:
                raise ConfigError(field_name, spec, allowed)
            import warnings

            from scipy import stats

            mean, sd = shape
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")  # no mass inside the range: nan, refused below
                law = stats.truncnorm((lo - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd)
                spread = float(law.std())
            what = None
            if not spread >= 0.01 * (hi - lo):  # also nan: no mass left inside the range
                what = (f"a standard deviation of {spread:.3g}, under 1 % of the range" if math.isfinite(spread)
                        else "no probability left inside the range")
            elif p["kind"] == "int":  # rounded: one integer may take (almost) every sample
                ks = np.arange(int(p["low"]), int(p["high"]) + 1)
                mass = law.cdf(ks + 0.5) - law.cdf(ks - 0.5)
                if mass.max() >= 0.99:
                    what = (f"the value {int(ks[mass.argmax()])} in {mass.max():.1%} of the samples once rounded to "
                            "integers")
            if what:
                raise ConfigError(field_name, spec, f"a truncated normal that varies {name}: on [{lo}, {hi}] this "
                                  f"one has {what} (hold the parameter in target.fixed instead, or move the mean "
                                  "into the range)")
        else:
            raise ConfigError(field_name, spec, allowed)
        p["dist"] = [kind, *shape]


_TIMING = ("burn_in", "horizon", "evidence_every")  # what target.times needs fixed


def _resolve_times(times: Any, target: Any, params: list[dict], fixed: dict[str, Any]) -> tuple[list[int], int]:
    """``target.times`` as a sorted list of quarters of the policy horizon, and the horizon (0 without times).

    A quarter q must lie before the end of the horizon, and burn_in + q must be a multiple of evidence_every: the
    evidence (RCA, specialisation) is then observed at that step, so the outcomes as of q are those of a run
    whose horizon ends at q (default: whole years)."""
    if times is None or (isinstance(times, (list, tuple)) and not times):
        return [], 0
    if target != "s3":
        raise ConfigError("target.times", times, "an empty list (only the s3 target runs over time)")
    if not isinstance(times, (list, tuple)) or not all(_is_int(q) for q in times):
        raise ConfigError("target.times", times, "a list of whole quarters of the policy horizon, e.g. [20, 40, 60]")
    varied = [p["name"] for p in params if p["name"] in _TIMING]
    if varied:
        raise ConfigError("target.times", list(times), f"no quarters while {', '.join(varied)} varies (the quarters "
                          "need a fixed burn_in, horizon and evidence_every)")
    from .simulate import config_from_params

    m = config_from_params(**{k: v for k, v in fixed.items() if k in _TIMING}).model
    allowed = [q for q in range(1, m.horizon) if (m.burn_in + q) % m.evidence_every == 0]
    bad = [q for q in times if q not in allowed]
    if bad:
        show = ", ".join(map(str, allowed[:6])) + (f", ..., {allowed[-1]}" if len(allowed) > 6 else "")
        raise ConfigError("target.times", list(times),
                          f"quarters q of the horizon before its end (horizon {m.horizon}) with burn_in + q a "
                          f"multiple of evidence_every (burn_in {m.burn_in}, evidence_every {m.evidence_every}): "
                          f"{show or 'none: the horizon is too short'}; not {', '.join(map(str, bad))}")
    return sorted({int(q) for q in times}), int(m.horizon)


def _check_fixed(fixed: dict[str, Any], params: list[dict], regimes: list[str]) -> None:
    from ..config import PARAMETERS
    from .simulate import config_from_params

    for name in fixed:
        if name not in PARAMETERS:
            raise ConfigError(f"target.fixed.{name}", fixed[name], f"a parameter name of s3sim.PARAMETERS "
                              f"({', '.join(PARAMETERS)})")
        if name == "policy_regime":
            raise ConfigError("target.fixed.policy_regime", fixed[name], "no entry: name regimes in target.outputs")
    # the fixed values, and the corners of the sampled box, must make valid configs
    for corner in ("low", "high"):
        values = {p["name"]: p[corner] for p in params}
        try:
            config_from_params(**fixed, **values)
        except ConfigError as exc:
            names = [n for n in {**fixed, **values} if PARAMETERS[n].key == exc.field]
            if not names:
                raise
            name = names[0]
            where = f"target.fixed.{name}" if name in fixed else f"target.ranges.{name}"
            raise ConfigError(where, fixed.get(name, exc.value), exc.allowed) from None


# ---------------------------------------------------------------------------------------------------------------
# design, storage and evaluation
# ---------------------------------------------------------------------------------------------------------------

def make_design(spec: StressSpec) -> np.ndarray:
    """The SALib design (raw inputs, one row per sample), drawn from ``SeedSequence(seed, spawn_key=(0,))``."""
    from SALib.sample import fast_sampler, latin, morris, sobol

    problem = salib_problem(spec.params)
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(SEED_KEY_DESIGN,)))
    n = spec.settings["n"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the power-of-2 advice is reported by the analysis instead
        if spec.method == "sobol":
            return sobol.sample(problem, n, calc_second_order=spec.settings["second_order"], scramble=True,
                                seed=rng)
        if spec.method == "morris":
            return morris.sample(problem, n, num_levels=spec.settings["num_levels"], seed=rng)
        if spec.method == "fast":
            return fast_sampler.sample(problem, n, M=spec.settings["m"], seed=rng)
        return latin.sample(problem, n, seed=rng)


def run_seeds(seed: int, n: int) -> np.ndarray:
    """Sample i's run seed: a 63-bit int from ``SeedSequence(seed, spawn_key=(1, i))``."""
    return np.array([int(np.random.SeedSequence(seed, spawn_key=(SEED_KEY_SAMPLES, i)).generate_state(
        1, np.uint64)[0] >> np.uint64(1)) for i in range(n)], dtype=np.int64)


def stored_fingerprint(run_dir: Path | str) -> dict[str, Any] | None:
    """The stored ``design/problem.json`` of a run directory, or None."""
    p = Path(run_dir) / PROBLEM
    return json.loads(p.read_text()) if p.is_file() else None


def _adopt_evaluated(spec: StressSpec, stored: dict[str, Any]) -> None:
    """Outputs may change on a stored design: when the regimes (and regions, and quarters of target.times) they
    need are among those the stored design evaluates, in any order, the spec takes the stored lists, so that its
    fingerprint matches and any missing chunk is evaluated like the others."""
    old = (stored.get("fingerprint_items") or {}).get("target") or {}
    for key in ("regimes", "regions", "times"):
        have, want = old.get(key), spec.target.get(key, [] if "regimes" in spec.target else None)
        if isinstance(have, list) and isinstance(want, list) and want != have and set(want) <= set(have):
            spec.target[key] = list(have)
            if key == "times":
                spec.target["horizon"] = old.get("horizon")


def check_resume(spec: StressSpec, run_dir: Path | str) -> dict[str, Any] | None:
    """The stored problem if ``run_dir`` holds a design with the same fingerprint, None if it holds none; raises
    ConfigError (naming what differs) if it holds a different design."""
    stored = stored_fingerprint(run_dir)
    if stored is None:
        return None
    _adopt_evaluated(spec, stored)
    if stored.get("fingerprint") != spec.fingerprint():
        old, new = stored.get("fingerprint_items", {}), spec.fingerprint_items()
        diff = []
        for k in sorted(set(old) | set(new)):
            a, b = old.get(k), new.get(k)
            if a == b:
                continue
            if isinstance(a, dict) and isinstance(b, dict):
                for j in sorted(set(a) | set(b)):
                    if a.get(j) == b.get(j):
                        continue
                    if (k, j) == ("target", "regimes") and isinstance(a.get(j), list) and isinstance(b.get(j), list):
                        extra = [g for g in b[j] if g not in a[j]]
                        diff.append(f"the regimes evaluated ({', '.join(a[j])}); the outputs asked for also need "
                                    f"{', '.join(extra)}, which it has not evaluated" if extra else
                                    f"the regimes evaluated ({', '.join(a[j])} -> {', '.join(b[j])})")
                    else:
                        diff.append(f"{k}.{j} ({a.get(j)} -> {b.get(j)})")
            elif k == "params" and isinstance(a, list) and isinstance(b, list):
                diff.append(f"params ({_params_diff(a, b)})")
            else:
                diff.append(f"{k} ({a} -> {b})")
        diff = diff or ["unknown"]
        raise ConfigError("hydra.run.dir", str(run_dir), f"a directory without a stress design, or one with the "
                          f"same design (the stored design differs in: {', '.join(diff)}; choose another "
                          "hydra.run.dir, or repeat the original command to resume)")
    return stored


def _params_diff(old: list[dict], new: list[dict]) -> str:
    """What differs between two designs' parameter lists, parameter by parameter."""
    def show(p: dict | None, kind: bool) -> str:
        if p is None:
            return "not varied"
        return (f"[{p.get('low')}, {p.get('high')}]" + (f" {p.get('kind')}" if kind else "")
                + (f" {p['dist']}" if p.get("dist") else "") + (f" group {p['group']}" if p.get("group") else ""))

    by_old, by_new = {p.get("name"): p for p in old}, {p.get("name"): p for p in new}
    changes = []
    for name in dict.fromkeys([*by_old, *by_new]):
        a, b = by_old.get(name), by_new.get(name)
        if a != b:
            kind = a is not None and b is not None and a.get("kind") != b.get("kind")
            changes.append(f"{name}: {show(a, kind)} -> {show(b, kind)}")
    if not changes:
        changes = [f"the order {', '.join(map(str, by_old))} -> {', '.join(map(str, by_new))}"]
    return "; ".join(changes)


class StressTest:
    """One stress test stored in ``run_dir``: prepare (design), evaluate (missing chunks), analyse."""

    def __init__(self, config: Any, run_dir: Path | str, *, target: Callable | None = None):
        # a copy: resuming may adopt the stored design's regimes (_adopt_evaluated), not the caller's spec's
        self.spec = (dataclasses.replace(config, target=dict(config.target)) if isinstance(config, StressSpec)
                     else resolve(config, target=target))
        self.run_dir = Path(run_dir)
        self.bounds: list[tuple[int, int]] = []
        self._x: np.ndarray | None = None
        self._seeds: np.ndarray | None = None
        self._done: set[int] | None = None  # chunks stored and readable

    def problem(self, n_samples: int) -> dict[str, Any]:
        from .manifest import git_revision, package_versions

        sp = self.spec
        return {"fingerprint": sp.fingerprint(), "fingerprint_items": sp.fingerprint_items(), "method": sp.method,
                "settings": sp.settings, "seed": sp.seed, "replicates": sp.replicates, "chunk_size": sp.chunk_size,
                "n_base": sp.settings["n"], "n_samples": n_samples, "n_chunks": len(chunk_bounds(n_samples,
                                                                                                sp.chunk_size)),
                "params": sp.params, "outputs": sp.outputs, "target": sp.target,
                "created": datetime.now(timezone.utc).isoformat(), "versions": package_versions(),
                "git": git_revision()}

    def prepare(self) -> int:
        """Store the design (or check the stored one); returns the number of chunks already done."""
        import pandas as pd

        stored = check_resume(self.spec, self.run_dir)
        if stored is None or not (self.run_dir / SAMPLES).is_file():
            x = make_design(self.spec)
            seeds = run_seeds(self.spec.seed, len(x))
            frame = pd.DataFrame(x, columns=self.spec.names)
            frame.insert(0, "seed", seeds)
            frame.insert(0, "sample", np.arange(len(x)))
            atomic_table(frame, self.run_dir / SAMPLES)
            problem = self.problem(len(x))
        else:
            frame = pd.read_parquet(self.run_dir / SAMPLES)
            # same design: keep its identity, refresh what the analysis may change (outputs, analysis settings)
            problem = {**stored, "settings": self.spec.settings, "outputs": self.spec.outputs,
                       "target": self.spec.target}
        atomic_json(self.run_dir / PROBLEM, problem, indent=1, sort_keys=False, default=str)
        self._x = frame[self.spec.names].to_numpy(dtype=float)
        self._seeds = frame["seed"].to_numpy(dtype=np.int64)
        if not (self.run_dir / APPLIED).is_file():
            values = applied_values(self._x, self.spec.params)
            applied = frame[["sample", "seed"]].copy()
            for j, p in enumerate(self.spec.params):
                applied[p["name"]] = values[:, j].astype(np.int64) if p["kind"] == "int" else values[:, j]
            atomic_table(applied, self.run_dir / APPLIED)
        self.bounds = chunk_bounds(len(frame), self.spec.chunk_size)
        self._done = None
        (self.run_dir / EVALUATIONS).mkdir(exist_ok=True)
        remove_stale_temp_files(self.run_dir / EVALUATIONS, "chunk-*.parquet")
        return len(self.bounds) - len(self.missing())

    def missing(self) -> list[int]:
        """Chunks whose file does not exist yet, or is damaged (:func:`chunk_done`, checked once per command)."""
        if self._done is None:
            r = self.spec.replicates
            self._done = {k for k, (a, b) in enumerate(self.bounds)
                          if chunk_done(chunk_path(self.run_dir, k), (b - a) * r)}
        return [k for k in range(len(self.bounds)) if k not in self._done]

    def damaged(self) -> list[int]:
        """Chunks whose file exists but cannot be read (they are evaluated again)."""
        return [k for k in self.missing() if chunk_path(self.run_dir, k).exists()]

    def tasks(self, chunks: Sequence[int]) -> list[dict[str, Any]]:
        """The executor tasks of some chunks (picklable dicts for :func:`s3sim.runner.targets.evaluate_chunk`)."""
        sp = self.spec
        values = applied_values(self._x, sp.params)
        options = {"regimes": sp.target.get("regimes", []), "fixed": sp.target.get("fixed", {}),
                   "regions": sp.target.get("regions", []), "times": sp.target.get("times", []),
                   "noise": sp.target.get("noise", 0.0)}
        out = []
        for k in chunks:
            a, b = self.bounds[k]
            out.append({"chunk": k, "target": sp.target_fn, "options": options, "names": sp.names,
                        "kinds": [p["kind"] for p in sp.params], "samples": list(range(a, b)),
                        "values": values[a:b].tolist(), "seeds": self._seeds[a:b].tolist(),
                        "replicates": sp.replicates})
        return out

    def evaluate(self, executor: Executor | str | None = None, *, progress: bool | None = None,
                 on_chunk: Callable[[int], None] | None = None) -> int:
        """Evaluate the missing chunks; returns how many were evaluated. Each finished chunk is stored atomically
        as soon as it arrives, so an interruption loses at most the chunks in flight."""
        if not self.bounds:
            self.prepare()
        todo = self.missing()
        if not todo:
            return 0
        own = not isinstance(executor, Executor)
        ex = make_executor(executor or "serial") if own else executor
        show = self.spec.progress if progress is None else progress
        bar = None
        if show:
            from tqdm.auto import tqdm

            # disable=None: on a terminal only (in a log file every redraw would add a line of \r frames)
            bar = tqdm(total=len(todo), unit="chunk", desc="s3sim-stress", mininterval=1.0, delay=3.0,
                       file=sys.stderr, disable=None)
        needed = {o["plus"] for o in self.spec.outputs} | {o["minus"] for o in self.spec.outputs if o["minus"]}
        # in this process (serial): a stop signal is recorded and stops the run between evaluations; with workers,
        # this process only waits, and a stop signal interrupts the wait at once (see _on_stop)
        here = isinstance(ex, SerialExecutor)
        results = ex.map_unordered(functools.partial(evaluate_chunk, poll=_stop_requested) if here
                                   else evaluate_chunk, self.tasks(todo))
        try:
            while True:
                _stop_requested()  # a signal recorded before (or one whose exception C code cleared)
                _STOP["defer"] = here
                try:
                    idx, frame = next(results)
                except StopIteration:
                    break
                finally:
                    _STOP["defer"] = False
                k = todo[idx]
                missing_cols = sorted(needed - set(frame.columns))
                if missing_cols:
                    raise ConfigError("target.outputs", missing_cols[0], "a result key of the target function "
                                      f"({', '.join(c for c in frame.columns if c not in ('sample', 'replicate'))})")
                atomic_table(frame, chunk_path(self.run_dir, k))
                self._done.add(k)
                if bar is not None:
                    bar.update(1)
                if on_chunk is not None:
                    on_chunk(k)
                _stop_requested()
        finally:
            results.close()  # an interruption here: the executor's own clean-up (local workers are stopped at once)
            if bar is not None:
                bar.close()
            if own:
                ex.close()
        return len(todo)

    def analyse(self, figures: bool | None = None):
        """Analyse the stored run (see :func:`s3sim.analysis.sensitivity.analyse`)."""
        from ..analysis.sensitivity import analyse

        return analyse(self.run_dir, figures=self.spec.figures if figures is None else figures)

    def run(self, executor: Executor | str | None = None, *, progress: bool | None = None):
        """Prepare, evaluate what is missing, analyse."""
        self.prepare()
        self.evaluate(executor, progress=progress)
        return self.analyse()


def run_stress(config: Any, run_dir: Path | str, *, executor: Executor | str | None = None,
               target: Callable | None = None, progress: bool | None = False):
    """Run (or resume) a stress test in ``run_dir`` and return its :class:`SensitivityReport`.

    ``executor``: an :class:`~s3sim.runner.executors.Executor`, a kind name, or None for the config's executor.
    """
    st = StressTest(config, run_dir, target=target)
    if executor is None:
        e = st.spec.executor
        with make_executor(e["kind"], e["workers"], e["address"]) as ex:
            return st.run(ex, progress=progress)
    return st.run(executor, progress=progress)


# ---------------------------------------------------------------------------------------------------------------
# the s3sim-stress command
# ---------------------------------------------------------------------------------------------------------------

_STATE: dict[str, Any] = {"args": []}


def resume_command(run_dir: Path | str, args: Sequence[str] | None = None) -> str:
    """The exact command that resumes this run: the same overrides plus ``hydra.run.dir=<run_dir>``."""
    args = [a for a in (_STATE["args"] if args is None else args) if not a.startswith("hydra.run.dir=")]
    return " ".join(["s3sim-stress", *map(shlex.quote, args), shlex.quote(f"hydra.run.dir={run_dir}")])


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a batch scheduler's time limit, ``scancel``, ``kill``), handled like Ctrl-C: the workers are stopped,
    completed chunks kept and the resume command printed."""


#: the stop signal the command received (set by its handlers, read between evaluations and chunks), and whether
#: the model runs in the command's own process just now (``defer``: the interrupt waits for the next evaluation)
_STOP: dict[str, Any] = {"signal": None, "defer": False}


def _on_stop(signum, frame) -> None:
    """The command's SIGINT and SIGTERM handler: record the signal and raise its interrupt, except while the model
    runs in this process (``executor=serial``): an interrupt raised there could land in a Python callback of
    compiled code (numba unpickling a constant), which then fails with a SystemError or worse, so the evaluation
    stops before its next evaluation instead (:func:`s3sim.runner.targets.evaluate_chunk`'s ``poll``). A second
    signal raises at once."""
    again = _STOP["signal"] is not None
    _STOP["signal"] = signum
    if not _STOP["defer"] or again:
        _stop_requested()


def _stop_requested() -> None:
    """Raise the interrupt of a stop signal received earlier whose exception did not reach the command."""
    sig = _STOP["signal"]
    if sig is not None:
        raise _Terminated() if sig == signal.SIGTERM else KeyboardInterrupt


def _task(cfg) -> None:
    import logging

    from hydra.core.hydra_config import HydraConfig

    logging.getLogger("MESA").setLevel(logging.WARNING)
    out = Path(HydraConfig.get().runtime.output_dir)
    say = functools.partial(_say, log_dir=out.resolve())
    _STOP["signal"] = None
    previous = signal.signal(signal.SIGTERM, _on_stop)
    previous_int = signal.signal(signal.SIGINT, _on_stop)
    try:
        st = StressTest(cfg, out)
        done = st.prepare()
        sp = st.spec
        total = len(st.bounds)
        n_samples = sum(b - a for a, b in st.bounds)
        regimes = len(sp.target.get("regimes", []))
        runs = n_samples * sp.replicates * max(1, regimes)
        per = f" x {regimes} regimes" if regimes > 1 else ""
        say(f"s3sim-stress: {sp.method} on {sp.target['name']}, {len(sp.params)} parameters, "
              f"{n_samples} samples x {sp.replicates} replicate(s){per} = {runs} runs in "
              f"{_chunks(total)}; {_chunks(done)} already done")
        say(f"s3sim-stress: output in {out}; to resume: {resume_command(out)}")
        damaged = st.damaged()
        if damaged:
            say(f"s3sim-stress: warning: {_chunks(len(damaged))} damaged (unreadable files, e.g. "
                  f"{chunk_path(out, damaged[0]).name}) will be evaluated again")
        e = sp.executor
        t0 = time.perf_counter()
        if done < total:
            with make_executor(e["kind"], e["workers"], e["address"]) as ex:
                say(f"s3sim-stress: evaluating {_chunks(total - done)} on {ex.describe()}")
                n = st.evaluate(ex)
            dt = time.perf_counter() - t0
            say(f"s3sim-stress: evaluated {_chunks(n)} in {dt:.1f} s")
        report = st.analyse()
    except S3SimError as exc:
        fail(str(exc), PROG)
    except KeyboardInterrupt as exc:
        what, status = ("terminated", 128 + signal.SIGTERM) if isinstance(exc, _Terminated) else ("interrupted", 130)
        say(f"\ns3sim-stress: {what}; completed chunks are kept. Resume with: {resume_command(out)}",
             sys.stderr)
        raise SystemExit(status)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    for line in result_lines(report, st.spec.outputs):
        say(f"s3sim-stress: {line}")
    written = "summary.md, indices.csv, figures/" if st.spec.figures else "summary.md, indices.csv"
    say(f"s3sim-stress: results written to {out} ({written})")


def _say(message: str, stream=None, *, log_dir: Path) -> None:
    """Print a line of the command's report and keep it in the run's log (``stress.log``: Hydra's job log file in
    ``log_dir``, the run directory), so that a batch job's log holds the resume command, the warnings and the
    results."""
    import logging

    print(message, file=stream or sys.stdout, flush=True)
    record = logging.makeLogRecord({"name": PROG, "levelno": logging.INFO, "levelname": "INFO",
                                    "msg": message.strip("\n")})
    for handler in logging.getLogger().handlers:
        if (isinstance(handler, logging.FileHandler) and record.levelno >= handler.level
                and Path(handler.baseFilename).resolve().parent == log_dir):
            handler.handle(record)


def _chunks(k: int) -> str:
    return f"{k} chunk{'' if k == 1 else 's'}"


def compose_stress(overrides: Sequence[str] = ()):
    """Compose ``conf/stress.yaml`` with overrides (Hydra's compose API), translating every composition error into
    a one-line ConfigError."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from ..config.compose import (
        CONFIG_DIR,
        STRESS_GROUPS,
        check_boolean,
        deletion_error,
        group_deletion_error,
        group_options,
        translate_error,
        unknown_key_error,
    )

    register_stress_configs()
    overrides = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    for o in overrides:
        key, _, value = o.partition("=")
        if key in STRESS_GROUPS and value not in group_options(key):
            raise ConfigError(key, value, f"one of {', '.join(group_options(key))}")
        bare = key.lstrip("+~")
        if key.startswith("~") and bare in STRESS_GROUPS:  # would fall back to the schema's defaults unseen
            raise group_deletion_error(bare)
        if key.startswith("~") and not bare.startswith(_DICT_FIELDS):
            raise deletion_error(bare)
        if key.startswith("+") and not _in_mapping(bare):
            error = unknown_key_error(bare, value, StressConfig)  # Hydra's + would add it unseen
            if error is not None:
                raise error
        if not key.startswith("~") and not _in_mapping(bare):
            try:
                (parsed,) = OverridesParser.create().parse_overrides([o])
            except Exception:  # noqa: BLE001  (a malformed override: Hydra's error is translated below)
                parsed = None
            if parsed is not None:
                check_boolean(parsed, StressConfig)
    overrides = normalise_overrides(overrides)
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        try:
            return compose(config_name="stress", overrides=list(overrides))
        except Exception as exc:  # noqa: BLE001 - translated to one line
            raise translate_error(exc, overrides, StressConfig) from None


_DICT_FIELDS = ("target.ranges.", "target.fixed.", "target.groups.", "target.dists.")


def _in_mapping(key: str) -> bool:
    """Whether ``key`` is a free-form mapping of the stress config (``target.ranges``, ``target.fixed``,
    ``target.groups``, ``target.dists``) or one of its entries."""
    return key.startswith(_DICT_FIELDS) or f"{key}." in _DICT_FIELDS


def normalise_overrides(overrides: Sequence[str]) -> list[str]:
    """The free-form mappings ``target.ranges``, ``target.fixed``, ``target.groups`` and ``target.dists``, and their
    entries, may be given without Hydra's ``+``/``++`` prefix (``target.ranges.g_min=[0.3,0.9]``,
    ``target.fixed={n_agents: 500}``); add ``++`` (add or replace) for them."""
    return [f"++{o}" if _in_mapping(o.partition("=")[0]) else o for o in overrides]


def _check_method_override(overrides: list[str]) -> None:
    """``sensitivity.method=X`` keeps the chosen option's settings (``sensitivity=sobol`` by default: n = 512 Sobol'
    base points would become 512 Morris trajectories); a method other than the option's is refused, pointing to
    ``sensitivity=X``, which sets the method with its own defaults."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    group, method = "sobol", None
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001  (a malformed override: compose_stress reports it)
        return
    for ov in parsed:
        if ov.is_delete():
            continue
        if ov.key_or_group == "sensitivity":
            group = str(ov.value())
        elif ov.key_or_group == "sensitivity.method":
            method = str(ov.value())
    if method is not None and method in METHODS and method != group and group in METHODS:
        raise ConfigError("sensitivity.method", method, f"the method of the chosen option, sensitivity={group}; "
                                                        f"choose another with sensitivity={method}, which also sets "
                                                        "its defaults (n, ...)")


def main(argv: list[str] | None = None) -> None:
    """Console entry point of ``s3sim-stress``: validate everything up front (one-line errors, exit 2), refuse a
    run directory holding a different design, then run the Hydra app."""
    import hydra

    from ..config.compose import CONFIG_DIR
    from ..files import check_output_dir
    from .cli import _run_dir_override

    argv = list(sys.argv[1:] if argv is None else argv)
    register_stress_configs()
    if any(a in ("-m", "--multirun") for a in argv):
        fail("--multirun is not supported (one stress test per run directory)", PROG)
    overrides = override_args(argv)
    info_only = any(a in ("--cfg", "-c", "--info", "-i", "--help", "-h", "--hydra-help") for a in argv)
    _STATE["args"] = overrides
    try:
        _check_method_override(overrides)
        cfg = compose_stress(overrides)
        spec = resolve(cfg)
        run_dir = _run_dir_override(overrides)
        if run_dir is not None and not info_only:
            check_output_dir("hydra.run.dir", run_dir)
            check_resume(spec, Path(run_dir).absolute())
    except S3SimError as exc:
        fail(str(exc), PROG)
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    sys.argv = [sys.argv[0]] + [normalise_overrides([a])[0] if not a.startswith("-") and "=" in a else a
                                for a in argv]
    app = hydra.main(config_path=str(CONFIG_DIR), config_name="stress", version_base="1.3")(_task)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
