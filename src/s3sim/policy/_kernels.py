"""Compiled loops of the policy engine (S16 calls, proposals and projects; subsidies, grants and the EDP reviews of
the S15 regimes).

Each kernel does exactly what the engine's reference rules say, in the same order: the same random draws from the
``policy`` stream (same calls, same sizes, same order) and the same floating-point operations, so a run is
bit-for-bit the run of the plain-numpy rules. :func:`mean` adds like numpy's pairwise ``add.reduce`` on a
contiguous array (eight partial sums per block of 128), so means of float32 and float64 arrays come out identical.

Actor kinds: 0 and 2 are SMEs, 3 research institutes (``s3sim.model.state``).
"""

from __future__ import annotations

import math

import numpy as np

from ..model._jit import check_stream, generator_of, kernel, live_rows, step_kernel, uniform

MAX_COORDINATORS = 5  # coordinators (proposals) per call


# ----------------------------------------------------------------------------------------------------------------
# numpy's pairwise summation
# ----------------------------------------------------------------------------------------------------------------
@step_kernel
def _block(x, lo, n):
    """numpy's pairwise_sum of ``x[lo:lo + n]`` for n <= 128, in the array's dtype: below 8 terms one running
    sum, else eight running sums (every eighth term) added as a tree, then the remainder."""
    acc = np.zeros(8, dtype=x.dtype)
    if n < 8:
        for i in range(lo, lo + n):
            acc[0] = acc[0] + x[i]
        return acc[0]
    for j in range(8):
        acc[j] = x[lo + j]
    i = 8
    while i < n - (n % 8):
        for j in range(8):
            acc[j] = acc[j] + x[lo + i + j]
        i += 8
    res = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    while i < n:
        res = res + x[lo + i]
        i += 1
    return res


@step_kernel
def _half(n):
    n2 = n // 2
    return n2 - n2 % 8


@kernel
def _pairwise(x):
    """numpy's pairwise_sum of a contiguous array, in its dtype: blocks of at most 128 terms summed by
    :func:`_block`, halves (rounded down to a multiple of 8) added up the tree. Iterative, because recursive
    functions break numba's on-disk cache."""
    n = x.size
    if n <= 128:
        return _block(x, 0, n)
    los = np.empty(64, dtype=np.int64)
    ns = np.empty(64, dtype=np.int64)
    stage = np.zeros(64, dtype=np.int64)  # 1: left half pending, 2: right half pending
    left = np.zeros(64, dtype=x.dtype)
    top = 0
    los[0] = 0
    ns[0] = n
    while True:
        if ns[top] <= 128:
            ret = _block(x, los[top], ns[top])
            top -= 1
            while top >= 0 and stage[top] == 2:
                ret = left[top] + ret
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
def mean(x):
    """``float(x.mean())`` of a non-empty contiguous float32 or float64 array, exactly as numpy computes it
    (0 + the pairwise sum, divided in the array's dtype)."""
    zero = np.zeros(1, dtype=x.dtype)
    total = zero[0] + _pairwise(x)
    zero[0] = x.size
    return float(total / zero[0])


@kernel
def zscore(x):
    """``(x - x.mean()) / x.std()`` (zeros when the standard deviation is 0) of a non-empty contiguous float64
    array, exactly as numpy computes it: the mean as :func:`mean`, the variance as the pairwise sum of squared
    deviations divided by the count."""
    n = x.size
    m = mean(x)
    sq = np.empty(n)
    for i in range(n):
        d = x[i] - m
        sq[i] = d * d
    sd = math.sqrt((0.0 + _pairwise(sq)) / n)
    out = np.zeros(n)
    if sd > 0:
        for i in range(n):
            out[i] = (x[i] - m) / sd
    return out


@kernel
def median(x):
    """``float(np.median(x))`` of a float64 array without NaNs: the middle of the sorted values, or the mean of the
    two middle ones, each added to +0.0 first as numpy's mean does (so -0.0 comes out as 0.0); NaN when empty."""
    if x.size == 0:
        return np.nan
    s = np.sort(x)
    h = s.size // 2
    if s.size % 2:
        return 0.0 + s[h]
    return ((0.0 + s[h - 1]) + s[h]) / 2.0


