"""Stylised-fact validation (pattern-oriented modelling; model-spec section 3 and 5.13): one function per fact.

Every fact function takes stored run data (tables of :class:`~s3sim.runner.RunResult`s and the extra tables
written by ``s3sim-validate``), never a model, and returns a :class:`Fact`: the measured value with a 95%
interval, the target, the tolerance that decides pass or fail, the source, and the data of its figure.
Intervals come from a bootstrap over runs (seeds), with a ``numpy.random.Generator`` seeded from a
``SeedSequence``; runs are the independent units, so within-run dependence (firms, cells and years of one run)
is kept inside each resampled unit.

Facts (ids of model-spec section 3):

* **F1** firm-size Zipf tail: Hill tail index of end-of-run firm capital over the top 10% (and 20%) of firms.
* **F2** growth volatility falls with size: slope of log sd(annual log sales growth) on log sales.
* **F3** skewed returns: share of total innovation value held by the top 10% of innovations.
* **F4** small world: clustering and mean path length of the final collaboration network against an
  Erdos-Renyi graph with the same size and mean degree; small-world quotient Q; giant component.
* **F7** localised spillovers: OLS of log innovations on log own R&D and log R&D of regions within 300 km,
  region x 5-year periods, with run x period fixed effects.
* **F9** relatedness-driven entry and exit: linear probability models of specialisation entry and exit on
  relatedness density with run x region x observation and run x domain fixed effects.
* **F12** regional concentration: Gini across regions of innovations minus Gini of firms.
* **F16** cluster-policy effect: annual probability of innovating of incumbent firms in targeted domains under
  ``cluster_s3`` minus the same firms under ``none`` (common random numbers).

:func:`validate_store` reads a directory written by ``s3sim-validate`` and returns every fact;
:func:`write_report` writes ``validation.csv``, ``validation.md`` and ``figures/``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..files import atomic_table, atomic_text, atomic_write
from ..indicators import gini
from ..indicators.outcomes import top_share
from ..runner.result import RunResult, load_result

N_BOOT = 400
#: distance within which regions count as neighbours for F7 (Bottazzi & Peri 2003)
NEIGHBOUR_KM = 300.0
#: quarters per period in the F7 regression (5-year averages, as in Bottazzi & Peri's panel)
PERIOD_QUARTERS = 20


@dataclass
class Fact:
    """One validated stylised fact."""

    id: str
    name: str
    statistic: str  # what ``value`` is
    value: float
    low: float
    high: float
    target: str
    tolerance: str
    source: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    figure: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    #: the details that decide the result besides ``value`` (shown in the table's "also" column)
    also: tuple[str, ...] = ()

    def also_text(self) -> str:
        return "; ".join(f"{k} {_fmt(self.details[k])}" for k in self.also if k in self.details)

    def row(self) -> dict[str, Any]:
        return {"fact": self.id, "name": self.name, "statistic": self.statistic, "measured": self.value,
                "ci_low": self.low, "ci_high": self.high, "target": self.target, "tolerance": self.tolerance,
                "source": self.source, "result": "PASS" if self.passed else "FAIL",
                "also": self.also_text(), "details": json.dumps({k: _round(v) for k, v in self.details.items()}),
                "note": self.note}


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v)


def _round(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return float(f"{float(v):.4g}") if np.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


# ---------------------------------------------------------------------------------------------------------------
# estimators (pure functions, unit-tested on synthetic data with known answers)
# ---------------------------------------------------------------------------------------------------------------
def rng_for(seed: int | Sequence[int], *key: int) -> np.random.Generator:
    """A Generator from ``SeedSequence(seed)`` (spawn key ``key``): every resampling stream is reproducible."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=tuple(key))))


def hill_tail_index(x: np.ndarray, top: float = 0.1) -> float:
    """Hill estimator of the Pareto tail index alpha (P(X > x) ~ x^-alpha) from the largest ``top`` share of the
    positive values: ``k / sum(log(x_(i) / x_(k+1)))`` over the ``k`` largest."""
    v = np.sort(np.asarray(x, dtype=np.float64))
    v = v[v > 0][::-1]
    k = math.ceil(top * v.size)
    if k < 2 or k >= v.size:
        return float("nan")
    logs = np.log(v[:k] / v[k])
    s = logs.sum()
    return float(k / s) if s > 0 else float("nan")


def mean_ci(values: Sequence[float], seed: int = 0) -> tuple[float, float, float]:
    """Mean with a 95% percentile-bootstrap interval over the values (runs)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), float("nan"), float("nan")
    g = rng_for(seed, 1)
    idx = g.integers(0, v.size, size=(N_BOOT, v.size))
    boots = v[idx].mean(axis=1)
    return float(v.mean()), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def bootstrap_units(stat: Callable[[list[int]], float], n_units: int, seed: int = 0,
                    n_boot: int = N_BOOT) -> tuple[float, float, float]:
    """``stat`` over all units and a 95% percentile interval from resampling units (runs) with replacement.
    ``stat`` takes a list of unit indices (with repeats)."""
    return bootstrap_units_many(lambda idx: [stat(idx)], n_units, seed, n_boot)[0]


def bootstrap_units_many(stat: Callable[[list[int]], Sequence[float]], n_units: int, seed: int = 0,
                         n_boot: int = N_BOOT) -> list[tuple[float, float, float]]:
    """:func:`bootstrap_units` for a statistic with several components, evaluated once per resample: one
    (value, low, high) per component, each interval over that component's finite resampled values."""
    full = [float(v) for v in stat(list(range(n_units)))]
    nan = float("nan")
    if n_units < 2:
        return [(v, nan, nan) for v in full]
    g = rng_for(seed, 2)
    boots = np.array([stat(list(g.integers(0, n_units, size=n_units))) for _ in range(n_boot)], dtype=np.float64)
    out = []
    for k, v in enumerate(full):
        b = boots[:, k][np.isfinite(boots[:, k])]
        out.append((v, nan, nan) if b.size < 10 else (v, float(np.quantile(b, 0.025)), float(np.quantile(b, 0.975))))
    return out


