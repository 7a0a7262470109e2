"""The compiled policy loops (``s3sim.policy._kernels``) against plain-numpy statements of the same rules: the same
random draws in the same order and bit-identical results. No timings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from s3sim.policy import _kernels as K


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_is_numpys_mean_bit_for_bit(dtype):
    rng = np.random.default_rng(11)
    for size in list(range(1, 40)) + [127, 128, 129, 255, 256, 257, 1000, 1031]:
        x = (rng.random(size) * rng.choice([1e-3, 1.0, 1e3], size)).astype(dtype)
        assert K.mean(x) == float(x.mean()), size


# ----------------------------------------------------------------------------------------------------------------
# consortia: the rules as plain numpy (candidates, coordinators, invitations, repairs)
# ----------------------------------------------------------------------------------------------------------------
def _assemble_reference(rng, alive, region, kind, cluster, profile, tie_partner, busy, d, regions, size, min_regions):
    n = busy.size
    pool = alive[:n] & np.isin(region[:n], regions) & (profile[:n, d] > 0) & (busy < 2)
    cand = np.flatnonzero(pool)
    if cand.size < 2:
        return []
    coords = cand[(kind[cand] == 3) | (cluster[cand] >= 0)]
    if coords.size == 0:
        return []
    coords = rng.permutation(coords)[:5]
    fit = profile[cand, d].astype(np.float64)
    out = []
    for c in coords:
        score = fit + 0.5 * np.isin(cand, tie_partner[c]) + 0.2 * rng.random(cand.size)
        score[cand == c] = -np.inf
        order = cand[np.argsort(-score, kind="stable")]
        members = [int(c)] + [int(x) for x in order[: size - 1] if x != c]
        if not np.isin(kind[members], (0, 2)).any():
            smes = [int(x) for x in order if kind[x] in (0, 2) and int(x) not in members]
            if smes:
                members = members[:-1] + [smes[0]] if len(members) > 1 else members + [smes[0]]
        if min_regions >= 2 and np.unique(region[members]).size < 2:
            home = region[members[0]]
            other = [int(x) for x in order if region[x] != home and int(x) not in members]
            if other:
                if len(members) > 2:  # the last invitee whose departure leaves an SME goes
                    def keeps_sme(q):
                        rest = members[:q] + members[q + 1:] + [other[0]]
                        return np.isin(kind[rest], (0, 2)).any()

                    q = next((q for q in range(len(members) - 1, 0, -1) if keeps_sme(q)), len(members) - 1)
                    members = members[:q] + [other[0]] + members[q + 1:]
                else:
                    members = members + [other[0]]
        out.append(members)
    return out


def _actors(seed, n=300, n_regions=4, n_domains=6):
    rng = np.random.default_rng(seed)
    cap = n + 20  # arrays are longer than the actors in use, as in the model
    alive = np.ones(cap, dtype=bool)
    alive[rng.random(cap) < 0.1] = False
    region = rng.integers(0, n_regions, cap).astype(np.int32)
    kind = rng.choice(np.array([0, 1, 2, 3], dtype=np.int8), cap, p=[0.5, 0.2, 0.2, 0.1])
    cluster = np.where(rng.random(cap) < 0.2, rng.integers(0, 5, cap), -1).astype(np.int32)
    profile = np.where(rng.random((cap, n_domains)) < 0.4, rng.random((cap, n_domains)), 0).astype(np.float32)
    if seed % 3 == 0:  # ties in the knowledge profile
        profile = np.round(profile, 1).astype(np.float32)
    tie_partner = np.where(rng.random((cap, 8)) < 0.5, rng.integers(0, n, (cap, 8)), -1).astype(np.int32)
    busy = rng.integers(0, 3, n).astype(np.int64)
    return n, alive, region, kind, cluster, profile, tie_partner, busy


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("joint", [False, True])
def test_assemble_matches_the_numpy_rules(seed, joint):
    n, alive, region, kind, cluster, profile, tie_partner, busy = _actors(seed)
    n_regions = int(region.max()) + 1
    regions = np.array([0, 2]) if joint else np.array([seed % n_regions])
    min_regions = 2 if joint else 1
    start = np.zeros(n_regions + 1, dtype=np.int64)
    np.cumsum(np.bincount(region[:n], minlength=n_regions), out=start[1:])
    rows = np.argsort(region[:n], kind="stable").astype(np.int64)
    region_ok = np.zeros(n_regions, dtype=bool)
    region_ok[regions] = True
    single = -1 if joint else int(regions[0])
    for d in range(profile.shape[1]):
        for size in (2, 4, 7):
            ref_rng, rng = np.random.default_rng(seed * 100 + d), np.random.default_rng(seed * 100 + d)
            want = _assemble_reference(ref_rng, alive, region, kind, cluster, profile, tie_partner, busy, d, regions,
                                       size, min_regions)
            members = np.empty((K.MAX_COORDINATORS, max(size, 3)), dtype=np.int64)
            lens = np.empty(K.MAX_COORDINATORS, dtype=np.int64)
            k = K.assemble(rng, n, alive, region, kind, cluster, profile, tie_partner, busy, d, region_ok, single,
                           start, rows, -1, False, alive, size, min_regions, members, lens)
            got = [list(members[j, : lens[j]]) for j in range(k)]
            assert got == want, (d, size)
            assert rng.random() == ref_rng.random()  # the same draws were taken


def _rank_reference(rng, profile, proposals, d):
    out = np.empty(len(proposals))
    for k, m in enumerate(proposals):
        fit = float(profile[m, d].mean())
        breadth = float((profile[m].max(axis=0) > 0).sum()) / profile.shape[1]
        out[k] = fit + 0.25 * breadth + 0.01 * rng.random()
    return out


@pytest.mark.parametrize("seed", range(6))
def test_rank_and_funding_match_the_numpy_rules(seed):
    n, _, region, _, _, profile, _, busy = _actors(seed)
    rng = np.random.default_rng(seed)
    props = [rng.choice(n, int(rng.integers(2, 9)), replace=False) for _ in range(5)]
    width = max(p.size for p in props)
    members = np.zeros((5, width), dtype=np.int64)
    lens = np.array([p.size for p in props], dtype=np.int64)
    for k, p in enumerate(props):
        members[k, : p.size] = p
    rows = np.arange(5, dtype=np.int64)
    d = seed % profile.shape[1]
    ref_rng, k_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    want = _rank_reference(ref_rng, profile, props, d)
    got = np.empty(5)
    K._base_rank(k_rng, profile, members, lens, rows, d, got)
    assert np.array_equal(got, want)
    # funding in rank order within the budget, skipping proposals with a member in two projects
    mass = np.floor(rng.random((int(region.max()) + 1, profile.shape[1])) * 50)
    scores = want.copy()
    for k, p in enumerate(props):
        scores[k] += 0.1 * math.log1p(float(mass[np.unique(region[p]), d].sum()))
    ref_busy, k_busy = busy.copy(), busy.copy()
    budget = 0.5 * 300.0 * 8 * 12
    committed, funded = 0.0, []
    for k in np.argsort(-scores, kind="stable"):
        cost = 0.5 * 300.0 * props[k].size * 8
        if committed + cost > budget + 1e-9 or (ref_busy[props[k]] >= 2).any():
            continue
        ref_busy[props[k]] += 1
        committed += cost
        funded.append(int(k))
    out = np.empty(5, dtype=np.int64)
    n_funded, got_committed = K.fund_ranked(region, mass, k_busy, members, lens, rows, want.copy(), d, True, 0.5,
                                            300.0, 8, budget, out)
    assert list(out[:n_funded]) == funded and got_committed == committed
    assert np.array_equal(k_busy, ref_busy)


# ----------------------------------------------------------------------------------------------------------------
# single-beneficiary subsidies: the rule as plain numpy (filter, permutation, costs, first come within the budget)
# ----------------------------------------------------------------------------------------------------------------
def _subsidise_reference(rng, rows, domains, product_domain, capital, transfers, subsidy, cluster, rate, c_rad,
                         c_incr, low, budget, target):
    if domains is not None:
        rows = rows[domains[product_domain[rows]]]
    if rows.size == 0 or budget <= 0:
        return None
    rows = rng.permutation(rows)
    radical = capital[rows] + transfers[rows] + rate * c_rad <= low
    cost = np.where(radical, c_rad, c_incr) * rate
    paid = rows[np.cumsum(cost) <= budget]
    amount = cost[: paid.size]
    transfers[paid] += amount
    subsidy[paid] += amount
    by_domain = np.bincount(product_domain[paid], weights=amount, minlength=target.size)
    return (float(amount.sum()), float(amount[cluster[paid] >= 0].sum()), float(by_domain[target].sum()))


@pytest.mark.parametrize("seed", range(10))
def test_subsidies_match_the_numpy_rules(seed):
    n, alive, region, kind, cluster, profile, _, _ = _actors(seed)
    rng = np.random.default_rng(seed)
    D = profile.shape[1]
    product_domain = rng.integers(0, D, alive.size).astype(np.int32)
    capital = rng.random(alive.size) * 3000.0
    transfers0 = np.where(rng.random(alive.size) < 0.3, rng.random(alive.size) * 500.0, 0.0)
    target = rng.random(D) < 0.5
    for case in range(8):
        rows = np.flatnonzero(alive[:n] & (region[:n] == case % 4) & (kind[:n] != 3))
        domains = None if case % 2 else rng.random(D) < 0.4
        rate = (0.25, 0.5, 0.75, 0.1)[case % 4]
        budget = (0.0, 2000.0, 15000.0, 1e9)[(case + seed) % 4]
        ref_t, ref_s = transfers0.copy(), np.zeros(alive.size)
        got_t, got_s = transfers0.copy(), np.zeros(alive.size)
        ref_rng, k_rng = np.random.default_rng(seed * 10 + case), np.random.default_rng(seed * 10 + case)
        want = _subsidise_reference(ref_rng, rows, domains, product_domain, capital, ref_t, ref_s, cluster, rate,
                                    1000.0, 200.0, 1000.0, budget, target)
        booked, *got = K.subsidise(k_rng, rows, np.zeros(0, dtype=bool) if domains is None else domains,
                                   product_domain, capital, got_t, got_s, cluster, rate, 1000.0, 200.0, 1000.0,
                                   budget, target)
        assert booked == (want is not None), case
        if booked:
            assert tuple(got) == want, case
        assert np.array_equal(got_t, ref_t) and np.array_equal(got_s, ref_s), case
        assert k_rng.random() == ref_rng.random(), case  # the same draws were taken


def test_zscore_and_median_are_numpys_bit_for_bit():
    rng = np.random.default_rng(5)
    for size in list(range(1, 40)) + [128, 129, 300]:
        for x in (rng.random(size) * 100.0, np.floor(rng.random(size) * 5.0), np.full(size, 3.0),
                  rng.standard_normal(size) * 1e-3 + 7.0, np.where(rng.random(size) < 0.5, -0.0, 0.0)):
            sd = x.std()
            want = (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)
            assert np.array_equal(K.zscore(x), want), size
            assert K.median(x) == float(np.median(x)), size
            assert math.copysign(1.0, K.median(x)) == math.copysign(1.0, float(np.median(x))), size
    assert math.isnan(K.median(np.zeros(0)))
    from s3sim.policy.regimes import zscore

    x32 = rng.random(17).astype(np.float32)
    assert np.array_equal(zscore(x32), (x32 - x32.mean()) / x32.std())  # numpy's own path for float32


@pytest.mark.parametrize("size", [3, 4, 6])
def test_the_second_region_repair_keeps_the_sme(size):
    # a research institute coordinates; large firms of its region fit best, the only SME (its region) and a large
    # firm of region 1 fit worst: the SME repair brings the SME in, the region repair must not swap it out again
    kind = np.array([3, 1, 1, 1, 1, 1, 0, 1], dtype=np.int8)
    region = np.array([0, 0, 0, 0, 0, 0, 0, 1], dtype=np.int32)
    n = kind.size
    profile = np.zeros((n, 2), dtype=np.float32)
    profile[:, 0] = [0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1]
    members = np.empty((K.MAX_COORDINATORS, size), dtype=np.int64)
    lens = np.empty(K.MAX_COORDINATORS, dtype=np.int64)
    k = K.assemble(np.random.default_rng(0), n, np.ones(n, dtype=bool), region, kind, np.full(n, -1, dtype=np.int32),
                   profile, np.full((n, 8), -1, dtype=np.int32), np.zeros(n, dtype=np.int64), 0,
                   np.ones(2, dtype=bool), -1, np.array([0, n - 1, n]), np.arange(n, dtype=np.int64), -1, False,
                   np.ones(n, dtype=bool), size, 2, members, lens)
    assert k == 1
    got = members[0, : lens[0]]
    assert got.size == size and got[0] == 0
    assert 6 in got and 7 in got  # the SME kept, the second region brought in