# ----------------------------------------------------------------------------------------------------------------
# EDP reviews (ClusterS3.review_priorities)
# ----------------------------------------------------------------------------------------------------------------
@kernel
def cluster_signals(cos, cl_domain, member_innov, n_domains):
    """``np.bincount(cl_domain[cos], minlength=n_domains) + member_innov[cos].sum(axis=0)`` (whole numbers, so the
    order of the additions does not matter)."""
    count = np.zeros(n_domains, dtype=np.int64)
    total = np.zeros(n_domains)
    for c in cos:
        count[cl_domain[c]] += 1
        for d in range(n_domains):
            total[d] += member_innov[c, d]
    out = np.empty(n_domains)
    for d in range(n_domains):
        out[d] = count[d] + total[d]
    return out


@kernel
def edp_scores(signal, rd, z_complexity, noise, w_signal, w_relatedness, w_complexity, sigma_edp):
    """``w_signal * zscore(signal) + w_relatedness * zscore(rd) + w_complexity * z_complexity + sigma_edp * noise``
    elementwise, added left to right as numpy does (float64 arrays of one size)."""
    z_signal = zscore(signal)
    z_rd = zscore(rd)
    out = np.empty(signal.size)
    for d in range(signal.size):
        out[d] = (w_signal * z_signal[d] + w_relatedness * z_rd[d] + w_complexity * z_complexity[d]
                  + sigma_edp * noise[d])
    return out


@step_kernel
def _before(a, b):
    """numpy's sort order of floats: ``a`` sorts before ``b`` (NaN last)."""
    return a < b or (np.isnan(b) and not np.isnan(a))


@step_kernel
def _stable_order(keys, idx, m):
    """Sort ``idx[:m]`` in place by ``keys[idx]`` ascending, ties in their order (numpy's stable argsort)."""
    for i in range(1, m):
        x = idx[i]
        j = i - 1
        while j >= 0 and _before(keys[x], keys[idx[j]]):
            idx[j + 1] = idx[j]
            j -= 1
        idx[j + 1] = x


@kernel
def edp_update(score, kpi, pri, strikes, theta_exit, max_changes, k, new):
    """The EDP exit rule of ``ClusterS3.review_priorities`` for a region that holds priorities: a priority whose
    innovations ``kpi`` fall below ``theta_exit`` x the median of the priorities' (:func:`median`) gets a
    strike (the others lose theirs); of those with two strikes, the ``max_changes`` lowest-scoring (stable) are
    dropped (strikes reset), and while fewer than ``k`` priorities remain the best-scoring non-priorities
    (stable) join. Writes the new priorities into ``new``, updates ``strikes``; returns the number dropped."""
    D = score.size
    med = median(kpi[pri]) if pri.any() else 0.0
    threshold = theta_exit * med
    for d in range(D):
        if pri[d] and kpi[d] < threshold:
            strikes[d] += 1
        else:
            strikes[d] = 0
    idx = np.empty(D, dtype=np.int64)
    m = 0
    for d in range(D):
        if pri[d] and strikes[d] >= 2:
            idx[m] = d
            m += 1
    _stable_order(score, idx, m)
    n_out = min(m, max_changes) if max_changes >= 0 else max(m + max_changes, 0)  # idx[:m][:max_changes]
    for d in range(D):
        new[d] = pri[d]
    for q in range(n_out):
        new[idx[q]] = False
        strikes[idx[q]] = 0
    need = k
    for d in range(D):
        if new[d]:
            need -= 1
    if need > 0:  # a dropped priority is replaced by the best non-priorities, not re-selected at once
        neg = np.empty(D)
        for d in range(D):
            neg[d] = -score[d]
        m = 0
        for d in range(D):
            if not pri[d]:
                idx[m] = d
                m += 1
        _stable_order(neg, idx, m)
        for q in range(min(need, m)):
            new[idx[q]] = True
    return n_out


@kernel
def top_k(score, k):
    """``regimes.top_k``: the ``k`` best-scoring entries (``np.argsort(-score, kind="stable")[:k]``, NaN last) as
    a mask."""
    D = score.size
    neg = np.empty(D)
    idx = np.empty(D, dtype=np.int64)
    for d in range(D):
        neg[d] = -score[d]
        idx[d] = d
    _stable_order(neg, idx, D)
    n = min(k, D) if k >= 0 else max(D + k, 0)  # a slice's stop
    out = np.zeros(D, dtype=np.bool_)
    for q in range(n):
        out[idx[q]] = True
    return out


