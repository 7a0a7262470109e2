"""Scenario comparison for policy teams: paired contrasts against a baseline (``s3sim-compare``).

Runs of one sweep that share a seed and replicate share the burn-in and every random stream (common random
numbers), so each scenario is compared with the baseline **seed by seed**: for a key indicator ``k``, a region
``r`` and a scenario ``s`` the contrast is ``d_i = k(s, r, i) - k(baseline, r, i)`` over the pairs ``i``. The
report gives the mean contrast with a 95% t confidence interval, the paired effect size (Cohen's d_z = mean / sd
of the contrasts), the relative change against the baseline mean, a paired t-test p-value, and how many regions
improve (mean contrast in the better direction) and improve clearly (interval excluding zero).

Key indicators are computed from the stored time series (:data:`KPIS`): flows are summed over the last
``window`` quarters (default 8, two years) before taking ratios; levels are averaged over the same window. Over
time, the same ratios are taken step by step after a four-quarter moving sum.

Typical use::

    s3sim-compare outputs/sweeps/2026-11-27/10-00-00 --baseline topdown_s3

The command writes ``report.html`` (self-contained, figures embedded), ``summary.md``, ``contrasts.csv`` /
``.parquet``, ``horizon.csv`` and ``figures/*.png`` into ``SWEEP_DIR/report/`` (or ``--out``). It reads the
sweep's collection (``SWEEP_DIR/collected/``, made or refreshed first if missing or stale) and nothing else.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, S3SimError
from ..runner.sweep import REPLICATE_KEYS
from .collect import SweepStore, _override_key, open_sweep


@dataclass(frozen=True)
class KPI:
    """A key indicator computed from stored indicators: ``scale * sum(numerator) / sum(denominator)`` over a
    window (a ratio of flows), or the window mean of ``numerator`` when there is no denominator (a level)."""

    name: str
    label: str
    unit: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...] = ()
    scale: float = 1.0
    higher_is_better: bool = True


#: the default key indicators, the first is the headline
KPIS: dict[str, KPI] = {k.name: k for k in (
    KPI("innovations_per_1000_firms", "innovations per 1,000 firms a year", "per 1,000 firms a year",
        ("innovations",), ("firms",), 4000.0),
    KPI("radical_per_1000_firms", "radical innovations per 1,000 firms a year", "per 1,000 firms a year",
        ("innovations_radical",), ("firms",), 4000.0),
    KPI("value_added_per_firm", "value added per firm a quarter", "money per firm a quarter",
        ("value_added",), ("firms",)),
    KPI("firms", "firms", "firms", ("firms",)),
    KPI("interregional_collaboration_share", "share of new partnerships across regions", "share",
        ("collaborations_inter",), ("collaborations_intra", "collaborations_inter")),
    KPI("specialised_domains", "specialised domains (RCA >= 1)", "domains", ("specialised_domains",)),
    KPI("knowledge_flows_per_firm", "knowledge flows per firm a quarter", "per firm a quarter",
        ("knowledge_flows",), ("firms",)),
)}


_INDICATORS_ALLOWED = f"comma-separated names from {', '.join(KPIS)} (or no --indicators for all of them)"


def _kpi_list(names: Sequence[str] | None) -> list[KPI]:
    """The key indicators named (``None``: all of them), a name given twice counted once, in the order given."""
    if names is None:
        return list(KPIS.values())
    if not names:
        raise ConfigError("--indicators", "", _INDICATORS_ALLOWED)
    out = []
    for n in dict.fromkeys(names):
        if n not in KPIS:
            raise ConfigError("--indicators", n, f"names from {', '.join(KPIS)}")
        out.append(KPIS[n])
    return out


# ----------------------------------------------------------------------------------------------------------------
# statistics
# ----------------------------------------------------------------------------------------------------------------
def paired_summary(d: np.ndarray, conf: float = 0.95) -> dict[str, float]:
    """Mean of paired differences with a t confidence interval, Cohen's d_z and the paired t-test p-value."""
    from scipy import stats

    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    mean = float(d.mean()) if n else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "sd": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "effect_size": math.nan, "p_value": math.nan}
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    t = float(stats.t.ppf(0.5 + conf / 2, n - 1))
    if sd > 0:
        p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
        dz = mean / sd
    else:
        p = 1.0 if mean == 0 else 0.0
        dz = 0.0 if mean == 0 else math.copysign(math.inf, mean)
    return {"n": n, "mean": mean, "sd": sd, "ci_low": mean - t * se, "ci_high": mean + t * se,
            "effect_size": dz, "p_value": p}


