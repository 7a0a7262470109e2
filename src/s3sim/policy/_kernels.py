"""Compiled loops of the policy engine (S16 calls, proposals and projects).

Each kernel does exactly what the engine's reference rules say, in the same order: the same random draws from the
``policy`` stream (same calls, same sizes, same order) and the same floating-point operations, so a run is
bit-for-bit the run of the plain-numpy rules. :func:`_mean_f32` adds like numpy's pairwise ``add.reduce`` on a
contiguous array (eight partial sums per block of 128), so the mean of a float32 array comes out identical.

Actor kinds: 0 and 2 are SMEs, 3 research institutes (``s3sim.model.state``).
"""

from __future__ import annotations

import math

import numpy as np

from ..model._jit import kernel

MAX_COORDINATORS = 5  # coordinators (proposals) per call


# ----------------------------------------------------------------------------------------------------------------
# numpy's pairwise summation
# ----------------------------------------------------------------------------------------------------------------
@kernel
def _block_f32(x, lo, n):
    """numpy's pairwise_sum of ``x[lo:lo + n]`` for n <= 128 (float32)."""
    if n < 8:
        res = np.float32(0.0)
        for i in range(lo, lo + n):
            res = np.float32(res + x[i])
        return res
    r = np.empty(8, dtype=np.float32)
    for j in range(8):
        r[j] = x[lo + j]
    i = 8
    while i < n - (n % 8):
        for j in range(8):
            r[j] = np.float32(r[j] + x[lo + i + j])
        i += 8
    res = np.float32(np.float32(np.float32(r[0] + r[1]) + np.float32(r[2] + r[3]))
                     + np.float32(np.float32(r[4] + r[5]) + np.float32(r[6] + r[7])))
    while i < n:
        res = np.float32(res + x[lo + i])
        i += 1
    return res


@kernel
def _half(n):
    n2 = n // 2
    return n2 - n2 % 8


@kernel
def _pairwise_f32(x, lo, n):
    """numpy's pairwise_sum of ``x[lo:lo + n]`` (float32): blocks of at most 128 summed by :func:`_block_f32`,
    halves (rounded down to a multiple of 8) added up the tree. Iterative: no recursion in cached kernels."""
    if n <= 128:
        return _block_f32(x, lo, n)
    los = np.empty(64, dtype=np.int64)
    ns = np.empty(64, dtype=np.int64)
    stage = np.empty(64, dtype=np.int64)  # 1: left half pending, 2: right half pending
    left = np.empty(64, dtype=np.float32)
    top = 0
    los[0] = lo
    ns[0] = n
    while True:
        if ns[top] <= 128:
            ret = _block_f32(x, los[top], ns[top])
            top -= 1
            while top >= 0 and stage[top] == 2:
                ret = np.float32(left[top] + ret)
                top -= 1
            if top < 0:
                return ret
            left[top] = ret
            stage[top] = 2
            h = _half(ns[top])
            los[top + 1] = los[top] + h
            ns[top + 1] = ns[top] - h
        else:
            stage[top] = 1
            los[top + 1] = los[top]
            ns[top + 1] = _half(ns[top])
        top += 1


@kernel
def _mean_f32(x):
    """``float(x.mean())`` of a non-empty contiguous float32 array, as numpy computes it (``0 + pairwise sum``,
    then a float32 division)."""
    total = np.float32(np.float32(0.0) + _pairwise_f32(x, 0, x.size))
    return float(np.float32(total / np.float32(x.size)))


# ----------------------------------------------------------------------------------------------------------------
# calls: consortia, eligibility, ranking, funding
# ----------------------------------------------------------------------------------------------------------------
@kernel
def _in(x, rows, k):
    for i in range(k):
        if rows[i] == x:
            return True
    return False


