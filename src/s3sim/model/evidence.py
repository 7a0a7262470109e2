"""S14 Regional evidence: revealed comparative advantage, relatedness density and specialisation entry/exit
(EconGeo formulas; Balland et al. 2019; Boschma, Balland & Kogler 2015; model-spec 2.3, S14).

* X[r, d]: total expertise of region r's actors in domain d (sum of E over kene triples).
* RCA[r, d] = (X[r, d] / X[r, .]) / (X[., d] / X[., .]); region r is specialised in d when RCA >= 1.
* Relatedness density RD[r, d] = 100 sum_{d' != d} x[r, d'] Phi[d, d'] / sum_{d' != d} Phi[d, d'] with x the
  specialisation indicator and Phi the world's relatedness matrix.
* An entry (exit) is a domain that becomes (stops being) specialised between two observations
  ``evidence_every`` steps apart; its relatedness density is the one measured at the earlier observation.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel, live_rows


@kernel
def expertise_mass(alive, region, n, klen, cap, expt, cap_shift, n_regions, n_domains):
    x = np.zeros((n_regions, n_domains))
    for i in live_rows(alive, n):
        r = region[i]
        for k in range(klen[i]):
            x[r, (cap[i, k] >> cap_shift)] += expt[i, k]
    return x


def rca(x: np.ndarray, whole: bool = False) -> np.ndarray:
    """Balassa RCA of a region x domain activity matrix (0 where undefined). ``whole=True`` promises that ``x``
    holds whole numbers (as the model's expertise sums do): a compiled pass then gives the same values faster."""
    if whole:
        return _rca_whole(np.ascontiguousarray(x, dtype=np.float64))
    tot = x.sum()
    row = x.sum(axis=1, keepdims=True)
    col = x.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (x / row) / (col / tot)
    return np.nan_to_num(out, nan=0.0, posinf=0.0)


@kernel
def _rca_whole(x):
    """:func:`rca` of whole-number activity (expertise sums): every sum is exact, so their order does not matter
    and the result is the numpy formula's to the last bit (same divisions, same replacement of nan and inf)."""
    n_r, n_d = x.shape
    row = np.zeros(n_r)
    col = np.zeros(n_d)
    for r in range(n_r):
        for d in range(n_d):
            row[r] += x[r, d]
            col[d] += x[r, d]
    tot = 0.0
    for r in range(n_r):
        tot += row[r]
    out = np.empty((n_r, n_d))
    for r in range(n_r):
        for d in range(n_d):
            v = (x[r, d] / row[r]) / (col[d] / tot)
            if np.isnan(v) or v == np.inf:
                v = 0.0
            elif v == -np.inf:
                v = -1.7976931348623157e308  # numpy.nan_to_num's default for -inf
            out[r, d] = v
    return out


def relatedness_density(specialised: np.ndarray, relatedness: np.ndarray,
                         weights: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """RD[r, d] in [0, 100] (self-relatedness excluded); ``specialised`` is (regions, domains), or one region's
    row (domains,), which gives that region's densities (equal to its row of the matrix within rounding: numpy
    multiplies a single row differently). ``weights`` is :func:`relatedness_weights` of ``relatedness`` when the
    caller keeps it (a model does: its relatedness never changes)."""
    phi, denom = relatedness_weights(relatedness) if weights is None else weights
    spec = np.asarray(specialised)
    if spec.ndim not in (1, 2):
        raise ValueError(f"specialised: an array of shape (regions, domains) or (domains,), got shape {spec.shape}")
    rows = np.atleast_2d(spec).astype(np.float64)
    out = _scaled_density(rows @ phi, np.ascontiguousarray(denom, dtype=np.float64))
    return out[0] if spec.ndim == 1 else out


@kernel
def _scaled_density(weighted, denom):
    """``np.nan_to_num(100.0 * weighted / denom)`` (columns divided by ``denom``; 0/0 gives 0, x/0 the largest
    float), in one compiled pass: the same operations in the same order."""
    out = np.empty(weighted.shape)
    big = np.finfo(np.float64).max
    for r in range(weighted.shape[0]):
        for d in range(weighted.shape[1]):
            v = 100.0 * weighted[r, d] / denom[d]
            if np.isnan(v):
                v = 0.0
            elif v == np.inf:
                v = big
            elif v == -np.inf:
                v = -big
            out[r, d] = v
    return out


def relatedness_weights(relatedness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Phi without its diagonal, and its column sums: the weights of :func:`relatedness_density`."""
    phi = np.array(relatedness, dtype=np.float64, copy=True)
    np.fill_diagonal(phi, 0.0)
    return phi, phi.sum(axis=0)
