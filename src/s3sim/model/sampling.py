"""Small numba helpers shared by several submodels: a weighted categorical draw and an actor's relatedness
scores over domains."""

from __future__ import annotations

from ._jit import step_kernel, uniform


@step_kernel
def categorical(rng, weights, total):
    """Index drawn with probability weights[d] / total (inverse CDF with one uniform; the last index absorbs
    rounding)."""
    u = uniform(rng) * total
    d = 0
    run = weights[0]
    last = weights.shape[0] - 1
    while run < u and d < last:
        d += 1
        run += weights[d]
    return d


@step_kernel
def relatedness_scores(i, profile, relatedness, out):
    """out[d'] = sum_d profile[i, d] Phi[d, d']: how related each domain is to actor i's knowledge. Returns the
    sum of the scores.

    Only the domains the actor holds are visited: a domain with profile 0 adds an exact zero to every score (a
    signed zero added to a sum leaves it unchanged), and each score still sums its terms in ascending d, so the
    result is that of the full double loop to the last bit."""
    n_domains = relatedness.shape[0]
    for d2 in range(n_domains):
        out[d2] = 0.0
    for d in range(n_domains):
        w = profile[i, d]
        if w != 0.0:
            for d2 in range(n_domains):
                out[d2] += w * relatedness[d, d2]
    tot = 0.0
    for d2 in range(n_domains):
        tot += out[d2]
    return tot
