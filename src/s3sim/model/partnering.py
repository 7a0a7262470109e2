"""S6 Partner search over proximity dimensions, with cluster brokerage (SKIN + Boschma 2005; model-spec S6).

Searchers are actors that are not successful (last profit <= ``success_threshold``; SKIN: firms that are not
trading look for partners) and all research institutes; each searches in a given quarter with probability
``search_rate`` (SKIN searches every step; a quarterly model with multi-quarter ties needs fewer new
partnerships). Each searcher examines ``n_candidates`` candidates drawn
from, in order of the cumulative shares: its previous partners (``p_prev``), partners of partners (``p_tc``,
triadic closure), fellow members of its cluster organisation (``p_cluster`` x the organisation's brokerage; half of them from
a linked cluster organisation in another region when a trans-regional policy has linked the two),
its own region (a ``p_local`` share of the rest) and the whole population (the remainder). A source that has
nobody to offer falls back to the own region.

Attractiveness (symmetric) multiplies the five proximity dimensions:

    A_ij = cos(advert_i, advert_j)                      cognitive (SKIN conservative advert overlap, by domain)
           x exp(-dist_ij / lambda_km)^w_geo             geographic
           x border_penalty^(w_inst [countries differ])  institutional
           x (1 + w_soc [past tie])                      social
           x (1 + w_org [same cluster organisation])     organisational

The searcher proposes to its most attractive candidate above ``theta_attr``. Proposals are accepted in a random
order while both sides hold fewer than ``max_partners`` partnerships this step (sequential first-come capacity,
run inside one numba loop). Each side pays ``c_collab``; each partnership is remembered as a tie for
``tie_memory`` steps.
"""

from __future__ import annotations

import numpy as np

from ._jit import check_stream, kernel, live_rows, step_kernel, uniform
from .state import RI, TIE_SLOTS


@kernel
def build_csr(keys, alive, n, n_keys):
    """Rows of alive actors grouped by ``keys`` (counting sort): (start[n_keys + 1], rows)."""
    counts = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(n):
        if alive[i] and keys[i] >= 0:
            counts[keys[i] + 1] += 1
    for k in range(n_keys):
        counts[k + 1] += counts[k]
    rows = np.empty(counts[n_keys], dtype=np.int64)
    fill = counts[:-1].copy()
    for i in range(n):
        if alive[i] and keys[i] >= 0:
            rows[fill[keys[i]]] = i
            fill[keys[i]] += 1
    return counts, rows


@kernel
def search_index(region, cluster, alive, n, n_regions, n_clusters):
    """The partner search's two indexes in one pass over the actors: :func:`build_csr` of the alive actors by
    region and by cluster organisation (actors in none left out): (region start, rows, cluster start, rows)."""
    reg_counts = np.zeros(n_regions + 1, dtype=np.int64)
    cl_counts = np.zeros(n_clusters + 1, dtype=np.int64)
    live = live_rows(alive, n)
    for i in live:
        if region[i] >= 0:
            reg_counts[region[i] + 1] += 1
        if cluster[i] >= 0:
            cl_counts[cluster[i] + 1] += 1
    for k in range(n_regions):
        reg_counts[k + 1] += reg_counts[k]
    for k in range(n_clusters):
        cl_counts[k + 1] += cl_counts[k]
    reg_rows = np.empty(reg_counts[n_regions], dtype=np.int64)
    cl_rows = np.empty(cl_counts[n_clusters], dtype=np.int64)
    reg_fill = reg_counts[:-1].copy()
    cl_fill = cl_counts[:-1].copy()
    for i in live:
        r = region[i]
        if r >= 0:
            reg_rows[reg_fill[r]] = i
            reg_fill[r] += 1
        c = cluster[i]
        if c >= 0:
            cl_rows[cl_fill[c]] = i
            cl_fill[c] += 1
    return reg_counts, reg_rows, cl_counts, cl_rows


@step_kernel
def _recent_tie(i, j, tie_partner, tie_step, since):
    found = False
    for s in range(TIE_SLOTS):  # every slot, without an early exit: a loop of fixed length and no branch
        found |= (tie_partner[i, s] == j) & (tie_step[i, s] >= since)
    return found


@step_kernel
def _random_tie(rng, i, tie_partner, tie_step, since, alive):
    m = 0
    for s in range(TIE_SLOTS):
        j = tie_partner[i, s]
        m += 1 if (j >= 0) & (tie_step[i, s] >= since) and alive[j] else 0
    if m == 0:
        return -1
    pick = int(uniform(rng) * m)
    for s in range(TIE_SLOTS):
        j = tie_partner[i, s]
        if j >= 0 and tie_step[i, s] >= since and alive[j]:
            if pick == 0:
                return j
            pick -= 1
    return -1


@step_kernel
def _remember(i, j, t, tie_partner, tie_step):
    """Record partner ``j`` of ``i`` at step ``t``: refresh an existing tie, else replace the oldest one (empty
    slots first, then the least recently renewed; ties broken by slot order)."""
    oldest = 0
    for s in range(TIE_SLOTS):
        if tie_partner[i, s] == j:
            tie_step[i, s] = t
            return
        if tie_step[i, s] < tie_step[i, oldest]:
            oldest = s
    tie_partner[i, oldest] = j
    tie_step[i, oldest] = t


