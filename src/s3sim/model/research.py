"""S5 Firm research and S12 research-institute research (SKIN rules, re-implemented; model-spec 1.4, 5.7).

Decision (SKIN): a firm whose last profit exceeds ``success_threshold`` does no research. Otherwise it does
*radical* research when its capital (plus this step's subsidy) is at or below ``low_capital_threshold`` and
*incremental* research when it is not. Research institutes do incremental research every step and radical
research with probability ``p_radical_ri``.

* Incremental: SKIN hill-climbing on one IH ability, A <- clip(A +- s_incr A / (1 + j)), j the capability's index in its domain,
  keeping the slot and direction while profit improves. With probability p_innov_incr x G (critical mass, S11)
  the step yields an incremental innovation: a new variant whose appeal v ~ LogNormal(0, sigma_v) replaces the
  product's appeal if higher.
* Radical: a target domain d' is drawn with probability proportional to
  relatedness_bias x (profile_i . Phi)[d'] / sum + (1 - relatedness_bias) / D, times (1 + tilt[r, d'])
  (a policy's priority tilt); a capability of d' not yet held is added, copying A and E from a random existing
  triple (SKIN). With probability p_innov_rad x G it becomes a radical innovation: a new IH containing it and a
  new product with appeal v.

A research subsidy (set by a policy) raises the step's innovation chance by the effort it buys:
x (1 + (1 - crowding_out) x subsidy / cost); ``crowding_out`` is the share of the subsidy that replaces private
spending (Falck, Heblich & Kipar 2010 find R&D spending of targeted firms fell by 19.4%).

Innovation values v are heavy-tailed by construction of the lognormal (Scherer & Harhoff 2000); which firms
draw them, and so how value accumulates, is emergent.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import check_stream, generator_of, kernel, live_rows, step_kernel, uniform
from .knowledge import add_triple, draw_ih, find_capability
from .sampling import categorical, relatedness_scores
from .state import RI

NONE, INCREMENTAL, RADICAL = 0, 1, 2


@step_kernel
def radical_step(rng, i, r, profile, relatedness, tilt, relatedness_bias, caps_per_domain, cap_shift, klen, kcap, cap, abil,
                 expt, ih, weights):
    """Add one capability in a relatedness-drawn domain. Returns (slot or -1, target domain). ``weights`` is a
    scratch buffer of one float per domain (overwritten)."""
    n_domains = relatedness.shape[0]
    tot = relatedness_scores(i, profile, relatedness, weights)
    acc = 0.0
    for d in range(n_domains):
        base = weights[d] / tot if tot > 0 else 1.0 / n_domains
        weights[d] = (relatedness_bias * base + (1.0 - relatedness_bias) / n_domains) * (1.0 + tilt[r, d])
        acc += weights[d]
    d = categorical(rng, weights, acc)
    c = -1
    for _ in range(20):
        cand = (d << cap_shift) + int(uniform(rng) * caps_per_domain)
        if find_capability(i, cand, klen, cap) < 0:
            c = cand
            break
    if c < 0 or klen[i] == 0:
        return -1, d
    src = int(uniform(rng) * klen[i])
    k = add_triple(i, c, abil[i, src], expt[i, src], klen, kcap, cap, abil, expt, ih)
    return k, d


@step_kernel
def incremental_step(rng, i, klen, cap, abil, ih, res_slot, res_dir, improved, s_incr, cap_shift):
    """SKIN hill-climbing on one IH ability; keeps slot and direction while profit improves."""
    k = res_slot[i]
    if k < 0 or k >= klen[i] or not ih[i, k] or not improved:
        m = 0
        for s in range(klen[i]):
            m += 1 if ih[i, s] else 0
        if m == 0:
            return
        pick = int(uniform(rng) * m)
        seen = 0
        for s in range(klen[i]):  # the pick-th IH slot, chosen without a branch per slot
            k = s if ih[i, s] & (seen == pick) else k
            seen += 1 if ih[i, s] else 0
        res_dir[i] = 1 if uniform(rng) < 0.5 else -1
        res_slot[i] = k
    a = abil[i, k]
    a = a + res_dir[i] * s_incr * a / (1.0 + (cap[i, k] & ((1 << cap_shift) - 1)))
    if a <= 0.0 or a >= 10.0:
        a = min(max(a, 0.0), 10.0)
        res_slot[i] = -1
    abil[i, k] = a


@step_kernel
def _effort(subsidy, cost, crowding_out):
    """Research effort relative to an unsubsidised step: the part of a subsidy that does not replace private
    spending (1 - crowding_out) buys extra effort in proportion to the step's cost. Exactly 1 without subsidy."""
    if subsidy <= 0.0 or cost <= 0.0:
        return 1.0
    return 1.0 + (1.0 - crowding_out) * subsidy / cost


