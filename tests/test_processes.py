"""One test (or a few) per ODD submodel, each showing the submodel's own mechanism, either on a hand-made state
(calling the numba kernel directly) or on a small model with the other processes held fixed.

Submodels: S1 knowledge, S2 product and quality, S3 market, S4 accounting, S5/S12 research, S6 partnering,
S7 exchange, S9 learning, S10 spillovers, S11 critical mass, S13 demography (and cluster membership),
S14 evidence, network observation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from s3sim.model import critical_mass as cm
from s3sim.model.accounting import settle
from s3sim.model.demography import exits, init_newborns, join_clusters, plan_births
from s3sim.model.evidence import expertise_mass, rca, relatedness_density
from s3sim.model.exchange import exchange, learning_gain
from s3sim.model.knowledge import add_triple, draw_ih, product_and_quality, refresh_profiles
from s3sim.model.learning import learn_and_forget
from s3sim.model.market import clear_market
from s3sim.model.network import edge_list, metrics_from_ties
from s3sim.model.partnering import build_csr
from s3sim.model.research import incremental_step, radical_step
from s3sim.model.spillovers import spill, spillover_field
from s3sim.model.state import (
    ORIGIN_INITIAL,
    ORIGIN_NONLOCAL,
    ORIGIN_RI_SPINOFF,
    ORIGIN_SPINOFF,
    RI,
    SME,
    STARTUP,
    TIE_SLOTS,
    ActorState,
)

from conftest import alive_firm_mask, small_model, total_wide

SHIFT = 3  # hand-made states: capability code = domain << SHIFT | j, j < 8


def code(d: int, j: int) -> int:
    return (d << SHIFT) | j


def handmade(n: int, width: int = 12, n_domains: int = 4) -> ActorState:
    a = ActorState(n, width, n_domains)
    a.add(n)
    a.alive[:n] = True
    a.kcap[:n] = width
    return a


def put_kene(a: ActorState, i: int, triples, ih=()) -> None:
    """Write the kene of row ``i``: triples (capability, ability, expertise); ``ih`` lists IH slot indices."""
    a.klen[i] = 0
    for c, ab, e in triples:
        add_triple(i, c, ab, e, a.klen, a.kcap, a.cap, a.abil, a.expt, a.ih)
    for k in ih:
        a.ih[i, k] = True


def kene_of(a: ActorState, i: int) -> dict[int, tuple[float, int]]:
    """Capability -> (ability, expertise) of row ``i``."""
    return {int(a.cap[i, k]): (float(a.abil[i, k]), int(a.expt[i, k])) for k in range(a.klen[i])}


def gen(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def pool_steps(seeds, params, inspect):
    """Run small models over ``seeds``; call ``inspect(model, before)`` after every step, where ``before`` is a
    snapshot of a few columns taken just before the step."""
    for seed in seeds:
        m = small_model(seed=seed, **params)
        while m.steps < m.n_steps_total:
            a = m.actors
            n = a.n
            before = {name: getattr(a, name)[:n].copy() for name in
                      ("alive", "kind", "region", "product_domain", "profit", "capital", "innovations",
                       "innov_rad", "cluster", "profile")}
            before["n"] = n
            before["mass"] = m.mass.copy()
            m.step()
            inspect(m, before)


# ---------------------------------------------------------------------------------------------------------------
# S1 knowledge, S2 innovation hypothesis, product and quality
# ---------------------------------------------------------------------------------------------------------------
def test_s1_knowledge_add_triple_fills_then_evicts_the_weakest_non_ih_triple():
    a = handmade(1, width=3)
    put_kene(a, 0, [(code(0, 1), 5.0, 7), (code(1, 1), 2.0, 2), (code(2, 1), 3.0, 4)], ih=[1])
    assert a.klen[0] == 3
    # full: the lowest-expertise triple outside the IH goes (slot 2, E=4; slot 1 has E=2 but is in the IH)
    k = add_triple(0, code(3, 5), 1.0, 9, a.klen, a.kcap, a.cap, a.abil, a.expt, a.ih)
    assert k == 2 and a.klen[0] == 3
    assert kene_of(a, 0) == {code(0, 1): (5.0, 7), code(1, 1): (2.0, 2), code(3, 5): (1.0, 9)}
    assert not a.ih[0, 2]
    # a kene full of IH triples takes nothing
    a.ih[0, :3] = True
    assert add_triple(0, code(2, 2), 1.0, 9, a.klen, a.kcap, a.cap, a.abil, a.expt, a.ih) == -1
    assert code(2, 2) not in kene_of(a, 0)


def test_s2_innovation_hypothesis_is_2_to_max_occupied_slots():
    a = handmade(1, width=12)
    put_kene(a, 0, [(code(d, j), 5.0, 5) for d in range(4) for j in range(2)])  # 8 triples
    g = gen(1)
    lengths = set()
    for _ in range(300):
        draw_ih(g, 0, a.klen, a.ih, 5)
        lengths.add(int(a.ih[0].sum()))
        assert not a.ih[0, a.klen[0]:].any()
    assert lengths == {2, 3, 4, 5}
    one = handmade(1)
    put_kene(one, 0, [(code(0, 0), 1.0, 1)])
    draw_ih(g, 0, one.klen, one.ih, 5)
    assert one.ih[0].sum() == 1  # a one-triple kene has a one-triple hypothesis


def test_s2_product_domain_and_bounded_monotone_quality():
    a = handmade(3)
    trip = [(code(2, 0), 8.0, 3), (code(1, 0), 6.0, 10), (code(2, 4), 4.0, 4), (code(0, 0), 10.0, 10)]
    put_kene(a, 0, trip, ih=[0, 1, 2])
    pdom, q = np.zeros(3, dtype=np.int32), np.zeros(3)

    def pq(i):
        product_and_quality(i, a.klen, a.cap, a.abil, a.expt, a.ih, SHIFT, np.zeros(4), pdom, q)
        return int(pdom[i]), float(q[i])

    d0, q0 = pq(0)
    assert d0 == 1  # IH expertise per domain: d1 = 10 > d2 = 3 + 4
    w = lambda e: 1.0 - math.exp(-e)  # noqa: E731
    assert q0 == pytest.approx((0.8 * w(3) + 0.6 * w(10) + 0.4 * w(4)) / 3, rel=1e-6)
    a.abil[0, 3] = 0.0  # a non-IH triple does not matter
    assert pq(0) == (d0, pytest.approx(q0))
    a.abil[0, 2] = 9.0  # higher IH ability -> higher quality
    assert pq(0)[1] > q0
    q1 = pq(0)[1]
    a.expt[0, 0] = 9  # higher IH expertise -> higher quality; d2 now holds 9 + 4 = 13 > 10
    d2, q2 = pq(0)
    assert q2 > q1 and d2 == 2
    # ties go to the lowest domain index; the best kene has quality 1 - e^-10 < 1
    put_kene(a, 1, [(code(3, 0), 10.0, 10), (code(0, 2), 10.0, 10)], ih=[0, 1])
    d, qb = pq(1)
    assert d == 0 and qb == pytest.approx(w(10)) and qb < 1.0
    assert pq(2) == (0, 0.0)  # an empty kene has no quality


def test_s2_profiles_are_expertise_shares_and_adverts_unit_ih_vectors():
    a = handmade(3)
    put_kene(a, 0, [(code(0, 0), 1.0, 6), (code(0, 1), 1.0, 2), (code(3, 0), 1.0, 8)], ih=[1, 2])
    put_kene(a, 1, [(code(2, 0), 1.0, 5)], ih=[0])
    a.alive[2] = False
    put_kene(a, 2, [(code(1, 0), 1.0, 5)], ih=[0])
    refresh_profiles(a.alive, a.n, a.klen, a.cap, a.expt, a.ih, SHIFT, a.profile, a.advert)
    np.testing.assert_allclose(a.profile[0], [0.5, 0, 0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(a.advert[0], np.array([2, 0, 0, 8]) / math.hypot(2, 8), rtol=1e-6)
    np.testing.assert_allclose(a.profile[1], [0, 0, 1, 0])
    assert not a.profile[2].any() and not a.advert[2].any()  # dead rows are cleared


# ---------------------------------------------------------------------------------------------------------------
# S3 market
# ---------------------------------------------------------------------------------------------------------------
def _market(quality, appeal=None, home_bias=0.3):
    #           f0   f1   f2   RI   dead
    alive = np.array([1, 1, 1, 1, 0], dtype=np.bool_)
    kind = np.array([SME, SME, SME, RI, SME], dtype=np.int8)
    region = np.array([0, 0, 1, 1, 1], dtype=np.int32)
    domain = np.array([0, 0, 1, 2, 0], dtype=np.int32)
    appeal = np.ones(5) if appeal is None else np.asarray(appeal, dtype=np.float64)
    demand = np.array([100.0, 50.0, 30.0])
    pop = np.array([0.6, 0.4])
    revenue = np.full(5, -1.0)
    total = clear_market(alive, kind, region, domain, np.asarray(quality, dtype=np.float64), appeal, 5, 2.0, 0.5,
                         demand, home_bias, pop, revenue, np.zeros(5), np.full(5, np.nan))
    return total, revenue


def test_s3_market_shares_sum_to_demand_minus_unserved_regional_demand():
    total, rev = _market([0.5, 0.8, 0.3, 0.9, 0.9])
    # d0: only region 0 produces -> its regional share 0.6 of the home-biased 30% is served, region 1's is not
    # d1: only region 1 produces -> 70% + 0.3 x 0.4; d2: no producer (the RI does not sell) -> nothing
    expected = 100 * (0.7 + 0.3 * 0.6) + 50 * (0.7 + 0.3 * 0.4)
    assert total == pytest.approx(expected) and rev.sum() == pytest.approx(expected)
    assert rev[3] == 0.0 and rev[4] == 0.0  # research institutes and dead firms earn nothing
    assert rev[0] + rev[1] == pytest.approx(88.0) and rev[2] == pytest.approx(41.0)
    # logit shares: revenue ratio within a domain is exp(beta_q (q1 - q0))
    assert rev[1] / rev[0] == pytest.approx(math.exp(2.0 * 0.3))
    # with no home bias all of a produced domain's demand is served
    total0, _ = _market([0.5, 0.8, 0.3, 0.9, 0.9], home_bias=0.0)
    assert total0 == pytest.approx(150.0)


def test_s3_market_higher_quality_or_appeal_earns_more_all_else_equal():
    _, same = _market([0.5, 0.5, 0.3, 0.0, 0.0])
    assert same[0] == pytest.approx(same[1])
    _, rev = _market([0.5, 0.6, 0.3, 0.0, 0.0])
    assert rev[1] > rev[0] and rev[0] + rev[1] == pytest.approx(same[0] + same[1])
    _, rev = _market([0.5, 0.5, 0.3, 0.0, 0.0], appeal=[1.0, 4.0, 1.0, 1.0, 1.0])
    assert rev[1] / rev[0] == pytest.approx(4.0 ** 0.5)  # appeal_weight = 0.5


def test_s3_market_in_the_model_serves_all_produced_demand_except_unserved_regional_demand():
    def inspect(m, b):
        a = m.actors
        n = b["n"]
        sellers = b["alive"] & (b["kind"] != RI)
        R, D = m.world.n_regions, m.world.n_domains
        has = np.zeros((R, D), dtype=bool)
        has[b["region"][sellers], b["product_domain"][sellers]] = True
        h, pop = m.p.home_bias, m.regions.population_share
        expected = float((m.demand * ((1 - h) * has.any(axis=0) + h * (pop @ has))).sum())
        assert a.revenue[:n].sum() == pytest.approx(expected, rel=1e-9)
        assert not a.revenue[:n][~sellers].any()
        assert has.sum() < R * D or h == 0  # some regional demand goes unserved in this world

    pool_steps([0], dict(horizon=8), inspect)


# ---------------------------------------------------------------------------------------------------------------
# S4 accounting
# ---------------------------------------------------------------------------------------------------------------
def test_s4_accounting_profit_is_revenue_plus_transfers_minus_costs():
    alive = np.array([1, 1, 0], dtype=np.bool_)
    kind = np.array([SME, RI, SME], dtype=np.int8)
    revenue = np.array([500.0, 0.0, 999.0])
    transfers = np.array([50.0, 0.0, 999.0])
    costs = np.array([200.0, 200.0, 999.0])
    capital = np.array([1000.0, 4000.0, -5.0])
    profit = np.array([7.0, 8.0, 9.0])
    prev = np.zeros(3)
    tr, tt, tc = settle(alive, kind, 3, revenue, transfers, costs, capital, profit, prev, 100.0, 450.0)
    # firm: 500 + 50 - (200 + depreciation 100); institute: grant 450 - (200 + 100)
    np.testing.assert_allclose(profit, [250.0, 150.0, 9.0])
    np.testing.assert_allclose(capital, [1250.0, 4150.0, -5.0])
    np.testing.assert_allclose(prev, [7.0, 8.0, 0.0])
    np.testing.assert_allclose(transfers, [50.0, 450.0, 999.0])
    assert (tr, tt, tc) == pytest.approx((500.0, 500.0, 600.0))


def test_s4_accounting_in_the_model_capital_changes_by_profit():
    def inspect(m, b):
        a = m.actors
        n = b["n"]
        stay = b["alive"] & a.alive[:n]
        np.testing.assert_allclose(a.capital[:n][stay] - b["capital"][stay], a.profit[:n][stay], rtol=0,
                                   atol=1e-9 * max(1.0, np.abs(b["capital"]).max()))
        np.testing.assert_allclose(a.profit[:n][stay],
                                   (a.revenue + a.transfers - a.costs)[:n][stay], rtol=1e-12, atol=1e-9)
        np.testing.assert_array_equal(a.prev_profit[:n][stay], b["profit"][stay])

    pool_steps([0], dict(horizon=8), inspect)


# ---------------------------------------------------------------------------------------------------------------
# S5 / S12 research
# ---------------------------------------------------------------------------------------------------------------
def test_s5_research_decision_rule_successful_firms_rest_poor_go_radical_institutes_always_research():
    """With partnering off, rd_spend is research alone: 0 for successful firms, c_rad for firms at or below
    the low-capital threshold, c_incr for the others; institutes pay c_incr (plus c_rad when radical)."""
    seen = {"rest": 0, "incr": 0, "rad": 0, "ri_rad": 0}

    def inspect(m, b):
        a, p = m.actors, m.p
        n = b["n"]
        spend = a.rd_spend[:n]
        alive, firm = b["alive"], b["kind"] != RI
        rest = alive & firm & (b["profit"] > p.success_threshold)
        rad = alive & firm & ~rest & (b["capital"] <= p.low_capital_threshold)
        incr = alive & firm & ~rest & ~rad
        ri = alive & ~firm
        assert not spend[rest].any() and not spend[~alive].any()
        np.testing.assert_array_equal(spend[rad], p.c_rad)
        np.testing.assert_array_equal(spend[incr], p.c_incr)
        assert np.isin(spend[ri], [p.c_incr, p.c_incr + p.c_rad]).all()
        assert not (a.innovations[:n] - b["innovations"])[rest].any()  # no research, no innovation
        seen["rest"] += rest.sum()
        seen["incr"] += incr.sum()
        seen["rad"] += rad.sum()
        seen["ri_rad"] += (spend[ri] > p.c_incr).sum()

    pool_steps([0, 1], dict(partnering=False, horizon=16, p_radical_ri=0.2), inspect)
    assert min(seen.values()) > 0, seen


def test_s5_research_incremental_step_hill_climbs_one_ih_ability():
    a = handmade(1)
    put_kene(a, 0, [(code(0, 3), 4.0, 5), (code(1, 0), 4.0, 5)], ih=[0])
    res_slot, res_dir = np.array([-1], dtype=np.int32), np.zeros(1, dtype=np.int8)
    g = gen(0)
    incremental_step(g, 0, a.klen, a.cap, a.abil, a.ih, res_slot, res_dir, False, 1.0, SHIFT)
    assert res_slot[0] == 0 and res_dir[0] in (-1, 1)  # only the IH slot is researched
    step = 1.0 * 4.0 / (1 + 3)  # s_incr A / (1 + j)
    assert a.abil[0, 0] == pytest.approx(4.0 + res_dir[0] * step)
    assert a.abil[0, 1] == 4.0
    before, d = float(a.abil[0, 0]), int(res_dir[0])
    incremental_step(g, 0, a.klen, a.cap, a.abil, a.ih, res_slot, res_dir, True, 1.0, SHIFT)  # improved: keep
    assert res_dir[0] == d and a.abil[0, 0] == pytest.approx(before + d * 1.0 * before / 4)
    for _ in range(200):  # abilities stay in [0, 10]
        incremental_step(g, 0, a.klen, a.cap, a.abil, a.ih, res_slot, res_dir, True, 3.0, SHIFT)
        assert 0.0 <= a.abil[0, 0] <= 10.0


def _radical_targets(bias, tilt=None, draws=4000, seed=0):
    """Target domains of ``draws`` radical steps of one actor whose profile sits in domain 0 of a block world
    (domains 0-2 related to each other, 3-5 related to each other, no relatedness across blocks)."""
    D = 6
    phi = np.eye(D)
    phi[:3, :3] = np.where(np.eye(3) == 1, 1.0, 0.8)
    phi[3:, 3:] = phi[:3, :3]
    a = handmade(1, width=40, n_domains=D)
    put_kene(a, 0, [(code(0, j), 5.0, 5) for j in range(4)], ih=[0, 1])
    a.profile[0] = 0.0
    a.profile[0, 0] = 1.0
    tilt = np.zeros((1, D)) if tilt is None else tilt
    g = gen(seed)
    out = np.empty(draws, dtype=np.int64)
    for s in range(draws):
        a.klen[0] = 4
        k, d = radical_step(g, 0, 0, a.profile, phi, tilt, bias, 8, SHIFT, a.klen, a.kcap, a.cap, a.abil, a.expt,
                            a.ih, np.empty(D))
        assert k == 4 and a.cap[0, 4] >> SHIFT == d  # a new capability of the target domain was added
        assert a.expt[0, 4] == 5 and not a.ih[0, 4]  # copying A and E of an existing triple, outside the IH
        out[s] = d
    return out


def test_s5_research_relatedness_bias_steers_radical_targets_to_related_domains():
    share = {b: np.isin(_radical_targets(b), [0, 1, 2]).mean() for b in (0.0, 0.5, 0.9, 1.0)}
    assert share[1.0] == 1.0
    assert share[0.0] == pytest.approx(0.5, abs=0.04)  # uniform
    assert share[0.5] == pytest.approx(0.75, abs=0.04)
    assert share[0.0] < share[0.5] < share[0.9] < share[1.0]
    # within the related block, weights follow profile @ Phi: own domain 1, neighbours 0.8 each
    t = _radical_targets(1.0)
    assert np.mean(t == 0) == pytest.approx(1.0 / 2.6, abs=0.03)
    # a policy's priority tilt multiplies the target weights
    tilt = np.zeros((1, 6))
    tilt[0, 5] = 9.0
    assert np.mean(_radical_targets(0.5, tilt=tilt) == 5) > 3 * np.mean(_radical_targets(0.5) == 5)


def test_s5_research_stronger_relatedness_bias_gives_more_related_radical_entries_in_the_model():
    """Model level: the domains of radical innovations are more often related to the innovator's own profile
    (relatedness score profile @ Phi above its mean over domains) under a stronger relatedness bias."""

    def related_share(bias):
        hits = []

        def inspect(m, b):
            a = m.actors
            n = b["n"]
            innov = m.innovation_log[-1]
            rad = innov[innov[:, 1] == 2]
            rows = np.flatnonzero(a.innov_rad[:n] > b["innov_rad"])  # one radical innovation each, in row order
            assert rows.size == len(rad)
            D = m.world.n_domains
            for i, cell in zip(rows, rad[:, 2].astype(np.int64)):
                score = b["profile"][i].astype(np.float64) @ m.relatedness  # the profile research used
                hits.append(score[cell % D] > score.mean())

        # every researching firm goes radical; every radical step that adds a capability is an innovation
        pool_steps([0, 1], dict(partnering=False, low_capital_threshold=1e9, p_innov_rad=1.0, g_min=1.0,
                                relatedness_bias=bias, horizon=12), inspect)
        assert len(hits) > 2000
        return np.mean(hits)

    share = {b: related_share(b) for b in (0.0, 0.5, 1.0)}
    # about 4,400 innovations each: standard errors ~0.008 (alpine relatedness is dense, so the range is narrow)
    assert share[0.0] < share[0.5] - 0.03 and share[0.5] < share[1.0] - 0.03, share
    assert share[1.0] - share[0.0] > 0.08, share


def test_s5_research_no_innovation_without_innovation_chances():
    m = small_model(seed=0, p_innov_incr=0.0, p_innov_rad=0.0, horizon=8)
    m.run()
    tb = m.tables()
    assert len(tb["innovations"]) == 0
    assert not m.actors.innovations[: m.actors.n].any()
    assert total_wide(tb["timeseries"])["rd_spending"].gt(0).all()  # research still happens and costs


# ---------------------------------------------------------------------------------------------------------------
# S6 partnering
# ---------------------------------------------------------------------------------------------------------------
def test_s6_partnering_off_gives_no_collaborations_no_flows_no_network():
    m = small_model(seed=0, partnering=False, horizon=12)
    m.run()
    w = total_wide(m.tables()["timeseries"])
    for name in ("collaborations_intra", "collaborations_inter", "knowledge_flows", "mean_degree",
                 "giant_component_share"):
        assert (w[name].dropna() == 0).all(), name
    assert not (m.actors.tie_partner[: m.actors.n] >= 0).any()
    on = small_model(seed=0, horizon=12)
    on.run()
    w_on = total_wide(on.tables()["timeseries"])
    assert w_on["collaborations_intra"].sum() > 0 and w_on["knowledge_flows"].sum() > 0


def test_s6_partnering_pairs_are_valid_capacity_bounded_and_remembered():
    n_pairs = []

    def inspect(m, b):
        a, p = m.actors, m.p
        n, t = b["n"], m.steps
        pa, pb = m.pair_a[: m.n_pairs], m.pair_b[: m.n_pairs]
        n_pairs.append(m.n_pairs)
        assert (pa != pb).all()
        assert b["alive"][pa].all() and b["alive"][pb].all()
        # searchers are unsuccessful actors or research institutes
        assert ((b["kind"][pa] == RI) | (b["profit"][pa] <= p.success_threshold)).all()
        counts = np.bincount(np.r_[pa, pb], minlength=n)
        np.testing.assert_array_equal(counts, a.n_partners[:n])
        assert counts.max(initial=0) <= p.max_partners
        assert len({(min(i, j), max(i, j)) for i, j in zip(pa, pb)}) == len(pa)  # no pair twice in a step
        for i, j in zip(pa, pb):  # both sides remember the tie at this step
            assert ((a.tie_partner[i] == j) & (a.tie_step[i] == t)).any()
            assert ((a.tie_partner[j] == i) & (a.tie_step[j] == t)).any()
        # with free research each partnership costs c_collab per side and nothing else is spent
        np.testing.assert_allclose(a.rd_spend[:n], counts * p.c_collab)

    pool_steps([0], dict(c_incr=0.0, c_rad=0.0, horizon=10, max_partners=2), inspect)
    assert sum(n_pairs) > 50


def _intra_cluster_share(brokerage, seeds=(0, 1, 2)):
    same = total = 0

    def inspect(m, b):
        nonlocal same, total
        pa, pb = m.pair_a[: m.n_pairs], m.pair_b[: m.n_pairs]
        ca, cb = b["cluster"][pa], b["cluster"][pb]
        member = ca >= 0
        same += int((member & (ca == cb)).sum())
        total += int(member.sum())

    pool_steps(seeds, dict(cluster_brokerage=brokerage, p_cluster=0.2, horizon=16), inspect)
    return same / total, total


def test_s6_partnering_cluster_brokerage_raises_intra_cluster_partnerships():
    base, n_base = _intra_cluster_share(1.0)
    broker, n_broker = _intra_cluster_share(3.0)
    assert n_base > 200 and n_broker > 200
    assert broker > base + 0.05, (base, broker)


# ---------------------------------------------------------------------------------------------------------------
# S7 knowledge exchange
# ---------------------------------------------------------------------------------------------------------------
def test_s7_exchange_learning_gain_is_an_inverted_u():
    for d_star in (0.2, 0.4, 0.7):
        assert learning_gain(0.0, d_star) == 0.0
        assert learning_gain(d_star, d_star) == pytest.approx(1.0)
        assert learning_gain(2 * d_star, d_star) == pytest.approx(0.0, abs=1e-12)
        assert learning_gain(2.5 * d_star, d_star) == 0.0  # clipped at 0 beyond 2 d*
        xs = np.linspace(0, 2 * d_star, 41)
        g = np.array([learning_gain(x, d_star) for x in xs])
        assert (np.diff(g[:21]) > 0).all() and (np.diff(g[20:]) < 0).all()
        np.testing.assert_allclose(g, g[::-1], atol=1e-12)  # symmetric around d*
        assert learning_gain(0.5 * d_star, d_star) == pytest.approx(0.75)


def _pair(cos: float):
    """Two actors: 0 holds (0,1) at E=3 and (1,2); 1 holds (0,1) at E=8 and (2,0) at E=6; all in the IH.
    Profiles at cosine ``cos``."""
    a = handmade(2)
    put_kene(a, 0, [(code(0, 1), 1.0, 3), (code(1, 2), 2.0, 5)], ih=[0, 1])
    put_kene(a, 1, [(code(0, 1), 7.0, 8), (code(2, 0), 4.0, 6)], ih=[0, 1])
    a.profile[0] = [1.0, 0, 0, 0]
    a.profile[1] = [cos, math.sqrt(max(0.0, 1 - cos * cos)), 0, 0]
    return a


def _exchange(a, a0, g_floor, d_star=0.4, seed=0):
    return exchange(gen(seed), np.array([0]), np.array([1]), 1, a.profile, a.klen, a.kcap, a.cap, a.abil, a.expt,
                    a.ih, a.appeal, a.product_domain, a.quality, a.flows_in, a0, d_star, g_floor, 1, 1e9, 1.0,
                    SHIFT, 8)


def test_s7_exchange_without_absorption_only_adopts_higher_expertise():
    a = _pair(0.6)
    flows = _exchange(a, a0=0.0, g_floor=1.0)
    assert flows == 1 and list(a.flows_in[:2]) == [1, 0]
    assert kene_of(a, 0) == {code(0, 1): (7.0, 8), code(1, 2): (2.0, 5)}  # adopted A and E, nothing new
    assert kene_of(a, 1) == {code(0, 1): (7.0, 8), code(2, 0): (4.0, 6)}  # lower expertise is not adopted


def test_s7_exchange_absorbs_new_capabilities_with_an_expertise_penalty():
    a = _pair(0.6)
    a.appeal[:2] = 1.0
    flows = _exchange(a, a0=1.0, g_floor=1.0)  # absorption probability 1
    assert flows == 3 and list(a.flows_in[:2]) == [2, 1]
    assert kene_of(a, 0) == {code(0, 1): (7.0, 8), code(1, 2): (2.0, 5), code(2, 0): (4.0, 5)}
    assert kene_of(a, 1) == {code(0, 1): (7.0, 8), code(2, 0): (4.0, 6), code(1, 2): (2.0, 4)}
    for x in (0, 1):  # absorbed triples enter outside the IH, unless the side drew a new IH (and a new appeal)
        assert not a.ih[x, 2] or a.appeal[x] != 1.0


def test_s7_exchange_absorption_follows_the_inverted_u_in_cognitive_distance():
    def absorbed(cos, trials=400):
        got = 0
        for s in range(trials):
            a = _pair(cos)
            got += _exchange(a, a0=1.0, g_floor=0.0, seed=s) - 1  # minus the one adoption
        return got / (2 * trials)

    at_zero, at_half, at_star, at_far = absorbed(1.0), absorbed(0.8), absorbed(0.6), absorbed(0.2)
    assert at_zero == 0.0  # identical profiles: nothing new is learned
    assert at_star == 1.0  # d = d* = 0.4
    assert at_far == 0.0  # d = 0.8 = 2 d*
    assert at_half == pytest.approx(0.75, abs=0.06)  # g(d*/2) = 3/4


# ---------------------------------------------------------------------------------------------------------------
# S9 learning by doing and forgetting
# ---------------------------------------------------------------------------------------------------------------
def test_s9_learning_raises_ih_expertise_and_forgets_non_ih_triples_at_zero():
    a = handmade(3)
    a.kind[1] = RI
    for i in range(3):
        put_kene(a, i, [(code(0, 0), 1.0, 9), (code(0, 1), 1.0, 10), (code(1, 0), 1.0, 1), (code(2, 0), 1.0, 5),
                        (code(3, 0), 1.0, 3)], ih=[0, 1])
    a.alive[2] = False
    res_slot = np.array([4, 4, 4], dtype=np.int32)  # researching the last triple, which moves on removal
    learn_and_forget(a.alive, a.kind, 3, 1, a.klen, a.cap, a.abil, a.expt, a.ih, res_slot, SHIFT, 4,
                     a.product_domain, a.quality, a.profile, a.advert)  # odd step
    # firm: IH +1 capped at 10, others -1, the E=1 triple is forgotten
    assert kene_of(a, 0) == {code(0, 0): (1.0, 10), code(0, 1): (1.0, 10), code(2, 0): (1.0, 4),
                             code(3, 0): (1.0, 2)}
    assert a.cap[0, res_slot[0]] == code(3, 0)  # the research slot follows its triple
    assert a.ih[0, :2].all() and not a.ih[0, 2:].any()
    # S2 follows in the same pass: the product is re-derived from the updated kene (IH all in domain 0, E = 10)
    assert a.product_domain[0] == 0 and a.quality[0] == pytest.approx(0.1 * (1.0 - np.exp(-10.0)))
    # institute: learns every step, forgets only on even steps
    assert kene_of(a, 1) == {code(0, 0): (1.0, 10), code(0, 1): (1.0, 10), code(1, 0): (1.0, 1),
                             code(2, 0): (1.0, 5), code(3, 0): (1.0, 3)}
    learn_and_forget(a.alive, a.kind, 3, 2, a.klen, a.cap, a.abil, a.expt, a.ih, res_slot, SHIFT, 4,
                     a.product_domain, a.quality, a.profile, a.advert)
    assert code(1, 0) not in kene_of(a, 1) and kene_of(a, 1)[code(2, 0)] == (1.0, 4)
    # dead rows are untouched
    assert kene_of(a, 2)[code(1, 0)] == (1.0, 1) and kene_of(a, 2)[code(0, 0)] == (1.0, 9)
    # repeated forgetting empties everything but the IH
    for t in range(3, 20):
        learn_and_forget(a.alive, a.kind, 3, t, a.klen, a.cap, a.abil, a.expt, a.ih, res_slot, SHIFT, 4,
                     a.product_domain, a.quality, a.profile, a.advert)
    assert a.klen[0] == 2 and a.ih[0, :2].all() and res_slot[0] == -1


def test_s9_forgetting_the_researched_last_triple_clears_the_research_slot():
    a = handmade(1)
    put_kene(a, 0, [(code(0, 0), 1.0, 5), (code(1, 0), 1.0, 4), (code(2, 0), 1.0, 1)], ih=[0])
    res_slot = np.array([2], dtype=np.int32)  # the last slot, which is forgotten now
    learn_and_forget(a.alive, a.kind, 1, 1, a.klen, a.cap, a.abil, a.expt, a.ih, res_slot, SHIFT, 4,
                     a.product_domain, a.quality, a.profile, a.advert)
    assert a.klen[0] == 2 and res_slot[0] == -1
    put_kene(a, 0, [(code(0, 0), 1.0, 5), (code(1, 0), 1.0, 1), (code(2, 0), 1.0, 4)], ih=[0])
    res_slot[0] = 1  # a middle slot that is forgotten
    learn_and_forget(a.alive, a.kind, 1, 1, a.klen, a.cap, a.abil, a.expt, a.ih, res_slot, SHIFT, 4,
                     a.product_domain, a.quality, a.profile, a.advert)
    assert a.klen[0] == 2 and res_slot[0] == -1


# ---------------------------------------------------------------------------------------------------------------
# S10 spillovers
# ---------------------------------------------------------------------------------------------------------------
def test_s10_spillovers_intensity_zero_gives_no_events_and_more_intensity_more_events():
    events = {}
    for s in (0.0, 0.02, 0.08):
        m = small_model(seed=0, sigma_s=s, horizon=16)
        m.run()
        events[s] = total_wide(m.tables()["timeseries"])["spillover_events"].sum()
    assert events[0.0] == 0
    assert 0 < events[0.02] < events[0.08]
    assert events[0.08] / events[0.02] == pytest.approx(4.0, rel=0.35)


def test_s10_spillover_field_decays_with_distance_from_a_domain_source():
    # three regions on a line: 0 is a big producer of domain 0; 1 is 50 km away, 2 is 1000 km away;
    # 1 and 2 themselves only produce domain 1
    dist = np.array([[0, 50, 1000], [50, 0, 950], [1000, 950, 0]], dtype=float)
    mass = np.array([[50.0, 0, 0], [0, 5.0, 0], [0, 5.0, 0]])
    phi = np.eye(3)
    fields = {}
    for lam in (100.0, 300.0, 3000.0):
        kernel = np.exp(-dist / lam)
        f = spillover_field(mass, kernel, phi)
        assert f.mean() == pytest.approx(1.0)
        fields[lam] = f
        assert f[1, 0] > f[2, 0] > 0  # the near region sees much more of the big region's domain
        assert f[1, 1] < f[2, 1]
    gap = {lam: f[1, 0] / f[2, 0] for lam, f in fields.items()}
    assert gap[100.0] > gap[300.0] > gap[3000.0] > 1.0  # faster decay, bigger advantage of proximity
    # relatedness passes the pool on to related domains
    phi2 = np.array([[1.0, 0, 0.5], [0, 1.0, 0], [0.5, 0, 1.0]])
    f2 = spillover_field(mass, np.exp(-dist / 300.0), phi2)
    assert f2[1, 2] > 0 and fields[300.0][1, 2] == 0


def test_s10_spill_events_follow_the_profile_and_the_field():
    D = 4
    a = handmade(3, width=30, n_domains=D)
    for i in range(3):
        put_kene(a, i, [(code(0, 0), 1.0, 4), (code(1, 0), 1.0, 4)], ih=[0])
        a.profile[i] = [1.0, 0, 0, 0]
    a.alive[2] = False
    region = np.zeros(3, dtype=np.int32)
    field = np.full((1, D), 2.0)  # profile . field = 2 > 1: an event for sure
    total_e = {0: 0, 1: 0}
    for s in range(20):
        n_ev = spill(gen(s), a.alive, region, 3, a.profile, field, np.eye(D), 1.0, 8, SHIFT, a.klen, a.kcap,
                     a.cap, a.abil, a.expt, a.ih)
        assert n_ev == 2  # both alive actors, not the dead one
        for i in range(2):  # everything happens in domain 0 (the only one related to the profile)
            k = kene_of(a, i)
            assert all(c >> SHIFT == 0 for c in k if c != code(1, 0))
            assert k[code(1, 0)] == (1.0, 4)
            total_e[i] = sum(e for c, (_, e) in k.items() if c >> SHIFT == 0)
    assert a.klen[2] == 2 and kene_of(a, 2)[code(0, 0)] == (1.0, 4)
    assert all(v > 4 + 2 for v in total_e.values())  # expertise gained in domain 0
    assert spill(gen(0), a.alive, region, 3, a.profile, field, np.eye(D), 0.0, 8, SHIFT, a.klen, a.kcap, a.cap,
                 a.abil, a.expt, a.ih) == 0


# ---------------------------------------------------------------------------------------------------------------
# S11 critical mass
# ---------------------------------------------------------------------------------------------------------------
def test_s11_critical_mass_multiplier_hill_shape():
    m = np.array([[0.0, 0.5, 1.0, 2.0, 4.0, 100.0]])
    assert (cm.multiplier(m, 2.0, 1.0, 2.0) == 1.0).all()  # g_min = 1 switches the effect off
    for g_min in (0.0, 0.2, 0.5):
        for eta in (1.0, 2.0, 4.0):
            g = cm.multiplier(m, 2.0, g_min, eta)[0]
            assert g[0] == pytest.approx(g_min)
            assert g[3] == pytest.approx(g_min + (1 - g_min) / 2)  # half way at M = M*
            assert (np.diff(g) > 0).all() and g[-1] < 1.0
    # effective mass adds linked regions' mass with weight omega
    mass = np.array([[1.0, 0.0], [3.0, 2.0]])
    links = np.array([[0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(cm.effective_mass(mass, links, 0.5), [[2.5, 1.0], [3.0, 2.0]])
    assert cm.effective_mass(mass, links, 0.0) is mass


def test_s11_critical_mass_in_the_model_g_min_one_is_neutral_and_zero_mass_blocks_innovation():
    m = small_model(seed=0, g_min=1.0, horizon=4)
    m.run()
    assert (m.G == 1.0).all()
    zero_hits = {}
    for g_min in (0.0, 0.5):
        hits = []

        def inspect(model, b):
            cells = model.innovation_log[-1][:, 2].astype(np.int64)
            hits.extend(b["mass"].ravel()[cells] == 0)
            np.testing.assert_allclose(model.G, cm.multiplier(b["mass"], model.m_star, g_min, model.p.eta))

        pool_steps([0], dict(g_min=g_min, low_capital_threshold=1e9, horizon=12), inspect)
        zero_hits[g_min] = (sum(hits), len(hits))
    assert zero_hits[0.0][0] == 0 and zero_hits[0.0][1] > 100  # no innovation where there is no mass
    assert zero_hits[0.5][0] > 0  # ... which does happen when g_min > 0


# ---------------------------------------------------------------------------------------------------------------
# S13 demography
# ---------------------------------------------------------------------------------------------------------------
def test_s13_demography_exit_kernel_removes_only_firms_with_negative_capital():
    alive = np.array([1, 1, 1, 1, 0, 1], dtype=np.bool_)
    kind = np.array([SME, SME, SME, RI, SME, STARTUP], dtype=np.int8)
    capital = np.array([-1.0, 0.0, 5.0, -3.0, -2.0, -1e-9])
    region = np.array([0, 1, 1, 0, 1, 1], dtype=np.int32)
    gone, lost, firms = exits(alive, kind, region, capital, 6, 2)
    assert list(gone) == [0, 5]
    assert list(alive) == [False, True, True, True, False, False]
    assert lost == pytest.approx(-1.0 - 1e-9)  # the capital that leaves with them (for the money ledger)
    assert list(firms) == [0, 2]  # firms that remain per region (the institute does not count)


def test_s13_demography_exits_only_for_negative_capital_in_the_model():
    gone_total = 0

    def inspect(m, b):
        nonlocal gone_total
        a = m.actors
        n = b["n"]
        gone = np.flatnonzero(b["alive"] & ~a.alive[:n])
        gone_total += gone.size
        assert (a.capital[gone] < 0).all() and (b["kind"][gone] != RI).all()
        firms = alive_firm_mask(m)
        assert (a.capital[: a.n][firms] >= 0).all()  # no alive firm is left with negative capital

    pool_steps([0, 1], dict(revenue_cost_ratio=0.8, horizon=20), inspect)
    assert gone_total > 10


def test_s13_demography_spinoffs_inherit_the_parents_ih_with_capped_expertise():
    counts = {ORIGIN_SPINOFF: 0, ORIGIN_RI_SPINOFF: 0, ORIGIN_NONLOCAL: 0}

    def inspect(m, b):
        a, p, t = m.actors, m.p, m.steps
        born = np.flatnonzero(a.birth[: a.n] == t)
        assert born.min(initial=b["n"]) >= b["n"]  # newborns are appended rows
        for i in born:
            assert a.alive[i] and a.kind[i] == STARTUP and a.capital[i] == p.initial_capital
            assert a.cluster[i] == -1 or m.clusters.domain[a.cluster[i]] in (a.cap[i, : a.klen[i]] >> m.cap_shift)
            counts[a.origin[i]] += 1
            par = a.parent[i]
            if a.origin[i] == ORIGIN_NONLOCAL:
                assert par == -1 and a.klen[i] == p.kene_sme
                continue
            assert b["alive"][par] and ((b["kind"][par] == RI) == (a.origin[i] == ORIGIN_RI_SPINOFF))
            if a.origin[i] == ORIGIN_RI_SPINOFF:
                assert a.region[i] == a.region[par]
            parent_ih = {int(a.cap[par, k]): (float(a.abil[par, k]), min(int(a.expt[par, k]),
                                                                          p.startup_expertise_cap))
                         for k in range(a.klen[par]) if a.ih[par, k]}
            assert kene_of(a, i) == parent_ih
            assert 1 <= a.ih[i, : a.klen[i]].sum() <= p.ih_len_max

    pool_steps([0, 1], dict(start_up_trigger=300.0, spinoff_rate=0.3, ri_spinoff_rate=0.05,
                            startup_expertise_cap=3, entrant_rate=0.006, horizon=12), inspect)
    assert min(counts.values()) > 0, counts


def test_s13_demography_newborn_kernel_clones_the_ih_and_caps_expertise():
    a = handmade(3, width=20)
    a.kcap[:] = 20
    put_kene(a, 0, [(code(0, 0), 3.0, 9), (code(1, 0), 4.0, 2), (code(2, 0), 5.0, 7), (code(3, 1), 6.0, 10)],
             ih=[0, 1, 3])
    a.alive[1:] = False
    rows = np.array([1, 2])
    cdf = np.array([[0.0, 0.0, 0.0, 1.0]])  # non-local entrants draw from a profile all in domain 3 (u0 = 0)
    init_newborns(gen(0), rows, np.array([0, -1]), np.array([0, 0]), np.array([ORIGIN_SPINOFF, ORIGIN_NONLOCAL]),
                  np.array([0, 0]), 7, a.alive, a.kind, a.origin, a.region, a.capital, a.appeal, a.birth, a.parent,
                  a.klen, a.kcap, a.cap, a.abil, a.expt, a.ih, a.product_domain, a.quality, a.profile, a.advert, cdf,
                  5, 12, 0.0, 3, 4000.0, 1.0, 8, SHIFT, 8)
    assert kene_of(a, 1) == {code(0, 0): (3.0, 3), code(1, 0): (4.0, 2), code(3, 1): (6.0, 3)}
    assert list(a.alive[1:3]) == [True, True] and list(a.birth[1:3]) == [7, 7]
    assert list(a.parent[1:3]) == [0, -1] and list(a.origin[1:3]) == [ORIGIN_SPINOFF, ORIGIN_NONLOCAL]
    assert (a.capital[1:3] == 4000.0).all() and (a.kind[1:3] == STARTUP).all() and list(a.kcap[1:3]) == [12, 12]
    assert 1 <= a.ih[1].sum() <= 3 and not a.ih[1, 3:].any()
    assert a.klen[2] == 5 and all(c >> SHIFT == 3 for c in kene_of(a, 2))
    # newborns enter with their domain profiles (used by the next step's partner search)
    assert a.profile[2, 3] == pytest.approx(1.0) and a.advert[2, 3] == pytest.approx(1.0)


def test_s13_demography_no_entry_when_all_entry_rates_are_zero():
    m = small_model(seed=0, entrant_rate=0.0, spinoff_rate=0.0, ri_spinoff_rate=0.0, horizon=20)
    n0 = m.actors.n
    m.run()
    w = total_wide(m.tables()["timeseries"])
    assert (w["entries"] == 0).all() and m.actors.n == n0
    assert (m.actors.origin[: m.actors.n] == ORIGIN_INITIAL).all()
    for rate, origin in (("entrant_rate", ORIGIN_NONLOCAL), ("spinoff_rate", ORIGIN_SPINOFF),
                         ("ri_spinoff_rate", ORIGIN_RI_SPINOFF)):
        params = dict(entrant_rate=0.0, spinoff_rate=0.0, ri_spinoff_rate=0.0, start_up_trigger=300.0, horizon=20)
        params[rate] = PARAM_HIGH[rate]
        m = small_model(seed=0, **params)
        m.run()
        born = m.actors.origin[n0: m.actors.n]
        assert born.size > 0 and (born == origin).all(), rate


PARAM_HIGH = {"entrant_rate": 0.006, "spinoff_rate": 0.3, "ri_spinoff_rate": 0.05}


def test_s13_demography_plan_births_rates():
    n = 2000
    alive = np.ones(n, dtype=np.bool_)
    alive[:100] = False
    kind = np.full(n, SME, dtype=np.int8)
    kind[1000:1200] = RI
    region = (np.arange(n) % 2).astype(np.int32)
    profit = np.where(np.arange(n) % 4 < 2, 2000.0, 0.0)
    parent, reg, origin, source = plan_births(gen(0), alive, kind, region, profit, n, 950.0, 0.5, 1.0, 0.25,
                                              np.array([0.5, 1.0]), np.array([30, 0]))
    spin = parent[origin == ORIGIN_SPINOFF]
    assert (profit[spin] > 950).all() and (kind[spin] != RI).all() and alive[spin].all()
    eligible = int((alive & (kind != RI) & (profit > 950)).sum())
    assert spin.size == pytest.approx(0.5 * eligible, rel=0.15)
    assert (reg[origin == ORIGIN_SPINOFF] == region[spin]).all()  # spinoff_local_prob = 1
    aca = parent[origin == ORIGIN_RI_SPINOFF]
    assert (kind[aca] == RI).all() and aca.size == pytest.approx(0.25 * 200, rel=0.35)
    nonlocal_ = origin == ORIGIN_NONLOCAL
    assert nonlocal_.sum() == 30 and (parent[nonlocal_] == -1).all() and (reg[nonlocal_] == 0).all()
    assert (source[nonlocal_] == 1).all()  # drawn from another region's profile


def test_s13_cluster_membership_needs_two_focal_capabilities():
    n = 4
    a = handmade(n)
    region = np.array([0, 0, 1, 0], dtype=np.int32)
    co_region = np.array([0, 0, 1], dtype=np.int32)
    co_domain = np.array([1, 2, 1], dtype=np.int32)
    co_start, co_rows = build_csr(co_region, np.ones(3, dtype=np.bool_), 3, 2)
    put_kene(a, 0, [(code(1, 0), 1, 5), (code(1, 1), 1, 5), (code(2, 0), 1, 5), (code(2, 1), 1, 5)])
    put_kene(a, 1, [(code(1, 0), 1, 5), (code(2, 0), 1, 5), (code(2, 1), 1, 5)])
    put_kene(a, 2, [(code(1, 0), 1, 5), (code(0, 1), 1, 5)])
    put_kene(a, 3, [(code(0, 0), 1, 5), (code(0, 1), 1, 5)])
    cluster = np.full(n, -1, dtype=np.int32)
    members = np.zeros(3, dtype=np.int64)
    join_clusters(gen(0), np.arange(n), region, a.klen, a.cap, cluster, co_start, co_rows, co_domain, SHIFT, 1.0,
                  members)
    assert list(cluster) == [0, 1, -1, -1]  # first eligible organisation of the own region
    assert list(members) == [1, 1, 0]
    cluster[:] = -1
    join_clusters(gen(0), np.arange(n), region, a.klen, a.cap, cluster, co_start, co_rows, co_domain, SHIFT, 0.0,
                  members)
    assert (cluster == -1).all()


def test_s13_cluster_member_counts_match_the_actor_table():
    m = small_model(seed=0, horizon=16)
    m.run()
    a = m.actors
    alive = a.alive[: a.n]
    counts = np.bincount(a.cluster[: a.n][alive & (a.cluster[: a.n] >= 0)], minlength=m.clusters.n)
    np.testing.assert_array_equal(counts, m.clusters.members)


# ---------------------------------------------------------------------------------------------------------------
# S14 regional evidence
# ---------------------------------------------------------------------------------------------------------------
def test_s14_evidence_rca_and_relatedness_density_on_a_handmade_matrix():
    x = np.array([[10.0, 0.0, 10.0], [0.0, 10.0, 10.0], [0.0, 0.0, 0.0]])
    r = rca(x)
    np.testing.assert_allclose(r, [[2.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, 0.0, 0.0]])  # empty region: 0
    spec = r >= 1.0
    phi = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])
    rd = relatedness_density(spec, phi)
    # RD[r, d] = 100 sum_{d' != d} x[r, d'] phi[d, d'] / sum_{d' != d} phi[d, d']
    np.testing.assert_allclose(rd, [[0.0, 100 * 0.7 / 0.7, 0.0], [100.0, 100 * 0.2 / 0.7, 100.0],
                                    [0.0, 0.0, 0.0]])
    assert phi[0, 0] == 1.0  # not modified in place
    for row in range(3):  # one region's row alone gives that region's densities
        np.testing.assert_allclose(relatedness_density(spec[row], phi), rd[row], rtol=1e-12, atol=1e-12)
    big = np.random.default_rng(2).random((11, 18)) < 0.3
    sym = np.random.default_rng(3).random((18, 18))
    sym = (sym + sym.T) / 2
    full = relatedness_density(big, sym)
    for row in range(11):
        np.testing.assert_allclose(relatedness_density(big[row], sym), full[row], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="specialised"):
        relatedness_density(np.array(True), phi)


def test_s14_evidence_expertise_mass_sums_alive_kene_expertise():
    a = handmade(3, n_domains=3)
    a.region[:3] = [0, 1, 1]
    put_kene(a, 0, [(code(0, 0), 1, 4), (code(0, 1), 1, 3), (code(2, 0), 1, 5)])
    put_kene(a, 1, [(code(1, 0), 1, 9)])
    put_kene(a, 2, [(code(1, 1), 1, 9)])
    a.alive[2] = False
    x = expertise_mass(a.alive, a.region, 3, a.klen, a.cap, a.expt, SHIFT, 2, 3)
    np.testing.assert_array_equal(x, [[7, 0, 5], [0, 9, 0]])


def test_s14_evidence_in_the_model_matches_the_panel():
    m = small_model(seed=0, horizon=8)
    m.run()
    panel = m.tables()["panel"]
    last = panel[panel.step == panel.step.max()]
    R, D = m.world.n_regions, m.world.n_domains
    np.testing.assert_allclose(last["rca"].to_numpy().reshape(R, D), rca(m.x))
    np.testing.assert_array_equal(last["specialised"].to_numpy().reshape(R, D), rca(m.x) >= 1)
    np.testing.assert_allclose(last["relatedness_density"].to_numpy().reshape(R, D),
                               relatedness_density(rca(m.x) >= 1, m.relatedness))
    a = m.actors
    firm = alive_firm_mask(m)
    firms = np.zeros((R, D), dtype=np.int64)
    np.add.at(firms, (a.region[: a.n][firm], a.product_domain[: a.n][firm]), 1)
    np.testing.assert_array_equal(last["firms"].to_numpy().reshape(R, D), firms)
    assert sorted(panel.step.unique()) == [4, 8, 12]  # every evidence_every steps


# ---------------------------------------------------------------------------------------------------------------
# network observation
# ---------------------------------------------------------------------------------------------------------------
def _ties(n, edges, t=10, old=(), dead=()):
    tie_partner = np.full((n, TIE_SLOTS), -1, dtype=np.int32)
    tie_step = np.full((n, TIE_SLOTS), -(10**6), dtype=np.int32)
    fill = np.zeros(n, dtype=int)
    for (i, j), when in [(e, t) for e in edges] + [(e, 0) for e in old]:
        tie_partner[i, fill[i]] = j  # one-sided memory is enough for an edge
        tie_step[i, fill[i]] = when
        fill[i] += 1
    alive = np.ones(n, dtype=np.bool_)
    alive[list(dead)] = False
    return alive, tie_partner, tie_step


def test_network_metrics_on_a_handmade_tie_table():
    # region 0: triangle 0-1-2; region 1: star with centre 3 and leaves 4, 5, 6; 7 isolated (region 1);
    # an expired tie 0-7 and a tie to the dead node 8 are ignored
    region = np.array([0, 0, 0, 1, 1, 1, 1, 1, 0], dtype=np.int32)
    alive, tp, ts = _ties(9, [(0, 1), (1, 2), (2, 0), (3, 4), (5, 3), (3, 6), (1, 8)], old=[(0, 7)], dead=[8])
    out = metrics_from_ties(alive, region, tp, ts, 10, 8, 9, 2)
    np.testing.assert_allclose(out["mean_degree"], [2.0, 6 / 5, 12 / 8])
    np.testing.assert_allclose(out["clustering"], [1.0, 0.0, 3 / 6])  # total: transitivity 3 x 1 / 6 triples
    np.testing.assert_allclose(out["giant_component_share"], [0.0, 4 / 5, 4 / 8])  # the star is the giant
    np.testing.assert_allclose(out["interregional_tie_share"], [0.0, 0.0, 0.0])
    edges = {tuple(e) for e in edge_list(alive, tp, ts, 10, 8, 9)}
    assert edges == {(0, 1), (1, 2), (0, 2), (3, 4), (3, 5), (3, 6)}


def test_network_triangle_has_clustering_one_and_path_zero():
    region = np.zeros(3, dtype=np.int32)
    alive, tp, ts = _ties(3, [(0, 1), (1, 2), (0, 2), (2, 1)])  # duplicate memories count once
    out = metrics_from_ties(alive, region, tp, ts, 10, 8, 3, 1)
    assert out["clustering"][-1] == 1.0 and out["mean_degree"][-1] == 2.0
    assert out["giant_component_share"][-1] == 1.0
    alive, tp, ts = _ties(3, [(0, 1), (1, 2)])
    out = metrics_from_ties(alive, region, tp, ts, 10, 8, 3, 1)
    assert out["clustering"][-1] == 0.0 and out["mean_degree"][-1] == pytest.approx(4 / 3)


def test_network_interregional_tie_share():
    region = np.array([0, 1, 1, 0], dtype=np.int32)
    alive, tp, ts = _ties(4, [(0, 1), (1, 2), (3, 0)])
    out = metrics_from_ties(alive, region, tp, ts, 10, 8, 4, 2)
    # tie ends: region 0 has (0-1 cross, 0-3, 3-0) -> 1 of 3; region 1 has (1-0 cross, 1-2, 2-1) -> 1 of 3
    np.testing.assert_allclose(out["interregional_tie_share"], [1 / 3, 1 / 3, 2 / 6])
    # ties expire after the tie memory
    out = metrics_from_ties(alive, region, tp, ts, 30, 8, 4, 2)
    assert out["mean_degree"][-1] == 0.0 and out["clustering"][-1] == 0.0


def test_s3_market_log_appeal_cache_follows_every_change_of_appeal():
    """The market keeps log(appeal) until the appeal changes: a second clearing after a new product's appeal
    (including one equal to zero, whose logarithm is -inf) gives what a fresh cache gives."""
    alive = np.ones(4, dtype=np.bool_)
    kind = np.array([SME, SME, SME, SME], dtype=np.int8)
    region = np.array([0, 0, 1, 1], dtype=np.int32)
    domain = np.array([0, 0, 0, 1], dtype=np.int32)
    quality = np.array([0.5, 0.6, 0.7, 0.8])
    demand, pop = np.array([100.0, 50.0]), np.array([0.5, 0.5])
    log_appeal, seen = np.zeros(4), np.full(4, np.nan)

    def clear(appeal, cache):
        revenue = np.zeros(4)
        clear_market(alive, kind, region, domain, quality, appeal, 4, 2.0, 0.5, demand, 0.3, pop, revenue, *cache)
        return revenue

    appeal = np.array([1.0, 2.0, 0.5, 1.5])
    clear(appeal, (log_appeal, seen))
    assert log_appeal.tolist() == [math.log(a) for a in appeal] and seen.tolist() == appeal.tolist()
    for new in ([1.0, 3.0, 0.5, 1.5], [0.0, 3.0, 0.25, 1.5]):  # a new product, then an appeal of 0
        appeal = np.array(new)
        with np.errstate(divide="ignore"):
            cached = clear(appeal, (log_appeal, seen))
            fresh = clear(appeal, (np.zeros(4), np.full(4, np.nan)))
        assert cached.tolist() == fresh.tolist()
