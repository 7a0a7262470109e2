"""S11 Critical mass: a Hill multiplier of research productivity per region and domain.

The mass M[r, d] is the number of actors of region r whose product (firms) or main (research institutes) domain
is d. Linked regions (``links[r, r']`` > 0, set by trans-regional policies) add their mass with weight omega:
M_eff = M + omega * links @ M. The multiplier G = g_min + (1 - g_min) M_eff^eta / (M_eff^eta + M*^eta), with
M* = m_star_rel x the mean positive mass at t0, scales the chance that research yields an innovation
(Brenner 2001: self-augmenting local processes; model-spec S11). g_min = 1 switches the effect off.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel, live_rows


@kernel
def mass(alive, region, domain, n, n_regions, n_domains):
    """Actors per (region, domain) as a float [R, D] matrix."""
    m = np.zeros((n_regions, n_domains))
    for i in live_rows(alive, n):
        m[region[i], domain[i]] += 1.0
    return m


def effective_mass(m: np.ndarray, links: np.ndarray, omega: float) -> np.ndarray:
    if omega == 0.0 or not links.any():
        return m
    return m + omega * (links @ m)


def multiplier(m_eff: np.ndarray, m_star: float, g_min: float, eta: float) -> np.ndarray:
    """G(M_eff) in [g_min, 1]."""
    if g_min >= 1.0:
        return np.ones_like(m_eff)
    x = np.power(m_eff / m_star, eta)
    return g_min + (1.0 - g_min) * x / (x + 1.0)
