"""Small numba helpers shared by several submodels: a weighted categorical draw and an actor's relatedness
scores over domains."""

from __future__ import annotations

from ._jit import kernel, uniform


@kernel
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


@kernel
def relatedness_scores(i, profile, relatedness, out):
    """out[d'] = sum_d profile[i, d] Phi[d, d']: how related each domain is to actor i's knowledge. Returns the
    sum of the scores."""
    n_domains = relatedness.shape[0]
    tot = 0.0
    for d2 in range(n_domains):
        s = 0.0
        for d in range(n_domains):
            s += profile[i, d] * relatedness[d, d2]
        out[d2] = s
        tot += s
    return tot
