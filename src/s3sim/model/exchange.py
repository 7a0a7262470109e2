"""S7 Knowledge exchange between partners (SKIN/INFSO-SKIN rule with an inverted-U absorption; model-spec S7).

Each side of a partnership learns from the triples of the *other's* innovation hypothesis only (SKIN: only
knowledge in active use is learnable), using a snapshot taken before either side changes:

* a capability it already holds: it adopts the partner's ability and expertise if the partner's expertise is
  higher;
* a new capability: it is absorbed with probability a0 x max(g_floor, g(d)), where d = 1 - cos(w_i, w_j) is the
  cognitive distance between the two expertise-weighted domain profiles and g(d) = (d/d*)(2 - d/d*), clipped to
  [0, 1], is Nooteboom et al.'s (2007) inverted U (zero at d = 0 and d = 2 d*, one at d*). It enters with
  expertise E - e_penalty_new, floored at 2, evicting the weakest non-IH triple if the kene is full.

Each adoption or absorption is one knowledge flow. After learning, a side draws a new IH (a new product with a
fresh appeal) with probability 1 / (1 + exp((L_mid - L_i) / (0.25 L_mid))) where L_i is its kene length
(SKIN's logistic rule, midpoint rescaled to bounded kenes).
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import check_stream, generator_of, kernel, step_kernel, uniform
from .knowledge import add_triple, draw_ih


@step_kernel
def learning_gain(d, d_star):
    """Nooteboom's inverted U: g(d) = (d/d*)(2 - d/d*) clipped to [0, 1]."""
    x = d / d_star
    g = x * (2.0 - x)
    return min(max(g, 0.0), 1.0)


@step_kernel
def _index_kene(i, klen, cap, slot_of):
    """``slot_of[c]`` = the first slot of row ``i`` holding capability ``c`` (entries of other capabilities are
    left stale: a lookup checks ``cap[i, slot_of[c]] == c``)."""
    for k in range(klen[i] - 1, -1, -1):
        slot_of[cap[i, k]] = k


@step_kernel
def _learn(rng, i, src_c, src_a, src_e, m, p_abs, e_penalty_new, klen, kcap, cap, abil, expt, ih, slot_of):
    flows = 0
    _index_kene(i, klen, cap, slot_of)  # capability -> slot, instead of a scan of the kene per offered triple
    for s in range(m):
        c = src_c[s]
        k = slot_of[c]
        if k >= klen[i] or cap[i, k] != c:
            k = -1
        if k >= 0:
            if src_e[s] > expt[i, k]:
                abil[i, k] = src_a[s]
                expt[i, k] = src_e[s]
                flows += 1
        elif uniform(rng) < p_abs:
            e = max(src_e[s] - e_penalty_new, 2)
            full = klen[i] >= kcap[i]
            k = add_triple(i, c, src_a[s], e, klen, kcap, cap, abil, expt, ih)
            if k >= 0:
                flows += 1
                if full:  # a triple was evicted: index the kene again
                    _index_kene(i, klen, cap, slot_of)
                else:
                    slot_of[c] = k
    return flows


@step_kernel
def _snapshot_ih(i, klen, cap, abil, expt, ih, out_c, out_a, out_e):
    """Copy row ``i``'s IH triples into the output buffers; returns how many. Every triple is copied and only IH
    ones are kept (the next copy overwrites the others): no branch on a flag that follows no pattern."""
    m = 0
    for k in range(klen[i]):
        out_c[m] = cap[i, k]
        out_a[m] = abil[i, k]
        out_e[m] = expt[i, k]
        m += 1 if ih[i, k] else 0
    return m


@kernel
def exchange(rng, pair_a, pair_b, n_pairs, profile, klen, kcap, cap, abil, expt, ih, appeal, product_domain,
             quality, flows_in, a0, d_star, g_floor, e_penalty_new, l_mid, sigma_v, cap_shift, ih_len_max):
    """Knowledge exchange for every pair formed this step. Returns the number of knowledge flows."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    n_domains = profile.shape[1]
    width = cap.shape[1]
    ac = np.empty(width, dtype=cap.dtype)
    aa = np.empty(width, dtype=abil.dtype)
    ae = np.empty(width, dtype=expt.dtype)
    bc = np.empty(width, dtype=cap.dtype)
    ba = np.empty(width, dtype=abil.dtype)
    be = np.empty(width, dtype=expt.dtype)
    slot_of = np.zeros(n_domains << cap_shift, dtype=np.int64)  # capability code -> slot (see _learn)
    total = 0
    scale = 0.25 * l_mid
    # the chance of a new IH by kene length (lengths never exceed the kene width): the same expression as
    # evaluated per side, once per length
    p_new_ih = np.empty(width + 1)
    for k in range(width + 1):
        p_new_ih[k] = 1.0 / (1.0 + math.exp((l_mid - k) / scale))
    for p in range(n_pairs):
        i = pair_a[p]
        j = pair_b[p]
        dot = 0.0
        ni = 0.0
        nj = 0.0
        for d in range(n_domains):
            dot += profile[i, d] * profile[j, d]
            ni += profile[i, d] * profile[i, d]
            nj += profile[j, d] * profile[j, d]
        cos = dot / math.sqrt(ni * nj) if ni > 0 and nj > 0 else 0.0
        p_abs = a0 * max(g_floor, learning_gain(1.0 - cos, d_star))
        ma = _snapshot_ih(i, klen, cap, abil, expt, ih, ac, aa, ae)
        mb = _snapshot_ih(j, klen, cap, abil, expt, ih, bc, ba, be)
        fi = _learn(rng, i, bc, ba, be, mb, p_abs, e_penalty_new, klen, kcap, cap, abil, expt, ih, slot_of)
        fj = _learn(rng, j, ac, aa, ae, ma, p_abs, e_penalty_new, klen, kcap, cap, abil, expt, ih, slot_of)
        flows_in[i] += fi
        flows_in[j] += fj
        total += fi + fj
        for x in (i, j):
            if uniform(rng) < p_new_ih[klen[x]]:
                draw_ih(rng, x, klen, ih, ih_len_max)
                appeal[x] = math.exp(sigma_v * generator_of(rng).standard_normal())
    return total
