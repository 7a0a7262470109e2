"""Analysis of a stored stress test: SALib indices with bootstrap intervals, convergence, replicate noise,
robustness of regime rankings and scenario discovery. Reads only the files the stress run stored (never the model):

    run_dir/design/problem.json        method, settings, parameters and ranges, outputs, fingerprint
    run_dir/design/samples.parquet     one row per sample: sample id, run seed, the sampled (raw) inputs
    run_dir/evaluations/chunk-*.parquet  sample, replicate and the target's result columns

and writes the tables ``indices``, ``convergence``, ``noise``, ``robustness``, ``discovery`` (and ``no_effect`` for the
given-data methods, ``over_time`` with quarters; each as CSV and Parquet), ``summary.md`` and ``figures/*.png`` into the
run directory. Re-run it on a finished directory with

    python -m s3sim.analysis.sensitivity outputs/stress/<date>/<time> [--resamples 500] [--no-figures]

Methods (SALib 1.6, Herman & Usher 2017 / Iwanaga, Usher & Herman 2022):

* ``sobol``: S1, ST (and S2) with the estimators of Saltelli et al. (2010, *Comput. Phys. Commun.* 181: 259-270;
  S1) and Jansen (1999, *Comput. Phys. Commun.* 117: 35-43; ST), bootstrap intervals;
* ``morris``: mu, mu* (Campolongo, Cariboni & Saltelli 2007), sigma (Morris 1991), bootstrap interval of mu*;
* ``fast``: extended FAST S1 and ST (Saltelli, Tarantola & Chan 1999);
* ``delta``: Borgonovo's delta (Borgonovo 2007; Plischke, Borgonovo & Smith 2013) and S1; SALib 1.6 reports
  three bootstrap variants (``delta_balanced``, the main index here, ``delta_raw``, ``delta_step``);
* ``pawn``: PAWN statistics of the KS distance (Pianosi & Wagener 2015, 2018), no interval;
* ``rbd_fast``: S1 by random balance designs (Tarantola, Gatelli & Mara 2006; Plischke 2010).

Stochastic outputs: SALib assumes a deterministic f(x), so each sample's replicates are averaged first; the
replicate noise is reported beside the indices (``noise.csv``): the mean within-sample SD and the share of the
analysed variance that is replicate noise, ``(mean within-sample variance / R) / variance of the sample means``.
Indices of a noisy output are biased towards equal shares (noise looks like an interaction of everything).

Convergence: the design is re-analysed on its prefixes N/8, N/4, N/2 and N (Sobol: base points, keeping the
Saltelli block structure, so a prefix is itself a valid Sobol design; Morris: trajectories; given-data methods:
rows, which are random subsets of the Latin hypercube). FAST designs are not nested and have no convergence
study. The verdict is ``converged`` when the top-k ranking of the main index (ST, mu*, delta_balanced, PAWN
median, S1) is the same at N/2 and N and the widest top-k interval at N is below ``ci_threshold`` (indices
normalised by the largest value for Morris); ``ranking stable`` when only the first holds; ``not converged``
otherwise.

No-effect level (given-data methods): the indices of a dummy input with no effect, analysed like the parameters
(:func:`no_effect_level`); parameters at or below it are named in a warning.

Robustness: for every outcome evaluated under two or more regimes, the share of samples (replicate means) in which
regime A beats regime B, with a Wilson 95 % interval (Wilson 1927) on the design's independent points
(:func:`effective_n`: 2N for Sobol', N otherwise); higher is better except for the outcomes in
:data:`LOWER_IS_BETTER`. Scenario discovery: for every contrast output ``A-B:outcome``, PRIM
(:mod:`s3sim.analysis.discovery`) finds the box of parameter space where A does worse than B.

Bootstrap seeds derive from the stress seed (``SeedSequence(seed, spawn_key=(2,))``). SALib's ``sobol``, ``morris``
and ``rbd_fast`` analysers draw from a generator made from it; ``fast``, ``delta`` and ``pawn`` call
``np.random.seed`` internally (SALib 1.6), which we cannot avoid but which makes their intervals reproducible too.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import warnings
from collections.abc import Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, first_line
from ..files import atomic_json, atomic_table, atomic_text

PROBLEM = "design/problem.json"
SAMPLES = "design/samples.parquet"
APPLIED = "design/applied.parquet"  # the values the target ran with (integers rounded): re-run any evaluation
EVALUATIONS = "evaluations"
METHODS = ("morris", "sobol", "fast", "delta", "pawn", "rbd_fast")
GROUP_METHODS = ("sobol", "morris")  # SALib methods that take groups of parameters (target.groups)
MAIN_INDEX = {"sobol": "ST", "morris": "mu_star", "fast": "ST", "delta": "delta_balanced", "pawn": "median",
              "rbd_fast": "S1"}
NORMALISED = {"sobol", "fast", "delta", "pawn", "rbd_fast"}  # indices on a 0-1 scale (morris: output units)
LOWER_IS_BETTER = frozenset({"exit_rate", "gini_innovation_per_capita", "top10_value_share"})
SEED_KEY_DESIGN, SEED_KEY_SAMPLES, SEED_KEY_BOOTSTRAP, SEED_KEY_DUMMY = 0, 1, 2, 3
#: methods that estimate indices from any sample of (inputs, output): an input with no effect still gets an index
#: above zero (the estimator's bias at the sample size), which :func:`no_effect_level` measures with dummy inputs
GIVEN_DATA = ("delta", "pawn", "rbd_fast")
NO_EFFECT_DUMMIES = 20  # dummy inputs for a method without intervals (PAWN): the level is their 95th percentile


def lower_is_better(outcome: str) -> bool:
    """Whether less of an outcome is better; ``outcome`` may name a region and a quarter (``exit_rate@IT_VE#q40``)."""
    return outcome.partition("#")[0].partition("@")[0] in LOWER_IS_BETTER


def quarter_of(output: dict[str, Any]) -> tuple[str, int | None]:
    """The label of the output that an output (a stored output spec) takes at a quarter of ``target.times``, and
    the quarter: ``("x", 40)`` for the output ``x#q40``; ``("x", None)`` for ``x`` itself (the end of the run), and
    for every output of a run without quarters, whatever its label."""
    q = output.get("quarter")
    return (output["label"], None) if q is None else (output["base"], int(q))


def chunk_path(run_dir: Path | str, k: int) -> Path:
    """Where chunk ``k`` of a stress run is stored; a chunk is done iff this file exists and is readable."""
    return Path(run_dir) / EVALUATIONS / f"chunk-{k:05d}.parquet"


def chunk_done(path: Path, rows: int | None = None) -> bool:
    """Whether a chunk file exists, is Parquet and holds ``rows`` rows (samples x replicates). Chunks are written
    atomically, so normally it does; a file damaged afterwards counts as not done and is evaluated again (damage
    inside the data pages shows only when the file is read: :func:`load_run` names the chunk then)."""
    if not path.is_file():
        return False
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except Exception:  # noqa: BLE001 - any unreadable file: truncated, overwritten, not Parquet
        return False
    return rows is None or meta.num_rows == rows


def chunk_bounds(n_samples: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` sample ranges of the chunks."""
    return [(s, min(s + chunk_size, n_samples)) for s in range(0, n_samples, chunk_size)]


def applied_values(x: np.ndarray, params: Sequence[dict[str, Any]]) -> np.ndarray:
    """Model values of a raw design: integer parameters are sampled on [low - 0.5, high + 0.5] and rounded to the
    nearest integer (clipped to [low, high]), so each integer is equally likely."""
    out = np.array(x, dtype=float, copy=True)
    for j, p in enumerate(params):
        if p["kind"] == "int":
            out[:, j] = np.clip(np.rint(out[:, j]), p["low"], p["high"])
    return out


def salib_problem(params: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """SALib problem dict of the stored parameters (integer parameters widened by half a unit each side), with
    SALib's ``dists`` when a parameter has a distribution other than uniform (``target.dists``): its bounds are
    then the range followed by the distribution's shape (``[low, high, peak]``, ``[low, high, mean, sd]``)."""
    ranges = [list(sampled_range(p)) for p in params]
    problem = {"num_vars": len(params), "names": [p["name"] for p in params], "bounds": ranges}
    if any("dist" in p for p in params):
        dists = [p.get("dist", ["unif"]) for p in params]
        problem["dists"] = [d[0] for d in dists]
        problem["bounds"] = [r + list(d[1:]) for r, d in zip(ranges, dists)]
    if is_grouped(params):
        problem["groups"] = [factor_of(p) for p in params]
    return problem


def sampled_range(param: dict[str, Any]) -> tuple[float, float]:
    """The interval a parameter is sampled on: its range, widened by half a unit each side for an integer
    parameter (rounded afterwards, so each integer gets its share)."""
    if param["kind"] == "int":
        return param["low"] - 0.5, param["high"] + 0.5
    return param["low"], param["high"]


def describe_distribution(param: dict[str, Any]) -> str:
    """A parameter's distribution in words: ``uniform on [low, high]``, ``triangular on [low, high], mode m``...
    (an integer parameter's on [low - 0.5, high + 0.5], rounded)."""
    lo, hi = sampled_range(param)
    rounded = f", rounded to the integers {param['low']}-{param['high']}" if param["kind"] == "int" else ""
    kind, *shape = param.get("dist", ["unif"])
    on = f"on [{_fmt(lo)}, {_fmt(hi)}]"
    if kind == "logunif":
        return f"log-uniform {on}{rounded}"
    if kind == "triang":
        return f"triangular {on}, mode {_fmt(lo + shape[0] * (hi - lo))}{rounded}"
    if kind == "truncnorm":
        return f"normal (mean {_fmt(shape[0])}, sd {_fmt(shape[1])}) truncated to [{_fmt(lo)}, {_fmt(hi)}]{rounded}"
    return f"uniform {on}{rounded}"


def is_grouped(params: Sequence[dict[str, Any]]) -> bool:
    """Whether the parameters carry groups (``target.groups``)."""
    return any("group" in p for p in params)


def factor_of(param: dict[str, Any]) -> str:
    """The factor a parameter's indices are part of: its group, or the parameter itself."""
    return param.get("group", param["name"])


def factor_names(params: Sequence[dict[str, Any]]) -> list[str]:
    """The factors the indices are of: the parameters, or their groups in order of first appearance, as SALib
    orders them."""
    return list(dict.fromkeys(factor_of(p) for p in params))


def bootstrap_seed(seed: int) -> int:
    """A non-zero int for SALib's ``seed=`` (SALib treats 0 as 'no seed'), spawned from the stress seed."""
    return int(np.random.SeedSequence(seed, spawn_key=(SEED_KEY_BOOTSTRAP,)).generate_state(1)[0]) | 1


def wilson(k: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial share k/n (Wilson 1927). ``n`` may be an effective sample size (Kish):
    then ``k`` is the observed share times ``n``, not necessarily a whole number."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


# ---------------------------------------------------------------------------------------------------------------
# reading a stored run
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class StoredRun:
    """A stress run as stored: the problem (design/problem.json), the design and the evaluations."""

    run_dir: Path
    problem: dict[str, Any]
    samples: pd.DataFrame
    evaluations: pd.DataFrame | None = None

    @property
    def params(self) -> list[dict[str, Any]]:
        return self.problem["params"]

    @property
    def names(self) -> list[str]:
        return [p["name"] for p in self.params]

    @property
    def factors(self) -> list[str]:
        """What the indices are of: the parameter names, or the group labels of a grouped design."""
        return factor_names(self.params)

    @property
    def grouped(self) -> bool:
        return is_grouped(self.params)

    @property
    def x(self) -> np.ndarray:
        return self.samples[self.names].to_numpy(dtype=float)

    def output(self, label: str) -> dict[str, Any]:
        """The stored spec of an output (label, plus, minus; base and quarter for those of target.times)."""
        return next(o for o in self.problem["outputs"] if o["label"] == label)


def load_run(run_dir: Path | str, *, evaluations: bool = True) -> StoredRun:
    """Read a stored stress run; with ``evaluations`` every chunk must be present."""
    run_dir = Path(run_dir)
    if not (run_dir / PROBLEM).is_file():
        raise ConfigError("run_dir", str(run_dir), f"a stress-test directory holding {PROBLEM}")
    problem = json.loads((run_dir / PROBLEM).read_text())
    samples = pd.read_parquet(run_dir / SAMPLES)
    run = StoredRun(run_dir, problem, samples)
    if evaluations:
        bounds = chunk_bounds(problem["n_samples"], problem["chunk_size"])
        r = int(problem["replicates"])
        missing = [k for k, (a, b) in enumerate(bounds) if not chunk_done(chunk_path(run_dir, k), (b - a) * r)]
        if missing:
            raise ConfigError("run_dir", str(run_dir), f"a finished stress run ({len(missing)} of {len(bounds)} "
                              "chunks are missing or damaged; run the same s3sim-stress command again to "
                              "evaluate them)")
        frames = []
        for k in range(len(bounds)):
            try:
                frames.append(pd.read_parquet(chunk_path(run_dir, k)))
            except Exception as exc:  # noqa: BLE001 - damaged data pages: one line naming the chunk
                raise ConfigError("run_dir", str(run_dir), f"a stress run with readable chunks "
                                  f"({chunk_path(run_dir, k).name} is damaged: {first_line(exc)}; delete it and run "
                                  "the same s3sim-stress command again to evaluate it)") from None
        run.evaluations = pd.concat(frames, ignore_index=True).sort_values(["sample", "replicate"],
                                                                             ignore_index=True)
    return run


def output_values(run: StoredRun, output: dict[str, Any]) -> np.ndarray:
    """Replicate values of one output as an (n_samples, replicates) array (contrasts: plus - minus, per run)."""
    ev = run.evaluations
    y = ev[output["plus"]].to_numpy(dtype=float)
    if output.get("minus"):
        y = y - ev[output["minus"]].to_numpy(dtype=float)
    n, r = run.problem["n_samples"], run.problem["replicates"]
    return y.reshape(n, r)


# ---------------------------------------------------------------------------------------------------------------
# SALib analysis
# ---------------------------------------------------------------------------------------------------------------

def _salib(method: str, problem: dict, x: np.ndarray, y: np.ndarray, settings: dict, seed: int) -> dict:
    from SALib.analyze import delta, fast, morris, pawn, rbd_fast, sobol

    kw = dict(num_resamples=int(settings["num_resamples"]), conf_level=float(settings["conf_level"]), seed=seed)
    chatter = io.StringIO()  # SALib's delta prints bin-merge notices to stdout
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"), redirect_stdout(chatter):
        warnings.simplefilter("always")
        if method == "sobol":
            res = sobol.analyze(problem, y, calc_second_order=bool(settings["second_order"]), **kw)
        elif method == "morris":
            res = morris.analyze(problem, x, y, num_levels=int(settings["num_levels"]), **kw)
        elif method == "fast":
            res = fast.analyze(problem, y, M=int(settings["m"]), **kw)
        elif method == "delta":
            try:
                res = delta.analyze(problem, x, y, **kw)
            except (ValueError, np.linalg.LinAlgError) as exc:  # a (nearly) constant output: a singular density
                nan = np.full(problem["num_vars"], np.nan)
                res = {f"{k}{c}": nan.copy() for k in ("delta_balanced", "delta_raw", "delta_step", "S1")
                       for c in ("", "_conf")}
                warnings.warn(f"delta failed, no indices: {first_line(exc)}", stacklevel=1)
        elif method == "pawn":
            res = pawn.analyze(problem, x, y, S=int(settings["slices"]), seed=seed)
        elif method == "rbd_fast":
            res = rbd_fast.analyze(problem, x, y, M=int(settings["m"]), **kw)
        else:  # validated before any evaluation
            raise ConfigError("sensitivity.method", method, f"one of {', '.join(METHODS)}")
    res = dict(res)
    res["_warnings"] = sorted({str(w.message).strip().splitlines()[0] for w in caught})
    return res


def indices_frame(method: str, res: dict, names: Sequence[str]) -> pd.DataFrame:
    """SALib's result as a long table: parameter, parameter2 (S2 only), index, value, conf."""
    rows = []
    d = len(names)
    for key, value in res.items():
        if key.startswith("_") or key.endswith("_conf") or key in ("names", "notes"):
            continue
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            continue
        conf = res.get(f"{key}_conf")
        conf = None if conf is None else np.asarray(conf, dtype=float)
        if arr.ndim == 1 and arr.shape[0] == d:
            for j, name in enumerate(names):
                rows.append(dict(parameter=name, parameter2="", index=key, value=arr[j],
                                 conf=math.nan if conf is None else conf[j]))
        elif arr.ndim == 2 and arr.shape == (d, d):
            for i in range(d):
                for j in range(i + 1, d):
                    rows.append(dict(parameter=names[i], parameter2=names[j], index=key, value=arr[i, j],
                                     conf=math.nan if conf is None else conf[i, j]))
    return pd.DataFrame(rows, columns=["parameter", "parameter2", "index", "value", "conf"])


def min_sample_size(method: str, settings: dict[str, Any]) -> tuple[int, str]:
    """The smallest base sample ``n`` a method can analyse, and why (the allowed values of ``sensitivity.n``).

    * FAST: more than 4 m^2 runs per parameter (SALib's eFAST sampler);
    * delta: 100 rows; SALib's balanced estimator splits each input into 10 classes that must each hold at least 10
      resampled rows, and below 100 rows whether they do depends on the data (the analysis then returns nothing for
      that input);
    * PAWN: 2 rows per conditioning slice;
    * RBD-FAST: 8 m rows; SALib's bias correction scales with 2m / rows and its bootstrap draws half the rows, so
      fewer rows give a correction of more than the estimate itself (at 4 m, a division by zero)."""
    m, slices = int(settings.get("m", 10)), int(settings.get("slices", 10))
    return {"sobol": (2, "an integer >= 2"), "morris": (2, "an integer >= 2"),
            "fast": (4 * m ** 2 + 1, f"an integer > 4 * m^2 = {4 * m ** 2} (FAST)"),
            "delta": (100, "an integer >= 100 (SALib's delta method needs 10 classes of at least 10 samples)"),
            "pawn": (2 * slices, f"an integer >= 2 * slices = {2 * slices} (PAWN)"),
            "rbd_fast": (8 * m, f"an integer >= 8 * m = {8 * m} (RBD-FAST's bias correction, 2 m / n, on "
                                "bootstrap halves of the sample)")}[method]


def prefix_rows(method: str, n_base: int, d: int, settings: dict, fraction: float) -> int | None:
    """Rows of the design prefix holding ``fraction`` of the base sample, or None when not analysable."""
    if method == "fast":
        return None
    k = int(round(n_base * fraction))
    if method == "sobol":
        block = 2 * d + 2 if settings["second_order"] else d + 2
        return k * block if k >= 4 else None
    if method == "morris":
        return k * (d + 1) if k >= 2 else None
    return k if k >= max(16, min_sample_size(method, settings)[0]) else None


@dataclass
class OutputAnalysis:
    """Everything computed for one output."""

    label: str
    indices: pd.DataFrame
    convergence: pd.DataFrame
    verdict: str
    noise: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    #: given-data methods: the indices of dummy inputs with no effect (:func:`no_effect_level`); else empty
    no_effect: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=NO_EFFECT_COLUMNS))

    def ranking(self, method: str) -> list[str]:
        """Every factor by its main index, largest first (factors without an index last)."""
        main = self.indices[(self.indices["index"] == MAIN_INDEX[method]) & (self.indices["parameter2"] == "")]
        return list(main.sort_values("value", ascending=False)["parameter"])

    def ranked(self, method: str) -> list[str]:
        """The factors that have a main index, largest first."""
        main = self.indices[(self.indices["index"] == MAIN_INDEX[method]) & (self.indices["parameter2"] == "")]
        return list(main[main["value"].notna()].sort_values("value", ascending=False)["parameter"])


def analyse_output(run: StoredRun, output: dict[str, Any], settings: dict | None = None) -> OutputAnalysis:
    """Indices, convergence, noise and warnings of one output."""
    pr = run.problem
    method = pr["method"]
    settings = {**pr["settings"], **(settings or {})}
    names = run.factors  # parameters, or their groups
    d = len(names)
    problem = salib_problem(run.params)
    x = run.x
    y_rep = output_values(run, output)
    y = y_rep.mean(axis=1)
    seed = bootstrap_seed(pr["seed"])
    notes: list[str] = []
    if not np.isfinite(y).any():  # e.g. an outcome a regime never produces: nothing to analyse
        table = pd.DataFrame({"parameter": names, "parameter2": "", "index": MAIN_INDEX[method], "value": math.nan,
                              "conf": math.nan})
        conv = pd.DataFrame(columns=["n", "runs", "parameter", "parameter2", "index", "value", "conf"])
        notes.append(f"every one of the {len(y)} samples gave a non-finite value: no index")
        return OutputAnalysis(output["label"], table, conv, "not assessed (no finite values)", _noise(y_rep), notes)
    if not np.all(np.isfinite(y)):
        bad = int((~np.isfinite(y)).sum())
        notes.append(f"{bad} samples gave a non-finite value; they were replaced by the mean of the others")
        y = np.where(np.isfinite(y), y, np.nanmean(y))
    if np.ptp(y) == 0:
        notes.append("the output is constant over the design: every index is zero or undefined")
    res = _salib(method, problem, x, y, settings, seed)
    notes += [f"SALib: {w}" for w in res["_warnings"]]
    table = indices_frame(method, res, names)
    main = table[(table["index"] == MAIN_INDEX[method]) & (table["parameter2"] == "")]
    missing = list(main.loc[main["value"].isna(), "parameter"])
    if missing and np.ptp(y) > 0:
        notes.append(f"SALib gave no {MAIN_INDEX[method]} for {', '.join(missing)}: ranked last, and no convergence "
                     "verdict (see SALib's note)")
    # convergence on nested prefixes of the design
    conv_rows = []
    n_base = pr["n_base"]
    if settings.get("convergence", True):
        for frac in (0.125, 0.25, 0.5, 1.0):
            rows = prefix_rows(method, n_base, d, settings, frac)
            if rows is None or rows > len(y):
                continue
            sub = res if frac == 1.0 else _salib(method, problem, x[:rows], y[:rows], settings, seed)
            t = indices_frame(method, sub, names)
            t = t[t["parameter2"] == ""]
            t.insert(0, "n", int(round(n_base * frac)))
            t.insert(1, "runs", rows)
            conv_rows.append(t)
    conv = pd.concat(conv_rows, ignore_index=True) if conv_rows else pd.DataFrame(
        columns=["n", "runs", "parameter", "parameter2", "index", "value", "conf"])
    verdict = _verdict(method, conv, settings)
    # warnings: sample size, significant negative indices
    if method == "sobol" and n_base & (n_base - 1):
        notes.append(f"sensitivity.n={n_base} is not a power of 2: Sobol' sequences lose their balance "
                     "properties (use 256, 512, 1024, ...)")
    if method == "sobol" and n_base < 64:
        notes.append(f"sensitivity.n={n_base} is a small Sobol' base sample: expect wide intervals and an "
                     "unreliable convergence verdict (use 256 or more)")
    if method == "morris" and n_base < 10:
        notes.append(f"sensitivity.n={n_base} Morris trajectories is few (10 or more are usual)")
    if method == "morris":
        notes += _uneven_integer_levels(run.params, int(settings.get("num_levels", 4)))
    if method in ("delta", "pawn", "rbd_fast") and n_base < 200:
        notes.append(f"sensitivity.n={n_base} samples is small for a given-data method (a few hundred or more)")
    neg = table[(table["value"] < 0) & (table["value"] + table["conf"] < 0)]
    for r in neg.itertuples():
        who = r.parameter + (f" x {r.parameter2}" if r.parameter2 else "")
        if r.index == "mu":  # Morris mu is signed by construction
            continue
        notes.append(f"{r.index} of {who} is negative ({r.value:.3g} +/- {r.conf:.2g}), its interval excludes "
                     "zero: the sample is too small or the output too noisy")
    notes += _unresolved_order(method, table, int(settings.get("top_k", 3)))
    floor = pd.DataFrame(columns=NO_EFFECT_COLUMNS)
    if method in GIVEN_DATA and np.ptp(y) > 0:
        floor = no_effect_level(method, y, settings, pr["seed"])
        notes += _below_no_effect(method, table, floor, run.grouped)
    noise = _noise(y_rep)
    if noise["noise_share"] > 0.1:
        notes.append(f"replicate noise is {noise['noise_share']:.0%} of the analysed variance: indices are "
                     "biased towards equal shares; add replicates")
    return OutputAnalysis(output["label"], table, conv, verdict, noise, notes, floor)


NO_EFFECT_COLUMNS = ["index", "value", "conf", "level", "dummies"]


def no_effect_level(method: str, y: np.ndarray, settings: dict[str, Any], seed: int) -> pd.DataFrame:
    """The indices a given-data method (:data:`GIVEN_DATA`) gives an input with no effect on ``y``: a dummy input,
    uniform on [0, 1] and independent of everything (drawn from ``SeedSequence(seed, spawn_key=(3,))``), analysed
    with the same output, sample size and settings (the dummy-parameter check of Khorashadi Zadeh et al. 2017,
    *Environ. Model. Softw.* 91: 210-222). Such estimators are biased upwards at finite samples (Borgonovo's delta
    of an unrelated input is about 0.1-0.2 at a few hundred samples), so an index at or below ``level`` does not
    show an influence. ``level`` is the upper end of the dummy's bootstrap interval; for a method without
    intervals (PAWN) the 95th percentile over :data:`NO_EFFECT_DUMMIES` dummies, ``value`` their median.
    One row per index the method reports."""
    n = len(y)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SEED_KEY_DUMMY,)))
    k = NO_EFFECT_DUMMIES if method == "pawn" else 1
    problem = {"num_vars": k, "names": [f"dummy{j}" for j in range(k)], "bounds": [[0.0, 1.0]] * k}
    res = _salib(method, problem, rng.random((n, k)), y, settings, bootstrap_seed(seed))
    t = indices_frame(method, res, problem["names"])
    rows = []
    for index, g in t.groupby("index", sort=False):
        values = g["value"].to_numpy(float)
        if k > 1:
            rows.append({"index": index, "value": float(np.median(values)), "conf": math.nan,
                         "level": float(np.quantile(values, 0.95)), "dummies": k})
        else:
            conf = float(g["conf"].iloc[0])
            rows.append({"index": index, "value": float(values[0]), "conf": conf,
                         "level": float(values[0] + (conf if math.isfinite(conf) else 0.0)), "dummies": 1})
    return pd.DataFrame(rows, columns=NO_EFFECT_COLUMNS)


def _below_no_effect(method: str, table: pd.DataFrame, floor: pd.DataFrame, grouped: bool) -> list[str]:
    """A note naming the factors whose main index (its interval's lower end) does not exceed the no-effect
    level."""
    main = MAIN_INDEX[method]
    lvl = floor.loc[floor["index"] == main]
    if lvl.empty or not math.isfinite(float(lvl["level"].iloc[0])):
        return []
    row = lvl.iloc[0]
    t = table[(table["index"] == main) & (table["parameter2"] == "")].sort_values("value", ascending=False,
                                                                                  kind="stable")
    low = t["value"] - t["conf"].where(np.isfinite(t["conf"]), 0.0)
    weak = list(t.loc[t["value"].notna() & (low <= row["level"]), "parameter"])
    if not weak:
        return []
    who = (f"every {'group' if grouped else 'parameter'}" if len(weak) == len(t)
           else ", ".join(weak))
    how = (f"{_fmt(row['value'])} +/- {_fmt(row['conf'], 2)}, up to {_fmt(row['level'])}" if row["dummies"] == 1
           else (f"median {_fmt(row['value'])}, 95th percentile {_fmt(row['level'])} over {int(row['dummies'])} "
                 "dummies"))
    note = (f"{main} of {who} is within the level of a dummy input with no effect ({how}, at this sample size): "
            "not distinguishable from no influence")
    return [note]


def _uneven_integer_levels(params: Sequence[dict[str, Any]], levels: int) -> list[str]:
    """Notes on integer parameters whose Morris grid levels (on [low - 0.5, high + 0.5], through the parameter's
    distribution, rounded) do not fall on every integer of the range equally often (uniform parameters), or miss
    integers or make steps that leave the integer unchanged (parameters with a distribution: such an elementary
    effect is 0 whatever the model does)."""
    from SALib.util import scale_samples

    out = []
    for par in params:
        if par["kind"] != "int":
            continue
        lo, hi = int(par["low"]), int(par["high"])
        count = hi - lo + 1
        unit = (np.arange(levels) / (levels - 1))[:, None]  # the grid levels, mapped as the design maps them
        values = np.clip(np.rint(scale_samples(unit, salib_problem([par]))[:, 0]), lo, hi).astype(np.int64)
        if "dist" not in par:
            counts = np.bincount(values - lo, minlength=count)
            # fewer integers than levels: some integers get two levels, others one. (With more integers than
            # levels, the levels fall on distinct integers, as on a continuous range: nothing to note.)
            if count < levels and counts.min() != counts.max():
                even = count if count % 2 == 0 else 2 * count  # num_levels must be even; multiples of count work
                out.append(f"{par['name']}: the {levels} Morris levels fall on {', '.join(map(str, values))}, not "
                           f"on every integer of [{lo}, {hi}] equally often (sensitivity.num_levels={even} would)")
            continue
        half = levels // 2  # a Morris step moves a coordinate by levels / 2 grid levels
        flat = int(sum(values[j] == values[j + half] for j in range(levels - half)))
        missed = sorted(set(range(lo, hi + 1)) - set(values.tolist()))
        if flat or missed:
            what = []
            if flat:
                what.append(f"{flat} of the {levels - half} possible steps {'leaves' if flat == 1 else 'leave'} it "
                            "unchanged (its elementary effect is then 0)")
            if missed:
                what.append(f"{', '.join(map(str, missed))} never occur")
            out.append(f"{par['name']}: under its distribution the {levels} Morris levels fall on "
                       f"{', '.join(map(str, values))}: {' and '.join(what)}; more levels or a uniform distribution "
                       "would spread them")
    return out


def _noise(y_rep: np.ndarray) -> dict[str, float]:
    n, r = y_rep.shape
    means = y_rep.mean(axis=1)
    var_means = float(np.var(means, ddof=1)) if n > 1 else math.nan
    if r < 2:
        return dict(replicates=r, replicate_sd=math.nan, sd_of_means=math.sqrt(var_means), noise_share=math.nan,
                    signal_to_noise=math.nan)  # one replicate: the noise is not assessed
    within = float(np.mean(np.var(y_rep, axis=1, ddof=1)))
    share = min(1.0, (within / r) / var_means) if var_means > 0 else math.nan  # estimates can exceed 1
    return dict(replicates=r, replicate_sd=math.sqrt(within), sd_of_means=math.sqrt(var_means),
                noise_share=share, signal_to_noise=(1 - share) / share if share and share > 0 else math.inf)


def _unresolved_order(method: str, table: pd.DataFrame, k: int) -> list[str]:
    """Notes on neighbours among the top ``k`` of the main index whose intervals overlap: a stable ranking of
    point estimates need not be a resolved one."""
    main = table[(table["index"] == MAIN_INDEX[method]) & (table["parameter2"] == "")]
    main = main.sort_values("value", ascending=False, kind="stable").head(k)
    out = []
    rows = list(main.itertuples())
    for a, b in itertools.pairwise(rows):
        if a.conf == 0 and b.conf == 0:
            continue  # exact values (a constant output gives every index 0 +/- 0): resolved, or exactly tied
        if np.isfinite(a.conf) and np.isfinite(b.conf) and a.value - a.conf <= b.value + b.conf:
            out.append(f"the order of {a.parameter} and {b.parameter} ({MAIN_INDEX[method]} {a.value:.3g} +/- "
                       f"{a.conf:.2g} and {b.value:.3g} +/- {b.conf:.2g}) is not resolved: their intervals overlap")
    return out


def _verdict(method: str, conv: pd.DataFrame, settings: dict) -> str:
    if not settings.get("convergence", True):
        return "not assessed (sensitivity.convergence=false)"
    main = conv[conv["index"] == MAIN_INDEX[method]]
    ns = sorted(main["n"].unique())
    if len(ns) < 2:
        return "not assessed (design not nested or too small)"
    k = int(settings.get("top_k", 3))

    def top(n):
        t = main[main["n"] == n].sort_values("value", ascending=False)
        return list(t["parameter"])[:k], t

    missing = sorted(set(main.loc[main["n"].isin(ns[-2:]) & main["value"].isna(), "parameter"]))
    if missing:
        return f"not assessed (no {MAIN_INDEX[method]} for {', '.join(missing)})"
    top_half, _ = top(ns[-2])
    top_full, full = top(ns[-1])
    stable = top_half == top_full
    scale = 1.0 if method in NORMALISED else max(float(full["value"].abs().max()), 1e-300)
    widths = (2 * full.set_index("parameter").loc[top_full, "conf"] / scale).to_numpy(dtype=float)
    if stable and not np.isfinite(widths).any():
        return "ranking stable (the method has no intervals)"
    narrow = bool(np.all(np.isfinite(widths))) and float(np.max(widths)) <= float(settings.get("ci_threshold", 0.1))
    if stable and narrow:
        return "converged"
    if stable:
        return "ranking stable, intervals wide"
    return "not converged"


# ---------------------------------------------------------------------------------------------------------------
# robustness and scenario discovery
# ---------------------------------------------------------------------------------------------------------------

def regime_columns(run: StoredRun) -> dict[str, list[str]]:
    """Outcome -> regimes evaluated for it (from ``<regime>:<outcome>`` result columns)."""
    out: dict[str, list[str]] = {}
    for c in run.evaluations.columns:
        if ":" in c:
            regime, outcome = c.split(":", 1)
            out.setdefault(outcome, []).append(regime)
    return out


def effective_n(problem: dict[str, Any]) -> int:
    """Independent points of a design, for the interval of a share computed over all its samples: the rows of a
    Sobol' design come from 2N base points (matrices A and B; the AB rows recombine their coordinates), a Morris
    design from N trajectories (points of a trajectory differ in one coordinate), a FAST design from N points per
    search curve; Latin hypercubes have N independent rows."""
    n_base, n = int(problem["n_base"]), int(problem["n_samples"])
    return min(n, 2 * n_base if problem["method"] == "sobol" else n_base)


def robustness(run: StoredRun, outcomes: Sequence[str]) -> pd.DataFrame:
    """Share of samples in which regime A beats regime B, for each outcome and pair of evaluated regimes. The Wilson
    interval uses the design's independent points (:func:`effective_n`), not its correlated rows."""
    regs = regime_columns(run)
    rows = []
    n, r = run.problem["n_samples"], run.problem["replicates"]
    n_eff = effective_n(run.problem)
    for outcome in outcomes:
        regimes = regs.get(outcome, [])
        sign = -1.0 if lower_is_better(outcome) else 1.0
        means = {g: run.evaluations[f"{g}:{outcome}"].to_numpy(float).reshape(n, r).mean(axis=1) for g in regimes}
        for i, a in enumerate(regimes):
            for b in regimes[i + 1:]:
                diff = sign * (means[a] - means[b])
                ok = np.isfinite(diff)  # a sample where either regime has no value is neither side's win
                m = int(ok.sum())
                common = dict(outcome=outcome, regime_a=a, regime_b=b, samples=m, non_finite=n - m,
                              better="lower" if sign < 0 else "higher")
                if m == 0:
                    rows.append(dict(common, effective_n=0, a_wins=0, ties=0, b_wins=0, share_a_wins=math.nan,
                                     ci_low=math.nan, ci_high=math.nan, mean_difference=math.nan,
                                     verdict="not assessed (no finite values)"))
                    continue
                wins, ties = int((diff[ok] > 0).sum()), int((diff[ok] == 0).sum())
                # the shares' intervals on the design's independent points (the share itself, not a rounded count)
                m_eff = n_eff * m / n
                lo, hi = wilson(wins / m * m_eff, m_eff)
                b_lo = wilson((m - wins - ties) / m * m_eff, m_eff)[0]  # B's share's interval
                rows.append(dict(common, effective_n=m_eff, a_wins=wins, ties=ties, b_wins=m - wins - ties,
                                 share_a_wins=wins / m, ci_low=lo, ci_high=hi,
                                 mean_difference=float(np.mean(means[a][ok] - means[b][ok])),
                                 verdict=robustness_verdict(wins / m, lo, hi, ties=ties / m, b_ci_low=b_lo)))
    return pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS)


def swapped(row: dict[str, Any]) -> dict[str, Any]:
    """A row of :func:`robustness` with A and B swapped: B's share with its interval over the same effective
    points, and the verdict from B's side (robust or mostly holds <-> reversed, the others kept)."""
    out = {**row, "regime_a": row["regime_b"], "regime_b": row["regime_a"], "a_wins": row["b_wins"],
           "b_wins": row["a_wins"], "mean_difference": -row["mean_difference"]}
    m, m_eff = row["samples"], row["effective_n"]
    if not m:
        return out
    share, b_share = row["b_wins"] / m, row["a_wins"] / m
    lo, hi = wilson(share * m_eff, m_eff)
    out.update(share_a_wins=share, ci_low=lo, ci_high=hi,
               verdict=robustness_verdict(share, lo, hi, ties=row["ties"] / m,
                                          b_ci_low=wilson(b_share * m_eff, m_eff)[0]))
    return out


ROBUSTNESS_COLUMNS = ["outcome", "regime_a", "regime_b", "samples", "non_finite", "effective_n", "a_wins", "ties",
                      "b_wins", "share_a_wins", "ci_low", "ci_high", "mean_difference", "better", "verdict"]


def robustness_verdict(share: float, ci_low: float, ci_high: float, ties: float = 0.0,
                       b_ci_low: float | None = None) -> str:
    """How robust A's advantage over B is across the sampled assumptions, from A's share of the samples (A does
    better) with its interval, the share of ties and the lower end of B's share's interval (default
    ``1 - ci_high``, the same when there are no ties): ``robust`` (A's interval above one half and A better in at
    least three quarters of the samples), ``mostly holds`` (A's interval above one half), ``reversed`` (B's
    interval above one half), ``tied`` (A and B equal in every sample), ``mostly tied`` (equal in half of them or
    more, neither interval above one half) or ``fragile`` (otherwise). Swapping A and B swaps robust or mostly
    holds with reversed and keeps the others; a tie is a loss for neither."""
    if ties >= 1.0:
        return "tied"
    if ci_low > 0.5:
        return "robust" if share >= 0.75 else "mostly holds"
    if (1.0 - ci_high if b_ci_low is None else b_ci_low) > 0.5:
        return "reversed"
    if ties >= 0.5:
        return "mostly tied"
    return "fragile"


def _losses(run: StoredRun, output: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Does the first regime of a contrast ``A-B:outcome`` do worse than B (replicates averaged)? For the samples
    with a finite contrast, and the mask of those samples (the others have no winner and are left out)."""
    outcome = output["plus"].split(":", 1)[1]
    diff = output_values(run, output).mean(axis=1)
    ok = np.isfinite(diff)
    return (diff[ok] > 0 if lower_is_better(outcome) else diff[ok] < 0), ok


def discovery(run: StoredRun, output: dict[str, Any], **prim_kw: Any):
    """PRIM box where the first regime of a contrast ``A-B:outcome`` does worse than B (None if not a contrast,
    or if A never or always loses)."""
    from .discovery import prim

    if not output.get("minus"):
        return None
    loses, ok = _losses(run, output)
    if loses.sum() < 3 or (~loses).sum() < 3:
        return None
    return prim(applied_values(run.x, run.params)[ok], loses, run.names, **prim_kw)


# ---------------------------------------------------------------------------------------------------------------
# the whole analysis
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class SensitivityReport:
    """The analysis of a stress run (also written to its directory)."""

    run_dir: Path
    method: str
    outputs: dict[str, OutputAnalysis]
    robustness: pd.DataFrame
    discovery: dict[str, Any]

    def indices(self) -> pd.DataFrame:
        return _by_output({k: a.indices for k, a in self.outputs.items()})

    def convergence(self) -> pd.DataFrame:
        return _by_output({k: a.convergence for k, a in self.outputs.items()})


def _by_output(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One long table of per-output tables, the output label in the first column."""
    out = pd.concat([f.assign(output=k) for k, f in frames.items()], ignore_index=True)
    return out[["output", *(c for c in out.columns if c != "output")]]


def check_settings(settings: dict[str, Any], names: dict[str, str] | None = None,
                   only: Sequence[str] | None = None) -> None:
    """The analysis settings' checks, shared by ``s3sim-stress`` and the re-analysis command: a ConfigError naming
    the first bad one (``names`` maps a setting to the name the user gave it; default ``sensitivity.<setting>``;
    ``only`` restricts the checks to some settings)."""
    settings = {k: v for k, v in settings.items() if only is None or k in only}

    def bad(key: str, allowed: str) -> ConfigError:
        return ConfigError((names or {}).get(key, f"sensitivity.{key}"), settings[key], allowed)

    def whole(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    def number(v: Any) -> bool:
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)

    if "num_resamples" in settings and (not whole(settings["num_resamples"]) or settings["num_resamples"] < 1):
        raise bad("num_resamples", "a positive integer (bootstrap resamples)")
    if "conf_level" in settings and (not number(settings["conf_level"]) or not 0 < settings["conf_level"] < 1):
        raise bad("conf_level", "a number in (0, 1)")
    if "top_k" in settings and (not whole(settings["top_k"]) or settings["top_k"] < 1):
        raise bad("top_k", "a positive integer")
    if "ci_threshold" in settings and (not number(settings["ci_threshold"]) or not settings["ci_threshold"] > 0):
        raise bad("ci_threshold", "a positive number (the widest top-k interval that counts as converged)")


def analyse(run_dir: Path | str, *, outputs: Sequence[str] | None = None, num_resamples: int | None = None,
            conf_level: float | None = None, figures: bool = True, write: bool = True) -> SensitivityReport:
    """Analyse a finished stress run and write its tables, figures and summary into the run directory.

    ``outputs`` selects among the stored output labels (default: all of them); ``num_resamples`` and
    ``conf_level`` override the stored bootstrap settings (the design is not affected).
    """
    run = load_run(run_dir)
    pr = run.problem
    settings = dict(pr["settings"])
    if num_resamples is not None:
        settings["num_resamples"] = int(num_resamples)
    if conf_level is not None:
        settings["conf_level"] = float(conf_level)
    check_settings(settings, {"num_resamples": "--resamples", "conf_level": "--conf-level"},
                   only=[k for k, v in (("num_resamples", num_resamples), ("conf_level", conf_level)) if v is not None])
    if settings != pr["settings"]:  # the summary and problem.json say which settings the tables now come from
        pr = run.problem = {**pr, "settings": settings}
    by_label = {o["label"]: o for o in pr["outputs"]}
    chosen = list(outputs) if outputs else list(by_label)
    for label in chosen:
        if label not in by_label:
            raise ConfigError("--output", label, f"one of the stored outputs: {', '.join(by_label)} (for another "
                              "output of the evaluated regimes, run s3sim-stress again with its target.outputs and "
                              "the same hydra.run.dir: the evaluations are re-analysed, not repeated)")
    if outputs:  # an output chosen by name comes with its quarters (target.times), unless some are chosen too
        named = set(chosen)
        quarters = {}
        for o in pr["outputs"]:
            base, q = quarter_of(o)
            if q is not None:
                quarters.setdefault(base, []).append(o["label"])
        chosen = [x for label in chosen for x in
                  [label, *(quarters.get(label, []) if not named & set(quarters.get(label, [])) else [])]]
    results = {label: analyse_output(run, by_label[label], settings) for label in chosen}
    # the outcomes of the regimes' columns; an outcome's quarters (target.times) together, in time order, the end
    # of the run last
    order: dict[str, tuple[int, float]] = {}
    first: dict[str, int] = {}
    for label in chosen:
        o = by_label[label]
        if ":" in o["plus"]:
            oc = o["plus"].split(":", 1)[1]
            q = quarter_of(o)[1]
            base = oc.removesuffix(f"#q{q}") if q is not None else oc
            order.setdefault(oc, (first.setdefault(base, len(first)), math.inf if q is None else q))
    outcomes = sorted(order, key=order.__getitem__)
    rob = robustness(run, outcomes)
    disc = {label: discovery(run, by_label[label]) for label in chosen}
    disc = {k: v for k, v in disc.items() if v is not None}
    report = SensitivityReport(Path(run_dir), pr["method"], results, rob, disc)
    if write:
        _write_tables(report, run)
        if figures:
            from .sensitivity_plots import plot_all

            plot_all(report, run)
        atomic_text(Path(run_dir) / "summary.md", summary_markdown(report, run, figures=figures))
        if num_resamples is not None or conf_level is not None:
            atomic_json(Path(run_dir) / PROBLEM, pr, indent=1, sort_keys=False, default=str)
    return report


OVER_TIME_COLUMNS = ["output", "quarter", "label", "parameter", "index", "value", "conf", "verdict"]


def over_time(report: SensitivityReport, run: StoredRun) -> pd.DataFrame:
    """The main index of every factor (parameter or group) by quarter of the horizon, for the outputs analysed over
    time (``target.times``): ``output`` is the output's label without its quarter, ``quarter`` the quarter of the
    horizon (the horizon itself for the end of the run), ``label`` the analysed output, ``verdict`` its
    convergence verdict. Empty without quarters."""
    horizon = run.problem["target"].get("horizon")
    main = MAIN_INDEX[report.method]
    groups: dict[str, list[tuple[int, str]]] = {}
    timed = set()
    for label in report.outputs:
        base, q = quarter_of(run.output(label))
        groups.setdefault(base, []).append((horizon if q is None else q, label))
        if q is not None:
            timed.add(base)
    rows = []
    for base, members in groups.items():
        if base not in timed:
            continue  # analysed at the end of the run only
        for q, label in sorted(members):
            a = report.outputs[label]
            t = a.indices[(a.indices["index"] == main) & (a.indices["parameter2"] == "")]
            for r in t.itertuples():
                rows.append({"output": base, "quarter": int(q), "label": label, "parameter": r.parameter,
                             "index": main, "value": r.value, "conf": r.conf, "verdict": a.verdict})
    return pd.DataFrame(rows, columns=OVER_TIME_COLUMNS)


def _write_table(directory: Path, name: str, frame: pd.DataFrame) -> None:
    """``<name>.csv`` and ``<name>.parquet``, each written atomically."""
    atomic_table(frame, directory / f"{name}.csv")
    atomic_table(frame, directory / f"{name}.parquet")


def _write_tables(report: SensitivityReport, run: StoredRun) -> None:
    d = report.run_dir
    _write_table(d, "indices", report.indices())
    conv = report.convergence()
    verdicts = {k: a.verdict for k, a in report.outputs.items()}
    conv["verdict"] = conv["output"].map(verdicts)
    _write_table(d, "convergence", conv)
    _write_table(d, "noise", pd.DataFrame([{"output": k, **a.noise} for k, a in report.outputs.items()]))
    _write_table(d, "robustness", report.robustness)
    rows = []
    for label, res in report.discovery.items():
        b = res.box
        for name in b.restricted or [""]:
            lo, hi = b.limits[name] if name else (math.nan, math.nan)
            rows.append(dict(output=label, condition="first regime loses", base_rate=res.base_rate,
                             coverage=b.coverage, density=b.density, mass=b.mass, parameter=name, low=lo, high=hi))
    _write_table(d, "discovery", pd.DataFrame(rows, columns=["output", "condition", "base_rate", "coverage",
                                                             "density", "mass", "parameter", "low", "high"]))
    floors = {k: a.no_effect for k, a in report.outputs.items() if len(a.no_effect)}
    if floors:
        _write_table(d, "no_effect", _by_output(floors))
    else:  # an earlier analysis's table would read as this one's
        for ext in ("csv", "parquet"):
            (d / f"no_effect.{ext}").unlink(missing_ok=True)
    timed = over_time(report, run)
    if len(timed):
        _write_table(d, "over_time", timed)
    else:  # an earlier analysis's table would read as this one's
        for ext in ("csv", "parquet"):
            (d / f"over_time.{ext}").unlink(missing_ok=True)


def _fmt(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}g}"


def _fmt_ci(value: float, half: float) -> str:
    """``value ± half`` with the value to the decimal place of the interval's two significant digits
    (0.443 ± 0.060, 0.000 ± 0.058, 92 ± 90); the value alone (3 significant digits) without an interval."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "n/a"
    if not isinstance(half, (int, float)) or not math.isfinite(half):
        return _fmt(value)
    if half <= 0:
        return f"{_fmt(value)} ± 0"
    decimals = max(0, 1 - math.floor(math.log10(half)))
    text = f"{value:.{decimals}f}"
    if text.lstrip("-").strip("0.") == "":
        text = text.lstrip("-")  # -0.000 is 0.000
    return f"{text} ± {half:.{decimals}f}"


def _percent(share: float) -> str:
    """A share as a percentage ("n/a" when not assessed: one replicate, or no variance to share)."""
    return "n/a" if share is None or not math.isfinite(share) else f"{_fmt(100 * share)} %"


def summary_markdown(report: SensitivityReport, run: StoredRun, figures: bool = True) -> str:
    """A short Markdown summary of the stress test."""
    pr = run.problem
    method = pr["method"]
    main = MAIN_INDEX[method]
    lines = [f"# Stress test: {method}, target {pr['target']['name']}", "",
             f"{len(run.names)} parameters, base sample n = {pr['n_base']}, {pr['n_samples']} samples x "
             f"{pr['replicates']} replicate(s) = {pr['n_samples'] * pr['replicates']} evaluations "
             f"(each running {max(1, len(pr['target'].get('regimes') or []))} regime(s)); seed {pr['seed']}; "
             f"bootstrap {pr['settings']['num_resamples']} resamples at {pr['settings']['conf_level']:.0%}.", ""]
    shaped = [p for p in run.params if "dist" in p]
    if shaped:
        lines += ["Inputs: uniform on their ranges except "
                  + "; ".join(f"{p['name']} {describe_distribution(p)}" for p in shaped) + " (target.dists).", ""]
    if run.grouped:
        members = {f: [p["name"] for p in run.params if factor_of(p) == f] for f in run.factors}
        lines += [f"Indices are of {len(members)} groups (target.groups), each varied as one factor: "
                  + "; ".join(f"{f} = {', '.join(m)}" if m != [f] else f for f, m in members.items()) + ".", ""]
    timed = over_time(report, run)
    timed_bases = list(dict.fromkeys(timed["output"]))
    shown: set[str] = set()
    for label, a in report.outputs.items():
        base, quarter = quarter_of(run.output(label))
        if quarter is not None:  # the quarters of target.times: one table per output, after its end-of-run section
            if base not in report.outputs and base not in shown:
                lines += _over_time_lines(report, run, base, timed)
                shown.add(base)
            continue
        lines += [f"## {label}", "", f"Convergence: **{a.verdict}**. Replicate noise: "
                  + (f"SD {_fmt(a.noise['replicate_sd'])} within samples against SD "
                     f"{_fmt(a.noise['sd_of_means'])} of the sample means, {_percent(a.noise['noise_share'])} "
                     "of the analysed variance." if a.noise["replicates"] > 1 else "one replicate (not assessed)."),
                  ""]
        t = a.indices[a.indices["parameter2"] == ""]
        cols = [c for c in ("S1", "ST", "mu_star", "sigma", "delta_balanced", "median") if c in set(t["index"])]
        if cols:
            lines.append(f"| {'group' if run.grouped else 'parameter'} | " + " | ".join(cols) + " |")
            lines.append("|---|" + "---|" * len(cols))
            wide = t.pivot(index="parameter", columns="index", values="value")
            conf = t.pivot(index="parameter", columns="index", values="conf")
            order = list(wide.sort_values(main, ascending=False).index) if main in wide else list(wide.index)
            for p in order:
                cells = []
                for c in cols:
                    v, ci = wide.loc[p, c], conf.loc[p, c]
                    cells.append(_fmt_ci(v, ci))
                lines.append(f"| {p} | " + " | ".join(cells) + " |")
            floor = a.no_effect.set_index("index")
            if len(floor):  # given-data methods: what an input with no effect gets at this sample size
                cells = []
                for c in cols:
                    if c not in floor.index:
                        cells.append("")
                        continue
                    f = floor.loc[c]
                    cells.append(_fmt_ci(f["value"], f["conf"]) if f["dummies"] == 1 else
                                 f"{_fmt(f['value'])} (95 %: {_fmt(f['level'])})")
                lines.append("| *dummy (no effect)* | " + " | ".join(cells) + " |")
            lines.append("")
            if len(floor):
                k = int(floor["dummies"].iloc[0])
                lines += [(f"The last row is a dummy: a random input with no effect on the output, analysed like "
                           f"the parameters. What {method} gives it is the method's floor at this sample size: an "
                           "index whose interval reaches down to the dummy's upper bound shows no influence."
                           if k == 1 else
                           f"The last row is {k} dummies: random inputs with no effect on the output, analysed like "
                           f"the parameters (their median, and their 95th percentile). What {method} gives them is "
                           "the method's floor at this sample size: an index at or below the percentile shows no "
                           "influence."), ""]
        for w in a.warnings:
            lines.append(f"- warning: {w}")
        if a.warnings:
            lines.append("")
        text = _discovery_text(report, run, label)
        if text:
            lines += [f"Scenario discovery (PRIM): {text}", ""]
        if label in timed_bases:
            lines += _over_time_lines(report, run, label, timed)
            shown.add(label)
    if len(report.robustness):
        lines += ["## Robustness of regime rankings", "",
                  ("Share of samples (replicates averaged) in which A does better than B, equally, or worse; "
                   "the interval is A's share. A's advantage is robust when the interval lies above one half and A "
                   "does better in at least 75 % of the samples, mostly holds when only the interval lies above one "
                   "half, is reversed when B's share's interval does, tied when A and B do equally well in every "
                   "sample, mostly tied in half of them or more, and fragile otherwise."), "",
                  "| outcome | better | A | B | A better | 95 % CI | tie | B better | mean A - B | A's advantage |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in report.robustness.itertuples():
            if not r.samples:
                lines.append(f"| {r.outcome} | {r.better} | {r.regime_a} | {r.regime_b} | n/a | n/a | n/a | n/a | "
                             f"n/a | {r.verdict} |")
                continue
            lines.append(f"| {r.outcome} | {r.better} | {r.regime_a} | {r.regime_b} | {r.share_a_wins:.1%} | "
                         f"[{r.ci_low:.1%}, {r.ci_high:.1%}] | {r.ties / r.samples:.1%} | "
                         f"{r.b_wins / r.samples:.1%} | {_fmt(r.mean_difference)} | {r.verdict} |")
        lines.append("")
        gaps = report.robustness[report.robustness["non_finite"] > 0]
        for r in gaps.itertuples():
            lines.append(f"- {r.outcome}, {r.regime_a} against {r.regime_b}: {r.non_finite} of "
                         f"{r.samples + r.non_finite} samples have no finite value for one of them and are left out")
        if len(gaps):
            lines.append("")
    lines += ["Tables (CSV and Parquet): indices, convergence, noise, robustness, discovery"
              + (", no_effect" if any(len(a.no_effect) for a in report.outputs.values()) else "")
              + (", over_time" if len(timed) else "")
              + ("; figures in figures/." if figures else "; figures not redrawn (figures=false, or --no-figures "
                 "in a re-analysis): any in figures/ are an earlier analysis's."), ""]
    return "\n".join(lines)


def _discovery_text(report: SensitivityReport, run: StoredRun, label: str) -> str | None:
    """The summary's reading of a contrast's PRIM box (None for an output that is not a contrast)."""
    output = run.output(label)
    if not output.get("minus"):
        return None
    a_reg, b_reg = output["plus"].split(":", 1)[0], output["minus"].split(":", 1)[0]
    worse = f"{a_reg} does worse than {b_reg}"
    if label not in report.discovery:
        loses, ok = _losses(run, output)
        gap = f" ({int((~ok).sum())} samples without a value left out)" if not ok.all() else ""
        return (f"no box; {worse} in {int(loses.sum())} of {loses.size} samples{gap}, and PRIM needs at least 3 "
                "samples on each side.")
    res = report.discovery[label]
    box = res.box
    lift = box.density / res.base_rate if res.base_rate > 0 else math.nan
    text = (f"{worse} in {res.base_rate:.0%} of the samples; the box {box.describe()} (limits rounded outward) "
            f"holds {box.coverage:.0%} of them (coverage), and {box.density:.0%} of its samples are such cases "
            f"(density; mass {box.mass:.0%}, lift {_fmt(lift, 2)} over the base rate).")
    if res.base_rate >= 0.9:
        text += (f" {a_reg} does worse almost everywhere, so the box says little; the samples outside it are the "
                 "exceptions.")
    elif lift < 1.25:
        text += " The box is little denser than the base rate: a weak pattern, not a clear scenario."
    return text


def _over_time_lines(report: SensitivityReport, run: StoredRun, base: str, timed: pd.DataFrame) -> list[str]:
    """The summary's section on one output over the quarters of ``target.times``."""
    t = timed[timed["output"] == base]
    horizon = run.problem["target"].get("horizon")
    quarters = sorted(set(t["quarter"]))
    main = MAIN_INDEX[report.method]
    col = {q: f"q{q}" + (" (end)" if q == horizon else "") for q in quarters}
    lines = [f"## {base} over time", "",
             (f"{main} of each {'group' if run.grouped else 'parameter'} as the outputs stood after these quarters "
              f"of the {horizon}-quarter horizon (target.times; ± the half-width of the interval). The outcomes at "
              "a quarter are those of a run whose horizon ends there."), "",
             f"| {'group' if run.grouped else 'parameter'} | " + " | ".join(col[q] for q in quarters) + " |",
             "|---|" + "---|" * len(quarters)]
    value = t.pivot(index="parameter", columns="quarter", values="value")
    conf = t.pivot(index="parameter", columns="quarter", values="conf")
    for p in value.sort_values(quarters[-1], ascending=False).index:
        cells = []
        for q in quarters:
            v, ci = value.loc[p, q], conf.loc[p, q]
            cells.append(_fmt_ci(v, ci))
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    labels = {q: t[t["quarter"] == q]["label"].iloc[0] for q in quarters}
    lines.append("| *convergence* | " + " | ".join(report.outputs[labels[q]].verdict for q in quarters) + " |")
    lines.append("| *replicate noise* | " + " | ".join(_percent(report.outputs[labels[q]].noise["noise_share"])
                                                       for q in quarters) + " |")
    lines.append("")
    for q in quarters:
        if labels[q] != base:
            text = _discovery_text(report, run, labels[q])
            if text:
                lines.append(f"- scenario discovery (PRIM) at q{q}: {text}")
    end = report.outputs.get(base)
    seen = set(end.warnings) if end is not None else set()
    for q in quarters:
        label = labels[q]
        if label == base:
            continue
        for w in report.outputs[label].warnings:
            if w not in seen:
                lines.append(f"- warning (q{q}): {w}")
    if lines[-1] != "":
        lines.append("")
    return lines


def result_lines(report: SensitivityReport, outputs: Sequence[dict[str, Any]]) -> list[str]:
    """The console's reading of an analysis (``outputs``: the stored output specs): per output the most influential
    factors and the convergence verdict, then its warnings; an output's quarters (``target.times``) in one line
    after the output's own, with the warnings the end-of-run analysis has not given already."""
    specs = {o["label"]: o for o in outputs}
    lines: list[str] = []
    over: dict[str, list[str]] = {}
    for label, a in report.outputs.items():
        base, quarter = quarter_of(specs[label])
        ranked = a.ranked(report.method)
        if quarter is None:
            top = f"most influential {', '.join(ranked[:3])}" if ranked else "no index"
            lines.append(f"{label}: {top}; convergence: {a.verdict}")
        else:
            over.setdefault(base, []).append(f"q{quarter} {ranked[0] if ranked else 'no index'}")
        seen = set(report.outputs[base].warnings) if quarter is not None and base in report.outputs else set()
        lines += [f"warning: {label}: {w}" for w in a.warnings if w not in seen]
    for base, tops in over.items():
        end_ranked = report.outputs[base].ranked(report.method) if base in report.outputs else []
        end = f", end {end_ranked[0] if end_ranked else 'no index'}" if base in report.outputs else ""
        lines.append(f"{base} over time: most influential at {', '.join(tops)}{end}")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m s3sim.analysis.sensitivity RUN_DIR``: re-analyse a finished stress run."""
    import argparse
    import sys

    prog = "s3sim.analysis.sensitivity"  # the prefix of its lines
    ap = argparse.ArgumentParser(prog=f"python -m {prog}", description=main.__doc__)

    def one_line(message: str):  # argparse would print its usage block first
        print(f"{prog}: error: {message} (see python -m {prog} --help)", file=sys.stderr)
        raise SystemExit(2)

    ap.error = one_line
    ap.add_argument("run_dir")
    ap.add_argument("--resamples", type=int, default=None, help="bootstrap resamples (default: as stored)")
    ap.add_argument("--conf-level", type=float, default=None)
    ap.add_argument("--output", action="append", default=None, help="an output label (repeatable)")
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args(argv)
    try:
        report = analyse(args.run_dir, outputs=args.output, num_resamples=args.resamples, conf_level=args.conf_level,
                         figures=not args.no_figures)
        lines = result_lines(report, load_run(args.run_dir, evaluations=False).problem["outputs"])
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    except KeyboardInterrupt:  # every file is written whole (atomically), but they may mix two analyses now
        print(f"\n{prog}: interrupted; the evaluations are untouched, and the same command writes the whole "
              "analysis again", file=sys.stderr)
        raise SystemExit(130)
    for line in lines:
        print(f"{prog}: {line}")
    log = Path(args.run_dir) / "stress.log"  # the run's report lines: this analysis's reading goes after them
    if log.is_file():
        from datetime import datetime

        with log.open("a") as f:
            f.write(f"[{datetime.now():%Y-%m-%d %H:%M:%S}] re-analysis ({' '.join(sys.argv[1:]) or args.run_dir}):\n")
            f.writelines(f"{prog}: {line}\n" for line in lines)
    print(f"{prog}: analysis written to {args.run_dir}")


if __name__ == "__main__":  # pragma: no cover
    main()