def mean_ci(x: np.ndarray, conf: float = 0.95) -> tuple[float, float, float]:
    """Mean and t confidence interval of independent values."""
    s = paired_summary(x, conf)
    return s["mean"], s["ci_low"], s["ci_high"]


def mean_ci_rows(m: np.ndarray, conf: float = 0.95) -> np.ndarray:
    """:func:`mean_ci` of every row of ``m`` at once: an array (rows, 3) of mean, ci_low, ci_high. Rows with
    every value finite (the usual case) are computed together, with the same operations as :func:`mean_ci`;
    rows with missing values go through :func:`mean_ci` (their finite values only)."""
    from scipy import stats

    m = np.ascontiguousarray(m, dtype=float)
    out = np.full((m.shape[0], 3), np.nan)
    whole = np.isfinite(m).all(axis=1)
    n = m.shape[1]
    if n >= 2 and whole.any():
        x = m[whole]
        mean = x.mean(axis=1)
        se = x.std(axis=1, ddof=1) / math.sqrt(n)
        t = float(stats.t.ppf(0.5 + conf / 2, n - 1))
        out[whole] = np.column_stack([mean, mean - t * se, mean + t * se])
    elif n == 1:
        out[whole, 0] = m[whole, 0]
    for i in np.flatnonzero(~whole):
        out[i] = mean_ci(m[i], conf)
    return out


# ----------------------------------------------------------------------------------------------------------------
# swept values and runs not used
# ----------------------------------------------------------------------------------------------------------------
#: why a run that is not completed cannot be compared ("the run ...", "run N ...")
_STATUS_PHRASE = {"failed": "failed", "missing": "is missing (it never ran, or its folder is gone)",
                  "interrupted": "was interrupted", "running": "is still running",
                  "damaged": "is damaged (its tables cannot be read)"}


def _number(text: str) -> Decimal | None:
    """The exact finite number a swept value spells (``1``, ``1.0`` and ``1e0`` alike), or None."""
    try:
        d = Decimal(text.strip())
    except (InvalidOperation, ValueError, AttributeError):
        return None
    return d if d.is_finite() else None


def _same_value(a: str, b: str) -> bool:
    """Two spellings of one swept value: equal text, or the same number."""
    if a == b:
        return True
    x, y = _number(a), _number(b)
    return x is not None and y is not None and x == y


def _spelling(value: str, values: Sequence[str]) -> str | None:
    """The spelling among ``values`` of ``value`` (``1.0`` finds ``1``), or None."""
    return next((v for v in values if v == value), None) or next((v for v in values if _same_value(value, v)), None)


def _one_spelling(col: pd.Series) -> pd.Series:
    """The swept values of a column with every spelling of one number (``1``, ``1.0``) replaced by the first."""
    first: list[str] = []

    def one(v: Any) -> Any:
        if not isinstance(v, str):
            return v
        s = _spelling(v, first)
        if s is None:
            first.append(v)
            return v
        return s

    return col.map(one)


def _identity(overrides: Any, by: str) -> tuple[tuple[str, str], ...]:
    """A job's overrides other than ``by``: the runs of one pair share them."""
    return tuple(sorted(_override_key(t) for t in str(overrides).split() if _override_key(t)[0] != by))


def _partner_reasons(idx: pd.DataFrame, unpaired: pd.DataFrame, by: str, baseline: str) -> dict[int, str]:
    """Why each completed run in ``unpaired`` has no baseline partner: the partner's run number and status."""
    base = idx[idx[by] == baseline]
    partner = {}
    for run, overrides in base[["run", "overrides"]].itertuples(index=False):
        partner.setdefault(_identity(overrides, by), int(run))
    status = dict(zip(idx["run"].astype(int), idx["status"]))
    out = {}
    for run, overrides in unpaired[["run", "overrides"]].itertuples(index=False):
        p = partner.get(_identity(overrides, by))
        if p is None:
            out[int(run)] = (f"no baseline partner: the sweep has no {by}={baseline} run with the same other "
                             f"overrides")
        else:
            st = status.get(p, "missing")
            out[int(run)] = f"no baseline partner: run {p} ({by}={baseline}) {_STATUS_PHRASE.get(st, f'is {st}')}"
    return out


