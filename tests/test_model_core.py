"""Core model behaviour: reproducibility of the tables, headless vs materialised runs, and Mesa integration
(agents in ``model.agents``, AgentSet idioms, agents as views of the arrays, DataCollector)."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import s3sim
from s3sim import ClusterOrganisation, Firm, RegionalAuthority, ResearchInstitute
from s3sim.model.state import RI

from conftest import alive_firm_mask, small_config

TABLES = ("timeseries", "panel", "firms", "innovations")


def assert_tables_equal(left: dict, right: dict) -> None:
    for name in TABLES:
        assert_frame_equal(left[name], right[name], check_exact=True, obj=name)


def result_tables(result) -> dict:
    return {name: getattr(result, name) for name in TABLES}


# ---------------------------------------------------------------------------------------------------------------
# reproducibility
# ---------------------------------------------------------------------------------------------------------------
def test_same_config_and_seed_give_identical_tables(small_cfg, small_result):
    again = s3sim.simulate(small_cfg, seed=1)
    assert_tables_equal(result_tables(small_result), result_tables(again))
    assert small_result.manifest["ledger"] == again.manifest["ledger"]
    # the tables are not trivially empty
    assert len(small_result.innovations) > 0 and len(small_result.firms) > 0 and len(small_result.panel) > 0


def test_config_seed_is_the_default_run_seed(small_cfg):
    cfg = small_config(horizon=8)
    cfg.seed = 5
    assert_tables_equal(result_tables(s3sim.simulate(cfg)), result_tables(s3sim.simulate(cfg, seed=5)))


def test_different_seeds_give_different_tables(small_cfg, small_result):
    other = s3sim.simulate(small_cfg, seed=2)
    assert not small_result.innovations.equals(other.innovations)
    assert not small_result.timeseries.equals(other.timeseries)
    assert not small_result.firms.equals(other.firms)


def test_headless_and_materialised_runs_give_identical_tables(small_cfg, small_result):
    from omegaconf import OmegaConf

    cfg = OmegaConf.merge(small_cfg, {"model": {"materialize_agents": True}})
    model = s3sim.S3Model(cfg, seed=1)
    assert len(model.agents) > 0
    model.run()
    assert_tables_equal(result_tables(small_result), model.tables())


def test_model_run_and_tables_equal_simulate(small_cfg, small_result):
    model = s3sim.S3Model(small_cfg, seed=1)
    assert model.run() is model
    assert model.steps == small_cfg.model.burn_in + small_cfg.model.horizon
    assert_tables_equal(result_tables(small_result), model.tables())
    assert model.ledger == small_result.manifest["ledger"]


def test_stepwise_run_equals_one_call_run(small_cfg, small_result):
    model = s3sim.S3Model(small_cfg, seed=1)
    model.run(7)
    for _ in range(3):
        model.step()
    model.run()  # the remainder
    assert model.steps == small_cfg.model.burn_in + small_cfg.model.horizon
    assert_tables_equal(result_tables(small_result), model.tables())


def test_compose_and_config_from_params_give_the_same_run(small_cfg, small_result):
    cfg = small_config(horizon=20)
    assert_tables_equal(result_tables(small_result), result_tables(s3sim.simulate(cfg, seed=1)))


def test_tables_have_documented_columns(small_result):
    assert list(small_result.timeseries.columns) == ["step", "region", "indicator", "value"]
    assert list(small_result.panel.columns) == ["step", "region", "domain", "firms", "innovations", "rca",
                                                "specialised", "relatedness_density", "cluster_members",
                                                "cluster_innovations"]
    assert list(small_result.innovations.columns) == ["step", "region", "domain", "kind", "value"]
    assert {"firm_id", "kind", "region", "domain", "size", "revenue", "innovations", "cluster_member", "origin",
            "birth_step"} <= set(small_result.firms.columns)
    steps = small_result.timeseries["step"]
    assert steps.min() == 1 and steps.max() == 24


# ---------------------------------------------------------------------------------------------------------------
# Mesa integration
# ---------------------------------------------------------------------------------------------------------------
def test_model_is_a_mesa_model_with_all_agent_types(materialised_model):
    m = materialised_model
    assert isinstance(m, mesa.Model)
    by_type = m.agents_by_type
    assert set(by_type) == {Firm, ResearchInstitute, ClusterOrganisation, RegionalAuthority}
    assert len(by_type[RegionalAuthority]) == m.world.n_regions
    assert len(by_type[ClusterOrganisation]) == m.clusters.n
    assert len(m.agents) == sum(len(s) for s in by_type.values())
    assert all(isinstance(ag, mesa.Agent) for ag in m.agents)


def test_agent_counts_equal_alive_rows_after_exits_and_entries(materialised_model):
    m = materialised_model
    a = m.actors
    n = a.n
    firms = alive_firm_mask(m)
    ris = a.alive[:n] & (a.kind[:n] == RI)
    wide = m.tables()["timeseries"]
    entries = wide[(wide.region == "ALL") & (wide.indicator == "entries")]["value"].sum()
    exits = wide[(wide.region == "ALL") & (wide.indicator == "exits")]["value"].sum()
    assert entries > 0 and exits > 0, "the run must exercise both entry and exit"
    assert len(m.agents_by_type[Firm]) == int(firms.sum())
    assert len(m.agents_by_type[ResearchInstitute]) == int(ris.sum())
    # every registered actor agent views an alive row, and every alive row has its agent
    rows = sorted(ag.row for ag in m.agents_by_type[Firm]) + sorted(ag.row for ag in m.agents_by_type[
        ResearchInstitute])
    assert sorted(rows) == list(np.flatnonzero(a.alive[:n]))
    for ag in m.agents_by_type[Firm]:
        assert ag.alive and m.agent_of(ag.row) is ag
    # exited rows' agents were removed from the model
    dead = np.flatnonzero(~a.alive[:n])
    assert dead.size == exits
    live_ids = {ag.unique_id for ag in m.agents}
    for i in dead:
        assert m.agent_of(int(i)).unique_id not in live_ids
    # entrants are Firm agents (start-ups), appended in row order
    born = np.flatnonzero(a.birth[:n] > 0)
    assert born.size == entries
    assert all(type(m.agent_of(int(i))) is Firm and m.agent_of(int(i)).kind == "start-up" for i in born)


def test_agentset_select_agg_groupby(materialised_model):
    m = materialised_model
    a = m.actors
    firms = m.agents_by_type[Firm]
    rich = m.agents.select(lambda ag: isinstance(ag, Firm) and ag.capital > 10_000)
    assert len(rich) == int((alive_firm_mask(m) & (a.capital[: a.n] > 10_000)).sum())
    assert all(ag.capital > 10_000 for ag in rich)
    total = firms.agg("capital", sum)
    assert total == pytest.approx(float(a.capital[: a.n][alive_firm_mask(m)].sum()), rel=1e-12)
    assert firms.agg("innovations", max) == int(a.innovations[: a.n][alive_firm_mask(m)].max())
    counts = firms.groupby("region").count()
    expected = pd.Series(np.asarray(m.world.regions.ids, dtype=object)[a.region[: a.n][alive_firm_mask(m)]])
    assert counts == expected.value_counts().to_dict()
    by_kind = m.agents.groupby(type).count()
    assert by_kind[RegionalAuthority] == m.world.n_regions
    sums = firms.groupby("region").agg("capital", sum)
    assert sum(sums.values()) == pytest.approx(total, rel=1e-12)


def test_agents_are_views_of_the_arrays():
    model = s3sim.S3Model(small_config(materialize_agents=True, horizon=4), seed=0)
    model.run(2)
    a = model.actors
    ag = next(iter(model.agents_by_type[Firm]))
    row = ag.row
    ag.capital = 12345.5
    assert a.capital[row] == 12345.5 and ag.capital == 12345.5
    a.capital[row] = -7.0
    assert ag.capital == -7.0
    ag.cluster = -1
    assert a.cluster[row] == -1 and not ag.cluster_member
    assert ag.region == model.world.regions.ids[a.region[row]]
    assert ag.domain == model.world.domains.names[a.product_domain[row]]
    kene = ag.kene
    assert kene["capability"].shape == (a.klen[row],)
    kene["ability"][0] = 9.5  # writes through
    assert a.abil[row, 0] == np.float32(9.5)
    co = next(iter(model.agents_by_type[ClusterOrganisation]))
    co.brokerage = 2.5
    assert model.clusters.brokerage[co.row] == 2.5
    ra = next(iter(model.agents_by_type[RegionalAuthority]))
    ra.budget = 100.0
    assert model.regions.budget[ra.row] == 100.0
    assert set(ra.priorities) <= set(model.world.domains.names)


def test_agent_write_changes_the_simulation():
    """A capital write through an agent is a state change the model acts on: negative capital means exit."""
    model = s3sim.S3Model(small_config(materialize_agents=True, horizon=4), seed=0)
    model.run(1)
    ag = next(ag for ag in model.agents_by_type[Firm] if ag.alive)
    row = ag.row
    ag.capital = -1e9
    model.step()
    assert not model.actors.alive[row]
    assert ag not in model.agents


def test_mesa_datacollector_works_on_the_model():
    model = s3sim.S3Model(small_config(materialize_agents=True, horizon=6), seed=4)
    dc = mesa.DataCollector(
        model_reporters={"firms": lambda m: len(m.agents_by_type[Firm]),
                         "capital": lambda m: float(m.actors.capital[: m.actors.n][m.actors.alive[: m.actors.n]]
                                                    .sum())},
        agent_reporters={"capital": "capital", "innovations": "innovations"},
    )
    for _ in range(5):
        model.step()
        dc.collect(model)
    mv = dc.get_model_vars_dataframe()
    assert len(mv) == 5
    ts = model.tables()["timeseries"]
    firms = ts[(ts.region == "ALL") & (ts.indicator == "firms")].set_index("step")["value"]
    capital = ts[(ts.region == "ALL") & (ts.indicator == "capital")].set_index("step")["value"]
    assert mv["firms"].tolist() == firms.loc[1:5].astype(int).tolist()
    np.testing.assert_allclose(mv["capital"].to_numpy(), capital.loc[1:5].to_numpy(), rtol=1e-12)
    av = dc.get_agent_vars_dataframe()
    last = av.xs(5, level="Step")
    actor_rows = last.dropna(subset=["capital"])  # cluster organisations and authorities report None
    assert len(actor_rows) == int(model.actors.alive[: model.actors.n].sum())
    assert actor_rows["capital"].sum() == pytest.approx(capital.loc[5], rel=1e-12)


def test_panel_cluster_columns_account_for_every_member_innovation():
    """cluster_innovations over all observations adds up to the innovations of every actor that joined a cluster
    organisation (members that left included); cluster_members is the alive membership at the observation."""
    from s3sim import S3Model

    cfg = small_config(n_agents=600, burn_in=4, horizon=12, materialize_agents=False)
    m = S3Model(cfg, seed=4, policy=None)
    m.run()
    assert m.steps % cfg.model.evidence_every == 0
    panel = m.tables()["panel"]
    a, cl = m.actors, m.clusters
    n = a.n
    member = a.cluster[:n] >= 0
    assert panel["cluster_innovations"].sum() == a.innovations[:n][member].sum() > 0
    last = panel[panel["step"] == panel["step"].max()]
    has = last[last["cluster_members"] >= 0]
    assert len(has) == cl.n
    alive_members = np.bincount(a.cluster[:n][member & a.alive[:n]], minlength=cl.n)
    got = has.astype({"region": str, "domain": str}).set_index(["region", "domain"])["cluster_members"]
    for c in range(cl.n):
        key = (m.world.regions.ids[cl.region[c]], m.world.domains.names[cl.domain[c]])
        assert got.loc[key] == alive_members[c]
    assert (last.loc[last["cluster_members"] < 0, "cluster_innovations"] == 0).all()


class _InterruptedAt(s3sim.S3Model):
    """A model that receives SIGINT during chosen steps (as a Ctrl-C during a run would)."""

    def __init__(self, *args, at=(), twice=False, **kw):
        super().__init__(*args, **kw)
        self._at, self._twice = set(at), twice

    def step(self):
        super().step()
        if self.steps in self._at:
            import signal

            signal.raise_signal(signal.SIGINT)
            if self._twice:
                signal.raise_signal(signal.SIGINT)


def test_ctrl_c_stops_a_run_between_steps_and_a_second_one_at_once():
    """An interrupt raised inside a step could land in a Python callback of compiled code (a SystemError); a run
    records it and stops after the step, and a second Ctrl-C stops it at once. The handler is restored."""
    import signal

    cfg = small_config(n_agents=150, materialize_agents=False)
    model = _InterruptedAt(cfg, seed=1, at={3})
    with pytest.raises(KeyboardInterrupt):
        model.run(10)
    assert model.steps == 3 and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    model = _InterruptedAt(cfg, seed=1, at={2}, twice=True)
    with pytest.raises(KeyboardInterrupt):
        model.run(10)
    assert model.steps == 2 and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # a program with its own handler keeps it: the run does not record, the handler sees the signal
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        assert _InterruptedAt(cfg, seed=1, at={2}).run(4).steps == 4 and seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)
