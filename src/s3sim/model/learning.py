"""S9 Learning by doing and forgetting (SKIN; model-spec S9).

Every step, expertise of each IH triple rises by one (capped at 10) and expertise of every other triple falls by
one; a non-IH triple whose expertise reaches zero is forgotten. Research institutes forget at half speed (only
on even steps), standing for a slower-decaying scientific knowledge stock.

Learning by doing is the step's last change to kenes, so the same pass re-derives each actor's product domain
and quality (S2) from its kene as it now stands: research, learning from partners, spillovers and learning by
doing all show in the product sold next step.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel, live_rows
from .knowledge import EXPERTISE_WEIGHT, remove_slot
from .state import RI


@kernel
def learn_and_forget(alive, kind, n, t, klen, cap, abil, expt, ih, res_slot, cap_shift, n_domains,
                     product_domain, quality, profile, advert):
    """Learning by doing and forgetting for every actor, fused with the S2 product/quality derivation and the
    actor's domain profiles, which hold until the next learning pass (kenes do not change in between).
    Returns the number of forgotten triples."""
    forget_ri = t % 2 == 0
    forgotten = 0
    prof = np.zeros(n_domains, dtype=np.int64)  # integer expertise sums: exact, as the float32 sums they replace
    adv = np.zeros(n_domains, dtype=np.int64)  # IH expertise by domain: the advert, and the product's domain (S2)
    ih_dom = np.empty(cap.shape[1], dtype=np.int64)
    for i in live_rows(alive, n):
        dec = 1 if kind[i] != RI or forget_ri else 0  # what forgetting takes from a non-IH triple this step
        q = 0.0
        n_ih = 0
        tot = 0
        k = 0
        # the IH/non-IH split is computed without branches (both updates, then a choice; adding zeros leaves the
        # sums exactly as they were): whether a triple is in the IH follows no pattern a CPU could predict
        while k < klen[i]:
            d = cap[i, k] >> cap_shift
            in_ih = ih[i, k]
            old = np.int64(expt[i, k])
            e = (old + 1 if old < 10 else old) if in_ih else old - dec
            if e <= 0 and dec and not in_ih:  # forgotten (rare)
                if res_slot[i] == k:  # the researched triple is forgotten (also when it is the last slot)
                    res_slot[i] = -1
                elif res_slot[i] == klen[i] - 1:  # the last triple moves into slot k
                    res_slot[i] = k
                remove_slot(i, k, klen, cap, abil, expt, ih)
                forgotten += 1
                continue  # the slot now holds the former last triple, visited next (so slot order is kept)
            expt[i, k] = e
            w = abil[i, k] * EXPERTISE_WEIGHT[e]
            q += w if in_ih else 0.0
            ih_dom[n_ih] = d
            n_ih += 1 if in_ih else 0
            adv[d] += e if in_ih else 0
            prof[d] += e
            tot += e
            k += 1
        # S2, as in knowledge.product_and_quality: argmax of IH expertise by domain, ties to the lowest domain (the
        # integer sums in adv, equal to the float sums product_and_quality compares: whole numbers, exact)
        best_d = 0
        best_e = -1
        for x in range(n_ih):  # a choice per IH triple, not a branch
            d = ih_dom[x]
            s = adv[d]
            better = (s > best_e) | ((s == best_e) & (d < best_d))
            best_e = s if better else best_e
            best_d = d if better else best_d
        product_domain[i] = best_d
        quality[i] = q / (10.0 * n_ih) if n_ih > 0 else 0.0
        # S1 profiles, as knowledge.normalise_profiles scales them (same roundings to float32)
        if tot > 0:
            inv_tot = 1.0 / float(tot)
            ss = 0  # the squares of whole-number float32 weights summed exactly: an integer sum is the same value
            for d in range(n_domains):
                profile[i, d] = np.float32(prof[d] * inv_tot)
                prof[d] = 0
                ss += adv[d] * adv[d]
            inv = 1.0 / math.sqrt(float(ss)) if ss > 0 else 1.0
            for d in range(n_domains):
                advert[i, d] = np.float32(adv[d] * inv)
                adv[d] = 0
        else:  # no triple left (IH triples have expertise >= 1): the sums are all zero already
            for d in range(n_domains):
                profile[i, d] = 0.0
                advert[i, d] = 0.0
    return forgotten