@step_kernel
def _log(i, v, kind, cell, innovations, innov_value, out_value, out_kind, out_domain, n_out):
    """Count an innovation of value ``v`` for actor ``i`` and append it to the step's log."""
    innovations[i] += 1
    innov_value[i] += v
    out_value[n_out] = v
    out_kind[n_out] = kind
    out_domain[n_out] = cell
    return n_out + 1


@kernel
def do_research(rng, alive, kind, region, n, capital, profit, prev_profit, transfers, subsidy, costs, rd_spend,
                klen, kcap,
                cap, abil, expt, ih, res_slot, res_dir, product_domain, quality, appeal, profile, relatedness,
                tilt, G, innovations, innov_incr, innov_rad, innov_value, room,
                success_threshold, low_capital_threshold, c_incr, c_rad, s_incr, p_innov_incr, p_innov_rad,
                relatedness_bias, p_radical_ri, sigma_v, caps_per_domain, cap_shift, ih_len_max, crowding_out):
    """One research round over all actors. Returns the step's innovations, one row each (value, kind,
    region x n_domains + domain), in the order made; ``room`` bounds their number (an actor makes at most one,
    a research institute at most two)."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    out_value = np.empty(room)
    out_kind = np.empty(room, dtype=np.int8)
    out_domain = np.empty(room, dtype=np.int32)
    n_domains = relatedness.shape[0]
    weights = np.empty(n_domains)  # radical_step's scratch
    n_out = 0
    for i in live_rows(alive, n):
        r = region[i]
        is_ri = kind[i] == RI
        if is_ri:
            mode = INCREMENTAL
        elif profit[i] > success_threshold:
            continue
        elif capital[i] + transfers[i] <= low_capital_threshold:
            mode = RADICAL
        else:
            mode = INCREMENTAL
        if mode == INCREMENTAL:
            incremental_step(rng, i, klen, cap, abil, ih, res_slot, res_dir, profit[i] > prev_profit[i], s_incr,
                             cap_shift)
            costs[i] += c_incr
            rd_spend[i] += c_incr
            d = product_domain[i]
            if uniform(rng) < p_innov_incr * G[r, d] * _effort(subsidy[i], c_incr, crowding_out):
                v = math.exp(sigma_v * generator_of(rng).standard_normal())
                if v > appeal[i]:
                    appeal[i] = v
                innov_incr[i] += 1
                n_out = _log(i, v, INCREMENTAL, r * n_domains + d, innovations, innov_value, out_value, out_kind,
                             out_domain, n_out)
            if not (is_ri and uniform(rng) < p_radical_ri):
                continue
        # radical research
        k, d = radical_step(rng, i, r, profile, relatedness, tilt, relatedness_bias, caps_per_domain, cap_shift, klen, kcap,
                            cap, abil, expt, ih, weights)
        costs[i] += c_rad
        rd_spend[i] += c_rad
        if k >= 0 and uniform(rng) < p_innov_rad * G[r, d] * _effort(subsidy[i], c_rad, crowding_out):
            draw_ih(rng, i, klen, ih, ih_len_max)
            if not ih[i, k]:  # the new capability must be part of the new hypothesis
                for s in range(klen[i]):
                    if ih[i, s] and s != k:
                        ih[i, s] = False
                        break
                ih[i, k] = True
            v = math.exp(sigma_v * generator_of(rng).standard_normal())
            appeal[i] = v
            res_slot[i] = -1
            innov_rad[i] += 1
            n_out = _log(i, v, RADICAL, r * n_domains + d, innovations, innov_value, out_value, out_kind,
                         out_domain, n_out)
    innov = np.empty((n_out, 3))
    for x in range(n_out):
        innov[x, 0] = out_value[x]
        innov[x, 1] = out_kind[x]
        innov[x, 2] = out_domain[x]
    return innov