@kernel
def edp_reviews(iparams, co_start, co_rows, cl_domain, member_innov, innov_review, rd, z_complexity, noise, fparams,
                first, pri, strikes, new, signalled, dropped):
    """The EDP reviews of several regions' ``cluster_s3`` scopes in turn (``ClusterS3.review_priorities``). Review
    ``j`` is of region ``r = iparams[j, 0]`` (its cluster organisations ``co_rows[co_start[r]:co_start[r + 1]]``),
    with ``max_changes`` ``iparams[j, 1]``, ``k`` ``iparams[j, 2]``, the weights ``w_signal``, ``w_relatedness``,
    ``w_complexity``, ``sigma_edp`` and ``theta_exit`` in ``fparams[j]`` and the standard normal draws
    ``noise[j]``: the signals (:func:`cluster_signals`), the scores (:func:`edp_scores`), then the ``k`` best
    (:func:`top_k`) when ``first[j]`` (a first review) or the priorities ``pri[j]`` are none, and ``first[j]`` is
    set; else the exit rule on the region's innovations since its last review (:func:`edp_update` with
    ``pri[j]`` and ``strikes[j]``; the number dropped into ``dropped[j]``). The new priorities go to ``new[j]``,
    ``signal > 0`` to ``signalled[j]``, and the region's evidence is reset (``innov_review`` of the region,
    ``member_innov`` of its cluster organisations)."""
    D = innov_review.shape[1]
    for j in range(iparams.shape[0]):
        r = iparams[j, 0]
        cos = co_rows[co_start[r]:co_start[r + 1]]
        signal = cluster_signals(cos, cl_domain, member_innov, D)
        score = edp_scores(signal, rd[r], z_complexity, noise[j], fparams[j, 0], fparams[j, 1], fparams[j, 2],
                           fparams[j, 3])
        if not first[j]:
            first[j] = True
            for d in range(D):
                if pri[j, d]:
                    first[j] = False
        if first[j]:
            new[j] = top_k(score, iparams[j, 2])
        else:
            kpi = innov_review[r].copy()
            dropped[j] = edp_update(score, kpi, pri[j], strikes[j], fparams[j, 4], iparams[j, 1], iparams[j, 2],
                                    new[j])
        for d in range(D):
            innov_review[r, d] = 0.0
            signalled[j, d] = signal[d] > 0
        for c in cos:
            for d in range(D):
                member_innov[c, d] = 0.0


# ----------------------------------------------------------------------------------------------------------------
# calls: consortia, eligibility, ranking, funding
# ----------------------------------------------------------------------------------------------------------------
@step_kernel
def _is_sme(k):
    """An SME or a start-up (actor kinds 0 and 2)."""
    return k == 0 or k == 2


@step_kernel
def _in(x, rows, k):
    for i in range(k):
        if rows[i] == x:
            return True
    return False


@step_kernel
def _first_in_order(score, cand, m, members, length, kind, region, want, home):
    """Index into ``cand`` of the first candidate in rank order (score descending, the lower index first on
    ties: a stable sort) that is not a member and is an SME (``want`` 0) or outside region ``home`` (1); -1 if
    none."""
    best = -1
    for j in range(m):
        x = cand[j]
        if want == 0:
            ok = _is_sme(kind[x])
        else:
            ok = region[x] != home
        if ok and not _in(x, members, length) and (best < 0 or score[j] > score[best]):
            best = j
    return best


@step_kernel
def _swap_in_keeping_sme(members, length, x, kind):
    """The second-region repair: with more than two members, ``x`` replaces the last invitee whose departure
    leaves an SME in the consortium (the last invitee itself unless it is the only SME and ``x`` is none); with
    two, ``x`` joins. Returns the new length."""
    if length <= 2:
        members[length] = x
        return length + 1
    smes = 0
    for q in range(length):
        if _is_sme(kind[members[q]]):
            smes += 1
    q = length - 1  # invitee 1 can always go when all later ones are needed: then it is no SME
    while q > 1 and not (_is_sme(kind[x]) or not _is_sme(kind[members[q]]) or smes > 1):
        q -= 1
    members[q] = x
    return length


@step_kernel
def _swap_in(members, length, x, keep):
    """The last invitee makes way for ``x`` when there are more than ``keep`` members; else ``x`` joins.
    Returns the new length."""
    if length > keep:
        members[length - 1] = x
        return length
    members[length] = x
    return length + 1