def demean(columns: np.ndarray, groups: Sequence[np.ndarray], tol: float = 1e-10, max_iter: int = 500) -> np.ndarray:
    """Remove any number of fixed effects from the columns (n x k) by alternating projections (each pass
    subtracts the group means of every grouping in turn) until the change is below ``tol``."""
    out = np.array(columns, dtype=np.float64, copy=True)
    if out.ndim == 1:
        out = out[:, None]
    codes = [np.unique(np.asarray(gr), return_inverse=True)[1].ravel() for gr in groups]
    counts = [np.bincount(c).astype(np.float64) for c in codes]
    for _ in range(max_iter if len(codes) > 1 else 1):
        delta = 0.0
        for c, cnt in zip(codes, counts):
            for j in range(out.shape[1]):
                m = np.bincount(c, weights=out[:, j], minlength=cnt.size) / cnt
                out[:, j] -= m[c]
                delta = max(delta, float(np.abs(m).max()) if m.size else 0.0)
        if delta < tol:
            break
    return out


def ols(y: np.ndarray, X: np.ndarray, groups: Sequence[np.ndarray] = (), intercept: bool = True) -> np.ndarray:
    """OLS coefficients of ``y`` on the columns of ``X``; with ``groups`` the fixed effects are absorbed
    (within estimator), else an intercept is added (returned first)."""
    y = np.asarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if groups:
        Z = demean(np.column_stack([y, X]), groups)
        y, X = Z[:, 0], Z[:, 1:]
    elif intercept:
        X = np.column_stack([np.ones(len(y)), X])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return coef


def transitivity(edges: np.ndarray, n: int) -> float:
    """Global clustering (3 x triangles / connected triples) of an undirected simple graph on ``n`` nodes."""
    if len(edges) == 0:
        return 0.0
    A = _adjacency(edges, n)
    deg = np.asarray(A.sum(axis=1)).ravel()
    tri2 = np.asarray((A @ A).multiply(A).sum(axis=1)).ravel()  # 2 x triangles through each node
    triples = (deg * (deg - 1) / 2.0).sum()
    return float(tri2.sum() / 2.0 / triples) if triples > 0 else 0.0


