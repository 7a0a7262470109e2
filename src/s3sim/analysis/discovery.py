"""Scenario discovery with PRIM: the box of parameter space where a condition of interest is concentrated.

The Patient Rule Induction Method (Friedman & Fisher 1999, "Bump hunting in high-dimensional data", *Statistics
and Computing* 9: 123-143), as used for scenario discovery by Bryant & Lempert (2010, *Technological Forecasting
and Social Change* 77: 34-49): start from the box holding every sample and repeatedly *peel* a slice of mass
``alpha`` off one face, choosing the face whose removal leaves the highest share of cases of interest inside the box
(density). Each peel is recorded on the *peeling trajectory* with

* coverage: cases of interest inside the box / all cases of interest,
* density: cases of interest inside the box / samples inside the box,
* mass: samples inside the box / all samples.

Peeling stops when the box would hold less than ``min_mass`` of the samples or density reaches 1. The reported box
is the densest one on the trajectory whose coverage is at least ``min_coverage`` (Bryant & Lempert's trade-off
between the two, made automatic; the whole trajectory is returned for a different choice). Pasting is not done.
Only the dimensions a box restricts are reported.

This module is numpy only; it is written for the stress test (where the cases of interest are the samples in
which an improved S3 regime does worse than the classic one) but works for any table of inputs and a boolean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Box:
    """One box: limits per dimension, its statistics, and the dimensions it restricts."""

    limits: dict[str, tuple[float, float]]
    coverage: float
    density: float
    mass: float
    n_inside: int
    restricted: list[str] = field(default_factory=list)

    def describe(self, digits: int = 3) -> str:
        """``g_min in [0.2, 0.55], omega in [0.4, 1]`` (only restricted dimensions). Limits are rounded outward to
        ``digits`` significant digits, so the printed box holds every sample of the box."""
        if not self.restricted:
            return "the whole parameter space"
        return ", ".join(limits_text(name, *self.limits[name], digits) for name in self.restricted)


def limits_text(name: str, low: float, high: float, digits: int = 3) -> str:
    """``name in [low, high]`` rounded outward to ``digits`` significant digits (the printed interval holds every
    value of the real one), or ``name = value`` when the box holds one value only (to 12 significant digits: 0.25,
    or 2/3 as 0.666666666667, which no rounding to ``digits`` would keep apart from its neighbours)."""
    if low == high:
        return f"{name} = {low:.12g}"
    return f"{name} in [{_outward(low, digits, -1):.{digits}g}, {_outward(high, digits, 1):.{digits}g}]"


def _outward(value: float, digits: int, direction: int) -> float:
    """``value`` to ``digits`` significant digits, rounded down (``direction`` -1) or up (+1)."""
    if value == 0 or not np.isfinite(value):
        return value
    near = float(f"{value:.{digits}g}")
    if near * direction >= value * direction:
        return near
    step = 10.0 ** (np.floor(np.log10(abs(near))) - digits + 1)
    return float(f"{near + direction * step:.{digits}g}")


@dataclass
class PrimResult:
    """Result of :func:`prim`: the peeling trajectory (one Box per step, the first being the full box), the chosen
    box, and the base rate of the cases of interest."""

    trajectory: list[Box]
    box: Box
    base_rate: float
    n_cases: int


def prim(x: np.ndarray, y: np.ndarray, names: Sequence[str], *, alpha: float = 0.05, min_mass: float = 0.05,
         min_coverage: float = 0.5) -> PrimResult:
    """Peel a box around the samples where ``y`` is true.

    Parameters
    ----------
    x:
        Inputs, one row per sample, one column per dimension (``names``).
    y:
        Boolean (or 0/1) case of interest per sample.
    alpha:
        Share of the box's samples removed by one peel.
    min_mass:
        Smallest share of all samples a box may hold.
    min_coverage:
        The chosen box is the densest with at least this coverage.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=bool)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[1] != len(names):
        raise ValueError("x must be (n, len(names)) and y of length n")
    n, d = x.shape
    total = int(y.sum())
    full_lo, full_hi = x.min(axis=0), x.max(axis=0)
    lo, hi = full_lo.copy(), full_hi.copy()
    inside = np.ones(n, dtype=bool)

    def box() -> Box:
        k = int(inside.sum())
        hits = int(y[inside].sum())
        restricted = [names[j] for j in range(d) if lo[j] > full_lo[j] or hi[j] < full_hi[j]]
        return Box(limits={names[j]: (float(lo[j]), float(hi[j])) for j in range(d)},
                   coverage=hits / total if total else 0.0, density=hits / k if k else 0.0, mass=k / n,
                   n_inside=k, restricted=restricted)

    trajectory = [box()]
    min_n = max(1, int(np.ceil(min_mass * n)))
    while total and trajectory[-1].density < 1.0:
        best = None  # (density, -removed, j, side, new limit)
        xi, yi = x[inside], y[inside]
        for j in range(d):
            col = xi[:, j]
            for side, q in (("lo", alpha), ("hi", 1.0 - alpha)):
                cut = float(np.quantile(col, q))
                keep = col > cut if side == "lo" else col < cut
                removed = len(col) - int(keep.sum())
                if removed == 0:  # the quantile sits on the extreme value: peel that value instead
                    edge = col.min() if side == "lo" else col.max()
                    keep = col != edge
                    removed = len(col) - int(keep.sum())
                    cut = edge
                if removed == 0 or keep.sum() < min_n:
                    continue
                dens = float(yi[keep].mean())
                cand = (dens, -removed, j, side)
                if best is None or cand[:2] > best[0][:2]:
                    best = (cand, keep)
        if best is None:
            break
        (_, _, j, side), keep = best
        idx = np.flatnonzero(inside)
        inside[idx[~keep]] = False
        remaining = x[inside, j]
        if side == "lo":
            lo[j] = remaining.min()
        else:
            hi[j] = remaining.max()
        trajectory.append(box())
    eligible = [b for b in trajectory if b.coverage >= min_coverage] or trajectory[:1]
    chosen = max(eligible, key=lambda b: (b.density, b.coverage))
    return PrimResult(trajectory=trajectory, box=chosen, base_rate=total / n if n else 0.0, n_cases=total)
