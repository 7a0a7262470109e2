"""S10 Local knowledge spillovers, decaying with distance and filtered by relatedness (model-spec S10).

The spillover pool of region r in domain d is S[r, d] = sum_r' K[r, r'] M[r', d] / sum_r' K[r, r'] N[r'], with
K the geographic-institutional kernel exp(-dist / lambda_km) x border_penalty (1 within a region; Bottazzi &
Peri 2003), M the actors per region and domain and N the actors per region. Seen through relatedness,
T = S @ Phi. An actor of region r with domain profile w draws a spillover event with probability
sigma_s x (w . T[r]) / mean(T), capped at 1. On an event a domain d' is drawn with probability proportional to
T[r, d'] x (w @ Phi)[d']; with probability 0.8 the actor gains one expertise point on a capability it holds in
d' (if any), otherwise it acquires a new capability of d' at expertise 2.
"""

from __future__ import annotations

import numpy as np

from ._jit import check_stream, kernel, live_rows, uniform
from .knowledge import add_triple, find_capability
from .sampling import categorical, relatedness_scores


def spillover_field(mass: np.ndarray, kernel: np.ndarray, relatedness: np.ndarray) -> np.ndarray:
    """T[r, d]: distance-weighted domain pool seen through relatedness, normalised to mean 1."""
    n_r = mass.sum(axis=1)
    pool = (kernel @ mass) / np.maximum(kernel @ n_r, 1e-12)[:, None]
    field = pool @ relatedness
    mean = field.mean()
    return field / mean if mean > 0 else field


@kernel
def spill(rng, alive, region, n, profile, field, relatedness, sigma_s, caps_per_domain, cap_shift, klen, kcap, cap, abil,
          expt, ih):
    """Spillover events for every actor. Returns the number of events."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    if sigma_s <= 0.0:
        return 0
    n_domains = profile.shape[1]
    w2 = np.empty(n_domains)
    events = 0
    for i in live_rows(alive, n):
        r = region[i]
        p = 0.0
        for d in range(n_domains):
            p += profile[i, d] * field[r, d]
        if uniform(rng) >= sigma_s * p:
            continue
        events += 1
        relatedness_scores(i, profile, relatedness, w2)
        tot = 0.0
        for d2 in range(n_domains):
            w2[d2] *= field[r, d2]
            tot += w2[d2]
        d = categorical(rng, w2, tot)
        if uniform(rng) < 0.8:
            held = 0
            for k in range(klen[i]):
                if (cap[i, k] >> cap_shift) == d:
                    held += 1
            if held > 0:
                pick = int(uniform(rng) * held)
                for k in range(klen[i]):
                    if (cap[i, k] >> cap_shift) == d:
                        if pick == 0:
                            if expt[i, k] < 10:
                                expt[i, k] += 1
                            break
                        pick -= 1
                continue
        c = (d << cap_shift) + int(uniform(rng) * caps_per_domain)
        if find_capability(i, c, klen, cap) < 0:
            add_triple(i, c, uniform(rng) * 10.0, 2, klen, kcap, cap, abil, expt, ih)
    return events
