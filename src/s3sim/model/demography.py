"""S13 Demography: exit, spin-offs, non-local entrants, academic spin-offs and cluster membership
(SKIN start-ups and exit; Neffke et al. 2018; model-spec S12, S13).

* Exit: a firm whose capital is negative leaves (SKIN). Research institutes are publicly funded and stay.
* Spin-offs: a firm whose profit exceeds ``start_up_trigger`` spawns a start-up with probability
  ``spinoff_rate`` per step (SKIN creates log10(best reward) start-ups per step, which does not scale with the
  population; this per-firm rate does). The start-up clones the parent's IH triples with expertise capped at
  ``startup_expertise_cap`` and stays in the parent's region with probability ``spinoff_local_prob``, otherwise
  it moves to a region drawn by economic mass.
* Non-local entrants: Poisson(entrant_rate x firms_r) per region and step, with a kene drawn from the
  specialisation profile of another region (unrelated diversification comes mostly from non-local new
  establishments; Neffke et al. 2018).
* Academic spin-offs: each research institute spawns a start-up cloning its IH with probability
  ``ri_spinoff_rate``.
* Cluster membership: a new actor holding at least two capabilities in the focal domain of one of its region's
  cluster organisations joins the first such organisation with probability ``co_membership_rate``.

Entrants bring ``initial_capital`` from outside the model; the ledger records it, and the capital of exiting
firms, so that the money balance closes.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import check_stream, generator_of, kernel, live_rows, uniform
from .knowledge import add_triple, draw_ih, draw_kene, product_and_quality, profile_of
from .state import ORIGIN_NONLOCAL, ORIGIN_RI_SPINOFF, ORIGIN_SPINOFF, RI, STARTUP


@kernel
def exits(alive, kind, region, capital, n, n_regions):
    """Mark firms with negative capital as exited. Returns (their rows, the capital they take out, the firms
    that remain per region)."""
    out = np.empty(n, dtype=np.int64)
    firms = np.zeros(n_regions, dtype=np.int64)
    m = 0
    lost = 0.0
    for i in live_rows(alive, n):
        if kind[i] != RI:
            if capital[i] < 0.0:
                alive[i] = False
                out[m] = i
                m += 1
                lost += capital[i]
            else:
                firms[region[i]] += 1
    return out[:m], lost, firms


@kernel
def leave_clusters(gone, cluster, members):
    """The exited actors ``gone`` leave their cluster organisations' member counts."""
    for i in gone:
        if cluster[i] >= 0:
            members[cluster[i]] -= 1


@kernel
def draw_entrants(rng, entrant_rate, firms):
    """Non-local entrants per region, Poisson(entrant_rate x firms[r]) for each region in turn: exactly the draws
    of ``rng.poisson(entrant_rate * firms)`` when every mean is below 10, where numpy and numba both sample by
    multiplying uniforms. Numba's version of numpy's sampler for means of 10 and more (PTRS) differs from it in
    rare draws, so then (and for a negative mean) nothing is drawn and None is returned: the caller draws with
    numpy."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    for r in range(firms.size):
        if not 0.0 <= entrant_rate * firms[r] < 10.0:  # numpy raises for a negative mean
            return None
    out = np.empty(firms.size, dtype=np.int64)
    for r in range(firms.size):
        out[r] = generator_of(rng).poisson(entrant_rate * firms[r])
    return out


@kernel
def plan_births(rng, alive, kind, region, profit, n, start_up_trigger, spinoff_rate, spinoff_local_prob,
                ri_spinoff_rate, region_cdf, entrants_per_region):
    """Decide this step's births. Returns (parent, region, origin, source_region) arrays."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    n_regions = region_cdf.shape[0]
    cap_n = n + int(entrants_per_region.sum())
    parent = np.empty(cap_n, dtype=np.int64)
    reg = np.empty(cap_n, dtype=np.int64)
    origin = np.empty(cap_n, dtype=np.int64)
    source = np.empty(cap_n, dtype=np.int64)
    m = 0
    for i in live_rows(alive, n):
        if kind[i] == RI:
            if uniform(rng) < ri_spinoff_rate:
                parent[m] = i
                reg[m] = region[i]
                origin[m] = ORIGIN_RI_SPINOFF
                source[m] = region[i]
                m += 1
        elif profit[i] > start_up_trigger and uniform(rng) < spinoff_rate:
            r = region[i]
            if uniform(rng) >= spinoff_local_prob:
                u = uniform(rng)
                r = 0
                while r < n_regions - 1 and region_cdf[r] < u:
                    r += 1
            parent[m] = i
            reg[m] = r
            origin[m] = ORIGIN_SPINOFF
            source[m] = region[i]
            m += 1
    for r in range(n_regions):
        for _ in range(entrants_per_region[r]):
            src = r
            if n_regions > 1:
                src = int(uniform(rng) * (n_regions - 1))
                if src >= r:
                    src += 1
            parent[m] = -1
            reg[m] = r
            origin[m] = ORIGIN_NONLOCAL
            source[m] = src
            m += 1
    return parent[:m], reg[:m], origin[:m], source[:m]


