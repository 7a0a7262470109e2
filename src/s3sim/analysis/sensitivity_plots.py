"""Figures of a stress test (matplotlib, Agg backend), written under ``<run_dir>/figures/``:

* ``indices_<output>.png``: first-order and total (or delta, PAWN median) indices as bars with their bootstrap
  intervals, parameters sorted by the main index;
* ``s2_<output>.png``: second-order Sobol' indices as a heatmap (when computed);
* ``morris_<output>.png``: Morris mu* against sigma (Morris 1991; Campolongo et al. 2007): far right means
  influential, high means non-linear or interacting (with ``target.groups``, which SALib gives no sigma for:
  ``indices_<output>.png``, mu* as bars);
* ``convergence_<output>.png``: the main index of each parameter at N/8, N/4, N/2, N with its interval;
* ``over_time_<output>.png``: with ``target.times``, the main index of each parameter after each quarter of the
  horizon (the end of the run last), with its interval;
* ``winner_<outcome>.png``: every sample placed by the two most influential parameters (with ``target.groups``,
  whose indices are of groups: the two parameters most rank-correlated with the first two regimes' difference)
  and coloured by the regime with the best outcome (replicate means), where two or more regimes were run.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import atomic_write
from .sensitivity import (
    MAIN_INDEX,
    SensitivityReport,
    StoredRun,
    applied_values,
    lower_is_better,
    over_time,
    regime_columns,
)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, bbox_inches="tight"))


def plot_all(report: SensitivityReport, run: StoredRun) -> list[Path]:
    """Write every figure; returns their paths."""
    plt = _plt()
    out = report.run_dir / "figures"
    out.mkdir(exist_ok=True)
    paths = []
    method = report.method
    for label, a in report.outputs.items():
        s = _slug(label)
        t = a.indices
        first = t[t["parameter2"] == ""]
        if not a.ranked(method):  # no index at all (no finite value of the output): nothing to draw
            continue
        if method == "morris" and not run.grouped:  # (SALib gives no sigma for a group: grouped mu* as bars)
            paths.append(_morris(plt, first, label, out / f"morris_{s}.png"))
        else:
            paths.append(_bars(plt, first, method, label, out / f"indices_{s}.png", a.no_effect))
        s2 = t[(t["index"] == "S2")]
        if len(s2):
            paths.append(_s2(plt, s2, run.factors, label, out / f"s2_{s}.png"))
        if a.convergence["n"].nunique() >= 2:  # a line needs two sample sizes (else: "not assessed")
            paths.append(_convergence(plt, a.convergence, method, label, a.verdict, out / f"convergence_{s}.png"))
    timed = over_time(report, run)
    for base, t in timed.groupby("output", sort=False):
        paths.append(_over_time(plt, t, method, base, run.problem["target"].get("horizon"),
                                out / f"over_time_{_slug(base)}.png", int(run.problem["settings"]["top_k"])))
    paths += _winner_maps(plt, report, run, out)
    plt.close("all")
    # figures of an earlier analysis of other outputs (or another method) would read as this one's
    written = {p.name for p in paths}
    for old in out.glob("*.png"):
        if old.name not in written and old.name.startswith(FIGURE_PREFIXES):
            old.unlink(missing_ok=True)
    return paths


FIGURE_PREFIXES = ("indices_", "s2_", "morris_", "convergence_", "winner_", "over_time_")


def _spread(values: np.ndarray, step: float) -> np.ndarray:
    """``values`` offset by up to 3 % of their range, a different offset for each sample (the additive sequence
    k x ``step`` modulo 1: deterministic, no random draw), so that samples on one grid point do not hide each
    other; two axes with Roberts' R2 steps fill a small square around each point evenly."""
    span = float(values.max() - values.min()) if values.size else 0.0
    k = np.arange(values.size)
    return values + ((0.5 + k * step) % 1.0 - 0.5) * 0.06 * span