@step_kernel
def _candidates(n, alive, region, cluster, profile, busy, d, region_ok, single, reg_start, reg_rows, scope,
                use_mask, mask, cand):
    """Actor rows (ascending) that may join a call; returns their number. ``single`` >= 0: the call's only
    region (its actors are ``reg_rows[reg_start[single]:reg_start[single + 1]]``, ascending)."""
    m = 0
    if single >= 0:
        lo, hi = reg_start[single], reg_start[single + 1]
    else:
        lo, hi = 0, n
    for q in range(lo, hi):
        i = reg_rows[q] if single >= 0 else q
        if (alive[i] and region_ok[region[i]] and profile[i, d] > 0 and (scope < 0 or cluster[i] == scope)
                and (not use_mask or mask[i]) and busy[i] < 2):
            cand[m] = i
            m += 1
    return m


@kernel
def _assemble(rng, n, alive, region, kind, cluster, profile, tie_partner, busy, d, region_ok, single, reg_start,
              reg_rows, scope, use_mask, mask, size, min_regions, out_members, out_len):
    """Consortia for a call (``S3Policy._assemble``) into ``out_members[k, :out_len[k]]``; returns their number."""
    cand = np.empty(n, dtype=np.int64)
    m = _candidates(n, alive, region, cluster, profile, busy, d, region_ok, single, reg_start, reg_rows, scope,
                    use_mask, mask, cand)
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
    coords = generator_of(rng).permutation(coords)
    n_coords = min(k, MAX_COORDINATORS)
    fit = np.empty(m)
    for j in range(m):
        fit[j] = np.float64(profile[cand[j], d])
    score = np.empty(m)
    chosen = np.empty(m, dtype=np.bool_)
    members = np.empty(out_members.shape[1], dtype=np.int64)
    slots = tie_partner.shape[1]
    for p in range(n_coords):
        c = coords[p]
        u = generator_of(rng).random(m)
        for j in range(m):
            tie = 0.0
            for s in range(slots):
                if tie_partner[c, s] == cand[j]:
                    tie = 1.0
                    break
            score[j] = fit[j] + 0.5 * tie + 0.2 * u[j]
            if cand[j] == c:
                score[j] = -np.inf
            chosen[j] = False
        # the coordinator, then the first size - 1 candidates in rank order (the coordinator ranks last)
        members[0] = c
        length = 1
        for _ in range(min(size - 1, m)):
            best = -1
            for j in range(m):
                if not chosen[j] and (best < 0 or score[j] > score[best]):
                    best = j
            chosen[best] = True
            if cand[best] != c:
                members[length] = cand[best]
                length += 1
        # repair: the last invitee makes way for the best candidate that brings a missing SME, then an invitee
        # that is not the only SME for the best one that brings a missing second region
        sme = False
        for j in range(length):
            if _is_sme(kind[members[j]]):
                sme = True
        if not sme:
            j = _first_in_order(score, cand, m, members, length, kind, region, 0, -1)
            if j >= 0:
                length = _swap_in(members, length, cand[j], 1)
        if min_regions >= 2:
            home = region[members[0]]
            single_region = True
            for j in range(1, length):
                if region[members[j]] != home:
                    single_region = False
            if single_region:
                j = _first_in_order(score, cand, m, members, length, kind, region, 1, home)
                if j >= 0:
                    length = _swap_in_keeping_sme(members, length, cand[j], kind)
        out_len[p] = length
        for j in range(length):
            out_members[p, j] = members[j]
    return n_coords


