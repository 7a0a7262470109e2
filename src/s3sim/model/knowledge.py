"""S1 Knowledge (kenes) and S2 Innovation hypothesis, product and quality.

Re-implemented from the published SKIN rules (Gilbert, Ahrweiler & Pyka 2007; model-spec 1.4 and 5.7), not from
the SKIN NetLogo code:

* a kene is a bounded set of triples (capability, ability A in [0, 10], expertise E in 1..10);
* the innovation hypothesis (IH) is a random subset of 2..``ih_len_max`` triples; its capabilities are the advert
  partners see;
* the product domain is the domain holding most IH expertise (ties: lowest domain index);
* quality is monotone and bounded: q = mean over the IH of (A/10)(1 - exp(-E)) (SKIN's sum mod 10 is not
  monotone; model-spec S2);
* adding a triple to a full kene evicts the lowest-expertise triple outside the IH (model-spec S1).

All functions are numba kernels over the arrays of :class:`~s3sim.model.state.ActorState`.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel, step_kernel, uniform


@step_kernel
def draw_ih(rng, i, klen, ih, ih_len_max):
    """Draw a new innovation hypothesis for row ``i``: 2..ih_len_max distinct occupied slots."""
    n = klen[i]
    for k in range(ih.shape[1]):
        ih[i, k] = False
    hi = min(ih_len_max, n)
    if hi <= 0:
        return
    lo = min(2, hi)
    length = lo + int(uniform(rng) * (hi - lo + 1))
    if length > hi:
        length = hi
    chosen = 0
    while chosen < length:
        k = int(uniform(rng) * n)
        if not ih[i, k]:
            ih[i, k] = True
            chosen += 1


@step_kernel
def find_capability(i, c, klen, cap):
    """Slot of capability ``c`` in row ``i``'s kene, or -1."""
    for k in range(klen[i]):
        if cap[i, k] == c:
            return k
    return -1


@step_kernel
def add_triple(i, c, a, e, klen, kcap, cap, abil, expt, ih):
    """Add triple (c, a, e) to row ``i``; evict the lowest-expertise non-IH triple if full.

    Returns the slot used, or -1 when the kene is full of IH triples.
    """
    n = klen[i]
    if n < kcap[i]:
        k = n
        klen[i] = n + 1
    else:
        k = -1
        best = 127
        for s in range(n):
            if not ih[i, s] and expt[i, s] < best:
                best = expt[i, s]
                k = s
        if k < 0:
            return -1
    cap[i, k] = c
    abil[i, k] = a
    expt[i, k] = e
    ih[i, k] = False
    return k


@step_kernel
def remove_slot(i, k, klen, cap, abil, expt, ih):
    """Remove slot ``k`` of row ``i`` by moving the last occupied slot into it."""
    last = klen[i] - 1
    if k != last:
        cap[i, k] = cap[i, last]
        abil[i, k] = abil[i, last]
        expt[i, k] = expt[i, last]
        ih[i, k] = ih[i, last]
    cap[i, last] = -1
    abil[i, last] = 0.0
    expt[i, last] = 0
    ih[i, last] = False
    klen[i] = last


#: 1 - exp(-E) for the integer expertise levels 0..10 (quality weights without a transcendental per triple)
EXPERTISE_WEIGHT = 1.0 - np.exp(-np.arange(11, dtype=np.float64))


@step_kernel
def product_and_quality(i, klen, cap, abil, expt, ih, cap_shift, scratch, product_domain, quality):
    """S2: product domain (argmax of IH expertise per domain; ties to the lowest index) and bounded monotone
    quality of row ``i``. ``scratch`` is a zeroed float buffer of one entry per domain, left zeroed."""
    q = 0.0
    m = 0
    n = klen[i]
    for k in range(n):
        if ih[i, k]:
            e = expt[i, k]
            q += abil[i, k] * EXPERTISE_WEIGHT[e]
            m += 1
            scratch[cap[i, k] >> cap_shift] += e
    best_d = 0
    best_e = -1.0
    for k in range(n):
        if ih[i, k]:
            d = cap[i, k] >> cap_shift
            tot = scratch[d]
            if tot > best_e or (tot == best_e and d < best_d):
                best_e = tot
                best_d = d
    for k in range(n):
        if ih[i, k]:
            scratch[cap[i, k] >> cap_shift] = 0.0
    product_domain[i] = best_d
    quality[i] = q / (10.0 * m) if m > 0 else 0.0


@kernel
def refresh_products(alive, n, klen, cap, abil, expt, ih, cap_shift, n_domains, product_domain, quality):
    scratch = np.zeros(n_domains)
    for i in range(n):
        if alive[i]:
            product_and_quality(i, klen, cap, abil, expt, ih, cap_shift, scratch, product_domain, quality)


@step_kernel
def profile_of(i, klen, cap, expt, ih, cap_shift, profile, advert):
    """Expertise-weighted domain profile (sums to 1) and L2-normalised advert (IH) profile of row ``i``."""
    n_domains = profile.shape[1]
    for d in range(n_domains):
        profile[i, d] = 0.0
        advert[i, d] = 0.0
    tot = 0.0
    for k in range(klen[i]):
        d = (cap[i, k] >> cap_shift)
        e = expt[i, k]
        profile[i, d] += e
        tot += e
        if ih[i, k]:
            advert[i, d] += e
    normalise_profiles(i, tot, profile, advert)


@step_kernel
def normalise_profiles(i, tot, profile, advert):
    """Scale row ``i``'s accumulated profile to sum 1 (``tot`` is its expertise total) and its advert to unit
    length."""
    if tot > 0:
        n_domains = profile.shape[1]
        ss = 0.0
        inv_tot = 1.0 / tot
        for d in range(n_domains):
            profile[i, d] *= inv_tot
            ss += advert[i, d] * advert[i, d]
        if ss > 0:
            inv = 1.0 / math.sqrt(ss)
            for d in range(n_domains):
                advert[i, d] *= inv


@kernel
def refresh_profiles(alive, n, klen, cap, expt, ih, cap_shift, profile, advert):
    """:func:`profile_of` for every alive row (rows of exited actors are never read again)."""
    for i in range(n):
        if alive[i]:
            profile_of(i, klen, cap, expt, ih, cap_shift, profile, advert)


@kernel
def draw_kene(rng, i, length, profile_cdf, caps_per_domain, cap_shift, u0, klen, kcap, cap, abil, expt, ih, ih_len_max):
    """Initial kene of row ``i``: ``length`` distinct capabilities, domains drawn from ``profile_cdf`` (a
    region's specialisation profile) with probability 1 - u0 and uniformly otherwise; A ~ U[0,10),
    E ~ U{1..10} (SKIN); then a first IH."""
    n_domains = profile_cdf.shape[0]
    klen[i] = 0
    tries = 0
    while klen[i] < length and tries < 50 * length:
        tries += 1
        if uniform(rng) < u0:
            d = int(uniform(rng) * n_domains)
        else:
            u = uniform(rng)
            d = 0
            while d < n_domains - 1 and profile_cdf[d] < u:
                d += 1
        c = (d << cap_shift) + int(uniform(rng) * caps_per_domain)
        if find_capability(i, c, klen, cap) >= 0:
            continue
        a = uniform(rng) * 10.0
        e = 1 + int(uniform(rng) * 10)
        add_triple(i, c, a, e, klen, kcap, cap, abil, expt, ih)
    draw_ih(rng, i, klen, ih, ih_len_max)
