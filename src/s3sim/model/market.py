"""S3 Domain market (replaces SKIN's input-output market; model-spec 5.7 S3).

Each technology domain d has final demand M_d(t) = M_d(t-1) exp(mu_g + sigma_g xi). A share ``home_bias`` of it
is regional (region r buys ``population_share[r]`` of that part, contested only by r's firms); the rest is
contested by all firms producing in d. Firms share demand by a multinomial logit over attractiveness
u_i = beta_q q_i + appeal_weight log(appeal_i), so revenue is M_d exp(u_i) / sum_{j in d} exp(u_j). Research institutes do not
sell. Regional demand with no local producer is not served.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel, live_rows
from .state import RI


def update_demand(rng, demand: np.ndarray, mu_g: float, sigma_g: float) -> None:
    """Advance domain demand by one quarter (in place)."""
    demand *= np.exp(mu_g + sigma_g * rng.standard_normal(demand.shape[0]))


@kernel
def clear_market(alive, kind, region, product_domain, quality, appeal, n, beta_q, appeal_weight, demand, home_bias,
                 population_share, revenue, log_appeal, appeal_seen):
    """Revenue of every firm for this step (written into ``revenue``); returns the total.

    ``log_appeal[i]`` caches ``log(appeal[i])`` for the value ``appeal_seen[i]``: a product's appeal changes
    only with a new product, so the logarithm is taken again only when the appeal differs from the one seen
    (the same value, the same logarithm: results are those of taking it every step)."""
    n_domains = demand.shape[0]
    n_regions = population_share.shape[0]
    shift = np.full(n_domains, -1e300)
    u = np.empty(n)
    for i in range(n):
        revenue[i] = 0.0
    live = live_rows(alive, n)
    for i in live:
        if kind[i] != RI:
            if appeal[i] != appeal_seen[i]:
                appeal_seen[i] = appeal[i]
                log_appeal[i] = math.log(appeal[i])
            ui = beta_q * quality[i] + appeal_weight * log_appeal[i]
            u[i] = ui
            d = product_domain[i]
            if ui > shift[d]:
                shift[d] = ui
    sg = np.zeros(n_domains)
    sr = np.zeros((n_regions, n_domains))
    for i in live:
        if kind[i] != RI:
            d = product_domain[i]
            e = math.exp(u[i] - shift[d])
            u[i] = e
            sg[d] += e
            sr[region[i], d] += e
    total = 0.0
    for i in live:
        if kind[i] != RI:
            d = product_domain[i]
            r = region[i]
            e = u[i]
            rev = demand[d] * ((1.0 - home_bias) * e / sg[d] + home_bias * population_share[r] * e / sr[r, d])
            revenue[i] = rev
            total += rev
    return total