@kernel
def assemble(rng, n, alive, region, kind, cluster, profile, tie_partner, busy, d, region_ok, single, reg_start,
             reg_rows, scope, use_mask, mask, size, min_regions, out_members, out_len):
    """Consortia for one call (see :func:`_assemble`)."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    return _assemble(rng, n, alive, region, kind, cluster, profile, tie_partner, busy, d, region_ok, single,
                     reg_start, reg_rows, scope, use_mask, mask, size, min_regions, out_members, out_len)


@kernel
def _base_eligible(kind, cluster, region, n_regions, members, lens, n_props, min_regions, out_ok):
    """``Regime.eligible`` of every proposal: an SME, a research institute or cluster member, enough regions."""
    seen = np.zeros(n_regions, dtype=np.bool_)
    for p in range(n_props):
        sme = False
        knowledge = False
        n_reg = 0
        for j in range(lens[p]):
            i = members[p, j]
            if _is_sme(kind[i]):
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
def _base_rank(rng, profile, members, lens, rows, d, out_score):
    """``Regime.rank`` of the proposals ``rows`` (in that order): mean knowledge in the call domain + 0.25 x
    breadth + 0.01 x a uniform draw."""
    n_dom = profile.shape[1]
    for k in range(rows.size):
        p = rows[k]
        length = lens[p]
        vals = np.empty(length, dtype=profile.dtype)
        for j in range(length):
            vals[j] = profile[members[p, j], d]
        fit = mean(vals)
        covered = 0
        for dd in range(n_dom):
            for j in range(length):
                if profile[members[p, j], dd] > 0:
                    covered += 1
                    break
        breadth = float(covered) / n_dom
        out_score[k] = fit + 0.25 * breadth + 0.01 * uniform(rng)


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
def fund_calls(rng, n, alive, region, kind, cluster, profile, tie_partner, busy, mass, reg_start, reg_rows, mask,
               domain, region_ok, single, scope, use_mask, size, min_regions, subsidy_rate, unit, duration, budget,
               out_members, out_len, out_funded, out_n_funded, out_committed):
    """Calls in turn, each under the base eligibility and ranking rules: assemble, check, rank, fund (per call
    ``k``: proposals ``out_members[k]``, the funded ones in order ``out_funded[k, :out_n_funded[k]]``, the money
    committed ``out_committed[k]``)."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    for k in range(domain.size):
        out_n_funded[k] = 0
        out_committed[k] = 0.0
        n_props = _assemble(rng, n, alive, region, kind, cluster, profile, tie_partner, busy, domain[k],
                            region_ok[k], single[k], reg_start, reg_rows, scope[k], use_mask[k], mask, size[k],
                            min_regions[k], out_members[k], out_len[k])
        if n_props == 0:
            continue
        ok = np.zeros(n_props, dtype=np.bool_)
        _base_eligible(kind, cluster, region, mass.shape[0], out_members[k], out_len[k], n_props, min_regions[k],
                       ok)
        rows = np.flatnonzero(ok)
        if rows.size == 0:
            continue
        scores = np.empty(rows.size)
        _base_rank(rng, profile, out_members[k], out_len[k], rows, domain[k], scores)
        out_n_funded[k], out_committed[k] = fund_ranked(
            region, mass, busy, out_members[k], out_len[k], rows, scores, domain[k], min_regions[k] >= 2,
            subsidy_rate[k], unit[k], duration[k], budget[k], out_funded[k])


@kernel
def start_projects(members, lens, funded, n_funded, region, rate, unit, funded_intra, funded_inter):
    """The projects of calls' funded proposals, call after call, each call's in funding order
    (``S3Policy._funded``; call ``j``'s proposals are ``members[j, p, :lens[j, p]]``, its funded ones
    ``funded[j, :n_funded[j]]``). Project ``q`` gets the proposal's members ``flat[off[q]:off[q + 1]]``, its
    members' distinct regions in ascending order ``regions[reg_off[q]:reg_off[q + 1]]``, its call ``call_of[q]``
    and its public money per quarter ``rate[j] * unit[j] * members`` (multiplied in that order); it adds one to
    ``funded_intra`` of its region, or to ``funded_inter`` of each of its regions when it spans several.
    Returns (off, flat, reg_off, regions, call_of, per_step, the number spanning regions)."""
    n_proj = 0
    total = 0
    for j in range(n_funded.size):
        for f in range(n_funded[j]):
            total += lens[j, funded[j, f]]
        n_proj += n_funded[j]
    off = np.zeros(n_proj + 1, dtype=np.int64)
    reg_off = np.zeros(n_proj + 1, dtype=np.int64)
    flat = np.empty(total, dtype=np.int64)
    regions = np.empty(total, dtype=np.int64)
    call_of = np.empty(n_proj, dtype=np.int64)
    per_step = np.empty(n_proj)
    q = 0
    n_inter = 0
    for j in range(n_funded.size):
        for f in range(n_funded[j]):
            p = funded[j, f]
            length = lens[j, p]
            a0 = off[q]
            b0 = reg_off[q]
            b1 = b0
            for i in range(length):
                x = members[j, p, i]
                flat[a0 + i] = x
                r = np.int64(region[x])
                pos = b0  # insert r into the sorted regions so far, unless it is there
                while pos < b1 and regions[pos] < r:
                    pos += 1
                if pos < b1 and regions[pos] == r:
                    continue
                for y in range(b1, pos, -1):
                    regions[y] = regions[y - 1]
                regions[pos] = r
                b1 += 1
            off[q + 1] = a0 + length
            reg_off[q + 1] = b1
            call_of[q] = j
            per_step[q] = rate[j] * unit[j] * length
            if b1 - b0 > 1:
                for y in range(b0, b1):
                    funded_inter[regions[y]] += 1
                n_inter += 1
            else:
                funded_intra[regions[b0]] += 1
            q += 1
    return off, flat, reg_off, regions[: reg_off[n_proj]], call_of, per_step, n_inter


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
    check_stream(rng)  # a Generator or its stream handle (model._jit)
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
        if uniform(rng) < p_deliverable[p] * G[region[alive_rows[0]], d]:
            out_rows[k] = alive_rows[int(uniform(rng) * m)]
            out_z[k] = generator_of(rng).standard_normal()
            out_dom[k] = d
            k += 1
    return k