def _bars(plt, t, method, label, path, no_effect=None):
    """Bars of the first-order-type indices with their intervals; for a given-data method, a dashed line at the
    level a dummy input with no effect reaches (:func:`s3sim.analysis.sensitivity.no_effect_level`)."""
    main = MAIN_INDEX[method]
    kinds = [k for k in ("S1", "ST", "delta_balanced", "median") if k in set(t["index"])] or [main]
    wide = t.pivot(index="parameter", columns="index", values="value")
    conf = t.pivot(index="parameter", columns="index", values="conf")
    order = list(wide.sort_values(main, ascending=False).index)
    x = np.arange(len(order))
    w = 0.8 / max(1, len(kinds))
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(order) + 2), 3.6))
    for i, k in enumerate(kinds):
        err = conf.loc[order, k].to_numpy(float)
        ax.bar(x + (i - (len(kinds) - 1) / 2) * w, wide.loc[order, k].to_numpy(float), w,
               yerr=None if not np.isfinite(err).any() else np.nan_to_num(err), capsize=3, label=k)
    ax.axhline(0, color="black", lw=0.6)
    if no_effect is not None and len(no_effect):
        level = no_effect.loc[no_effect["index"] == main, "level"]
        if len(level) and np.isfinite(level.iloc[0]):
            ax.axhline(float(level.iloc[0]), color="0.4", lw=1.0, ls="--", label=f"{main} of a dummy (no effect)")
    ax.set_xticks(x, order, rotation=40, ha="right")
    ax.set_ylabel("index")
    ax.set_title(f"{method}: {label}", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, not on them
    _save(fig, path)
    return path


def _morris(plt, t, label, path):
    wide = t.pivot(index="parameter", columns="index", values="value")
    conf = t.pivot(index="parameter", columns="index", values="conf")
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.errorbar(wide["mu_star"], wide["sigma"], xerr=np.nan_to_num(conf["mu_star"].to_numpy(float)), fmt="o",
                capsize=3)
    lim = float(np.nanmax([wide["mu_star"].max(), wide["sigma"].max(), 0])) * 1.1 or 1.0
    ax.plot([0, lim], [0, lim], color="grey", lw=0.6, ls="--")
    _label_points(ax, fig, list(wide.index), wide["mu_star"].to_numpy(float), wide["sigma"].to_numpy(float))
    ax.set_xlabel("mu* (mean |elementary effect|)")
    ax.set_ylabel("sigma (SD of elementary effects)")
    ax.set_title(f"Morris: {label}", fontsize=10)
    _save(fig, path)
    return path


def _label_points(ax, fig, names, xs, ys, fontsize=8):
    """Name each point without labels running into each other: each label takes the first free place among
    offsets right or left of its point, above or below, in widening steps (its box estimated from its length), or
    the least crowded one; a thin leader line joins a moved label to its point."""
    fig.canvas.draw()  # fixes the axis limits, so that data map to display points
    to_px = ax.transData.transform
    pt = fig.dpi / 72.0  # display pixels per typographic point
    h = 1.25 * fontsize * pt
    placed = []
    offsets = [(side, dy) for step in range(9) for dy in ((3 + 11 * step), (3 - 11 * step)) if step or dy == 3
               for side in (1, -1)]

    frame = ax.get_window_extent()

    def overlap(box):
        outside = (max(0.0, frame.x0 - box[0]) + max(0.0, box[2] - frame.x1)) * h  # a label leaving the axes
        return outside + sum(max(0.0, min(box[2], b[2]) - max(box[0], b[0]))
                             * max(0.0, min(box[3], b[3]) - max(box[1], b[1])) for b in placed)

    for k in np.argsort(-ys, kind="stable"):
        if not (np.isfinite(xs[k]) and np.isfinite(ys[k])):
            continue
        px, py = to_px((xs[k], ys[k]))
        w = 0.6 * fontsize * len(names[k]) * pt
        best = None
        for side, dy in offsets:
            x0 = px + 4 * pt if side > 0 else px - 4 * pt - w
            box = (x0, py + dy * pt - 0.25 * h, x0 + w, py + dy * pt + 0.75 * h)
            cost = overlap(box)
            if best is None or cost < best[0]:
                best = (cost, side, dy, box)
            if cost == 0:
                break
        _, side, dy, box = best
        placed.append(box)
        moved = (side, dy) != (1, 3)
        ax.annotate(names[k], (xs[k], ys[k]), xytext=(4 * side, dy), textcoords="offset points", fontsize=fontsize,
                    ha="left" if side > 0 else "right",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.5"} if moved else None)


def _over_time(plt, t, method, base, horizon, path, top_k=3):
    """The main index of each factor against the quarter of the horizon; the ``top_k`` factors at the last
    quarter with their intervals as bands, the others as thin lines."""
    main = MAIN_INDEX[method]
    quarters = sorted(t["quarter"].unique())
    last = t[t["quarter"] == quarters[-1]].sort_values("value", ascending=False)["parameter"]
    fig, ax = plt.subplots(figsize=(6.4, 3.9))
    for k, p in enumerate(last):
        g = t[t["parameter"] == p].sort_values("quarter")
        top = k < top_k
        line, = ax.plot(g["quarter"], g["value"], marker="o" if top else ".", lw=1.6 if top else 0.8,
                        alpha=1.0 if top else 0.7, label=p)
        if top and g["conf"].notna().any():
            low = g["value"] - g["conf"]
            ax.fill_between(g["quarter"], low.clip(lower=0) if method == "morris" else low, g["value"] + g["conf"],
                            alpha=0.15, color=line.get_color())
    ax.set_xticks(quarters, [f"{q}" + ("\n(end)" if q == horizon else "") for q in quarters])
    ax.set_xlabel("quarter of the policy horizon")
    ax.set_ylabel(main)
    if method != "morris":
        ax.axhline(0, color="black", lw=0.6)
    ax.set_title(f"{method}: {base} over time", fontsize=10)
    ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)
    return path


def _s2(plt, s2, names, label, path):
    d = len(names)
    m = np.full((d, d), np.nan)
    pos = {n: i for i, n in enumerate(names)}
    for r in s2.itertuples():
        m[pos[r.parameter], pos[r.parameter2]] = r.value
    fig, ax = plt.subplots(figsize=(1 + 0.6 * d, 0.8 + 0.6 * d))
    im = ax.imshow(m, cmap="viridis")
    ax.set_xticks(range(d), names, rotation=45, ha="right")
    ax.set_yticks(range(d), names)
    for i in range(d):
        for j in range(d):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(im, ax=ax, label="S2")
    ax.set_title(f"second-order indices: {label}", fontsize=10)
    _save(fig, path)
    return path


def _convergence(plt, conv, method, label, verdict, path):
    main = MAIN_INDEX[method]
    c = conv[conv["index"] == main]
    fig, ax = plt.subplots(figsize=(5.8, 3.8))
    for p, g in c.groupby("parameter", sort=False):
        g = g.sort_values("n")
        line, = ax.plot(g["n"], g["value"], marker="o", label=p)
        if g["conf"].notna().any():
            ax.fill_between(g["n"], g["value"] - g["conf"], g["value"] + g["conf"], alpha=0.15,
                            color=line.get_color())
    ns = sorted(c["n"].unique())
    ax.set_xscale("log")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("Morris trajectories" if method == "morris" else "base sample size n")
    ax.set_ylabel(main)
    ax.set_title(f"convergence of {main}: {label} ({verdict})", fontsize=10)
    ax.legend(fontsize=7, frameon=False, ncol=2)
    _save(fig, path)
    return path


def _rank_correlated(x: np.ndarray, y: np.ndarray, names) -> list[str]:
    """``names`` ordered by |Spearman rank correlation| of their column of ``x`` with ``y`` (ties by position; a
    constant column counts as uncorrelated)."""
    score = pd.DataFrame(x).corrwith(pd.Series(y), method="spearman").abs().fillna(0.0).to_numpy()
    return [names[j] for j in np.argsort(-score, kind="stable")]


def _winner_maps(plt, report, run, out):
    regs = regime_columns(run)
    paths = []
    n, r = run.problem["n_samples"], run.problem["replicates"]
    x = applied_values(run.x, run.params)
    for outcome, regimes in regs.items():
        if len(regimes) < 2:
            continue
        # the two most influential parameters: from the first analysed output that involves this outcome
        ranking = None
        for label, a in report.outputs.items():
            if label.endswith(f":{outcome}") or label == outcome:
                ranking = a.ranked(report.method)
                break
        if ranking is None or len(ranking) < 2:
            continue
        means = np.stack([run.evaluations[f"{g}:{outcome}"].to_numpy(float).reshape(n, r).mean(axis=1)
                          for g in regimes], axis=1)
        ok = np.isfinite(means).all(axis=1)  # a sample where a regime has no value has no winner: left out
        if not ok.any():
            continue
        means, xo = means[ok], x[ok]
        if run.grouped:  # indices of groups: the parameters most rank-correlated with the regimes' difference
            ranking = _rank_correlated(xo, means[:, 0] - means[:, 1], run.names)
        best = np.argmin(means, axis=1) if lower_is_better(outcome) else np.argmax(means, axis=1)
        top = means.min(axis=1) if lower_is_better(outcome) else means.max(axis=1)
        tied = (means == top[:, None]).sum(axis=1) > 1  # two or more regimes share the best value
        i, j = run.names.index(ranking[0]), run.names.index(ranking[1])
        xi, xj = xo[:, i], xo[:, j]
        grid = report.method == "morris"  # samples share grid points: spread them so that every colour shows
        if grid:
            xi, xj = _spread(xi, 0.7548776662466927), _spread(xj, 0.5698402909980532)  # R2 sequence
        fig, ax = plt.subplots(figsize=(5.6, 4.4))
        for k, g in enumerate(regimes):
            sel = (best == k) & ~tied
            ax.scatter(xi[sel], xj[sel], s=10, alpha=0.7, label=f"{g} ({sel.mean():.0%})")
        if tied.any():
            ax.scatter(xi[tied], xj[tied], s=10, alpha=0.7, color="0.6", label=f"tie ({tied.mean():.0%})")
        ax.set_xlabel(ranking[0])
        ax.set_ylabel(ranking[1])
        left_out = int((~ok).sum())
        ax.set_title(f"best regime for {outcome}" + (" (grid points spread apart)" if grid else "")
                     + (f"\n{left_out} of {ok.size} samples without a value left out" if left_out else ""),
                     fontsize=10)
        ax.legend(fontsize=8, frameon=False, markerscale=2)
        path = out / f"winner_{_slug(outcome)}.png"
        _save(fig, path)
        paths.append(path)
    return paths