def _adjacency(edges: np.ndarray, n: int):
    from scipy import sparse

    e = np.asarray(edges, dtype=np.int64)
    data = np.ones(2 * len(e))
    A = sparse.csr_matrix((data, (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n))
    A.sum_duplicates()
    A.data[:] = 1.0
    A.setdiag(0)
    A.eliminate_zeros()
    return A


def small_world_stats(edges: np.ndarray, n_nodes: int, rng: np.random.Generator,
                      sources: int = 300) -> dict[str, float]:
    """Small-world statistics of a graph: global clustering C, mean shortest path L in the giant component
    (from up to ``sources`` random sources), their Erdos-Renyi references with the giant component's size N
    and mean degree k (C_rand = k / (N - 1), L_rand = ln N / ln k), the quotient Q = (C/C_rand)/(L/L_rand), and
    the giant component's share of ``n_nodes``."""
    from scipy.sparse import csgraph

    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    nan = float("nan")
    if len(e) == 0:
        return {"C": 0.0, "C_rand": nan, "L": nan, "L_rand": nan, "Q": nan, "giant_share": 0.0, "n_giant": 0, "k_giant": 0.0}
    ids, inv = np.unique(e.ravel(), return_inverse=True)
    e2 = inv.reshape(-1, 2)
    m = ids.size
    A = _adjacency(e2, m)
    C = transitivity(e2, m)
    _, label = csgraph.connected_components(A, directed=False)
    sizes = np.bincount(label)
    g = int(np.argmax(sizes))
    nodes = np.flatnonzero(label == g)
    G = A[nodes][:, nodes]
    N = nodes.size
    k = float(G.sum() / N)
    src = nodes if N <= sources else rng.choice(N, size=sources, replace=False)
    src = np.arange(N) if N <= sources else src
    D = csgraph.shortest_path(G, method="D", unweighted=True, indices=src)
    finite = D[np.isfinite(D) & (D > 0)]
    L = float(finite.mean()) if finite.size else nan
    C_rand = k / (N - 1) if N > 1 else nan
    L_rand = math.log(N) / math.log(k) if k > 1 and N > 1 else nan
    Q = (C / C_rand) / (L / L_rand) if C_rand and L_rand and L and np.isfinite(L_rand) else nan
    return {"C": C, "C_rand": C_rand, "L": L, "L_rand": L_rand, "Q": Q, "giant_share": N / max(n_nodes, 1), "n_giant": N,
                "k_giant": k}


def growth_volatility_slope(size0: np.ndarray, size1: np.ndarray, bins: int = 10) -> tuple[float, dict]:
    """beta in sd(g | S) ~ S^-beta for growth ``g = log(size1 / size0)``: OLS of log sd(g) in ``bins`` quantile
    bins of log size on the bins' mean log size (beta = minus the slope)."""
    s0 = np.asarray(size0, dtype=np.float64)
    s1 = np.asarray(size1, dtype=np.float64)
    ok = (s0 > 0) & (s1 > 0)
    ls, g = np.log(s0[ok]), np.log(s1[ok] / s0[ok])
    if ls.size < 5 * bins:
        return float("nan"), {}
    edges = np.quantile(ls, np.linspace(0, 1, bins + 1))
    b = np.clip(np.searchsorted(edges, ls, side="right") - 1, 0, bins - 1)
    x = np.array([ls[b == i].mean() for i in range(bins) if (b == i).sum() > 2])
    sd = np.array([g[b == i].std(ddof=1) for i in range(bins) if (b == i).sum() > 2])
    good = sd > 0
    if good.sum() < 3:
        return float("nan"), {}
    slope = ols(np.log(sd[good]), x[good])[1]
    return float(-slope), {"log_size": x[good], "log_sd": np.log(sd[good])}


def haversine_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Great-circle distances (km) between all pairs of points."""
    lo, la = np.radians(lon), np.radians(lat)
    dlo = lo[:, None] - lo[None, :]
    dla = la[:, None] - la[None, :]
    h = np.sin(dla / 2) ** 2 + np.cos(la[:, None]) * np.cos(la[None, :]) * np.sin(dlo / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


# ---------------------------------------------------------------------------------------------------------------
# the facts
# ---------------------------------------------------------------------------------------------------------------
def firm_size_tail(firm_tables: Sequence[pd.DataFrame], seed: int = 0) -> Fact:
    """F1: Hill tail index of end-of-run firm capital, top 10% of firms (top 20% and revenue in details)."""
    a10 = [hill_tail_index(f["size"].to_numpy(), 0.10) for f in firm_tables]
    a20 = [hill_tail_index(f["size"].to_numpy(), 0.20) for f in firm_tables]
    r10 = [hill_tail_index(f["revenue"].to_numpy(), 0.10) for f in firm_tables]
    v, lo, hi = mean_ci(a10, seed)
    v20, lo20, hi20 = mean_ci(a20, seed)
    ok = 0.8 <= v <= 1.5
    sizes = np.concatenate([f["size"].to_numpy() for f in firm_tables]) if firm_tables else np.zeros(0)
    return Fact("F1", "firm-size Zipf tail", "Hill tail index of firm capital, top 10% of firms (mean over runs)",
                v, lo, hi, "alpha ~ 1 (Axtell: 1.06)", "alpha in [0.8, 1.5] (model-spec 3, pattern-oriented use)",
                "Axtell (2001), Science 293:1818", ok,
                details={"alpha_top20": v20, "alpha_top20_ci": f"[{lo20:.3g}, {hi20:.3g}]",
                         "alpha_revenue_top10": float(np.nanmean(r10)) if r10 else float("nan"),
                         "firms_per_run": float(np.mean([len(f) for f in firm_tables])) if firm_tables else 0.0},
                figure={"kind": "ccdf", "sizes": sizes, "alpha": v, "top": 0.10}, also=("alpha_top20",))


def growth_volatility(firm_years: Sequence[pd.DataFrame], seed: int = 0) -> Fact:
    """F2: beta in sd(annual log growth of sales) ~ sales^-beta, firms alive in consecutive years (sales: the
    quarter's revenue at each yearly snapshot, as Stanley et al. measure size by sales); capital in details."""
    betas, betas_k, figs, kurt = [], [], [], []
    for fy in firm_years:
        s0, s1 = _consecutive(fy, "revenue")
        b, fig = growth_volatility_slope(s0, s1)
        betas.append(b)
        betas_k.append(growth_volatility_slope(*_consecutive(fy, "capital"))[0])
        if fig:
            figs.append(fig)
        ok = (s0 > 0) & (s1 > 0)
        g = np.log(s1[ok] / s0[ok])
        if g.size > 10:
            z = (g - g.mean()) / g.std()
            kurt.append(float((z ** 4).mean() - 3.0))
    v, lo, hi = mean_ci(betas, seed)
    ok = 0.1 <= v <= 0.3
    return Fact("F2", "growth volatility falls with size", "beta: slope of -log sd(annual log sales growth) on "
                "log sales, 10 size bins (mean over runs)", v, lo, hi,
                "beta ~ 0.2 (0.14-0.2)", "beta in [0.1, 0.3] (+-50% of 0.2) [I]",
                "Stanley et al. (1996), Nature; Riccaboni et al. (2008), PNAS", ok,
                details={"beta_capital": float(np.nanmean(betas_k)) if betas_k else float("nan"),
                         "sales_growth_excess_kurtosis": float(np.mean(kurt)) if kurt else float("nan")},
                figure={"kind": "volatility", "bins": figs[:5], "beta": v}, also=("beta_capital",))


def _consecutive(fy: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``col`` for firms alive at years y and y + 1 (all y), as two aligned arrays."""
    a = fy[fy["alive"]][["firm_id", "year", col]]
    b = a.assign(year=a["year"] - 1)
    m = a.merge(b, on=["firm_id", "year"], suffixes=("0", "1"))
    return m[f"{col}0"].to_numpy(), m[f"{col}1"].to_numpy()


def innovation_value_skew(innovation_tables: Sequence[pd.DataFrame], seed: int = 0) -> Fact:
    """F3: share of total innovation value held by the top 10% of innovations (per run, whole run)."""
    shares = [top_share(t["value"].to_numpy(), 0.1) for t in innovation_tables]
    v, lo, hi = mean_ci(shares, seed)
    vals = innovation_tables[0]["value"].to_numpy() if innovation_tables else np.zeros(0)
    return Fact("F3", "skewed returns to innovation", "share of innovation value held by the top 10% of "
                "innovations (mean over runs)", v, lo, hi, "0.48-0.93", "in [0.48, 0.93]",
                "Scherer & Harhoff (2000), Research Policy 29:559", 0.48 <= v <= 0.93,
                details={"top1_share": float(np.mean([top_share(t["value"].to_numpy(), 0.01)
                                                      for t in innovation_tables])) if innovation_tables else 0.0,
                         "innovations_per_run": float(np.mean([len(t) for t in innovation_tables]))
                         if innovation_tables else 0.0},
                figure={"kind": "lorenz", "values": vals})


def small_world(edge_tables: Sequence[pd.DataFrame], n_actors: Sequence[int], seed: int = 0) -> Fact:
    """F4: small-world quotient Q of the final collaboration network (with C/C_rand, L/L_rand, giant share)."""
    stats = [small_world_stats(e[["a", "b"]].to_numpy(), int(n), rng_for(seed, 3, k))
             for k, (e, n) in enumerate(zip(edge_tables, n_actors))]
    df = pd.DataFrame(stats)
    df["C_ratio"] = df["C"] / df["C_rand"]
    df["L_ratio"] = df["L"] / df["L_rand"]
    q, qlo, qhi = mean_ci(df["Q"], seed)
    c, _, _ = mean_ci(df["C_ratio"], seed)
    lr, lrlo, lrhi = mean_ci(df["L_ratio"], seed)
    gs, _, _ = mean_ci(df["giant_share"], seed)
    ok = bool(qlo > 1 if np.isfinite(qlo) else q > 1) and c >= 5 and lr <= 2 and gs >= 0.25
    empty = sum(len(e) == 0 for e in edge_tables)
    note = (f"{empty} of {len(edge_tables)} runs have no collaboration ties at the last step: no network, so no "
            "giant component (share 0) and no Q" + ("" if empty == len(edge_tables) else " in those runs")
            if empty else "")
    return Fact("F4", "small-world collaboration network", "small-world quotient Q = (C/C_rand)/(L/L_rand) of "
                "the final network (mean over runs)", q, qlo, qhi,
                "C >> C_rand, L ~ L_rand, Q > 1, a giant component",
                "Q > 1 (interval above 1), C/C_rand >= 5, L/L_rand <= 2, giant component >= 25% of actors [I]",
                "Fleming, King & Juda (2007), Organization Science 18(6):938", ok,
                details={"C": float(df["C"].mean()), "C_over_C_rand": c, "L": float(df["L"].mean()),
                         "L_over_L_rand": lr, "L_ratio_ci": f"[{lrlo:.3g}, {lrhi:.3g}]",
                         "giant_share": gs, "mean_degree_giant": float(df["k_giant"].mean())},
                figure={"kind": "small_world", "table": df}, note=note,
                also=("C_over_C_rand", "L_over_L_rand", "giant_share"))


def spillover_panel(timeseries: Sequence[pd.DataFrame], regions: Sequence[list[dict]], burn_in: Sequence[int],
                    radius_km: float = NEIGHBOUR_KM, period: int = PERIOD_QUARTERS) -> pd.DataFrame:
    """Region x period observations for F7: innovations, own R&D and R&D of the other regions within
    ``radius_km`` (summed over each ``period``-quarter block of the horizon)."""
    out = []
    for k, (ts, reg, b) in enumerate(zip(timeseries, regions, burn_in)):
        ids = [r["id"] for r in reg]
        lon = np.array([r.get("lon", np.nan) for r in reg], dtype=np.float64)
        lat = np.array([r.get("lat", np.nan) for r in reg], dtype=np.float64)
        near = (haversine_km(lon, lat) <= radius_km) & ~np.eye(len(ids), dtype=bool)
        sel = ts[(ts["step"] > b) & ts["indicator"].isin(["innovations", "rd_spending"]) & (ts["region"] != "ALL")]
        sel = sel.assign(period=(sel["step"] - b - 1) // period, region=sel["region"].astype(str),
                         indicator=sel["indicator"].astype(str))
        full = sel.groupby("period")["step"].nunique()
        sel = sel[sel["period"].isin(full[full == full.max()].index)]  # whole periods only
        w = sel.pivot_table(index=["period", "region"], columns="indicator", values="value", aggfunc="sum")
        for p, block in w.groupby(level=0):
            blk = block.droplevel(0).reindex(ids)
            rd = blk["rd_spending"].to_numpy()
            out.append(pd.DataFrame({"run": k, "period": p, "region": ids, "innovations": blk["innovations"].to_numpy(),
                                     "rd": rd, "rd_neighbours": near.astype(float) @ np.nan_to_num(rd),
                                     "n_neighbours": near.sum(axis=1)}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def spillover_elasticities(panel: pd.DataFrame) -> tuple[float, float]:
    """(own, neighbour) elasticities: OLS of log innovations on log own R&D and log neighbours' R&D with
    run x period fixed effects (observations with no innovations, R&D or neighbours are dropped)."""
    ok = (panel["innovations"] > 0) & (panel["rd"] > 0) & (panel["rd_neighbours"] > 0)
    p = panel[ok]
    if len(p) < 5:
        return float("nan"), float("nan")
    X = np.column_stack([np.log(p["rd"]), np.log(p["rd_neighbours"])])
    coef = ols(np.log(p["innovations"].to_numpy()), X, groups=[p["run"].to_numpy() * 10_000 + p["period"].to_numpy()])
    return float(coef[0]), float(coef[1])


def localised_spillovers(timeseries: Sequence[pd.DataFrame], regions: Sequence[list[dict]],
                         burn_in: Sequence[int], seed: int = 0) -> Fact:
    """F7: own and neighbour (within 300 km) elasticities of regional innovation to R&D."""
    panel = spillover_panel(timeseries, regions, burn_in)
    runs = sorted(panel["run"].unique()) if len(panel) else []
    by_run = {r: panel[panel["run"] == r] for r in runs}

    def pick(idx: list[int]) -> pd.DataFrame:
        return pd.concat([by_run[runs[i]].assign(run=j) for j, i in enumerate(idx)], ignore_index=True)

    (own, olo, ohi), (nb, nlo, nhi) = bootstrap_units_many(lambda idx: spillover_elasticities(pick(idx)), len(runs),
                                                           seed)
    ok = 0.6 <= own <= 1.2 and abs(nb) <= 0.15
    return Fact("F7", "localised, small knowledge spillovers", "elasticity of regional innovations to own R&D "
                "(neighbour elasticity in details); region x 5-year periods, run x period fixed effects",
                own, olo, ohi, "own 0.8-0.9 (about 1); regions within 300 km: 0.02-0.03",
                "own in [0.6, 1.2] and |neighbour| <= 0.15 [I]",
                "Bottazzi & Peri (2003), European Economic Review 47:687", ok,
                details={"neighbour_elasticity": nb, "neighbour_ci": f"[{nlo:.3g}, {nhi:.3g}]",
                         "observations": len(panel),
                         "mean_neighbours": float(panel["n_neighbours"].mean()) if len(panel) else 0.0},
                figure={"kind": "spillovers", "panel": panel, "own": own, "neighbour": nb},
                also=("neighbour_elasticity", "neighbour_ci"))


def entry_exit_cells(panels: Sequence[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entry and exit observations from the region x domain panels.

    An entry at observation t: a cell not specialised (RCA < 1) at t that is specialised at t + 1 and still at
    t + 2 (model-spec 2.3: RCA crosses 1 and stays for two observations); the risk set is every cell not
    specialised at t with two later observations. Exit is the mirror image. Columns: run, region, domain, step,
    rd (relatedness density at t, 0-100), y (0/1)."""
    ent, ext = [], []
    for k, p in enumerate(panels):
        p = p.sort_values(["region", "domain", "step"])
        g = p.groupby(["region", "domain"], observed=True)["specialised"]
        s1, s2 = g.shift(-1), g.shift(-2)
        known = s1.notna() & s2.notna()
        s1b, s2b = s1.astype(bool, errors="ignore"), s2.astype(bool, errors="ignore")
        base = pd.DataFrame({"run": k, "region": p["region"].astype(str), "domain": p["domain"].astype(str),
                             "step": p["step"], "rd": p["relatedness_density"]})
        spec = p["specialised"].astype(bool)
        e_mask = known & ~spec
        x_mask = known & spec
        ent.append(base[e_mask].assign(y=(s1b[e_mask].astype(bool) & s2b[e_mask].astype(bool)).astype(float)))
        ext.append(base[x_mask].assign(y=(~s1b[x_mask].astype(bool) & ~s2b[x_mask].astype(bool)).astype(float)))
    cat = lambda parts: pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["run", "region", "domain", "step", "rd", "y"])
    return cat(ent), cat(ext)


def relatedness_effect(cells: pd.DataFrame) -> tuple[float, float, float]:
    """(beta, relative effect of +10% relatedness density, mean y): linear probability model of y on
    relatedness density with run x region x observation and run x domain fixed effects; the relative effect
    is beta x 0.1 x mean(rd) / mean(y), the change in probability for a 10% higher density at the mean,
    relative to the mean probability."""
    if len(cells) < 20 or cells["y"].sum() == 0:
        return float("nan"), float("nan"), float("nan")
    rs = cells["run"].astype(str) + "|" + cells["region"] + "|" + cells["step"].astype(str)
    rdm = cells["run"].astype(str) + "|" + cells["domain"]
    beta = ols(cells["y"].to_numpy(), cells["rd"].to_numpy(), groups=[rs.to_numpy(), rdm.to_numpy()])[0]
    my, mrd = float(cells["y"].mean()), float(cells["rd"].mean())
    return float(beta), float(beta * 0.1 * mrd / my), my


def relatedness_entry_exit(panels: Sequence[pd.DataFrame], seed: int = 0) -> Fact:
    """F9: relative change of specialisation entry and exit probabilities for +10% relatedness density."""
    ent, ext = entry_exit_cells(panels)
    n = len(panels)

    by_run = {name: dict(iter(df.groupby("run"))) for name, df in (("entry", ent), ("exit", ext))}

    def pick(name: str, idx: list[int]) -> pd.DataFrame:
        parts = by_run[name]
        return pd.concat([parts[i].assign(run=j) for j, i in enumerate(idx) if i in parts], ignore_index=True)

    (e, elo, ehi), (x, xlo, xhi) = bootstrap_units_many(
        lambda idx: [relatedness_effect(pick("entry", idx))[1], relatedness_effect(pick("exit", idx))[1]], n, seed,
        n_boot=200)
    be, _, pe = relatedness_effect(ent)
    bx, _, px = relatedness_effect(ext)
    ok = 0.10 <= e <= 0.90 and -0.24 <= x <= -0.08 / 3
    return Fact("F9", "relatedness-driven entry and exit", "relative change of the entry probability for +10% "
                "relatedness density (exit in details); LPM with run x region x observation and run x domain "
                "fixed effects", e, elo, ehi, "entry +30%, exit -8% for +10% relatedness density",
                "right sign and within a factor 3: entry in [+10%, +90%], exit in [-24%, -2.7%] [I]",
                "Boschma, Balland & Kogler (2015), Industrial and Corporate Change 24(1):223", ok,
                details={"exit_effect": x, "exit_ci": f"[{xlo:.3g}, {xhi:.3g}]", "beta_entry_per_rd_point": be,
                         "beta_exit_per_rd_point": bx, "entry_probability": pe, "exit_probability": px,
                         "entry_effect_per_10_points": be * 10 / pe if pe else float("nan"),
                         "exit_effect_per_10_points": bx * 10 / px if px else float("nan"),
                         "entry_cells": len(ent), "exit_cells": len(ext)},
                figure={"kind": "relatedness", "entry": ent, "exit": ext}, also=("exit_effect", "exit_ci"))


def regional_concentration(timeseries: Sequence[pd.DataFrame], burn_in: Sequence[int], seed: int = 0) -> Fact:
    """F12: Gini across regions of horizon innovations minus Gini of firms (mean firms over the horizon)."""
    rows = []
    for ts, b in zip(timeseries, burn_in):
        sel = ts[(ts["step"] > b) & (ts["region"] != "ALL") & ts["indicator"].isin(["innovations", "firms"])]
        w = sel.assign(indicator=sel["indicator"].astype(str), region=sel["region"].astype(str)).pivot_table(
            index="region", columns="indicator", values="value", aggfunc=["sum", "mean"])
        innov = w[("sum", "innovations")].to_numpy()
        firms = w[("mean", "firms")].to_numpy()
        order = np.argsort(-innov)
        rows.append({"gini_innovations": gini(innov), "gini_firms": gini(firms),
                     "top2_innovation_share": innov[order[:2]].sum() / innov.sum(),
                     "top2_firm_share": firms[order[:2]].sum() / firms.sum(),
                     "innov_share": innov / innov.sum(), "firm_share": firms / firms.sum()})
    diff = [r["gini_innovations"] - r["gini_firms"] for r in rows]
    v, lo, hi = mean_ci(diff, seed)
    ok = bool(v > 0 and (lo > 0 if np.isfinite(lo) else True))
    return Fact("F12", "innovation more concentrated than firms", "Gini of innovations across regions minus "
                "Gini of firms (horizon, mean over runs)", v, lo, hi,
                "innovation more concentrated than activity (4 NUTS-2 regions: 27% of EU-25 high-tech EPO "
                "applications)", "difference > 0 with the interval above 0 [I]",
                "Eurostat, Statistics in Focus 10/2006", ok,
                details={"gini_innovations": float(np.mean([r["gini_innovations"] for r in rows])),
                         "gini_firms": float(np.mean([r["gini_firms"] for r in rows])),
                         "top2_innovation_share": float(np.mean([r["top2_innovation_share"] for r in rows])),
                         "top2_firm_share": float(np.mean([r["top2_firm_share"] for r in rows]))},
                figure={"kind": "concentration", "innov_share": np.mean([r["innov_share"] for r in rows], axis=0),
                        "firm_share": np.mean([r["firm_share"] for r in rows], axis=0)},
                also=("gini_innovations", "gini_firms"))


def innovator_rates(firm_years: pd.DataFrame, targeted: pd.DataFrame) -> pd.DataFrame:
    """Per horizon year: the share of incumbent firms (alive at the end of the burn-in, year 0) alive at the
    start of the year that innovate during it, for firms in targeted cells (their region's priority domains at
    the first policy step, ``targeted``: region, domain) and the others. Columns: year, targeted, rate, n."""
    fy = firm_years
    inc = fy[(fy["year"] == 0) & fy["alive"]]
    cells = set(zip(targeted["region"].astype(str), targeted["domain"].astype(str)))
    tgt = pd.Series([(r, d) in cells for r, d in zip(inc["region"].astype(str), inc["domain"].astype(str))],
                    index=inc["firm_id"].to_numpy())
    f = fy[fy["firm_id"].isin(tgt.index)][["firm_id", "year", "alive", "innovations"]]
    nxt = f.assign(year=f["year"] - 1)
    m = f.merge(nxt, on=["firm_id", "year"], suffixes=("", "_next"))
    m = m[m["alive"]]
    m = m.assign(innovated=(m["innovations_next"] > m["innovations"]).astype(float),
                 targeted=tgt.reindex(m["firm_id"].to_numpy()).to_numpy(), year=m["year"] + 1)
    return (m.groupby(["year", "targeted"])["innovated"].agg(["mean", "size"]).reset_index()
            .rename(columns={"mean": "rate", "size": "n"}))


def cluster_policy_effect(firm_years_none: Sequence[pd.DataFrame], firm_years_policy: Sequence[pd.DataFrame],
                          targeted: Sequence[pd.DataFrame], seed: int = 0) -> Fact:
    """F16: effect of cluster-led S3 on the annual probability that an incumbent firm in a targeted domain
    innovates (percentage points), paired run by run under common random numbers."""
    att, ddd, series = [], [], []
    for f0, f1, t in zip(firm_years_none, firm_years_policy, targeted):
        r0, r1 = innovator_rates(f0, t), innovator_rates(f1, t)

        def pooled(r: pd.DataFrame, tg: bool) -> float:
            s = r[r["targeted"] == tg]
            return float((s["rate"] * s["n"]).sum() / s["n"].sum()) if s["n"].sum() > 0 else float("nan")

        d_t = pooled(r1, True) - pooled(r0, True)
        d_u = pooled(r1, False) - pooled(r0, False)
        att.append(100 * d_t)
        ddd.append(100 * (d_t - d_u))
        series.append(r1.merge(r0, on=["year", "targeted"], suffixes=("_policy", "_none")))
    v, lo, hi = mean_ci(att, seed)
    dv, dlo, dhi = mean_ci(ddd, seed)
    base = [float(s.loc[s["targeted"], "rate_none"].mean()) for s in series if len(s)]
    ok = 1.0 <= v <= 10.0
    return Fact("F16", "cluster-policy effect on innovators", "cluster_s3 minus none: annual probability that an "
                "incumbent firm in a targeted domain innovates, percentage points (same seeds)", v, lo, hi,
                "+4.6 to +5.7 pp (targeted industries)", "in [+1, +10] pp [I]",
                "Falck, Heblich & Kipar (2010), Regional Science and Urban Economics 40(6):574", ok,
                details={"diff_in_diff_vs_untargeted_pp": dv, "did_ci": f"[{dlo:.3g}, {dhi:.3g}]",
                         "baseline_rate_targeted": float(np.mean(base)) if base else float("nan")},
                figure={"kind": "policy", "series": series}, also=("diff_in_diff_vs_untargeted_pp",))


# ---------------------------------------------------------------------------------------------------------------
# a validation store (written by s3sim-validate) and the report
# ---------------------------------------------------------------------------------------------------------------
EXTRA_TABLES = ("firm_years", "network_edges", "targeted")


@dataclass
class ValidationRun:
    """One stored validation run: its RunResult and the extra tables of ``s3sim-validate``."""

    result: RunResult
    extras: dict[str, pd.DataFrame]

    @property
    def regime(self) -> str:
        return str(self.result.manifest.get("policy") or "none")


def load_validation_run(directory: str | Path) -> ValidationRun:
    d = Path(directory)
    res = load_result(d)
    extras = {}
    for name in EXTRA_TABLES:
        path = d / f"{name}.parquet"
        if path.is_file():
            extras[name] = pd.read_parquet(path)
    return ValidationRun(res, extras)


def validate_store(directory: str | Path, seed: int = 0) -> list[Fact]:
    """Every fact from a directory written by ``s3sim-validate`` (``runs/none/*`` and ``runs/cluster_s3/*``)."""
    d = Path(directory)
    none_dirs = sorted((d / "runs" / "none").glob("*/manifest.json"))
    if not none_dirs:
        raise ConfigError("directory", str(d), "a directory written by s3sim-validate (runs/none/*/manifest.json)")
    base = [load_validation_run(p.parent) for p in none_dirs]
    pol = {p.parent.name: load_validation_run(p.parent)
           for p in sorted((d / "runs" / "cluster_s3").glob("*/manifest.json"))}
    return validate_runs(base, [pol.get(p.parent.name) for p in none_dirs], seed=seed)


def validate_runs(base: Sequence[ValidationRun], policy: Sequence[ValidationRun | None] = (),
                  seed: int = 0) -> list[Fact]:
    """Every fact from default runs (``base``) and, for F16, the paired ``cluster_s3`` runs."""
    res = [b.result for b in base]
    burn = [int(r.manifest.get("burn_in", 0)) for r in res]
    facts = [firm_size_tail([r.firms for r in res], seed)]
    if all("firm_years" in b.extras for b in base):
        facts.append(growth_volatility([b.extras["firm_years"] for b in base], seed))
    facts.append(innovation_value_skew([r.innovations for r in res], seed))
    if all("network_edges" in b.extras for b in base):
        n_act = [int(r.wide()[["firms", "research_institutes"]].iloc[-1].sum()) for r in res]
        facts.append(small_world([b.extras["network_edges"] for b in base], n_act, seed))
    facts.append(localised_spillovers([r.timeseries for r in res], [r.manifest.get("regions", []) for r in res],
                                      burn, seed))
    facts.append(relatedness_entry_exit([r.panel for r in res], seed))
    facts.append(regional_concentration([r.timeseries for r in res], burn, seed))
    pairs = [(b, p) for b, p in zip(base, policy) if p is not None and "firm_years" in b.extras
             and "firm_years" in p.extras and "targeted" in p.extras]
    if pairs:
        facts.append(cluster_policy_effect([b.extras["firm_years"] for b, _ in pairs],
                                           [p.extras["firm_years"] for _, p in pairs],
                                           [p.extras["targeted"] for _, p in pairs], seed))
    return facts


def facts_table(facts: Sequence[Fact]) -> pd.DataFrame:
    return pd.DataFrame([f.row() for f in facts])


def format_table(facts: Sequence[Fact], markdown: bool = False) -> str:
    """The validation table: fact, target, source, measured value [95% interval], PASS/FAIL."""
    rows = []
    for f in facts:
        ci = f"[{f.low:.3g}, {f.high:.3g}]" if np.isfinite(f.low) else "[n/a]"
        rows.append((f"{f.id} {f.name}", f.target, f.source, f"{f.value:.3g} {ci}", f.also_text(),
                     "PASS" if f.passed else "FAIL"))
    head = ("fact", "target", "source", "measured [95% CI]", "also measured", "result")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [min(max(len(str(r[i])) for r in rows + [head]), 60) for i in range(len(head))]
    fmt = lambda r: "  ".join(str(c)[:widths[i]].ljust(widths[i]) for i, c in enumerate(r))
    return "\n".join([fmt(head), fmt(tuple("-" * w for w in widths))] + [fmt(r) for r in rows])


def write_report(facts: Sequence[Fact], out: str | Path, command: str = "", header: str = "") -> dict[str, Path]:
    """Write ``validation.csv``, ``validation.md`` and ``figures/<fact>.png``; returns the paths."""
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "validation.csv", "md": out / "validation.md"}
    atomic_table(facts_table(facts), paths["csv"])
    figs = {}
    for f in facts:
        figs[f.id] = out / "figures" / f"{f.id}.png"
        plot_fact(f, figs[f.id])
    md = ["# s3sim stylised-fact validation\n", header, "", format_table(facts, markdown=True), "",
          "## Definitions, tolerances and details\n"]
    for f in facts:
        md += [f"### {f.id} {f.name}: {'PASS' if f.passed else 'FAIL'}", "",
               f"- statistic: {f.statistic}", f"- measured: {f.value:.4g} (95% interval {f.low:.4g} to {f.high:.4g})",
               f"- target: {f.target}; pass rule: {f.tolerance}", f"- source: {f.source}",
               "- details: " + ", ".join(f"{k} = {_round(v)}" for k, v in f.details.items()),
               *([f"- note: {f.note}"] if f.note else []),
               f"- figure: [figures/{f.id}.png](figures/{f.id}.png)", ""]
    if command:
        md += ["Command:", "", f"    {command}", ""]
    atomic_text(paths["md"], "\n".join(md))
    paths.update(figs)
    return paths


# ---------------------------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------------------------
def plot_fact(fact: Fact, path: str | Path) -> None:
    """One PNG per fact (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    d = fact.figure
    kind = d.get("kind")
    if kind == "ccdf":
        s = np.sort(d["sizes"][d["sizes"] > 0])[::-1]
        if s.size:
            p = np.arange(1, s.size + 1) / s.size
            ax.loglog(s, p, ".", ms=2, label="firms (all runs)")
            k = max(math.ceil(d["top"] * s.size), 1)
            if np.isfinite(d["alpha"]):
                x = np.geomspace(s[k - 1], s[0], 20)
                ax.loglog(x, p[k - 1] * (x / s[k - 1]) ** (-d["alpha"]), "r-", label=f"alpha = {d['alpha']:.2f}")
        ax.set_xlabel("firm capital")
        ax.set_ylabel("P(S > s)")
    elif kind == "volatility":
        for b in d["bins"]:
            ax.plot(b["log_size"], b["log_sd"], "o-", ms=3, alpha=0.7)
        ax.set_xlabel("log sales (quarterly revenue)")
        ax.set_ylabel("log sd of annual sales growth")
    elif kind == "lorenz":
        v = np.sort(d["values"])[::-1]
        if v.size:
            ax.plot(np.arange(1, v.size + 1) / v.size, np.cumsum(v) / v.sum())
            ax.axvline(0.1, color="grey", ls=":")
            ax.axhspan(0.48, 0.93, color="green", alpha=0.1, label="target 0.48-0.93")
        ax.set_xlabel("top share of innovations")
        ax.set_ylabel("share of value")
    elif kind == "small_world":
        t = d["table"]
        x, y = t["L"] / t["L_rand"], t["C"] / t["C_rand"]
        ax.scatter(x, y)
        ax.axvline(1, color="grey", ls=":")
        if (np.isfinite(x) & (y > 0)).any():  # a log scale needs a positive value to show
            ax.set_yscale("log")
        else:
            empty = bool((t["n_giant"] == 0).all())
            ax.text(0.5, 0.5, "no collaboration ties in any run" if empty else
                    "no run with C > 0 and a finite L / L_rand", transform=ax.transAxes, ha="center", va="center",
                    fontsize=8)
        ax.set_xlabel("L / L_rand")
        ax.set_ylabel("C / C_rand")
    elif kind == "spillovers":
        p = d["panel"]
        ok = (p["innovations"] > 0) & (p["rd"] > 0)
        ax.scatter(np.log(p.loc[ok, "rd"]), np.log(p.loc[ok, "innovations"]), s=6, alpha=0.5)
        ax.set_xlabel("log R&D (region, 5 years)")
        ax.set_ylabel("log innovations")
    elif kind == "relatedness":
        for name, c in (("entry", d["entry"]), ("exit", d["exit"])):
            if len(c):
                q = pd.qcut(c["rd"], 10, duplicates="drop")
                g = c.groupby(q, observed=True).agg(rd=("rd", "mean"), y=("y", "mean"))
                ax.plot(g["rd"], g["y"], "o-", label=name)
        ax.set_xlabel("relatedness density (0-100)")
        ax.set_ylabel("probability")
    elif kind == "concentration":
        i, f = np.sort(d["innov_share"]), np.sort(d["firm_share"])
        x = np.linspace(0, 1, i.size + 1)
        ax.plot(x, np.r_[0, np.cumsum(i)], label="innovations")
        ax.plot(x, np.r_[0, np.cumsum(f)], label="firms")
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_xlabel("share of regions")
        ax.set_ylabel("cumulative share")
    elif kind == "policy":
        s = pd.concat(d["series"]) if d["series"] else pd.DataFrame()
        if len(s):
            g = s.groupby(["year", "targeted"])[["rate_policy", "rate_none"]].mean().reset_index()
            for tg, lab in ((True, "targeted"), (False, "untargeted")):
                h = g[g["targeted"] == tg]
                ax.plot(h["year"], 100 * (h["rate_policy"] - h["rate_none"]), "o-", ms=3, label=lab)
            ax.axhspan(4.6, 5.7, color="green", alpha=0.15, label="Falck et al. 4.6-5.7 pp")
        ax.set_xlabel("year of the policy horizon")
        ax.set_ylabel("cluster_s3 - none, pp")
    ax.set_title(f"{fact.id} {fact.name}: {'PASS' if fact.passed else 'FAIL'}", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=100))
    plt.close(fig)