@kernel
def assemble(rng, n, alive, region, kind, cluster, profile, tie_partner, busy, d, region_ok, scope, use_mask,
             mask, size, min_regions, out_members, out_len):
    """Consortia for a call (``S3Policy._assemble_reference``): proposals into ``out_members[k, :out_len[k]]``;
    returns their number."""
    cand = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        if (alive[i] and region_ok[region[i]] and profile[i, d] > 0 and (scope < 0 or cluster[i] == scope)
                and (not use_mask or mask[i]) and busy[i] < 2):
            cand[m] = i
            m += 1
    if m < 2:
        return 0
    k = 0
    for j in range(m):
        if kind[cand[j]] == 3 or cluster[cand[j]] >= 0:
            k += 1
    if k == 0:
        return 0
    coords = np.empty(k, dtype=np.int64)
    k = 0
    for j in range(m):
        if kind[cand[j]] == 3 or cluster[cand[j]] >= 0:
            coords[k] = cand[j]
            k += 1
    coords = rng.permutation(coords)
    n_coords = min(k, MAX_COORDINATORS)
    fit = np.empty(m)
    for j in range(m):
        fit[j] = np.float64(profile[cand[j], d])
    neg = np.empty(m)
    members = np.empty(out_members.shape[1], dtype=np.int64)
    slots = tie_partner.shape[1]
    for p in range(n_coords):
        c = coords[p]
        u = rng.random(m)
        for j in range(m):
            tie = 0.0
            for s in range(slots):
                if tie_partner[c, s] == cand[j]:
                    tie = 1.0
                    break
            score = fit[j] + 0.5 * tie + 0.2 * u[j]
            if cand[j] == c:
                score = -np.inf
            neg[j] = -score
        order = np.argsort(neg, kind="mergesort")
        members[0] = c
        length = 1
        for j in range(min(size - 1, m)):
            x = cand[order[j]]
            if x != c:
                members[length] = x
                length += 1
        # repair: the last invitee makes way for the best candidate that brings a missing SME ...
        sme = False
        for j in range(length):
            if kind[members[j]] == 0 or kind[members[j]] == 2:
                sme = True
        if not sme:
            for j in range(m):
                x = cand[order[j]]
                if (kind[x] == 0 or kind[x] == 2) and not _in(x, members, length):
                    if length > 1:
                        members[length - 1] = x
                    else:
                        members[length] = x
                        length += 1
                    break
        # ... or a missing second region
        if min_regions >= 2:
            home = region[members[0]]
            single = True
            for j in range(1, length):
                if region[members[j]] != home:
                    single = False
            if single:
                for j in range(m):
                    x = cand[order[j]]
                    if region[x] != home and not _in(x, members, length):
                        if length > 2:
                            members[length - 1] = x
                        else:
                            members[length] = x
                            length += 1
                        break
        out_len[p] = length
        for j in range(length):
            out_members[p, j] = members[j]
    return n_coords


@kernel
def base_eligible(kind, cluster, region, n_regions, members, lens, n_props, min_regions, out_ok):
    """``Regime.eligible`` of every proposal: an SME, a research institute or cluster member, enough regions."""
    seen = np.zeros(n_regions, dtype=np.bool_)
    for p in range(n_props):
        sme = False
        knowledge = False
        n_reg = 0
        for j in range(lens[p]):
            i = members[p, j]
            if kind[i] == 0 or kind[i] == 2:
                sme = True
            if kind[i] == 3 or cluster[i] >= 0:
                knowledge = True
            if not seen[region[i]]:
                seen[region[i]] = True
                n_reg += 1
        for j in range(lens[p]):
            seen[region[members[p, j]]] = False
        out_ok[p] = sme and knowledge and n_reg >= min_regions