# ----------------------------------------------------------------------------------------------------------------
# the comparison
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Everything ``s3sim-compare`` reports, as tables."""

    factor: str
    baseline: str
    scenarios: list[str]
    kpis: list[KPI]
    window: int
    horizon: pd.DataFrame          # run, region, factor value, pair key columns, one column per KPI
    contrasts: pd.DataFrame        # scenario, kpi, region, n, mean, ci_low, ci_high, effect_size, p, relative...
    regions_improving: pd.DataFrame  # scenario, kpi, regions, improving, clearly_improving
    levels_over_time: pd.DataFrame   # scenario, kpi, step, mean, ci_low, ci_high (region ALL)
    contrasts_over_time: pd.DataFrame  # scenario, kpi, step, mean, ci_low, ci_high (region ALL)
    regions: pd.DataFrame          # id, name, lon, lat (from the runs' manifests)
    burn_in: int
    excluded: pd.DataFrame         # runs not used, with a reason (not completed, no baseline partner, a repeat)
    n_pairs: dict[str, int] = field(default_factory=dict)
    sweep_dir: Path | None = None
    where: dict[str, str] = field(default_factory=dict)  # the runs compared: those with these swept values

    @property
    def headline(self) -> KPI:
        return self.kpis[0]

    def contrast(self, scenario: str, kpi: str | None = None, region: str = "ALL") -> dict[str, Any]:
        kpi = kpi or self.headline.name
        c = self.contrasts
        row = c[(c["scenario"] == scenario) & (c["kpi"] == kpi) & (c["region"] == region)]
        if row.empty:
            raise ConfigError("scenario", scenario, f"one of {', '.join(self.scenarios)}")
        return row.iloc[0].to_dict()

    def reading(self) -> list[str]:
        """Plain-language sentences on the main results."""
        k = self.headline
        out = []
        n_regions = int(self.regions_improving["regions"].max()) if len(self.regions_improving) else 0
        for s in self.scenarios:
            c = self.contrast(s, k.name)
            imp = self.regions_improving
            ri = imp[(imp["scenario"] == s) & (imp["kpi"] == k.name)]
            better = int(ri["improving"].iloc[0]) if len(ri) else 0
            clearly = int(ri["clearly_improving"].iloc[0]) if len(ri) else 0
            worse = int(ri["clearly_worsening"].iloc[0]) if len(ri) else 0
            if int(c["n"]) == 0:
                out.append(f"{s}: no pair of runs has a value of {k.label}, so there is no contrast against "
                           f"{self.baseline}.")
                continue
            if int(c["n"]) < 2:
                out.append(f"{s}: {_fmt(c['mean'], sign=True)} on {k.label} against {self.baseline} from a single "
                           f"pair of runs, which cannot be judged: run more replicates.")
                continue
            ci = f"[{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]"
            rel = "" if not np.isfinite(c["relative"]) else f", {c['relative']:+.0%}"
            clear = np.isfinite(c["ci_low"]) and (c["ci_low"] > 0 or c["ci_high"] < 0)
            if not clear:
                verb = (f"does not clearly change {k.label} against {self.baseline}: {_fmt(c['mean'], sign=True)} "
                        f"{ci}, an interval that includes zero")
            else:
                lo, hi = sorted((abs(c["ci_low"]), abs(c["ci_high"])))
                verb = (f"{'raises' if c['mean'] > 0 else 'lowers'} {k.label} by {_fmt(abs(c['mean']))} "
                        f"[{_fmt(lo)}, {_fmt(hi)}]{rel} against {self.baseline}")
            word = "improves" if k.higher_is_better else "worsens"
            worsens = f", and clearly {'worsens' if k.higher_is_better else 'improves'} it in {worse}" if worse else ""
            out.append(f"{s} {verb}; it {word} the indicator in {better} of {plural(n_regions, 'region')} "
                       f"({clearly} with an interval excluding zero){worsens}; paired over {int(c['n'])} "
                       f"replicates.")
        # the best scenario on the headline
        tot = self.contrasts[(self.contrasts["kpi"] == k.name) & (self.contrasts["region"] == "ALL")]
        tot = tot[np.isfinite(tot["mean"].to_numpy(dtype=float))]
        if len(tot) > 1:  # ranked by the better direction: the largest gain, or when all lose, the smallest loss
            best = tot.sort_values("mean", ascending=not k.higher_is_better).iloc[0]
            clear = np.isfinite(best["ci_low"]) and (best["ci_low"] > 0 or best["ci_high"] < 0)
            note = "" if clear else " (its interval includes zero)"
            gain = best["mean"] if k.higher_is_better else -best["mean"]
            if gain > 0:
                what = "gain" if k.higher_is_better else "reduction"
                out.append(f"On {k.label}, {best['scenario']} has the largest mean {what} against {self.baseline} "
                           f"across the whole area{note}.")
            elif gain < 0:
                out.append(f"On {k.label}, every scenario does worse than {self.baseline} across the whole area on "
                           f"average; {best['scenario']} has the smallest loss, {_fmt(best['mean'], sign=True)}{note}.")
            else:
                out.append(f"On {k.label}, no scenario does better than {self.baseline} across the whole area on "
                           f"average; {best['scenario']} matches it{note}.")
        # clear effects on the other indicators
        others = self.contrasts[(self.contrasts["region"] == "ALL") & (self.contrasts["kpi"] != k.name)]
        clear = others[(others["ci_low"] > 0) | (others["ci_high"] < 0)]
        for s in self.scenarios:
            rows = clear[clear["scenario"] == s]
            if len(rows):
                parts = [f"{KPIS[r.kpi].label if r.kpi in KPIS else r.kpi} {r.relative:+.0%}"
                         if np.isfinite(r.relative) else f"{r.kpi} {_fmt(r.mean, sign=True)}"
                         for r in rows.itertuples()]
                out.append(f"Other clear effects of {s}: {'; '.join(parts)}.")
        return out


def plural(n: int, word: str) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _fmt(x: float, sign: bool = False) -> str:
    if not np.isfinite(x):
        return "n/a"
    a = abs(x)
    digits = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 1 else 3
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _policy_quarters(store: SweepStore, usable: pd.DataFrame) -> int:
    """Quarters after the burn-in in the compared runs (the longest window that excludes the burn-in)."""
    steps = pd.to_numeric(usable["steps"], errors="coerce")
    burn = pd.to_numeric(usable["burn_in"], errors="coerce")
    q = (steps - burn).min()
    return int(q) if pd.notna(q) else 10**9


def _needed(kpis: list[KPI]) -> list[str]:
    return sorted({i for k in kpis for i in (*k.numerator, *k.denominator)})


def _kpi_frame(sums: pd.DataFrame, kpis: list[KPI], means: pd.DataFrame | None = None) -> pd.DataFrame:
    out = pd.DataFrame(index=sums.index)
    for k in kpis:
        if k.denominator:
            num = sums[list(k.numerator)].sum(axis=1)
            den = sums[list(k.denominator)].sum(axis=1)
            out[k.name] = k.scale * num / den.where(den != 0)
        else:
            src = sums if means is None else means
            out[k.name] = k.scale * src[list(k.numerator)].sum(axis=1)
    return out


def compare(store: SweepStore | str | Path, *, baseline: str | None = None, by: str = "policy",
            indicators: Sequence[str] | None = None, window: int = 8, conf: float = 0.95,
            where: dict[str, str] | None = None, progress: bool = True) -> Comparison:
    """Paired contrasts of every value of the swept key ``by`` against ``baseline`` (default: ``none`` if swept,
    else the first value), over the runs with the swept values in ``where`` (default: every run). Numeric values
    match by value (``1.0`` is ``1``). Runs of different worlds are not pooled: ``where`` picks one, or ``by``
    compares them."""
    if not isinstance(store, SweepStore):
        store = open_sweep(store, progress=progress)
    kpis = _kpi_list(indicators)
    if window < 1:
        raise ConfigError("--window", window, "a positive number of quarters")
    idx = store.index
    keys = store.swept_keys
    comparable = [k for k in keys if k not in REPLICATE_KEYS]  # seed and replicate pair runs, they are not compared
    if by not in comparable:
        raise ConfigError("--by", by, f"a key the sweep varies other than seed and replicate "
                                      f"({', '.join(comparable) or 'this sweep varies none'})")
    idx = idx.copy()
    idx[by] = _one_spelling(idx[by])
    where = dict(where or {})
    for key, value in where.items():
        others = [k for k in comparable if k != by]
        if key not in others:
            raise ConfigError("--where", f"{key}={value}", f"KEY=VALUE with KEY a key the sweep varies other than "
                                                           f"--by, seed and replicate ({', '.join(others) or 'none'})")
        options = list(dict.fromkeys(v for v in idx[key] if isinstance(v, str)))
        spelled = _spelling(value, options)
        if spelled is None:
            raise ConfigError("--where", f"{key}={value}", f"a value of {key} in this sweep: {', '.join(options)}")
        where[key] = spelled
        idx = idx[idx[key].map(lambda v, spelled=spelled: isinstance(v, str) and _same_value(v, spelled))]
    values = list(dict.fromkeys(v for v in idx[by] if isinstance(v, str)))
    if len(values) < 2:
        raise ConfigError("--by", by, "a key with at least two values in the sweep")
    if baseline is None:
        baseline = "none" if "none" in values else values[0]
    spelled = _spelling(str(baseline), values)
    if spelled is None:
        raise ConfigError("--baseline", baseline, f"one of {', '.join(values)} (the values of {by} in this sweep)")
    baseline = spelled
    scenarios = [v for v in values if v != baseline]
    strata = [k for k in keys if k != by and k not in REPLICATE_KEYS]
    pair_cols = ["seed", "replicate", *strata]

    done = idx[idx["status"] == "completed"].copy()
    if done.empty:
        raise ConfigError(str(store.sweep_dir), "no completed runs", "a sweep with completed runs to compare")
    done["replicate"] = done["replicate"].astype("Int64").fillna(-1).astype(int)
    done["pair"] = done[pair_cols].astype(str).agg("|".join, axis=1)
    done["rep"] = done[["seed", "replicate"]].astype(str).agg("|".join, axis=1)  # the independent unit
    # a value given twice in the sweep (policy=none,none,...) ran the same pair twice: the first run is used
    done = done.sort_values("run", kind="stable")
    repeat = done.duplicated([by, "pair"], keep="first")
    kept = done[~repeat].set_index([by, "pair"])["run"]
    reasons = {}
    for run, value, pair in done.loc[repeat, ["run", by, "pair"]].itertuples(index=False):
        reasons[int(run)] = (f"repeats run {int(kept[(value, pair)])} (the same {by}, seed, replicate and other swept "
                             f"values): one run per pair is used")
    done = done[~repeat]
    base_pairs = set(done.loc[done[by] == baseline, "pair"])
    if not base_pairs:
        raise ConfigError("--baseline", baseline, f"a value of {by} with completed runs (every {by}={baseline} run "
                                                  f"failed or is missing; re-run them with s3sim-collect "
                                                  f"--rerun-missing)")
    usable = done[done["pair"].isin(base_pairs)]
    for r in idx[idx["status"] != "completed"].itertuples():
        reasons[int(r.run)] = f"the run {_STATUS_PHRASE.get(r.status, f'is {r.status}')}"
    reasons.update(_partner_reasons(idx, done[~done["pair"].isin(base_pairs)], by, baseline))
    excluded = idx[idx["run"].isin(list(reasons))].copy()
    excluded["reason"] = excluded["run"].map(lambda r: reasons[int(r)])
    excluded = excluded.sort_values("run", kind="stable")
    for key in (k for k in strata if k == "world" or k.startswith("world.")):
        worlds = list(dict.fromkeys(v if isinstance(v, str) else "(default)" for v in usable[key]))
        if len(worlds) > 1:
            first = next((w for w in worlds if w != "(default)"), worlds[0])
            raise ConfigError("--by", by, f"a comparison within one world, but the runs come from different worlds "
                                          f"({key}={', '.join(worlds)}), whose regions cannot be paired or pooled: "
                                          f"add --where {key}={first} (or another value), or compare the worlds "
                                          f"with --by {key}")
    dropped = [s for s in scenarios if not (usable[by] == s).any()]
    scenarios = [s for s in scenarios if s not in dropped]
    if not scenarios:
        raise ConfigError(str(store.sweep_dir), "no complete pairs", f"runs of at least one {by} value other than "
                                                                     f"{baseline} whose baseline partner completed")
    if window > _policy_quarters(store, usable):
        raise ConfigError("--window", window, f"at most the {_policy_quarters(store, usable)} quarters of the "
                                              f"policy horizon (a longer window would include the burn-in)")

    ts = store.read("timeseries", columns=["run", "step", "region", "indicator", "value"],
                    filters=[("indicator", "in", _needed(kpis)), ("run", "in", [int(r) for r in usable["run"]])])
    if ts.empty:
        raise ConfigError(str(store.sweep_dir), "no indicator rows", "runs whose time series hold "
                                                                     f"{', '.join(_needed(kpis))}")
    ts["region"] = ts["region"].astype(str)
    wide = ts.pivot_table(index=["run", "region", "step"], columns="indicator", values="value", aggfunc="first")
    for col in _needed(kpis):
        if col not in wide:
            wide[col] = np.nan
    last = int(ts["step"].max())
    win = wide[wide.index.get_level_values("step") > last - window]
    sums = win.groupby(level=["run", "region"]).sum(min_count=1)
    means = win.groupby(level=["run", "region"]).mean()
    horizon = _kpi_frame(sums, kpis, means).reset_index()
    horizon = horizon.merge(usable[["run", by, "pair", "rep", *pair_cols]], on="run")

    rows, improving = [], []
    rep_of = usable.drop_duplicates("pair").set_index("pair")["rep"]
    regions_all = sorted(set(horizon["region"]) - {"ALL"}) + ["ALL"]
    for s in scenarios:
        a = horizon[horizon[by] == s].set_index(["pair", "region"])
        b = horizon[horizon[by] == baseline].set_index(["pair", "region"])
        joined = a[[k.name for k in kpis]].join(b[[k.name for k in kpis]], rsuffix="__base", how="inner")
        for k in kpis:
            better = clearly = worse = n_reg = 0
            for region in regions_all:
                if region not in joined.index.get_level_values("region"):
                    continue
                sel = joined.xs(region, level="region")
                # pairs of one seed and replicate that differ in another swept key share their random streams:
                # average them, so that each independent replicate counts once
                d = (sel[k.name] - sel[f"{k.name}__base"]).groupby(rep_of).mean().to_numpy(dtype=float)
                st = paired_summary(d, conf)
                base = sel[f"{k.name}__base"].to_numpy(dtype=float)
                base_mean = float(np.nanmean(base)) if not np.isnan(base).all() else math.nan
                rel = st["mean"] / abs(base_mean) if base_mean not in (0.0,) and np.isfinite(base_mean) else math.nan
                rows.append({"scenario": s, "baseline": baseline, "kpi": k.name, "region": region, **st,
                             "baseline_mean": base_mean, "scenario_mean": base_mean + st["mean"],
                             "relative": rel})
                if region != "ALL" and np.isfinite(st["mean"]):
                    n_reg += 1
                    sign = 1 if k.higher_is_better else -1
                    better += sign * st["mean"] > 0
                    clearly += (st["ci_low"] > 0) if sign > 0 else (st["ci_high"] < 0)
                    worse += (st["ci_high"] < 0) if sign > 0 else (st["ci_low"] > 0)
            improving.append({"scenario": s, "kpi": k.name, "regions": n_reg, "improving": int(better),
                              "clearly_improving": int(clearly), "clearly_worsening": int(worse)})
    contrasts = pd.DataFrame(rows)

    # over time (region ALL): four-quarter moving sums, then the KPI ratios step by step
    all_ = wide.xs("ALL", level="region").sort_index()
    rolled = all_.groupby(level="run", group_keys=False).apply(lambda g: g.rolling(4, min_periods=1).sum())
    rolled_mean = all_.groupby(level="run", group_keys=False).apply(lambda g: g.rolling(4, min_periods=1).mean())
    over = _kpi_frame(rolled, kpis, rolled_mean).reset_index().merge(usable[["run", by, "pair"]], on="run")
    lev_rows, con_rows = [], []
    for k in kpis:
        piv = over.pivot_table(index="step", columns="run", values=k.name)
        for v in values:
            runs = [r for r in usable.loc[usable[by] == v, "run"] if r in piv.columns]
            m = piv[runs].to_numpy(dtype=float)
            for step, (mu, lo, hi) in zip(piv.index, mean_ci_rows(m, conf)):
                lev_rows.append({"scenario": v, "kpi": k.name, "step": int(step), "mean": mu, "ci_low": lo,
                                 "ci_high": hi})
        base_runs = usable[usable[by] == baseline].set_index("pair")["run"]
        for s in scenarios:
            s_runs = usable[usable[by] == s].set_index("pair")["run"]
            common = [p for p in s_runs.index if p in base_runs.index]
            if not common:
                continue
            # a run whose indicator is missing at every step has no column in piv (pivot_table drops it): NaN
            diff = (piv.reindex(columns=[s_runs[p] for p in common]).to_numpy(float)
                    - piv.reindex(columns=[base_runs[p] for p in common]).to_numpy(float))
            diff = pd.DataFrame(diff.T).groupby(rep_of.loc[common].to_numpy()).mean().to_numpy().T
            for step, (mu, lo, hi) in zip(piv.index, mean_ci_rows(diff, conf)):
                con_rows.append({"scenario": s, "kpi": k.name, "step": int(step), "mean": mu, "ci_low": lo,
                                 "ci_high": hi})

    # region table from the first usable run's manifest (stored at run time)
    m = store.manifest(int(usable["run"].iloc[0]))
    regions = pd.DataFrame(m.get("regions") or [{"id": r} for r in regions_all if r != "ALL"])
    burn_in = int(m.get("burn_in") or 0)
    n_pairs = {s: int(contrasts[(contrasts["scenario"] == s) & (contrasts["region"] == "ALL")]["n"].fillna(0).max())
               for s in scenarios}
    return Comparison(factor=by, baseline=baseline, scenarios=scenarios, kpis=kpis, window=window,
                      horizon=horizon, contrasts=contrasts, regions_improving=pd.DataFrame(improving),
                      levels_over_time=pd.DataFrame(lev_rows), contrasts_over_time=pd.DataFrame(con_rows),
                      regions=regions, burn_in=burn_in, excluded=excluded, n_pairs=n_pairs,
                      sweep_dir=store.sweep_dir, where=where)


# ----------------------------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="s3sim-compare", description="Paired scenario contrasts of a sweep against a baseline, with figures, "
        "an HTML report and a Markdown summary.")
    parser.add_argument("sweep_dir", help="a sweep directory written by `s3sim -m ...`")
    parser.add_argument("--baseline", default=None, help="the baseline value of --by (default: none if swept, "
                        "else the first value)")
    parser.add_argument("--by", default="policy", help="the swept key whose values are compared (default: policy)")
    parser.add_argument("--indicators", default=None,
                        help=f"comma-separated key indicators, the first is the headline (default: all of "
                             f"{', '.join(KPIS)})")
    parser.add_argument("--window", type=int, default=8, help="quarters at the end of the run that make the "
                        "horizon value (default 8)")
    parser.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="compare only the runs with this value of another swept key, e.g. world=alpine "
                             "(repeatable)")
    parser.add_argument("--out", default=None, help="output directory (default: SWEEP_DIR/report)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--no-figures", action="store_true", help="tables, report.html and summary.md without "
                        "figures (much faster)")
    args = parser.parse_args(argv)
    from .report import check_report_dir, write_report

    try:
        if args.out:  # the default, SWEEP_DIR/report, is the tool's own place (checked when it is written)
            check_report_dir(args.out)
        names = None if args.indicators is None else [s.strip() for s in args.indicators.split(",") if s.strip()]
        if names == []:
            raise ConfigError("--indicators", args.indicators, _INDICATORS_ALLOWED)
        where: dict[str, str] = {}
        for text in args.where:
            key, eq, value = text.partition("=")
            if not eq or not key.strip() or key.strip() in where:
                raise ConfigError("--where", text, "KEY=VALUE, a swept key (each key once) and one of its values")
            where[key.strip()] = value.strip()
        comp = compare(args.sweep_dir, baseline=args.baseline, by=args.by, indicators=names, window=args.window,
                       where=where, progress=not args.quiet)
        out = Path(args.out) if args.out else Path(args.sweep_dir) / "report"
        paths = write_report(comp, out, progress=not args.quiet, figures=not args.no_figures)
    except S3SimError as exc:
        print(f"s3sim-compare: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for line in comp.reading():
        print(f"  {line}")
    if len(comp.excluded):
        n = len(comp.excluded)
        print(f"s3sim-compare: {plural(n, 'run')} not used ({', '.join(str(int(r)) for r in comp.excluded['run'])}), "
              f"listed with the reason in the report")
    print(f"s3sim-compare: report written to {paths['html']}")
    print(f"s3sim-compare: summary in {paths['markdown']}")


if __name__ == "__main__":  # pragma: no cover
    main()
