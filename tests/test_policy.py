"""Tests of the S3 policy layer (S15 regimes, S16 calls/proposals/projects, pilots, policy indicators).

Every regime runs on a small headless Alpine model (800 agents, 8-step burn-in, 32 policy steps) while the test
watches the engine through thin wrappers around its public instruments (``subsidise``, ``new_call``, each
regime's ``review_priorities``) and reads its state after every step. The wrappers only copy arrays and call the
original, so an instrumented run is the same run as ``s3sim.simulate`` (checked below).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import s3sim
from s3sim.model.state import TIE_SLOTS
from s3sim.errors import ConfigError
from s3sim.indicators import INDICATORS
from s3sim.model import model as model_module
from s3sim.model.state import LARGE, RI, SME, STARTUP
from s3sim.policy import REGIMES, ClusterS3, Horizontal, NoPolicy, S3Policy, TopDownS3, TransregionalS3
from s3sim.policy.engine import build_policy

# pytest-xdist (`make test`: --dist loadgroup) runs the whole module on one worker, so
# its instrumented runs of every regime are made once
pytestmark = pytest.mark.xdist_group("policy")

BURN_IN = 8
HORIZON = 32
SMALL = ["model.n_agents=800", f"model.burn_in={BURN_IN}", f"model.horizon={HORIZON}",
         "model.materialize_agents=false"]
FUNDED = ("horizontal", "topdown_s3", "cluster_s3", "transregional_s3")
ALL_REGIMES = ("none",) + FUNDED
POLICY_INDICATORS = tuple(ind.name for ind in INDICATORS if ind.every == "policy")
SPENT = ("spent_subsidies", "spent_projects", "spent_cluster_grants")
#: a budget that lets a small model's pilot clusters afford projects (default scale leaves them unfundable)
CHEAP = ["policy.budget_per_firm=100", "policy.project_cost=150", "policy.project_duration=4"]
EPS = 1e-6


# ----------------------------------------------------------------------------------------------------------------
# an instrumented run
# ----------------------------------------------------------------------------------------------------------------
class Run:
    """Compose ``SMALL + overrides``, run the model step by step and record what the policy engine did."""

    def __init__(self, overrides: list[str], seed: int = 0):
        self.cfg = s3sim.compose(SMALL + list(overrides))
        self.model = m = s3sim.S3Model(self.cfg, seed=seed)
        self.engine: S3Policy | None = m.policy
        self.subsidies: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.projects: list[dict[str, Any]] = []          # every funded project, as seen the step it started
        self.priorities: dict[int, np.ndarray] = {}       # step -> regions x domains
        self.committed: dict[int, float] = {}             # step -> cumulative committed project money
        self.tie_failures: list[tuple[int, int, int]] = []
        self.links_on: list[int] = []
        if self.engine is not None:
            self._instrument()
        for _ in range(m.n_steps_total):
            m.step()
            if self.engine is not None and not m.in_burn_in:
                self._observe()
        self.tables = m.tables()
        self.ts = self.tables["timeseries"]

    # wrappers -----------------------------------------------------------------------------------------------
    def _instrument(self) -> None:
        e = self.engine
        subsidise, new_call = e.subsidise, e.new_call

        def wrapped_subsidise(model, scope, budget, domains=None):
            a = model.actors
            n = a.n
            before = a.transfers[:n].copy()
            subsidise(model, scope, budget, domains=domains)
            got = a.transfers[:n] - before
            rows = np.flatnonzero(got > 0)
            pri = e.regimes[scope.region].priorities.copy() if scope.cluster < 0 else \
                e.pilots[e.pilot_of[scope.cluster]].priorities.copy()
            self.subsidies.append(dict(t=model.steps, scope=scope, budget=budget, rows=rows, amount=got[rows],
                                       domain=a.product_domain[rows].copy(), region=a.region[rows].copy(),
                                       kind=a.kind[rows].copy(), cluster=a.cluster[rows].copy(),
                                       priorities=pri, domains=None if domains is None else domains.copy()))

        def wrapped_new_call(domain, budget, regions, min_regions, scope, funder):
            call = new_call(domain, budget, regions, min_regions, scope, funder)
            self.calls.append(dict(t=self.model.steps, call=call))
            return call

        e.subsidise = wrapped_subsidise
        e.new_call = wrapped_new_call
        for reg in e.regimes + e.pilots:
            if isinstance(reg, ClusterS3):
                reg.review_priorities = self._wrap_review(reg, reg.review_priorities)

    def _wrap_review(self, reg, review):
        e = self.engine

        def wrapped(engine, model, t):
            kpi = e.innov_review[reg.scope.region].copy()
            old = reg.priorities.copy()
            strikes = np.array(reg.state.get("strikes", np.zeros(old.size)), dtype=float).copy()
            dropped0 = reg.state.get("dropped", 0)
            new = review(engine, model, t)
            if new is not None:
                self.reviews.append(dict(t=t, regime=reg, region=reg.scope.region, old=old, new=new.copy(),
                                         kpi=kpi, strikes_before=strikes,
                                         dropped=reg.state.get("dropped", 0) - dropped0))
            return new

        return wrapped

    def _observe(self) -> None:
        m, e = self.model, self.engine
        t = m.steps
        a = m.actors
        self.priorities[t] = np.array([reg.priorities.copy() for reg in e.regimes])
        self.committed[t] = e.committed
        if m.regions.links.any():
            self.links_on.append(t)
        for pr in e.projects:
            if pr.start == t:
                self.projects.append(dict(
                    t=t, project=pr, members=pr.members.copy(), kinds=a.kind[pr.members].copy(),
                    regions=a.region[pr.members].copy(), clusters=a.cluster[pr.members].copy(),
                    funder_priorities=None if pr.call.funder < 0 else e.regimes[pr.call.funder].priorities.copy(),
                    pilot_priorities=(e.pilots[e.pilot_of[pr.call.scope]].priorities.copy()
                                      if pr.call.scope >= 0 else None)))
            # project partnerships are kept as ties: every alive member remembers its coordinator this step
            coord = int(pr.members[0])
            if not a.alive[coord]:
                continue
            pairs = np.concatenate([m.pair_a[: m.n_pairs], m.pair_b[: m.n_pairs]])
            for mbr in pr.members[1:]:
                # an actor remembers its TIE_SLOTS most recent partners: with more partnerships in one quarter
                # the oldest of them are forgotten at once
                if a.alive[mbr] and (pairs == mbr).sum() <= TIE_SLOTS:
                    hit = (a.tie_partner[mbr] == coord) & (a.tie_step[mbr] == t)
                    if not hit.any():
                        self.tie_failures.append((t, coord, int(mbr)))

    # table helpers --------------------------------------------------------------------------------------------
    def wide(self, indicator: str) -> pd.DataFrame:
        """step x region (incl. ALL) frame of one indicator."""
        x = self.ts[self.ts["indicator"] == indicator]
        w = x.pivot(index="step", columns="region", values="value")
        w.columns = w.columns.astype(str)
        return w

    def spent(self) -> pd.DataFrame:
        return sum(self.wide(k) for k in SPENT)

    @property
    def region_ids(self) -> tuple[str, ...]:
        return self.model.world.regions.ids


def is_pilot_member(engine: S3Policy, clusters: np.ndarray) -> np.ndarray:
    clusters = np.asarray(clusters)
    return (clusters >= 0) & (engine.pilot_of[np.maximum(clusters, 0)] >= 0)


def tables_equal(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame], *, upto: int | None = None) -> None:
    for name in ("timeseries", "panel", "innovations", "firms"):
        x, y = a[name], b[name]
        if upto is not None:
            if name == "firms":
                continue
            x = x[x["step"] <= upto].reset_index(drop=True)
            y = y[y["step"] <= upto].reset_index(drop=True)
        assert_frame_equal(x, y, obj=name)


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    """Every regime on seed 0, instrumented."""
    return {name: Run([f"policy={name}"]) for name in ALL_REGIMES}


# ----------------------------------------------------------------------------------------------------------------
# the registry and the instrumented run itself
# ----------------------------------------------------------------------------------------------------------------
def test_registry_holds_the_five_regimes():
    assert {"none", "horizontal", "topdown_s3", "cluster_s3", "transregional_s3"} <= set(REGIMES)
    assert REGIMES["none"] is NoPolicy and not NoPolicy.funded
    assert REGIMES["transregional_s3"] is TransregionalS3 and TransregionalS3.joint and TransregionalS3.collaborative
    assert ClusterS3.collaborative and not ClusterS3.joint
    assert TopDownS3.prioritises and not Horizontal.prioritises


def test_instrumentation_does_not_change_the_run(runs):
    plain = s3sim.simulate(s3sim.compose(SMALL + ["policy=transregional_s3"]), seed=0)
    tables_equal(runs["transregional_s3"].tables, {k: getattr(plain, k) for k in runs["none"].tables})


# ----------------------------------------------------------------------------------------------------------------
# none
# ----------------------------------------------------------------------------------------------------------------
def test_none_has_no_engine_and_equals_a_run_without_a_policy_layer(runs):
    run = runs["none"]
    assert run.engine is None
    assert build_policy(run.model.config.policy) is None
    assert not run.ts["indicator"].isin(POLICY_INDICATORS).any()
    # a run with no policy factory at all (the model knows nothing of s3sim.policy)
    model_module.set_policy_factory(None)
    try:
        bare = s3sim.S3Model(s3sim.compose(SMALL), seed=0)
        assert bare.policy is None
        bare.run()
    finally:
        model_module.set_policy_factory(build_policy)
    tables_equal(run.tables, bare.tables())


def test_none_public_transfers_are_research_institute_grants_only(runs):
    run = runs["none"]
    grant = run.model.p.ri_grant
    transfers = run.wide("public_transfers")
    institutes = run.wide("research_institutes")
    assert (institutes.values > 0).all()
    np.testing.assert_allclose(transfers.values, grant * institutes.values, rtol=1e-12)


def test_every_region_none_spends_nothing_and_changes_nothing(runs):
    """An engine whose every region runs ``none`` (default regime overridden region by region) records zero
    spending and leaves every other table exactly as the no-policy run."""
    ids = runs["none"].region_ids
    run = Run(["policy=horizontal"] + [f"policy.regions.{rid}=none" for rid in ids])
    e = run.engine
    assert isinstance(e, S3Policy) and all(isinstance(r, NoPolicy) for r in e.regimes)
    assert e.budget_total == 0.0 and e.cum_spent.sum() == 0.0 and not e.budget_log and not e.projects
    assert not run.subsidies and not run.calls
    for k in SPENT + ("policy_budget", "projects_funded_intra", "projects_funded_inter", "projects_active",
                      "priorities"):
        assert (run.wide(k).values == 0).all(), k
    base = runs["none"].tables
    ts = run.ts[~run.ts["indicator"].isin(POLICY_INDICATORS)].reset_index(drop=True)
    ts["indicator"] = ts["indicator"].astype(str)
    ref = base["timeseries"].copy()
    ref["indicator"] = ref["indicator"].astype(str)
    assert_frame_equal(ts, ref)
    for name in ("panel", "innovations", "firms"):
        assert_frame_equal(run.tables[name], base[name], obj=name)


# ----------------------------------------------------------------------------------------------------------------
# horizontal
# ----------------------------------------------------------------------------------------------------------------
def test_horizontal_subsidises_firms_without_priorities(runs):
    run = runs["horizontal"]
    e, m = run.engine, run.model
    assert all(isinstance(r, Horizontal) for r in e.regimes)
    assert all(not r.priorities.any() for r in e.regimes)
    assert (run.wide("priorities").values == 0).all()
    assert not m.regions.search_tilt.any()
    assert not e.budget_log and not run.calls and not run.projects
    assert (run.wide("spent_projects").values == 0).all() and (run.wide("spent_cluster_grants").values == 0).all()
    paid = [s for s in run.subsidies if s["rows"].size]
    assert len(paid) >= HORIZON  # subsidies flow every quarter
    rows = np.concatenate([s["rows"] for s in paid])
    kinds = np.concatenate([s["kind"] for s in paid])
    domains = np.concatenate([s["domain"] for s in paid])
    assert set(np.unique(kinds)) <= {SME, LARGE, STARTUP}  # firms only, never institutes
    assert np.unique(domains).size > e.config["n_priorities"]  # no domain restriction
    for s in paid:
        assert s["domains"] is None
        assert (s["region"] == s["scope"].region).all()
        assert s["amount"].sum() <= s["budget"] + EPS
        rate = e.regimes[s["scope"].region].p.subsidy_rate
        allowed = rate * np.array([m.p.c_incr, m.p.c_rad])
        assert np.isclose(s["amount"][:, None], allowed[None, :]).any(axis=1).all()
    assert rows.size > 100
    # money identity: public transfers = institute grants + subsidies paid
    extra = run.wide("public_transfers") - m.p.ri_grant * run.wide("research_institutes")
    np.testing.assert_allclose(extra.loc[BURN_IN + 1:].values, run.wide("spent_subsidies").values, atol=1e-6)
    # horizontal spends (nearly) its whole budget
    assert run.spent()["ALL"].sum() >= 0.9 * run.wide("policy_budget")["ALL"].sum()


# ----------------------------------------------------------------------------------------------------------------
# topdown_s3
# ----------------------------------------------------------------------------------------------------------------
def test_topdown_funds_only_priority_domains(runs):
    run = runs["topdown_s3"]
    e, m = run.engine, run.model
    assert all(isinstance(r, TopDownS3) for r in e.regimes)
    k = e.config["n_priorities"]
    for t, pri in run.priorities.items():
        assert (pri.sum(axis=1) == k).all(), t
    paid = [s for s in run.subsidies if s["rows"].size]
    assert len(paid) >= HORIZON
    n_paid = 0
    for s in paid:
        r = s["scope"].region
        assert (s["region"] == r).all()
        assert s["priorities"][s["domain"]].all(), (s["t"], r, s["domain"], np.flatnonzero(s["priorities"]))
        assert s["amount"].sum() <= s["budget"] + EPS
        n_paid += s["rows"].size
    assert n_paid > 100
    # the priorities are what the model sees (S5 tilt toward them), and they hold for a programming period
    tilt = e.config["tau_dir"]
    np.testing.assert_array_equal(m.regions.priority, np.array([r.priorities for r in e.regimes]))
    np.testing.assert_allclose(m.regions.search_tilt, tilt * np.array([r.priorities for r in e.regimes]))
    start = BURN_IN + 1
    period = e.config["review_period"]
    first = run.priorities[start]
    for t in range(start, min(start + period, BURN_IN + HORIZON + 1)):
        np.testing.assert_array_equal(run.priorities[t], first)
    assert not run.calls and not run.projects
    assert run.wide("spent_subsidies")["ALL"].sum() > 0


def test_topdown_stated_priorities_come_from_the_data_file():
    run = Run(["policy=topdown_s3", "policy.use_stated_priorities=true", "model.horizon=4"])
    stated = run.model.world.priority_mask
    for r, reg in enumerate(run.engine.regimes):
        if stated[r].any():
            np.testing.assert_array_equal(reg.priorities, stated[r])


# ----------------------------------------------------------------------------------------------------------------
# cluster_s3
# ----------------------------------------------------------------------------------------------------------------
def test_cluster_s3_reviews_priorities_continuously(runs):
    run = runs["cluster_s3"]
    e = run.engine
    assert all(isinstance(r, ClusterS3) and not isinstance(r, TransregionalS3) for r in e.regimes)
    edp = e.config["edp_period"]
    R = len(e.regimes)
    review_steps = sorted({rv["t"] for rv in run.reviews})
    assert review_steps == list(range(BURN_IN + 1, BURN_IN + HORIZON + 1, edp))
    assert len(run.reviews) == R * len(review_steps)
    steps = sorted(run.priorities)
    churn = sum(int((run.priorities[a] != run.priorities[b]).any(axis=1).sum()) for a, b in zip(steps, steps[1:]))
    assert churn > 0
    assert any(r.state.get("dropped", 0) > 0 for r in e.regimes)
    # every review that found evidence recorded which cluster organisations signalled
    assert all("signalled" in r.state for r in e.regimes)


@pytest.mark.parametrize("name", ["cluster_s3", "transregional_s3"])
def test_exit_rule_drops_only_failing_priorities(runs, name):
    run = runs[name]
    e = run.engine
    theta, max_changes = e.config["theta_exit"], e.config["max_changes"]
    drops = [rv for rv in run.reviews if rv["dropped"] > 0]
    assert drops, "no priority was dropped over the horizon"
    by_region: dict[int, list[dict]] = {}
    for rv in run.reviews:
        by_region.setdefault(rv["region"], []).append(rv)
    for rv in drops:
        left = np.flatnonzero(rv["old"] & ~rv["new"])
        # dropped priorities leave the strategy (they are replaced, not re-selected in the same review)
        assert left.size == rv["dropped"] <= max_changes, (rv["t"], rv["region"], left, rv["dropped"])
        med = float(np.median(rv["kpi"][rv["old"]]))
        for d in left:
            assert rv["kpi"][d] < theta * med, (rv["t"], rv["region"], d, rv["kpi"][d], med)
            assert rv["strikes_before"][d] >= 1
            # ... and it was failing at the previous review as well
            hist = by_region[rv["region"]]
            prev = hist[hist.index(rv) - 1]
            assert prev["new"][d] and prev["kpi"][d] < theta * float(np.median(prev["kpi"][prev["old"]]))
        assert rv["new"].sum() == e.config["n_priorities"]
    total = sum(r.state.get("dropped", 0) for r in e.regimes)
    assert total == sum(rv["dropped"] for rv in run.reviews)


def test_cluster_s3_collaborative_calls_follow_the_consortium_rules(runs):
    run = runs["cluster_s3"]
    e = run.engine
    assert run.calls and run.projects
    for c in run.calls:
        call = c["call"]
        assert call.funder >= 0 and call.min_regions == 1 and list(call.regions) == [call.funder]
        assert run.priorities[c["t"]][call.funder, call.domain]  # calls open only in the funder's priorities
        assert (c["t"] - (BURN_IN + 1)) % e.config["call_period"] == 0
    for p in run.projects:
        kinds, call = p["kinds"], p["project"].call
        assert np.isin(kinds, (SME, STARTUP)).any()                              # at least one SME
        assert ((kinds == RI) | (p["clusters"] >= 0)).any()                      # an institute or cluster member
        assert (p["regions"] == call.funder).all()                               # regional call
        assert p["funder_priorities"][call.domain]                               # in a priority domain
        assert np.unique(p["members"]).size == p["members"].size
    assert (run.wide("spent_cluster_grants")["ALL"] > 0).any()
    assert (run.wide("spent_subsidies").values == 0).all()
    assert (run.wide("projects_funded_inter").values == 0).all()


# ----------------------------------------------------------------------------------------------------------------
# transregional_s3
# ----------------------------------------------------------------------------------------------------------------
def test_transregional_funds_inter_regional_projects(runs):
    run = runs["transregional_s3"]
    e, m = run.engine, run.model
    assert all(isinstance(r, TransregionalS3) for r in e.regimes)
    inter = run.wide("projects_funded_inter")
    assert inter["ALL"].sum() > 0
    joint = [p for p in run.projects if p["project"].call.min_regions >= 2]
    assert joint
    assert all(np.unique(p["regions"]).size >= 2 for p in joint)
    assert all(p["project"].regions.size >= 2 for p in joint)
    assert inter["ALL"].sum() == sum(1 for p in run.projects if p["project"].regions.size > 1)
    phi, phi_min = m.world.domains.relatedness, e.config["phi_min"]
    for c in run.calls:
        call = c["call"]
        if call.funder >= 0:
            continue
        assert call.min_regions == 2 and call.regions.size >= 2
        pri = run.priorities[c["t"]]
        for r in call.regions:  # each participating region has a priority equal or related to the call domain
            assert (phi[pri[r], call.domain] >= phi_min).any()
    for p in joint:
        assert np.isin(p["kinds"], (SME, STARTUP)).any()
        assert ((p["kinds"] == RI) | (p["clusters"] >= 0)).any()
        assert np.isin(p["regions"], p["project"].call.regions).all()
    assert all(p["members"].size <= e.config["project_size"] for p in run.projects)  # repairs swap, never add
    # joint projects link their regions (critical mass) and keep their partnerships as ties
    assert run.links_on
    assert not run.tie_failures, run.tie_failures[:5]


def test_transregional_raises_the_interregional_tie_share_over_cluster_s3(runs):
    """Same seeds, same budget: the pooled joint calls add cross-border ties (mean share over policy steps)."""
    shares = {"cluster_s3": [], "transregional_s3": []}
    for seed in (0, 1, 2):
        for name in shares:
            run = runs[name] if seed == 0 else None
            ts = run.ts if run else s3sim.simulate(s3sim.compose(SMALL + [f"policy={name}"]), seed=seed).timeseries
            x = ts[(ts["indicator"] == "interregional_tie_share") & (ts["region"] == "ALL") & (ts["step"] > BURN_IN)]
            shares[name].append(float(x["value"].mean()))
    assert np.mean(shares["transregional_s3"]) > np.mean(shares["cluster_s3"]), shares
    ts = runs["transregional_s3"].wide("collaborations_inter")["ALL"].loc[BURN_IN + 1:].sum()
    cs = runs["cluster_s3"].wide("collaborations_inter")["ALL"].loc[BURN_IN + 1:].sum()
    assert ts > cs


# ----------------------------------------------------------------------------------------------------------------
# budgets: never exceeded, equal across funded regimes, common burn-in
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", FUNDED)
def test_no_budget_is_ever_exceeded(runs, name):
    run = runs[name]
    e = run.engine
    for call_id, budget, committed in e.budget_log:
        assert committed <= budget + EPS, (call_id, budget, committed)
    # a call commits exactly what its funded projects cost
    by_call: dict[int, float] = {}
    for p in run.projects:
        pr = p["project"]
        by_call[pr.call.call_id] = by_call.get(pr.call.call_id, 0.0) + pr.funding_per_step * (pr.end - pr.start)
    log = {cid: c for cid, _, c in e.budget_log}
    for cid, cost in by_call.items():
        assert math.isclose(cost, log[cid], rel_tol=1e-9), cid
    budget, spent = run.wide("policy_budget"), run.spent()
    subsidies = run.wide("spent_subsidies")
    assert (subsidies.values <= budget.values + EPS).all()                         # per quarter, per region
    assert (spent["ALL"].cumsum() <= budget["ALL"].cumsum() + EPS).all()         # cumulative, in total
    # commitments (project money is committed when a call funds it) never exceed the budget so far either
    grants_subs = (run.wide("spent_subsidies") + run.wide("spent_cluster_grants"))["ALL"].cumsum()
    committed = pd.Series(run.committed)
    assert (grants_subs + committed <= budget["ALL"].cumsum() + EPS).all()
    if name != "transregional_s3":  # regional budgets pay only their own region's actors
        assert (spent.cumsum() <= budget.cumsum() + EPS).all().all()
    for s in run.subsidies:
        assert s["amount"].sum() <= s["budget"] + EPS


def test_total_public_budget_is_equal_across_funded_regimes(runs):
    ref = runs["horizontal"].wide("policy_budget")
    assert (ref["ALL"] > 0).all()
    for name in FUNDED[1:]:
        assert_frame_equal(runs[name].wide("policy_budget"), ref, obj=name)
        assert runs[name].engine.budget_total == runs["horizontal"].engine.budget_total
    # budget_per_firm x the firms alive when the policy starts, split over regions
    firms = runs["none"].wide("firms").loc[BURN_IN, "ALL"]
    per_firm = runs["horizontal"].engine.config["budget_per_firm"]
    assert np.allclose(ref["ALL"], per_firm * firms)
    np.testing.assert_allclose(ref.drop(columns="ALL").sum(axis=1), ref["ALL"])
    assert ref.index.min() == BURN_IN + 1 and ref.index.max() == BURN_IN + HORIZON


def test_burn_in_is_identical_across_regimes(runs):
    ref = runs["none"].tables
    for name in FUNDED:
        tables_equal(runs[name].tables, ref, upto=BURN_IN)
    # and the regimes do differ afterwards
    after = {name: runs[name].wide("innovations")["ALL"].loc[BURN_IN + 1:].to_numpy() for name in ALL_REGIMES}
    assert len({a.tobytes() for a in after.values()}) > 1


@pytest.mark.parametrize("name", ALL_REGIMES)
def test_public_money_reaches_only_alive_actors_and_adds_up(runs, name):
    """Every unit of public money in the indicators is in the model's ledger (nothing is paid to exited
    actors), and above the institutes' grants it is exactly the subsidies and project shares paid."""
    run = runs[name]
    m = run.model
    transfers = run.wide("public_transfers")
    assert m.ledger["transfers"] == pytest.approx(transfers["ALL"].sum(), rel=1e-12)
    if name == "none":
        return
    extra = (transfers - m.p.ri_grant * run.wide("research_institutes")).loc[BURN_IN + 1:]
    paid = run.wide("spent_subsidies") + run.wide("spent_projects")
    np.testing.assert_allclose(extra.values, paid.values, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------
# policy indicators
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", FUNDED)
def test_policy_indicators_every_policy_step(runs, name):
    run = runs[name]
    regions = list(run.region_ids) + ["ALL"]
    steps = list(range(BURN_IN + 1, BURN_IN + HORIZON + 1))
    ts = run.ts
    assert not ts[ts["indicator"].isin(POLICY_INDICATORS) & (ts["step"] <= BURN_IN)].size
    cum_spent = run.spent().cumsum()
    for ind in POLICY_INDICATORS:
        w = run.wide(ind)
        assert list(w.index) == steps, ind
        if ind == "innovations_per_million":  # defined once a region has spent something
            defined = cum_spent > 0
            assert (w.notna() == defined[w.columns]).all().all()
            assert w.notna()["ALL"].all() and (w.values[w.notna().values] >= 0).all()
            continue
        assert list(w.columns) == regions, ind
        assert w.notna().all().all(), ind
        if ind.startswith("stress_"):
            assert ((w.values >= 0) & (w.values <= 1 + 1e-12)).all(), ind
    assert (run.wide("policy_budget").values > 0).all()
    pri = run.wide("priorities")
    if name == "horizontal":
        assert (pri.values == 0).all()
    else:
        assert (pri.drop(columns="ALL").values == run.engine.config["n_priorities"]).all()


def test_stress_scores_tell_regimes_apart(runs):
    def last(name, ind):
        return float(runs[name].wide(ind)["ALL"].iloc[-1])

    assert last("horizontal", "stress_breadth") == 1.0
    assert last("topdown_s3", "stress_breadth") == pytest.approx(4 / runs["topdown_s3"].model.world.n_domains)
    assert last("cluster_s3", "stress_cluster_design") > 0 == last("topdown_s3", "stress_cluster_design")
    assert last("cluster_s3", "stress_cluster_support") > last("horizontal", "stress_cluster_support")


# ----------------------------------------------------------------------------------------------------------------
# per-region regimes
# ----------------------------------------------------------------------------------------------------------------
def test_per_region_regime_takes_effect():
    run = Run(["policy=cluster_s3", "policy.regions.IT_VE=topdown_s3"])
    e = run.engine
    ids = run.region_ids
    ve = ids.index("IT_VE")
    assert [type(r) for r in e.regimes] == [TopDownS3 if r == ve else ClusterS3 for r in range(len(ids))]
    subs = run.wide("spent_subsidies")
    assert subs["IT_VE"].sum() > 0
    assert (subs.drop(columns=["IT_VE", "ALL"]).values == 0).all()
    assert all(s["scope"].region == ve for s in run.subsidies)
    for s in run.subsidies:
        assert s["priorities"][s["domain"]].all()
    funders = {c["call"].funder for c in run.calls}
    assert ve not in funders and len(funders) >= 2
    assert all((p["regions"] != ve).all() for p in run.projects)
    assert run.wide("spent_cluster_grants")["IT_VE"].sum() == 0
    assert run.wide("spent_projects").drop(columns="ALL").sum().sum() > 0


def test_per_region_dict_form_sets_regime_and_parameters():
    run = Run(["policy=cluster_s3", "policy.regions.AT_UA={regime: horizontal, subsidy_rate: 0.3}"])
    e, m = run.engine, run.model
    ua = run.region_ids.index("AT_UA")
    assert isinstance(e.regimes[ua], Horizontal) and e.regimes[ua].p.subsidy_rate == 0.3
    assert all(isinstance(r, ClusterS3) and r.p.subsidy_rate == 0.5 for k, r in enumerate(e.regimes) if k != ua)
    paid = [s for s in run.subsidies if s["rows"].size]
    assert paid and all(s["scope"].region == ua for s in paid)
    amounts = np.concatenate([s["amount"] for s in paid])
    assert np.isclose(amounts[:, None], 0.3 * np.array([m.p.c_incr, m.p.c_rad])[None, :]).any(axis=1).all()
    priorities = run.wide("priorities")
    assert (priorities["AT_UA"] == 0).all() and (priorities.drop(columns="AT_UA") > 0).all().all()
    assert ua not in {c["call"].funder for c in run.calls}


def test_per_region_none_with_a_funded_default():
    run = Run(["policy=horizontal", "policy.regions.SI=none", "model.horizon=8"])
    si = run.region_ids.index("SI")
    assert isinstance(run.engine.regimes[si], NoPolicy)
    assert (run.wide("policy_budget")["SI"] == 0).all() and (run.wide("spent_subsidies")["SI"] == 0).all()
    assert run.wide("spent_subsidies")["ALL"].sum() > 0


# ----------------------------------------------------------------------------------------------------------------
# pilot clusters
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pilot_run() -> Run:
    return Run(["policy=pilot", *CHEAP])


def test_pilot_config_runs_pilots_under_the_improved_regime(pilot_run):
    run = pilot_run
    e, m = run.engine, run.model
    cl = m.clusters
    assert all(isinstance(r, TopDownS3) for r in e.regimes)
    assert e.pilots and all(isinstance(p, TransregionalS3) for p in e.pilots)
    regions_with_cos = set(cl.region.tolist())
    assert {p.scope.region for p in e.pilots} == regions_with_cos  # 'auto': one per region
    for k, p in enumerate(e.pilots):
        assert p.scope.cluster >= 0 and e.pilot_of[p.scope.cluster] == k
        assert cl.region[p.scope.cluster] == p.scope.region
        assert p.priorities[cl.domain[p.scope.cluster]] or p.priorities.sum() > 0
    stated = m.world.priority_mask
    for r, reg in enumerate(e.regimes):
        if stated[r].any():
            np.testing.assert_array_equal(reg.priorities, stated[r])


def test_pilot_members_take_part_in_projects_and_the_rest_keeps_topdown(pilot_run):
    run = pilot_run
    e, m = run.engine, run.model
    assert run.projects, "no pilot project was funded"
    for p in run.projects:
        treated = is_pilot_member(e, p["clusters"])
        assert treated.all(), (p["t"], p["members"], p["clusters"])
    assert any(p["project"].call.min_regions >= 2 for p in run.projects)  # joint pilot calls
    # the rest of each region: top-down subsidies in its priority domains, never to pilot members
    paid = [s for s in run.subsidies if s["rows"].size]
    assert paid
    for s in paid:
        assert s["scope"].cluster < 0
        assert not is_pilot_member(e, s["cluster"]).any()
        assert s["priorities"][s["domain"]].all()
    # treated and untreated actors can be told apart
    a = m.actors
    n = a.n
    treated = is_pilot_member(e, a.cluster[:n])
    in_projects = np.unique(np.concatenate([p["members"] for p in run.projects]))
    subsidised = np.unique(np.concatenate([s["rows"] for s in paid]))
    assert treated.any() and (~treated).any()
    assert treated[in_projects].all() and not treated[subsidised].any()
    # the pilots' budget is part of their region's, not on top of it
    ref = Run(["policy=topdown_s3", "policy.use_stated_priorities=true", *CHEAP, "model.horizon=4"])
    np.testing.assert_allclose(run.wide("policy_budget").loc[: BURN_IN + 4].values,
                               ref.wide("policy_budget").values)


def test_named_pilot_runs_in_its_region():
    probe = s3sim.S3Model(s3sim.compose(SMALL + ["policy=topdown_s3"]), seed=0)
    cl, names = probe.clusters, probe.world.domains.names
    ua = probe.world.regions.ids.index("AT_UA")
    cos = np.flatnonzero(cl.region == ua)
    co = int(cos[np.argmax(cl.members[cos])])
    domain = names[cl.domain[co]]
    # one priority, so that the small pilot's call budget is not split four ways (see CHEAP)
    run = Run(["policy=topdown_s3", f"policy.pilots=[AT_UA:{domain}]", "policy.pilot_regime=cluster_s3",
               "policy.n_priorities=1", *CHEAP])
    e = run.engine
    assert len(e.pilots) == 1 and e.pilots[0].scope.cluster == co and e.pilots[0].scope.region == ua
    assert isinstance(e.pilots[0], ClusterS3) and all(isinstance(r, TopDownS3) for r in e.regimes)
    assert (e.pilot_of >= 0).sum() == 1
    for p in run.projects:
        assert (p["clusters"] == co).all()
    for c in run.calls:
        assert c["call"].scope == co
    for s in run.subsidies:
        assert not (s["cluster"] == co).any()
    assert run.calls
    assert run.projects, "the AT_UA pilot funded no project"


# ----------------------------------------------------------------------------------------------------------------
# bad configs
# ----------------------------------------------------------------------------------------------------------------
REGIME_NAMES = ("none", "horizontal", "topdown_s3", "cluster_s3", "transregional_s3")


@pytest.mark.parametrize("override, field, allowed", [
    ("policy=foo", "policy", REGIME_NAMES + ("pilot",)),
    ("policy.regime=foo", "policy.regime", REGIME_NAMES),
    ("policy.regions.IT_VE=foo", "policy.regions.IT_VE", REGIME_NAMES),
    ("policy.regions.IT_VE={regime: foo}", "policy.regions.IT_VE.regime", REGIME_NAMES),
    ("policy.regions.IT_VE={subsidy_rate: 2}", "policy.regions.IT_VE.subsidy_rate", ("[0.0, 1.0]",)),
    ("policy.regions.XX=none", "policy.regions.XX", ("IT_VE", "AT_UA", "SI")),
    ("policy.budget_per_firm=-1", "policy.budget_per_firm", ("[0.0, inf]",)),
    ("policy.pilot_regime=foo", "policy.pilot_regime", REGIME_NAMES),
    ("policy.pilots=[XX:tourism]", "policy.pilots", ("auto", "AT_UA")),
])
def test_bad_policy_config_is_a_one_line_config_error(override, field, allowed):
    with pytest.raises(ConfigError) as info:
        s3sim.compose(SMALL + [override])
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{field}="), msg
    assert info.value.field.startswith(field)
    for word in allowed:
        assert word in msg, (word, msg)


def test_an_alpine_preset_on_a_synthetic_world_says_so():
    with pytest.raises(ConfigError, match="CH_FR is an Alpine Space region.*world=alpine"):
        s3sim.compose(SMALL + ["policy=as_applied", "world=synthetic", "world.n_regions=3"])


def test_pilot_without_a_cluster_organisation_fails_at_model_construction():
    cfg_ok = s3sim.compose(SMALL + ["policy=topdown_s3"])
    probe = s3sim.S3Model(cfg_ok, seed=0)
    ua = probe.world.regions.ids.index("AT_UA")
    names = probe.world.domains.names
    have = {names[d] for d in probe.clusters.domain[probe.clusters.region == ua]}
    missing = next(n for n in names if n not in have)
    cfg = s3sim.compose(SMALL + ["policy=topdown_s3", f"policy.pilots=[AT_UA:{missing}]"])  # valid to compose
    with pytest.raises(ConfigError) as info:
        s3sim.S3Model(cfg, seed=0)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("policy.pilots=")
    assert missing in msg
    for n in have:
        assert f"AT_UA:{n}" in msg
    assert "auto" in msg


# ----------------------------------------------------------------------------------------------------------------
# evaluate
# ----------------------------------------------------------------------------------------------------------------
def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all((x == y) or (math.isnan(x) and math.isnan(y)) for x, y in
                                        ((a[k], b[k]) for k in a))


def test_evaluate_accepts_a_regime_name():
    kw = dict(n_agents=600, burn_in=BURN_IN, horizon=24)
    by_name = s3sim.evaluate(seed=0, policy="cluster_s3", **kw)
    by_param = s3sim.evaluate(seed=0, policy_regime="cluster_s3", **kw)
    assert _same(by_name, by_param)
    none = s3sim.evaluate(seed=0, **kw)
    assert not _same(by_name, none)
    assert _same(none, s3sim.evaluate(seed=0, policy="none", **kw))


def test_manifest_names_regimes_and_pilot_clusters_so_treated_firms_can_be_found(tmp_path):
    """Phase 3 needs treated (pilot) and untreated clusters: the manifest lists the pilots, the firms table gives
    every firm's cluster organisation, and both survive the store."""
    cfg = s3sim.compose(["policy=pilot", "model.n_agents=600", "model.burn_in=4", "model.horizon=8",
                         "model.materialize_agents=false"])
    result = s3sim.load_result(s3sim.simulate(cfg, seed=1).save(tmp_path / "run"))
    setup = result.manifest["policy_setup"]
    assert set(setup["regimes"].values()) == {"topdown_s3"}
    pilots = {p["cluster"] for p in setup["pilots"]}
    assert pilots and all(p["regime"] == "transregional_s3" for p in setup["pilots"])
    treated = result.firms["cluster"].isin(pilots)
    untreated = (result.firms["cluster"] >= 0) & ~treated
    assert treated.any() and untreated.any()
    assert (result.firms["cluster_member"] == (result.firms["cluster"] >= 0)).all()


def test_joint_projects_link_cluster_organisations_across_regions():
    """transregional_s3: while a joint project runs, the cluster organisations of its members in different regions
    are linked (they broker candidates for each other's members); cluster_s3 never links them."""
    linked = {}
    for name in ("cluster_s3", "transregional_s3"):
        cfg = s3sim.compose(SMALL + [f"policy={name}"])
        m = s3sim.S3Model(cfg, seed=0)
        seen = []
        for _ in range(m.n_steps_total):
            m.step()
            cl = m.clusters
            for x in np.flatnonzero(cl.link >= 0):
                seen.append((int(cl.region[x]), int(cl.region[cl.link[x]])))
        linked[name] = seen
    assert not linked["cluster_s3"]
    assert linked["transregional_s3"] and all(rx != ry for rx, ry in linked["transregional_s3"])


def test_subsidies_never_pay_more_than_the_rate_of_the_research_actually_done():
    """A subsidy is subsidy_rate x the cost of the research the firm then does (a radical-sized subsidy would
    lift a poor firm above the radical threshold and pay for incremental research)."""
    cfg = s3sim.compose(SMALL + ["policy=horizontal"])
    m = s3sim.S3Model(cfg, seed=0)
    p, rate = m.p, m.policy.config["subsidy_rate"]
    checked = 0
    for _ in range(m.n_steps_total):
        m.step()
        if m.in_burn_in:
            continue
        a = m.actors
        n = a.n
        paid = np.flatnonzero(a.subsidy[:n] > 0)
        for i in paid:
            spent = a.rd_spend[i] - a.n_partners[i] * p.c_collab  # research cost of this quarter
            assert a.subsidy[i] <= rate * spent + 1e-9, (i, a.subsidy[i], spent)
            checked += 1
    assert checked > 100


def test_no_public_money_funds_no_projects_and_members_join_at_most_two_projects():
    for extra in (["policy.subsidy_rate=0"], ["policy.project_cost=0"], []):
        m = s3sim.S3Model(s3sim.compose(SMALL + ["policy=cluster_s3", "policy.budget_per_firm=100",
                                                "policy.project_size=3"] + extra), seed=0)
        most = 0
        for _ in range(m.n_steps_total):
            m.step()
            if m.policy is not None and m.policy.projects:
                counts = np.bincount(np.concatenate([pr.members for pr in m.policy.projects]))
                most = max(most, int(counts.max()))
        assert most <= 2, (extra, most)
        if extra:
            assert not m.policy.budget_log or all(c == 0 for _, _, c in m.policy.budget_log), extra


def test_pilot_cluster_organisations_get_no_regional_grants():
    m = s3sim.S3Model(s3sim.compose(SMALL + ["policy=cluster_s3", "policy.pilots=[auto]",
                                            "policy.pilot_regime=none"]), seed=0)
    m.run()
    pilots = np.flatnonzero(m.policy.pilot_of >= 0)
    assert pilots.size and (m.clusters.budget[pilots] == 0).all() and (m.clusters.brokerage[pilots] == 1).all()
    assert (m.clusters.budget > 0).any()  # other organisations do get grants


@pytest.mark.parametrize("spec,allowed", [("{regime: topdown_s3, n_priorities: 2.5}", "integer"),
                                          ("{regime: topdown_s3, use_stated_priorities: 3}", "true or false")])
def test_per_region_parameters_are_type_checked(spec, allowed):
    with pytest.raises(ConfigError) as info:
        s3sim.compose([f"policy.regions.IT_VE={spec}"])
    assert allowed in str(info.value) and "\n" not in str(info.value)


def test_a_regions_regime_and_its_parameters_given_separately_are_merged():
    cfg = s3sim.compose(["policy=cluster_s3", "policy.regions.IT_VE=topdown_s3",
                         "policy.regions.IT_VE.subsidy_rate=0.3", "policy.regions.AT_UA=horizontal"])
    assert dict(cfg.policy.regions["IT_VE"]) == {"regime": "topdown_s3", "subsidy_rate": 0.3}
    assert cfg.policy.regions["AT_UA"] == "horizontal"
    # the last value of a repeated key wins
    assert s3sim.compose(["policy.regions.IT_VE=topdown_s3",
                          "policy.regions.IT_VE=horizontal"]).policy.regions["IT_VE"] == "horizontal"


def test_consortia_need_at_least_three_actors():
    with pytest.raises(ConfigError, match="policy.project_size"):
        s3sim.compose(SMALL + ["policy=transregional_s3", "policy.project_size=2"])