# ----------------------------------------------------------------------------------------------------------------
# indicators
# ----------------------------------------------------------------------------------------------------------------
@kernel
def stress_scores(pri, prioritises, funded, collaborative, signalled, has_signal, cl_region, cl_domain, near,
                  participations, cluster_participations, cum_spent, transformative, to_clusters, out):
    """The StressTest scores (``S3Policy.stress_scores``) into ``out`` rows: cluster design, cluster
    implementation, breadth, alignment, transformative, cluster support; column R is the mean over regions."""
    R, D = pri.shape
    vals = np.empty(R)
    for r in range(R):
        any_pri = False
        n_pri = 0
        for d in range(D):
            if pri[r, d]:
                any_pri = True
                n_pri += 1
        n_cos = 0
        n_sig = 0
        n_in_pri = 0
        for c in range(cl_region.size):
            if cl_region[c] == r:
                n_cos += 1
                if signalled[r, cl_domain[c]]:
                    n_sig += 1
                if pri[r, cl_domain[c]]:
                    n_in_pri += 1
        if collaborative[r] and n_cos > 0 and has_signal[r]:
            out[0, r] = (n_sig / n_cos) * (n_in_pri / n_cos) if any_pri else 0.0
        if participations[r] > 0:
            out[1, r] = cluster_participations[r] / participations[r]
        out[2, r] = n_pri / D if prioritises[r] else (1.0 if funded[r] else 0.0)
        k = 0
        for o in range(R):
            if near[r, o] and o != r:
                inter = 0
                union = 0
                for d in range(D):
                    if pri[o, d] and pri[r, d]:
                        inter += 1
                    if pri[o, d] or pri[r, d]:
                        union += 1
                vals[k] = inter / max(union, 1) if union > 0 else 0.0
                k += 1
        if k > 0 and any_pri:
            out[3, r] = mean(vals[:k])
        if cum_spent[r] > 0:
            out[4, r] = transformative[r] / cum_spent[r]
            out[5, r] = to_clusters[r] / cum_spent[r]
    for i in range(out.shape[0]):
        out[i, R] = mean(out[i, :R])


@kernel
def grant_clusters(cos, co_domain, priorities, brokerage, co_brokerage, co_budget, budget, target):
    """Operating grants of one scope (``S3Policy.grant_clusters``): the organisations ``cos`` whose domain
    (``co_domain``) is a priority broker with ``brokerage`` and, with a positive budget, share it equally.
    Returns the number granted and the part of the budget in target domains (summed over domains in order, as
    numpy sums)."""
    D = target.size
    count = np.zeros(D, dtype=np.int64)
    k = 0
    for j in range(cos.size):
        if priorities[co_domain[j]]:
            co_brokerage[cos[j]] = brokerage
            count[co_domain[j]] += 1
            k += 1
    if k == 0 or budget <= 0:
        return k, 0.0
    share = budget / k
    for j in range(cos.size):
        if priorities[co_domain[j]]:
            co_budget[cos[j]] += share
    vals = np.empty(D)
    m = 0
    for d in range(D):
        if target[d]:
            vals[m] = count[d] * share
            m += 1
    return k, 0.0 + _pairwise(vals[:m])


