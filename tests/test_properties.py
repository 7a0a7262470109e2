"""Property-based tests: invariants that must hold for any parameter draw from the plausible ranges of
``s3sim.PARAMETERS`` (a handful of parameters varied at a time, ints for int parameters, either world).

* the money balance closes exactly every step (capital change = revenue + transfers - costs + entered - exited);
* actor state stays valid: kenes within capacity, expertise 1..10, ability in [0, 10], IH slots occupied,
  capabilities unique, no NaN or inf anywhere;
* agent counts follow entries and exits (arrays and indicator table agree);
* the timeseries holds finite values only, and every per-step indicator is observed every step.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s3sim
from s3sim.indicators import INDICATORS
from s3sim.model.state import RI

from conftest import alive_firm_mask, small_model, total_wide

VARIED = sorted(p.name for p in s3sim.PARAMETERS.varied())

#: examples per property (small for the regular suite; raise S3SIM_PROPERTY_EXAMPLES for a thorough search)
PROPERTY_SETTINGS = settings(max_examples=int(os.environ.get("S3SIM_PROPERTY_EXAMPLES", "12")), deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@st.composite
def parameter_draws(draw, min_size: int = 3, max_size: int = 7) -> dict:
    """A few parameters drawn within their plausible ranges, plus a small scale and a world."""
    names = draw(st.lists(st.sampled_from(VARIED), min_size=min_size, max_size=max_size, unique=True))
    out = {}
    for name in names:
        p = s3sim.PARAMETERS[name]
        lo, hi = p.range
        if p.kind is int:
            out[name] = draw(st.integers(int(lo), int(hi)))
        else:
            out[name] = draw(st.floats(float(lo), float(hi), allow_nan=False, allow_infinity=False))
    # the config requires ih_len_max <= kene_sme, which the independent plausible ranges (4-12 and 5-15; default
    # ih_len_max 8) allow to be broken: keep draws inside the valid joint region
    kene_sme = out.get("kene_sme", s3sim.PARAMETERS["kene_sme"].default)
    if out.get("ih_len_max", s3sim.PARAMETERS["ih_len_max"].default) > kene_sme:
        out["ih_len_max"] = kene_sme
    out["n_agents"] = draw(st.integers(300, 500))
    out["horizon"] = draw(st.integers(10, 20))
    out["world_kind"] = draw(st.sampled_from(["alpine", "synthetic"]))
    return out


seeds = st.integers(0, 2**20)


def alive_capital(model) -> float:
    a = model.actors
    return float(a.capital[: a.n][a.alive[: a.n]].sum())


def check_actor_state(model) -> None:
    """Validity of every alive row's kene and finiteness of every array."""
    a, p = model.actors, model.p
    n = a.n
    D = model.world.n_domains
    live = a.alive[:n]
    klen, kcap = a.klen[:n][live], a.kcap[:n][live]
    assert (klen >= 1).all() and (klen <= kcap).all() and (kcap <= a.width).all()
    occ = np.arange(a.width)[None, :] < klen[:, None]
    cap, abil, expt, ih = a.cap[:n][live], a.abil[:n][live], a.expt[:n][live], a.ih[:n][live]
    assert (cap[occ] >= 0).all() and (cap[~occ] == -1).all()
    assert ((cap[occ] >> model.cap_shift) < D).all()
    assert ((cap[occ] & ((1 << model.cap_shift) - 1)) < model.caps_per_domain).all()
    assert (expt[occ] >= 1).all() and (expt[occ] <= 10).all(), "expertise of occupied slots in 1..10"
    assert (abil[occ] >= 0).all() and (abil[occ] <= 10).all(), "abilities in [0, 10]"
    assert not ih[~occ].any(), "IH slots are occupied"
    n_ih = ih.sum(axis=1)
    assert (n_ih >= np.minimum(2, klen)).all() and (n_ih <= p.ih_len_max).all()
    srt = np.sort(np.where(occ, cap, -1), axis=1)
    assert not ((np.diff(srt, axis=1) == 0) & (srt[:, 1:] >= 0)).any(), "capabilities are unique in a kene"
    res = a.res_slot[:n][live]
    assert ((res == -1) | ((res >= 0) & (res < klen))).all()
    assert ((a.product_domain[:n][live] >= 0) & (a.product_domain[:n][live] < D)).all()
    q = a.quality[:n][live]
    assert ((q >= 0) & (q < 1)).all()
    assert (a.appeal[:n][live] > 0).all()
    cl = a.cluster[:n][live]
    member = cl >= 0
    assert (cl < model.clusters.n).all()
    assert (model.clusters.region[cl[member]] == a.region[:n][live][member]).all()
    for name in ("capital", "revenue", "costs", "transfers", "profit", "prev_profit", "rd_spend", "innov_value",
                 "quality", "appeal"):
        assert np.isfinite(getattr(a, name)[:n]).all(), name
    for name in ("abil", "profile", "advert"):
        assert np.isfinite(getattr(a, name)[:n]).all(), name
    for name in ("G", "demand", "mass", "x", "rca", "rd"):
        assert np.isfinite(getattr(model, name)).all(), name
    assert (model.G > 0).all() and (model.G <= 1).all()


