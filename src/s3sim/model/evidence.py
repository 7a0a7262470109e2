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

from ._jit import kernel


@kernel
def expertise_mass(alive, region, n, klen, cap, expt, cap_shift, n_regions, n_domains):
    x = np.zeros((n_regions, n_domains))
    for i in range(n):
        if alive[i]:
            r = region[i]
            for k in range(klen[i]):
                x[r, (cap[i, k] >> cap_shift)] += expt[i, k]
    return x


def rca(x: np.ndarray) -> np.ndarray:
    """Balassa RCA of a region x domain activity matrix (0 where undefined)."""
    tot = x.sum()
    row = x.sum(axis=1, keepdims=True)
    col = x.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (x / row) / (col / tot)
    return np.nan_to_num(out, nan=0.0, posinf=0.0)


def relatedness_density(specialised: np.ndarray, relatedness: np.ndarray) -> np.ndarray:
    """RD[r, d] in [0, 100] (self-relatedness excluded)."""
    phi = relatedness.copy()
    np.fill_diagonal(phi, 0.0)
    denom = phi.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rd = 100.0 * (specialised.astype(np.float64) @ phi) / denom
    return np.nan_to_num(rd)