@kernel
def base_rank(rng, profile, members, lens, rows, d, out_score):
    """``Regime.rank`` of the proposals ``rows`` (in that order): mean knowledge in the call domain + 0.25 x
    breadth + 0.01 x a uniform draw."""
    n_dom = profile.shape[1]
    for k in range(rows.size):
        p = rows[k]
        length = lens[p]
        vals = np.empty(length, dtype=np.float32)
        for j in range(length):
            vals[j] = profile[members[p, j], d]
        fit = _mean_f32(vals)
        covered = 0
        for dd in range(n_dom):
            for j in range(length):
                if profile[members[p, j], dd] > 0:
                    covered += 1
                    break
        breadth = float(covered) / n_dom
        out_score[k] = fit + 0.25 * breadth + 0.01 * rng.random()


@kernel
def fund_ranked(region, mass, busy, members, lens, rows, scores, d, joint, subsidy_rate, unit, duration, budget,
                out_funded):
    """Fund proposals ``rows`` in rank order (joint calls add 0.1 log1p of the member regions' mass in the domain)
    while the committed public money fits ``budget`` and no member is in two projects. Marks ``busy``; writes the
    funded proposals in funding order to ``out_funded``; returns (number funded, committed)."""
    n = rows.size
    if joint:
        seen = np.zeros(mass.shape[0], dtype=np.bool_)
        for k in range(n):
            p = rows[k]
            total = 0.0
            for j in range(lens[p]):
                r = region[members[p, j]]
                if not seen[r]:
                    seen[r] = True
                    total += mass[r, d]  # whole numbers: the order of the additions does not matter
            for j in range(lens[p]):
                seen[region[members[p, j]]] = False
            scores[k] += 0.1 * math.log1p(total)
    neg = np.empty(n)
    for k in range(n):
        neg[k] = -scores[k]
    order = np.argsort(neg, kind="mergesort")
    committed = 0.0
    n_funded = 0
    for q in range(n):
        p = rows[order[q]]
        length = lens[p]
        per_step = subsidy_rate * unit * length
        cost = per_step * duration
        if cost <= 0.0:
            break
        if committed + cost > budget + 1e-9:
            continue
        full = False
        for j in range(length):
            if busy[members[p, j]] >= 2:
                full = True
        if full:
            continue
        for j in range(length):
            busy[members[p, j]] += 1
        committed += cost
        out_funded[n_funded] = p
        n_funded += 1
    return n_funded, committed


@kernel
def fund_call(rng, n, alive, region, kind, cluster, profile, tie_partner, busy, mass, d, region_ok, scope,
              use_mask, mask, size, min_regions, subsidy_rate, unit, duration, budget, out_members, out_len,
              out_funded):
    """A whole call under the base eligibility and ranking rules: assemble, check, rank, fund.
    Returns (number funded, committed)."""
    n_props = assemble(rng, n, alive, region, kind, cluster, profile, tie_partner, busy, d, region_ok, scope,
                       use_mask, mask, size, min_regions, out_members, out_len)
    if n_props == 0:
        return 0, 0.0
    ok = np.zeros(n_props, dtype=np.bool_)
    base_eligible(kind, cluster, region, mass.shape[0], out_members, out_len, n_props, min_regions, ok)
    rows = np.flatnonzero(ok)
    if rows.size == 0:
        return 0, 0.0
    scores = np.empty(rows.size)
    base_rank(rng, profile, out_members, out_len, rows, d, scores)
    return fund_ranked(region, mass, busy, out_members, out_len, rows, scores, d, min_regions >= 2, subsidy_rate,
                       unit, duration, budget, out_funded)


# ----------------------------------------------------------------------------------------------------------------
# running projects
# ----------------------------------------------------------------------------------------------------------------
@kernel
def busy_count(members, n):
    """Projects each actor is in."""
    busy = np.zeros(n, dtype=np.int64)
    for i in members:
        busy[i] += 1
    return busy