# ---------------------------------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(params=parameter_draws(), seed=seeds)
def test_money_balances_exactly_every_step(params, seed):
    model = small_model(seed=seed, **params)
    ledger = dict(model.ledger)
    capital = alive_capital(model)
    while model.steps < model.n_steps_total:
        model.step()
        new_capital = alive_capital(model)
        d = {k: model.ledger[k] - ledger[k] for k in ledger}
        flows = d["revenue"] + d["transfers"] - d["costs"] + d["entered"] - d["exited"]
        scale = max(abs(capital), abs(new_capital), d["revenue"] + d["transfers"] + d["costs"], 1.0)
        assert abs((new_capital - capital) - flows) <= 1e-9 * scale, (model.steps, new_capital - capital, flows)
        assert d["revenue"] >= 0 and d["transfers"] >= 0 and d["costs"] >= 0 and d["exited"] <= 0
        # the ledger is the sum of the recorded per-actor flows
        a = model.actors
        assert d["entered"] == model.p.initial_capital * int((a.birth[: a.n] == model.steps).sum())
        # exit is for negative capital only: no alive firm is left below zero
        assert (a.capital[: a.n][alive_firm_mask(model)] >= 0).all()
        ledger, capital = dict(model.ledger), new_capital
    ts = total_wide(model.tables()["timeseries"])
    np.testing.assert_allclose(ts["capital"].iloc[-1], capital, rtol=1e-12)


@PROPERTY_SETTINGS
@given(params=parameter_draws(), seed=seeds)
def test_actor_state_stays_valid_and_finite(params, seed):
    model = small_model(seed=seed, **params)
    check_actor_state(model)
    while model.steps < model.n_steps_total:
        model.step()
        check_actor_state(model)


@PROPERTY_SETTINGS
@given(params=parameter_draws(), seed=seeds)
def test_agent_counts_follow_entries_and_exits(params, seed):
    model = small_model(seed=seed, **params)
    a = model.actors
    alive0 = int(a.alive[: a.n].sum())
    ris0 = int((a.alive[: a.n] & (a.kind[: a.n] == RI)).sum())
    counts = []
    while model.steps < model.n_steps_total:
        model.step()
        a = model.actors
        counts.append((int(a.alive[: a.n].sum()), int((a.alive[: a.n] & (a.kind[: a.n] == RI)).sum()),
                       int((~a.alive[: a.n]).sum()), a.n))
    w = total_wide(model.tables()["timeseries"])
    entries, exits = w["entries"].cumsum().to_numpy(), w["exits"].cumsum().to_numpy()
    alive = np.array([c[0] for c in counts])
    np.testing.assert_array_equal(alive, alive0 + entries - exits)  # arrays
    np.testing.assert_array_equal(w["firms"] + w["research_institutes"], alive0 + entries - exits)  # table
    np.testing.assert_array_equal([c[1] for c in counts], ris0)  # institutes never exit
    np.testing.assert_array_equal(w["research_institutes"], ris0)
    np.testing.assert_array_equal([c[2] for c in counts], exits)  # rows are never reused
    np.testing.assert_array_equal([c[3] for c in counts], alive0 + entries)
    # per-region indicators add up to the totals
    ts = model.tables()["timeseries"]
    per = ts[(ts.region != "ALL") & ts.indicator.isin(["firms", "entries", "exits"])]
    sums = per.groupby(["step", "indicator"], observed=True)["value"].sum().unstack()
    for name in ("firms", "entries", "exits"):
        np.testing.assert_array_equal(sums[name].to_numpy(), w[name].to_numpy())


#: indicators recorded only as a total (no per-region value): the Gini between regions and spillover events
TOTAL_ONLY = {ind.name for ind in INDICATORS if ind.total_only} | {"spillover_events"}


@PROPERTY_SETTINGS
@given(params=parameter_draws(), seed=seeds)
def test_timeseries_values_are_finite_and_every_step_indicator_is_observed(params, seed):
    model = small_model(seed=seed, **params)
    model.run()
    ts = model.tables()["timeseries"]
    assert np.isfinite(ts["value"]).all()
    assert not np.isinf(model.recorder.values).any()  # unobserved cells are NaN, never inf
    steps = model.n_steps_total
    regions = list(model.world.regions.ids)
    have = ts.groupby(["indicator", "region"], observed=True).size()
    for ind in INDICATORS:
        if ind.every == "policy":  # recorded only under a policy (tests/test_policy.py)
            assert have.get((ind.name, "ALL"), 0) == 0, ind.name
            continue
        expect = {"step": steps, "network": steps // model.p.network_every,
                  "evidence": steps // model.p.evidence_every + (steps % model.p.evidence_every != 0)}[ind.every]
        assert have.get((ind.name, "ALL"), 0) == expect or ind.name.endswith("relatedness_density"), ind.name
        if ind.every == "step" and ind.name not in TOTAL_ONLY:
            for r in regions:
                assert have.get((ind.name, r), 0) == steps, (ind.name, r)
    w = total_wide(ts)
    for name in ("firms", "revenue", "capital", "rd_spending"):
        assert (w[name] > 0).all(), name
    for name in ("entries", "exits", "innovations", "knowledge_flows", "spillover_events", "mean_degree"):
        assert (w[name].dropna() >= 0).all(), name
    for name in ("clustering", "giant_component_share", "interregional_tie_share", "gini_innovation_per_capita"):
        s = w[name].dropna()
        assert ((s >= 0) & (s <= 1)).all(), name
    assert (w["innovations"] == w["innovations_incremental"] + w["innovations_radical"]).all()
    assert len(model.tables()["innovations"]) == w["innovations"].sum()