@kernel
def init_newborns(rng, rows, parent, reg, origin, source, t, alive, kind, org, region, capital, appeal, birth,
                  par, klen, kcap, cap, abil, expt, ih, product_domain, quality, profile, advert, region_profile_cdf,
                  kene_len, kene_cap, u0, startup_expertise_cap, initial_capital, sigma_v, caps_per_domain, cap_shift,
                  ih_len_max):
    n_domains = region_profile_cdf.shape[1]
    scratch = np.zeros(n_domains)
    for b in range(rows.shape[0]):
        i = rows[b]
        alive[i] = True
        kind[i] = STARTUP
        org[i] = origin[b]
        region[i] = reg[b]
        capital[i] = initial_capital
        birth[i] = t
        par[i] = parent[b]
        kcap[i] = kene_cap
        klen[i] = 0
        p = parent[b]
        if p >= 0:
            for k in range(klen[p]):
                if ih[p, k] and klen[i] < ih_len_max:
                    add_triple(i, cap[p, k], abil[p, k], min(expt[p, k], startup_expertise_cap), klen, kcap, cap,
                               abil, expt, ih)
            draw_ih(rng, i, klen, ih, ih_len_max)
        else:
            draw_kene(rng, i, kene_len, region_profile_cdf[source[b]], caps_per_domain, cap_shift, u0, klen, kcap, cap, abil,
                      expt, ih, ih_len_max)
        appeal[i] = math.exp(sigma_v * generator_of(rng).standard_normal())
        product_and_quality(i, klen, cap, abil, expt, ih, cap_shift, scratch, product_domain, quality)
        profile_of(i, klen, cap, expt, ih, cap_shift, profile, advert)


@kernel
def join_clusters(rng, rows, region, klen, cap, cluster, co_start, co_rows, co_domain, cap_shift,
                  membership_rate, members):
    """Cluster-organisation membership for the given actor rows (see module docstring)."""
    for b in range(rows.shape[0]):
        i = rows[b]
        r = region[i]
        for q in range(co_start[r], co_start[r + 1]):
            co = co_rows[q]
            d = co_domain[co]
            held = 0
            for k in range(klen[i]):
                if (cap[i, k] >> cap_shift) == d:
                    held += 1
            if held >= 2:
                if uniform(rng) < membership_rate:
                    cluster[i] = co
                    members[co] += 1
                break


@kernel
def place_newborns(rng, rows, parent, reg, origin, source, t, alive, kind, org, region, capital, appeal, birth, par,
                   klen, kcap, cap, abil, expt, ih, product_domain, quality, profile, advert, region_profile_cdf,
                   kene_len, kene_cap, u0, startup_expertise_cap, initial_capital, sigma_v, caps_per_domain,
                   cap_shift, ih_len_max, cluster, co_start, co_rows, co_domain, membership_rate, members):
    """:func:`init_newborns`, then :func:`join_clusters` for the same rows, in one call (the same draws in the
    same order)."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    init_newborns(rng, rows, parent, reg, origin, source, t, alive, kind, org, region, capital, appeal, birth, par,
                  klen, kcap, cap, abil, expt, ih, product_domain, quality, profile, advert, region_profile_cdf,
                  kene_len, kene_cap, u0, startup_expertise_cap, initial_capital, sigma_v, caps_per_domain,
                  cap_shift, ih_len_max)
    join_clusters(rng, rows, region, klen, cap, cluster, co_start, co_rows, co_domain, cap_shift, membership_rate,
                  members)