@kernel
def run_projects(members, off, funding, cost_per_member, funder, domain, reg_flat, reg_off, alive, region, cluster,
                 costs, rd_spend, transfers, spent, cum_spent, to_clusters, transformative, participations,
                 cluster_participations, target, links, cl_region, cl_link):
    """One quarter of the running projects (``S3Policy._run_projects``)."""
    R = links.shape[0]
    count = np.zeros(R, dtype=np.int64)
    in_cl = np.zeros(R, dtype=np.int64)
    for p in range(off.size - 1):
        a0, a1 = off[p], off[p + 1]
        any_alive = False
        for j in range(a0, a1):
            if alive[members[j]]:
                any_alive = True
                break
        if not any_alive:
            continue
        share = funding[p] / (a1 - a0)
        cost = cost_per_member[p]
        for j in range(a0, a1):
            i = members[j]
            if alive[i]:
                costs[i] += cost
                rd_spend[i] += cost
                transfers[i] += share
                count[region[i]] += 1
                if cluster[i] >= 0:
                    in_cl[region[i]] += 1
        payer = funder[p]
        d = domain[p]
        for r in range(R):
            if count[r] == 0:
                continue
            amount = share * float(count[r])
            rr = r if payer < 0 else payer
            spent[rr] += amount
            cum_spent[rr] += amount
            to_clusters[rr] += share * float(in_cl[r])
            if target[rr, d]:
                transformative[rr] += amount
            participations[r] += float(count[r])
            cluster_participations[r] += float(in_cl[r])
            count[r] = 0
            in_cl[r] = 0
        b0, b1 = reg_off[p], reg_off[p + 1]
        if b1 - b0 > 1:
            for x in range(b0, b1):
                for y in range(b0, b1):
                    links[reg_flat[x], reg_flat[y]] = 1.0
            for x in range(b0, b1):
                links[reg_flat[x], reg_flat[x]] = 0.0
            # cluster-to-cluster links: each member organisation brokers for the first (by id) organisation of
            # another region in the project, unless it is linked already
            n_cl = 0
            cos = np.empty(a1 - a0, dtype=np.int64)
            for j in range(a0, a1):
                c = cluster[members[j]]
                if c >= 0 and not _in(c, cos, n_cl):
                    cos[n_cl] = c
                    n_cl += 1
            cos = np.sort(cos[:n_cl])
            for x in cos:
                for y in cos:
                    if cl_region[x] != cl_region[y] and cl_link[x] < 0:
                        cl_link[x] = y


@kernel
def project_pairs(members, off, alive):
    """Every alive member paired with its project's first alive member."""
    k = 0
    for p in range(off.size - 1):
        alive_in = 0
        for j in range(off[p], off[p + 1]):
            if alive[members[j]]:
                alive_in += 1
        if alive_in >= 2:
            k += alive_in - 1
    pa = np.empty(k, dtype=np.int32)
    pb = np.empty(k, dtype=np.int32)
    k = 0
    for p in range(off.size - 1):
        first = -1
        alive_in = 0
        for j in range(off[p], off[p + 1]):
            if alive[members[j]]:
                alive_in += 1
        if alive_in < 2:
            continue
        for j in range(off[p], off[p + 1]):
            i = members[j]
            if not alive[i]:
                continue
            if first < 0:
                first = i
            else:
                pa[k] = first
                pb[k] = i
                k += 1
    return pa, pb


@kernel
def deliverables(rng, members, off, domain, p_deliverable, alive, region, G, out_rows, out_z, out_dom):
    """Draws of the projects' deliverables: per project with an alive member, a uniform draw against
    p_deliverable x G; on success the delivering member (a uniform draw) and the value's standard normal.
    Returns the number of deliverables."""
    k = 0
    alive_rows = np.empty(members.size, dtype=np.int64)
    for p in range(off.size - 1):
        m = 0
        for j in range(off[p], off[p + 1]):
            if alive[members[j]]:
                alive_rows[m] = members[j]
                m += 1
        if m == 0:
            continue
        d = domain[p]
        if rng.random() < p_deliverable[p] * G[region[alive_rows[0]], d]:
            out_rows[k] = alive_rows[int(rng.random() * m)]
            out_z[k] = rng.standard_normal()
            out_dom[k] = d
            k += 1
    return k