@kernel
def remember_pairs(pa, pb, t, tie_partner, tie_step):
    """Remember partnerships formed outside the search (project consortia) as ties of both sides."""
    for q in range(pa.shape[0]):
        _remember(pa[q], pb[q], t, tie_partner, tie_step)
        _remember(pb[q], pa[q], t, tie_partner, tie_step)


@kernel
def search_partners(rng, t, alive, kind, region, cluster, n, profit, success_threshold, advert, tie_partner,
                    tie_step, n_partners, costs, reg_start, reg_rows, cl_start, cl_rows, cl_brokerage, cl_link,
                    region_factor, tie_memory, search_rate, n_candidates, max_partners, theta_attr, p_prev, p_tc,
                    p_cluster, p_local, w_soc, w_org, c_collab, rd_spend, pair_a, pair_b):
    """Form this step's partnerships. Writes pairs into ``pair_a``/``pair_b`` and books each actor's
    partnerships (``n_partners`` x ``c_collab``) in ``rd_spend``; returns their number."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    n_domains = advert.shape[1]
    since = t - tie_memory
    for i in range(n):
        n_partners[i] = 0
    # searchers in a random order (Fisher-Yates with the partnering stream)
    order = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):  # without a branch per row (as _jit.live_rows)
        order[m] = i
        m += 1 if alive[i] & ((kind[i] == RI) | (profit[i] <= success_threshold)) else 0
    for k in range(m - 1, 0, -1):
        j = int(uniform(rng) * (k + 1))
        tmp = order[k]
        order[k] = order[j]
        order[j] = tmp
    n_all = reg_start[reg_start.shape[0] - 1]
    bonus_max = (1.0 + w_soc) * (1.0 + w_org)
    n_pairs = 0
    held = np.empty(n_domains, dtype=np.int64)  # the searcher's advertised domains, ascending
    for oi in range(m):
        i = order[oi]
        if n_partners[i] >= max_partners or uniform(rng) >= search_rate:
            continue
        # the cosine below runs over these domains only: a domain the searcher does not advertise adds an exact
        # zero, so the sum is the full 18-domain sum to the last bit (same terms in the same order)
        n_held = 0
        for d in range(n_domains):  # without a branch per domain (as _jit.live_rows)
            held[n_held] = d
            n_held += 1 if advert[i, d] != 0.0 else 0
        r = region[i]
        c = cluster[i]
        t1 = p_prev
        t2 = t1 + p_tc
        t3 = t2
        if c >= 0:
            t3 = min(1.0, t2 + p_cluster * cl_brokerage[c])
        best = -1
        best_a = theta_attr
        for _ in range(n_candidates):
            u = uniform(rng)
            j = -1
            if u < t1:
                j = _random_tie(rng, i, tie_partner, tie_step, since, alive)
            elif u < t2:
                k = _random_tie(rng, i, tie_partner, tie_step, since, alive)
                if k >= 0:
                    j = _random_tie(rng, k, tie_partner, tie_step, since, alive)
            elif u < t3:
                cc = c
                if cl_link[c] >= 0 and uniform(rng) < 0.5:  # a linked cluster in another region (policy)
                    cc = cl_link[c]
                size = cl_start[cc + 1] - cl_start[cc]
                if size > 0:
                    j = cl_rows[cl_start[cc] + int(uniform(rng) * size)]
            elif u < t3 + (1.0 - t3) * p_local:
                j = -2
            else:
                if n_all > 0:
                    j = reg_rows[int(uniform(rng) * n_all)]
            if j == -1 or j == -2:
                size = reg_start[r + 1] - reg_start[r]
                j = reg_rows[reg_start[r] + int(uniform(rng) * size)] if size > 0 else -1
            if j < 0 or j == i or not alive[j]:
                continue
            a = 0.0
            for q in range(n_held):
                d = held[q]
                a += advert[i, d] * advert[j, d]
            if a * bonus_max <= best_a:
                continue  # exact pruning: no proximity factor can lift it above the current best
            a *= region_factor[r, region[j]]
            tie = _recent_tie(i, j, tie_partner, tie_step, since)
            if tie:
                if tie_step_is(i, j, t, tie_partner, tie_step):
                    continue  # already partners this step
                a *= 1.0 + w_soc
            if c >= 0 and cluster[j] == c:
                a *= 1.0 + w_org
            if a > best_a:
                best_a = a
                best = j
        if best >= 0 and n_partners[best] < max_partners:
            pair_a[n_pairs] = i
            pair_b[n_pairs] = best
            n_pairs += 1
            n_partners[i] += 1
            n_partners[best] += 1
            costs[i] += c_collab
            costs[best] += c_collab
            _remember(i, best, t, tie_partner, tie_step)
            _remember(best, i, t, tie_partner, tie_step)
    for i in range(n):
        rd_spend[i] += n_partners[i] * c_collab
    return n_pairs


@step_kernel
def tie_step_is(i, j, t, tie_partner, tie_step):
    found = False
    for s in range(TIE_SLOTS):  # as _recent_tie
        found |= (tie_partner[i, s] == j) & (tie_step[i, s] == t)
    return found
