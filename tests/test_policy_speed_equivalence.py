"""The compiled policy loops (``s3sim.policy._kernels``) against plain-numpy statements of the same rules: the same
random draws in the same order and bit-identical results. No timings."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

from s3sim.model.partnering import build_csr
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


@pytest.mark.parametrize("seed", range(4))
def test_researching_by_region_is_the_counting_sort_of_the_researching_firms(seed):
    """Alive firms (not research institutes) with last profit <= the threshold and not in a pilot cluster, by
    region in ascending rows: what a counting sort of every row keyed by region (-1: left out) gives."""
    n, alive, region, kind, cluster, _, _, _ = _actors(seed)
    rng = np.random.default_rng(seed)
    R = int(region[:n].max()) + 1
    profit = np.round(rng.standard_normal(alive.size) * 100.0)  # ties with the threshold
    pilot_flag = np.zeros(int(cluster.max()) + 2, dtype=np.bool_)  # the last entry: the sentinel of cluster -1
    pilot_flag[: pilot_flag.size - 1] = rng.random(pilot_flag.size - 1) < 0.3
    key = np.where((kind[:n] != 3) & (profit[:n] <= 0.0) & ~pilot_flag[cluster[:n]], region[:n], -1).astype(np.int64)
    want = build_csr(key, alive, n, R)
    got = K.researching_by_region(n, alive, kind, profit, region, cluster, pilot_flag, 0.0, R)
    assert all(np.array_equal(x, y) for x, y in zip(got, want))


# ----------------------------------------------------------------------------------------------------------------
# the built-in regimes' support of a quarter in few compiled passes (S3Policy._support_builtin)
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_regions_subsidies_and_grants_equal_one_scope_at_a_time(seed):
    n, alive, region, kind, cluster, profile, _, _ = _actors(seed)
    rng = np.random.default_rng(seed)
    D, R = profile.shape[1], int(region[:n].max()) + 1
    product_domain = rng.integers(0, D, alive.size).astype(np.int32)
    capital = rng.random(alive.size) * 3000.0
    transfers0 = np.where(rng.random(alive.size) < 0.3, rng.random(alive.size) * 500.0, 0.0)
    target = rng.random((R, D)) < 0.5
    key = np.where(kind[:n] != 3, region[:n], -1).astype(np.int64)
    start, rows = build_csr(key, alive, n, R)
    regions = rng.permutation(R)[: max(R - 1, 1)].astype(np.int64)
    all_domains = rng.random(regions.size) < 0.4
    domains = rng.random((regions.size, D)) < 0.4
    rate = rng.choice([0.25, 0.5, 0.75], regions.size)
    budget = rng.choice([0.0, 2000.0, 15000.0, 1e9], regions.size)
    books = [np.zeros(R) for _ in range(4)]
    ref_t, ref_s = transfers0.copy(), np.zeros(alive.size)
    ref_rng = np.random.default_rng(seed)
    for s, r in enumerate(regions):
        if budget[s] <= 0:
            continue
        booked, *got = K.subsidise(ref_rng, rows[start[r]:start[r + 1]], np.zeros(0, dtype=bool) if all_domains[s]
                                   else domains[s], product_domain, capital, ref_t, ref_s, cluster, rate[s], 1000.0,
                                   200.0, 1000.0, budget[s], target[r])
        if booked:
            for book, x in zip(books, (got[0], got[0], got[1], got[2])):
                book[r] += x
    got_books = [np.zeros(R) for _ in range(4)]
    got_t, got_s = transfers0.copy(), np.zeros(alive.size)
    k_rng = np.random.default_rng(seed)
    K.subsidise_regions(k_rng, regions, start, rows, all_domains, domains, product_domain, capital, got_t, got_s,
                        cluster, rate, 1000.0, 200.0, 1000.0, budget, target, *got_books)
    assert all(np.array_equal(a, b) for a, b in zip(books, got_books))
    assert np.array_equal(got_t, ref_t) and np.array_equal(got_s, ref_s)
    assert k_rng.random() == ref_rng.random()  # the same draws were taken
    # operating grants
    n_co = 3 * R
    co_region = rng.integers(0, R, n_co)
    co_rows = np.argsort(co_region, kind="stable").astype(np.int64)
    co_start = np.zeros(R + 1, dtype=np.int64)
    np.cumsum(np.bincount(co_region, minlength=R), out=co_start[1:])
    co_domain = rng.integers(0, D, n_co).astype(np.int32)[co_rows]
    brokerage = rng.choice([1.5, 2.0], regions.size)
    ref = [np.ones(n_co), np.zeros(n_co)] + [np.zeros(R) for _ in range(4)]
    for s, r in enumerate(regions):
        lo, hi = co_start[r], co_start[r + 1]
        k, tf = K.grant_clusters(co_rows[lo:hi], co_domain[lo:hi], domains[s], brokerage[s], ref[0], ref[1],
                                 budget[s], target[r])
        if k and budget[s] > 0:
            for book, x in zip(ref[2:], (budget[s], budget[s], budget[s], tf)):
                book[r] += x
    got = [np.ones(n_co), np.zeros(n_co)] + [np.zeros(R) for _ in range(4)]
    K.grant_regions(regions, co_start, co_rows, co_domain, domains, brokerage, got[0], got[1], budget, target,
                    *got[2:])
    assert all(np.array_equal(a, b) for a, b in zip(ref, got))


def test_target_mask_is_numpys():
    rng = np.random.default_rng(3)
    for R, D in ((11, 18), (3, 7), (4, 1), (2, 0)):
        rd = np.floor(rng.random((R, D)) * 4.0) / 4.0
        if D > 2:
            rd[0, 1] = np.nan
        spec = rng.random((R, D)) < 0.3
        with np.errstate(invalid="ignore"):
            want = (rd > np.median(rd, axis=1)[:, None]) & ~spec if D else np.zeros((R, 0), dtype=bool)
        assert np.array_equal(K.target_mask(rd, spec), want), (R, D)


@contextlib.contextmanager
def _restated_regimes(*bases):
    """Register, for each built-in regime class in ``bases``, a subclass restating ``direct_support`` and
    ``publish_calls`` unchanged (so its support takes the general loop of ``S3Policy.before_step``); yields
    (the subclasses' names by built-in name, the steps at which the compiled support ``_support_builtin`` ran),
    and unregisters them afterwards."""
    from s3sim.policy import REGIMES, S3Policy, register

    class _Restated:
        def direct_support(self, engine, model, t, budget):
            return super().direct_support(engine, model, t, budget)

        def publish_calls(self, engine, model, t, budget):
            return super().publish_calls(engine, model, t, budget)

    made: dict[str, str] = {}
    calls: list[int] = []
    fast = S3Policy._support_builtin

    def counted(self, model, t, due):
        calls.append(t)
        return fast(self, model, t, due)

    S3Policy._support_builtin = counted
    try:
        for base in bases:
            made[base.name] = register(type(f"Restated{base.__name__}", (_Restated, base),
                                            {"name": f"_restated_{base.name}"})).name
        yield made, calls
    finally:
        S3Policy._support_builtin = fast
        for name in made.values():
            REGIMES.pop(name, None)


def test_builtin_support_in_compiled_passes_equals_the_general_loop():
    """Subclasses of the built-in regimes that restate ``direct_support`` and ``publish_calls`` (so every region's
    support runs through the general loop of ``S3Policy.before_step``, one region at a time) give bit-identical
    tables to the built-ins (``S3Policy._support_builtin``), on a map mixing every regime, with and without
    pilots (pilots always take the general loop)."""
    from omegaconf import OmegaConf

    import s3sim
    from s3sim.policy import ClusterS3, Horizontal, S3Policy, TopDownS3, TransregionalS3

    with _restated_regimes(Horizontal, TopDownS3, ClusterS3, TransregionalS3) as (made, calls):
        cfg = s3sim.compose(["model.n_agents=400", "model.burn_in=8", "model.horizon=24",
                             "model.materialize_agents=false", "policy=transregional_s3",
                             "policy.budget_per_firm=100", "policy.project_cost=150", "policy.call_period=2"])
        base_pol = OmegaConf.to_container(cfg.policy, resolve=True)
        for seed in (1, 2):
            m0 = s3sim.S3Model(cfg, seed=seed)
            rids = list(m0.world.regions.ids)
            mix = dict(zip(rids, ("cluster_s3", "topdown_s3", "horizontal", "none", "topdown_s3", "cluster_s3",
                                  "horizontal", "cluster_s3")))
            for pilots in ([], ["auto"]):
                builtin = dict(base_pol, regions=mix, pilots=pilots, pilot_regime="cluster_s3")
                restated = dict(builtin, regime=made["transregional_s3"], pilot_regime=made["cluster_s3"],
                                regions={r: made.get(v, v) for r, v in mix.items()})
                n_fast = len(calls)
                a = s3sim.simulate(cfg, seed=seed, policy=S3Policy(builtin))
                assert (len(calls) > n_fast) == (not pilots)
                n_fast = len(calls)
                b = s3sim.simulate(cfg, seed=seed, policy=S3Policy(restated))
                assert len(calls) == n_fast
                for name in ("timeseries", "panel", "firms", "innovations"):
                    ta, tb = getattr(a, name), getattr(b, name)
                    assert ta.equals(tb), (seed, pilots, name)
                assert a.manifest["ledger"] == b.manifest["ledger"]
                for indicator in ("spent_subsidies", "spent_cluster_grants", "spent_projects"):
                    spent = a.timeseries.query(f"indicator == '{indicator}' and region == 'ALL'")
                    assert spent["value"].sum() > 0, indicator  # subsidies, grants and calls all ran


def test_budget_flags_changed_on_a_regime_take_the_general_loop():
    """A built-in regime whose budget flags (``prioritises``, ``collaborative``, ``funded``, ``joint``) are changed
    on the instance or on its class is budgeted by the general loop of ``S3Policy.before_step``, as a restated
    subclass with the same flags is: the same run, and the compiled support (``_support_builtin``) not taken."""
    from omegaconf import OmegaConf

    import s3sim
    from s3sim.policy import ClusterS3, S3Policy, TopDownS3

    with _restated_regimes(TopDownS3, ClusterS3) as (made, calls):
        cfg = s3sim.compose(["model.n_agents=300", "model.burn_in=6", "model.horizon=12",
                             "model.materialize_agents=false", "policy.budget_per_firm=100",
                             "policy.call_period=2"])
        base_pol = OmegaConf.to_container(cfg.policy, resolve=True)
        rids = list(s3sim.S3Model(cfg, seed=1).world.regions.ids)
        mix = dict(zip(rids, ("cluster_s3", "topdown_s3", "cluster_s3", "topdown_s3")))
        for flag, value, on_class in (("prioritises", False, False), ("collaborative", False, False),
                                      ("joint", True, False), ("prioritises", False, True)):
            runs = []
            for names in ({}, made):
                pol = S3Policy(dict(base_pol, regime="horizontal", regions={r: names.get(v, v)
                                                                            for r, v in mix.items()}))
                model = s3sim.S3Model(cfg, seed=1, policy=pol)
                shipped = TopDownS3.__dict__["prioritises"]
                if on_class:  # on the built-in class itself (the restated subclass inherits it)
                    TopDownS3.prioritises = value
                else:
                    for reg in pol.regimes:
                        if isinstance(reg, (TopDownS3, ClusterS3)):
                            setattr(reg, flag, value)
                try:
                    model.run()
                finally:
                    TopDownS3.prioritises = shipped
                runs.append(model)
            assert not calls, (flag, on_class)
            a, b = (m.actors for m in runs)
            for name in ("capital", "subsidy", "innovations"):
                assert np.array_equal(getattr(a, name)[:a.n], getattr(b, name)[:b.n]), (flag, name)
            assert runs[0].ledger == runs[1].ledger, flag


# ----------------------------------------------------------------------------------------------------------------
# EDP reviews: the compiled scoring and exit rule against the numpy statements of ClusterS3.review_priorities
# ----------------------------------------------------------------------------------------------------------------
def _edp_update_reference(score, kpi, pri, strikes, theta_exit, max_changes, k):
    med = float(np.median(kpi[pri])) if pri.any() else 0.0
    failing = pri & (kpi < theta_exit * med)
    strikes[failing] += 1
    strikes[~failing] = 0
    out = np.flatnonzero(pri & (strikes >= 2))
    out = out[np.argsort(score[out], kind="stable")][:max_changes]
    new = pri.copy()
    new[out] = False
    strikes[out] = 0
    need = k - int(new.sum())
    if need > 0:
        candidates = np.flatnonzero(~pri)
        new[candidates[np.argsort(-score[candidates], kind="stable")][:need]] = True
    return new, out.size


@pytest.mark.parametrize("seed", range(6))
def test_edp_review_matches_the_numpy_rules(seed):
    from s3sim.policy.regimes import zscore

    rng = np.random.default_rng(seed)
    for case in range(200):
        D = int(rng.integers(1, 25))
        score = np.round(rng.standard_normal(D), 1)  # ties
        if case % 17 == 0:
            score[rng.integers(0, D)] = np.nan
        kpi = np.floor(rng.random(D) * 4.0)
        pri = rng.random(D) < 0.4
        strikes = rng.integers(0, 3, D).astype(np.int64)
        theta, max_changes, k = float(rng.choice([0.2, 0.5, 0.9])), int(rng.integers(0, 4)), int(rng.integers(1, 9))
        ref_strikes, got_strikes = strikes.copy(), strikes.copy()
        want, n_out = _edp_update_reference(score, kpi, pri, ref_strikes, theta, max_changes, min(k, D))
        got = np.empty(D, dtype=bool)
        assert K.edp_update(score, kpi, pri, got_strikes, theta, max_changes, min(k, D), got) == n_out, case
        assert np.array_equal(got, want) and np.array_equal(got_strikes, ref_strikes), case
        signal = np.floor(rng.random(D) * 5.0)
        rd, cx, noise = rng.random(D) * 100.0, rng.random(D), rng.standard_normal(D)
        w = rng.random(4) * 2.0
        z_cx = zscore(cx)
        want = w[0] * zscore(signal) + w[1] * zscore(rd) + w[2] * z_cx + w[3] * noise
        assert K.edp_scores(signal, rd, z_cx, noise, *w).tobytes() == want.tobytes(), case
        n_co = int(rng.integers(0, 6))
        cos = rng.permutation(8)[:n_co].astype(np.int64)
        cl_domain = rng.integers(0, D, 8).astype(np.int32)
        member_innov = np.floor(rng.random((8, D)) * 3.0)
        want = np.bincount(cl_domain[cos], minlength=D) + member_innov[cos].sum(axis=0)
        assert K.cluster_signals(cos, cl_domain, member_innov, D).tobytes() == want.tobytes(), case


def test_top_k_kernel_is_top_k():
    from s3sim.policy.regimes import top_k

    rng = np.random.default_rng(5)
    for case in range(300):
        D = int(rng.integers(1, 25))
        score = np.round(rng.standard_normal(D), 1)  # ties
        if case % 7 == 0:
            score[rng.integers(0, D, 2)] = np.nan
        k = int(rng.integers(-2, D + 3))
        assert np.array_equal(K.top_k(score, k), top_k(score, k)), case


@pytest.mark.parametrize("regime", ["cluster_s3", "transregional_s3"])
def test_edp_reviews_in_one_compiled_pass_equal_one_region_at_a_time(regime):
    """A subclass that restates ``review_priorities`` (so each region reviews on its own, through
    ``ClusterS3.review_priorities``) gives bit-identical tables to the built-in regime, whose reviews run in one
    compiled pass (``S3Policy._review_builtin``), with reviews every quarter and every other."""
    from omegaconf import OmegaConf

    import s3sim
    from s3sim.policy import REGIMES, S3Policy, register
    from s3sim.policy.base import regime_class

    base = regime_class(regime)
    restated = register(type("RestatedReview", (base,), {
        "name": f"_restated_review_{regime}",
        "review_priorities": lambda self, engine, model, t: base.review_priorities(self, engine, model, t)}))
    batched = []
    fast = S3Policy._review_builtin

    def counted(self, model, t):
        done = fast(self, model, t)
        batched.append(done)
        return done

    S3Policy._review_builtin = counted
    try:
        for edp_period in (1, 2):
            cfg = s3sim.compose(["model.n_agents=400", "model.burn_in=8", "model.horizon=24",
                                 "model.materialize_agents=false", f"policy={regime}", "policy.budget_per_firm=100",
                                 "policy.project_cost=150", "policy.call_period=2",
                                 f"policy.edp_period={edp_period}"])
            pol = OmegaConf.to_container(cfg.policy, resolve=True)
            batched.clear()
            a = s3sim.simulate(cfg, seed=3, policy=S3Policy(pol))
            assert batched and all(batched)
            batched.clear()
            b = s3sim.simulate(cfg, seed=3, policy=S3Policy(dict(pol, regime=restated.name)))
            assert batched and not any(batched)
            for name in ("timeseries", "panel", "firms", "innovations"):
                assert getattr(a, name).equals(getattr(b, name)), (edp_period, name)
    finally:
        S3Policy._review_builtin = fast
        REGIMES.pop(restated.name, None)


@pytest.mark.parametrize("regime", ["cluster_s3", "transregional_s3"])
def test_proposals_judged_by_regime_methods_equal_the_compiled_funding(regime):
    """A subclass that restates ``eligible`` and ``rank`` gets its proposals as ``Proposal`` objects through those
    methods, call by call (``S3Policy._fund``), and funds the same projects as the compiled funding of the
    built-in regime: bit-identical tables and the same projects, calls and commitments."""
    from omegaconf import OmegaConf

    import s3sim
    from s3sim.policy import REGIMES, S3Policy, register
    from s3sim.policy.base import regime_class

    base = regime_class(regime)
    restated = register(type("RestatedJudgement", (base,), {
        "name": f"_restated_judgement_{regime}",
        "eligible": lambda self, engine, model, proposal: base.eligible(self, engine, model, proposal),
        "rank": lambda self, engine, model, proposals: base.rank(self, engine, model, proposals)}))
    seen = []
    fund = S3Policy._fund

    def counted(self, model, call, t):
        seen.append(call.call_id)
        return fund(self, model, call, t)

    S3Policy._fund = counted
    try:
        cfg = s3sim.compose(["model.n_agents=400", "model.burn_in=8", "model.horizon=24",
                             "model.materialize_agents=false", f"policy={regime}", "policy.budget_per_firm=100",
                             "policy.project_cost=150", "policy.call_period=2"])
        pol = OmegaConf.to_container(cfg.policy, resolve=True)
        engines = {}
        results = {}
        for name in (regime, restated.name):
            engines[name] = S3Policy(dict(pol, regime=name))
            seen.clear()
            results[name] = s3sim.simulate(cfg, seed=4, policy=engines[name])
            assert bool(seen) == (name == restated.name)
        a, b = (results[name] for name in (regime, restated.name))
        for name in ("timeseries", "panel", "firms", "innovations"):
            assert getattr(a, name).equals(getattr(b, name)), name
        ea, eb = (engines[name] for name in (regime, restated.name))
        assert ea.budget_log == eb.budget_log and ea.budget_log and ea.committed == eb.committed
        assert len(ea.projects) == len(eb.projects)
        for pa, pb in zip(ea.projects, eb.projects):
            assert (pa.call.call_id, pa.start, pa.end, pa.funding_per_step, pa.cost_per_member) == \
                   (pb.call.call_id, pb.start, pb.end, pb.funding_per_step, pb.cost_per_member)
            assert np.array_equal(pa.members, pb.members) and np.array_equal(pa.regions, pb.regions)
            assert pa.regions.dtype == pb.regions.dtype
    finally:
        S3Policy._fund = fund
        REGIMES.pop(restated.name, None)