@kernel
def grant_regions(regions, co_start, co_rows, co_domain, priorities, brokerage, co_brokerage, co_budget, budget,
                  target, spent, cum_spent, to_clusters, transformative):
    """The operating grants of several regions' scopes in turn (``regions[s]``, its cluster organisations
    ``co_rows[co_start[r]:co_start[r + 1]]`` with their domains in ``co_domain``; ``priorities[s]``,
    ``brokerage[s]``, ``budget[s]``), each exactly as :func:`grant_clusters` and booked as the engine books one
    (nothing when none is granted or the budget is not positive): ``spent``, ``cum_spent``, ``to_clusters`` and
    ``transformative`` of the region, added in that order."""
    for s in range(regions.size):
        r = regions[s]
        lo, hi = co_start[r], co_start[r + 1]
        k, tf = grant_clusters(co_rows[lo:hi], co_domain[lo:hi], priorities[s], brokerage[s], co_brokerage, co_budget,
                               budget[s], target[r])
        if k == 0 or budget[s] <= 0:
            continue
        spent[r] += budget[s]
        cum_spent[r] += budget[s]
        to_clusters[r] += budget[s]
        transformative[r] += tf


@kernel
def target_mask(rd, specialised):
    """``(rd > np.median(rd, axis=1)[:, None]) & ~specialised``: per region, the domains whose relatedness
    density is above the region's median (:func:`median`; a row with a NaN has a NaN median, above which
    nothing is) and that are not specialised."""
    R, D = rd.shape
    out = np.zeros((R, D), dtype=np.bool_)
    for r in range(R):
        row = rd[r].copy()
        nan = False
        for d in range(D):
            if np.isnan(row[d]):
                nan = True
        if nan:
            continue
        med = median(row)
        for d in range(D):
            out[r, d] = rd[r, d] > med and not specialised[r, d]
    return out


# ----------------------------------------------------------------------------------------------------------------
# single-beneficiary subsidies
# ----------------------------------------------------------------------------------------------------------------
@kernel
def _subsidise(rng, rows, domains, product_domain, capital, transfers, subsidy, cluster, rate, c_rad, c_incr,
               low_capital_threshold, budget, target):
    """The body of :func:`subsidise` (one scope)."""
    m = 0
    sel = np.empty(rows.size, dtype=np.int64)
    for j in range(rows.size):
        if domains.size == 0 or domains[product_domain[rows[j]]]:
            sel[m] = rows[j]
            m += 1
    if m == 0 or budget <= 0:
        return False, 0.0, 0.0, 0.0
    order = generator_of(rng).permutation(sel[:m])
    cost = np.empty(m)
    for j in range(m):
        i = order[j]
        radical = capital[i] + transfers[i] + rate * c_rad <= low_capital_threshold
        cost[j] = (c_rad if radical else c_incr) * rate
    paid = np.empty(m, dtype=np.int64)
    k = 0
    run = 0.0
    for j in range(m):
        run += cost[j]
        if run <= budget:
            paid[k] = order[j]
            k += 1
    n_domains = target.size
    by_domain = np.zeros(n_domains)
    to_cl = np.empty(k)
    c = 0
    for j in range(k):
        i = paid[j]
        transfers[i] += cost[j]
        subsidy[i] += cost[j]
        if cluster[i] >= 0:
            to_cl[c] = cost[j]
            c += 1
        by_domain[product_domain[i]] += cost[j]
    sel_t = np.empty(n_domains)
    t = 0
    for d in range(n_domains):
        if target[d]:
            sel_t[t] = by_domain[d]
            t += 1
    return True, 0.0 + _pairwise(cost[:k]), 0.0 + _pairwise(to_cl[:c]), 0.0 + _pairwise(sel_t[:t])


@kernel
def subsidise(rng, rows, domains, product_domain, capital, transfers, subsidy, cluster, rate, c_rad, c_incr,
              low_capital_threshold, budget, target):
    """``S3Policy.subsidise`` for one scope: of the candidate ``rows`` (those whose product domain is flagged in
    ``domains``; all when ``domains`` is empty), in a random order (one permutation from ``rng``), pay
    ``rate`` x the research cost (radical when capital plus transfers plus the radical-sized subsidy stays at or
    below the threshold) while the running total stays within ``budget``. Returns whether anything was booked
    (no candidates or no budget: no draw, no booking), the total paid, the part paid to cluster members and the
    part in ``target`` domains, each summed as numpy sums (``amount.sum()``, a masked sum, and the sum of the
    target bins of ``np.bincount(product_domain, weights=amount)``)."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    return _subsidise(rng, rows, domains, product_domain, capital, transfers, subsidy, cluster, rate, c_rad, c_incr,
                      low_capital_threshold, budget, target)


@kernel
def subsidise_regions(rng, regions, start, rows, all_domains, domains, product_domain, capital, transfers, subsidy,
                      cluster, rate, c_rad, c_incr, low_capital_threshold, budget, target, spent, cum_spent,
                      to_clusters, transformative):
    """The subsidies of several regions' scopes in turn (``regions[s]``, candidates ``rows[start[r]:start[r + 1]]``
    of its region ``r``, every domain when ``all_domains[s]``, else those flagged in ``domains[s]``; ``rate[s]``,
    ``budget[s]``), each exactly as :func:`subsidise` (none with a budget <= 0) and booked as the engine
    books one: ``spent``, ``cum_spent``, ``to_clusters`` and ``transformative`` of the region, added in that
    order."""
    check_stream(rng)  # a Generator or its stream handle (model._jit)
    no_domains = np.zeros(0, dtype=np.bool_)
    for s in range(regions.size):
        if budget[s] <= 0:
            continue
        r = regions[s]
        booked, total, to_cl, tf = _subsidise(rng, rows[start[r]:start[r + 1]],
                                              no_domains if all_domains[s] else domains[s], product_domain, capital,
                                              transfers, subsidy, cluster, rate[s], c_rad, c_incr,
                                              low_capital_threshold, budget[s], target[r])
        if booked:
            spent[r] += total
            cum_spent[r] += total
            to_clusters[r] += to_cl
            transformative[r] += tf


@kernel
def researching_by_region(n, alive, kind, profit, region, cluster, pilot_flag, success_threshold, n_regions):
    """Firms about to research (alive, not research institutes, last profit <= ``success_threshold``), pilot
    cluster members left out (``pilot_flag`` by cluster, index -1 the sentinel), grouped by region in ascending
    row order: (start[n_regions + 1], rows)."""
    # the alive rows only (model._jit.live_rows), then a counting sort by region, as build_csr would sort them
    live = live_rows(alive, n)
    rows = np.empty(live.size, dtype=np.int64)
    m = 0
    for i in live:
        rows[m] = i
        m += 1 if (kind[i] != 3) & (profit[i] <= success_threshold) and not pilot_flag[cluster[i]] else 0
    start = np.zeros(n_regions + 1, dtype=np.int64)
    for x in range(m):
        start[region[rows[x]] + 1] += 1
    for r in range(n_regions):
        start[r + 1] += start[r]
    out = np.empty(m, dtype=np.int64)
    fill = start[:-1].copy()
    for x in range(m):
        r = region[rows[x]]
        out[fill[r]] = rows[x]
        fill[r] += 1
    return start, out


@kernel
def count_review_innovations(innov, rows, doms, region, n_domains, innov_review, cum_innov):
    """A quarter's innovations as EDP evidence: ``innov`` rows (value, kind, region x n_domains + domain) and the
    deliverables (actor ``rows``, domains ``doms``) counted by region and domain, added to ``innov_review`` and, by
    region, to ``cum_innov`` (``np.bincount`` of the cells plus ``np.add.at`` of the deliverables, then
    ``innov_review += counts`` and ``cum_innov += counts.sum(axis=1)``)."""
    R = innov_review.shape[0]
    counts = np.zeros(R * n_domains, dtype=np.int64)
    for q in range(innov.shape[0]):
        counts[np.int64(innov[q, 2])] += 1
    for j in range(rows.size):
        counts[region[rows[j]] * n_domains + doms[j]] += 1
    for r in range(R):
        total = 0
        for d in range(n_domains):
            c = counts[r * n_domains + d]
            innov_review[r, d] += c
            total += c
        cum_innov[r] += total


@kernel
def count_member_innovations(prev, cur, cluster, product_domain, member_innov):
    """Add one to ``member_innov[cluster, product domain]`` for every cluster member whose innovation counter
    rose since ``prev`` (actors born since have no previous count and are left out)."""
    for i in range(prev.size):
        if cur[i] > prev[i] and cluster[i] >= 0:
            member_innov[cluster[i], product_domain[i]] += 1.0
