"""Tests of the public run API: ``s3sim.simulate`` / ``RunResult`` tables and manifest, and ``s3sim.evaluate``."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from pandas.api.types import (
    is_bool_dtype,
    is_float_dtype,
    is_integer_dtype,
)
from pandas.testing import assert_frame_equal

import s3sim
from s3sim import ConfigError, RunResult
from s3sim.indicators.outcomes import OUTCOMES

# pytest-xdist (`make test`: --dist loadgroup) runs the whole module on one worker, so
# its shared run is made once
pytestmark = pytest.mark.xdist_group("api")

SMALL = ["model.n_agents=300", "model.burn_in=2", "model.horizon=8"]
SMALL_PARAMS = dict(n_agents=300, burn_in=2, horizon=8)
STEPS = 10
TABLES = ("timeseries", "panel", "firms", "innovations")
ADDITIVE = ("firms", "innovations", "revenue")


def is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype)


@pytest.fixture(scope="module")
def cfg():
    return s3sim.compose(SMALL + ["seed=3"])


@pytest.fixture(scope="module")
def result(cfg) -> RunResult:
    return s3sim.simulate(cfg)


@pytest.fixture(scope="module")
def outcomes0() -> dict[str, float]:
    return s3sim.evaluate(seed=0, **SMALL_PARAMS)


# ----------------------------------------------------------------------------------------------------------------
# simulate / RunResult tables
# ----------------------------------------------------------------------------------------------------------------
def test_simulate_returns_run_result(result):
    assert isinstance(result, RunResult)
    assert result.seed == 3
    for name in TABLES:
        df = getattr(result, name)
        assert isinstance(df, pd.DataFrame) and len(df) > 0, name
        assert isinstance(df.index, pd.RangeIndex), name
    assert "seed=3" in repr(result)


def test_timeseries_columns_and_dtypes(result):
    ts = result.timeseries
    assert list(ts.columns) == ["step", "region", "indicator", "value"]
    assert is_integer_dtype(ts["step"])
    assert is_categorical(ts["region"]) and is_categorical(ts["indicator"])
    assert ts["value"].dtype == np.float64
    assert not ts.duplicated(["step", "region", "indicator"]).any()


def test_timeseries_steps(result):
    steps = sorted(result.timeseries["step"].unique())
    assert steps == list(range(1, STEPS + 1))
    assert result.manifest["steps"] == STEPS


def test_timeseries_regions_and_all(result, cfg):
    ts = result.timeseries
    regions = set(ts["region"].astype(str).unique())
    assert "ALL" in regions
    assert len(regions - {"ALL"}) == 11  # the alpine world
    assert set(ts["region"].cat.categories) == regions
    # every indicator has a total at every step it is observed
    totals = ts[ts["region"] == "ALL"]
    assert set(totals["indicator"].astype(str)) == set(ts["indicator"].astype(str))
    for name in ADDITIVE:
        assert len(totals[totals["indicator"] == name]) == STEPS, name
    assert totals["value"].notna().all()


@pytest.mark.parametrize("indicator", ADDITIVE)
def test_regions_sum_to_all(result, indicator):
    ts = result.timeseries
    sel = ts[ts["indicator"] == indicator]
    total = sel[sel["region"] == "ALL"].set_index("step")["value"].sort_index()
    parts = sel[sel["region"] != "ALL"].groupby("step", observed=True)["value"].sum().sort_index()
    assert list(parts.index) == list(total.index)
    np.testing.assert_allclose(parts.to_numpy(), total.to_numpy(), rtol=1e-9, atol=1e-6)
    assert (total > 0).any() or indicator == "innovations"


def test_panel_columns_and_dtypes(result):
    p = result.panel
    assert list(p.columns) == ["step", "region", "domain", "firms", "innovations", "rca", "specialised",
                               "relatedness_density", "cluster_members", "cluster_innovations"]
    assert is_integer_dtype(p["step"])
    assert is_categorical(p["region"]) and is_categorical(p["domain"])
    assert is_integer_dtype(p["firms"]) and is_integer_dtype(p["innovations"])
    assert is_float_dtype(p["rca"]) and is_float_dtype(p["relatedness_density"])
    assert is_bool_dtype(p["specialised"])
    assert not p.duplicated(["step", "region", "domain"]).any()
    assert (p["firms"] >= 0).all() and (p["innovations"] >= 0).all()
    assert "ALL" not in set(p["region"].astype(str))


def test_panel_firms_match_timeseries(result):
    p = result.panel
    firms = result.indicator("firms")
    by_step = p.groupby("step", observed=True)["firms"].sum()
    assert len(by_step) > 0
    for step, n in by_step.items():
        assert n == firms.loc[step], step
    assert result.timeseries["step"].max() in by_step.index  # observed at the last step


def test_firms_columns_and_dtypes(result):
    f = result.firms
    documented = ["firm_id", "kind", "region", "domain", "size", "innovations", "cluster_member"]
    assert set(documented) <= set(f.columns)
    assert is_integer_dtype(f["firm_id"]) and f["firm_id"].is_unique
    assert is_categorical(f["kind"]) and is_categorical(f["region"]) and is_categorical(f["domain"])
    assert is_float_dtype(f["size"])
    assert is_integer_dtype(f["innovations"]) and (f["innovations"] >= 0).all()
    assert is_bool_dtype(f["cluster_member"])
    # one row per firm alive at the end
    assert len(f) == result.indicator("firms").iloc[-1]


def test_innovations_table(result):
    inn = result.innovations
    assert list(inn.columns) == ["step", "region", "domain", "kind", "value"]
    assert is_integer_dtype(inn["step"])
    assert is_categorical(inn["region"]) and is_categorical(inn["domain"]) and is_categorical(inn["kind"])
    assert is_float_dtype(inn["value"]) and (inn["value"] >= 0).all()
    assert set(inn["kind"].astype(str)) <= {"incremental", "radical"}
    per_step = inn.groupby("step", observed=True).size()
    innov = result.indicator("innovations")
    assert per_step.reindex(innov.index, fill_value=0).tolist() == innov.astype(int).tolist()


def test_regions_are_consistent_across_tables(result):
    regions = set(result.timeseries["region"].astype(str)) - {"ALL"}
    for name in ("panel", "firms", "innovations"):
        assert set(getattr(result, name)["region"].astype(str)) <= regions, name


def test_indicator_and_wide(result):
    s = result.indicator("firms")
    assert s.index.name == "step" and len(s) == STEPS
    r0 = str(result.panel["region"].iloc[0])
    assert len(result.indicator("firms", region=r0)) == STEPS
    w = result.wide()
    assert "firms" in w.columns and len(w) == STEPS
    assert (w["firms"].to_numpy() == s.to_numpy()).all()
    with pytest.raises(ConfigError) as info:
        result.indicator("no_such_indicator")
    assert "\n" not in str(info.value) and "firms" in str(info.value)


def test_manifest(result, cfg):
    m = result.manifest
    assert m["status"] == "completed"
    assert m["seed"] == 3
    assert m["config"] == OmegaConf.to_container(cfg, resolve=True)
    assert m["steps"] == STEPS and m["burn_in"] == 2
    assert m["policy"] is None
    t = m["timings"]
    for key in ("init_seconds", "run_seconds", "tables_seconds", "seconds_per_step"):
        assert isinstance(t[key], float) and t[key] >= 0, key
    v = m["versions"]
    assert v["s3sim"] == s3sim.__version__
    for pkg in ("python", "mesa", "numpy", "pandas", "pyarrow", "hydra-core"):
        assert isinstance(v[pkg], str) and v[pkg] and v[pkg] != "not installed", pkg
    assert v["numpy"] == np.__version__ and v["pandas"] == pd.__version__
    g = m["git"]
    assert isinstance(g["revision"], str) and g["revision"]
    assert isinstance(g["dirty"], bool)
    assert m["started"] <= m["finished"]
    json.dumps(m)  # plain JSON types only


def test_seed_argument_overrides_config_seed(cfg, result):
    other = s3sim.compose(SMALL + ["seed=0"])
    again = s3sim.simulate(other, seed=3)
    assert again.seed == 3
    for name in TABLES:
        assert_frame_equal(getattr(again, name), getattr(result, name))


def test_simulate_is_deterministic_and_seed_sensitive(cfg, result):
    again = s3sim.simulate(cfg)
    for name in TABLES:
        assert_frame_equal(getattr(again, name), getattr(result, name), check_exact=True)
    other = s3sim.simulate(cfg, seed=4)
    assert other.seed == 4
    assert not other.timeseries.equals(result.timeseries)


def test_simulate_accepts_dataclass_config(result):
    from s3sim.runner import config_from_params

    obj = config_from_params(**SMALL_PARAMS)
    again = s3sim.simulate(obj, seed=3)
    for name in TABLES:
        assert_frame_equal(getattr(again, name), getattr(result, name))


def test_simulate_synthetic_world():
    cfg = s3sim.compose(SMALL + ["world=synthetic", "world.n_regions=5", "world.n_domains=6"])
    res = s3sim.simulate(cfg, seed=1)
    regions = set(res.timeseries["region"].astype(str)) - {"ALL"}
    assert len(regions) == 5
    assert res.panel["domain"].nunique() <= 6
    assert res.manifest["config"]["world"]["kind"] == "synthetic"


def test_simulate_rejects_bad_seed(cfg):
    with pytest.raises(ConfigError) as info:
        s3sim.simulate(cfg, seed=-1)
    assert info.value.field == "seed"


def test_outcomes_of_result(result):
    o = result.outcomes()
    assert set(o) == set(OUTCOMES)
    assert o["firms"] == result.indicator("firms").iloc[-1]


# ----------------------------------------------------------------------------------------------------------------
# evaluate
# ----------------------------------------------------------------------------------------------------------------
def test_evaluate_returns_all_outcomes(outcomes0):
    assert isinstance(outcomes0, dict)
    assert list(outcomes0) == list(OUTCOMES) or set(outcomes0) == set(OUTCOMES)
    for name, v in outcomes0.items():
        assert isinstance(name, str)
        assert type(v) is float, (name, type(v))
        assert math.isfinite(v), name
    assert outcomes0["firms"] > 0


def test_evaluate_is_deterministic(outcomes0):
    assert s3sim.evaluate(seed=0, **SMALL_PARAMS) == outcomes0


def test_evaluate_depends_on_seed(outcomes0):
    assert s3sim.evaluate(seed=1, **SMALL_PARAMS) != outcomes0


def test_evaluate_depends_on_parameters(outcomes0):
    assert s3sim.evaluate(seed=0, **SMALL_PARAMS, partnering=False) != outcomes0


def test_evaluate_matches_simulate(outcomes0):
    # evaluate runs headless; simulate with the composed config (Mesa agents materialised) gives the same outcomes
    res = s3sim.simulate(s3sim.compose(SMALL), seed=0)
    assert res.outcomes() == outcomes0


def test_evaluate_accepts_numpy_parameters(outcomes0):
    got = s3sim.evaluate(seed=0, n_agents=np.int64(300), burn_in=np.float64(2.0), horizon=np.int32(8))
    assert got == outcomes0


def test_evaluate_world_parameters():
    out = s3sim.evaluate(seed=0, **SMALL_PARAMS, world_kind="synthetic", world_n_regions=4)
    assert set(out) == set(OUTCOMES)
    assert all(math.isfinite(v) for v in out.values())


@pytest.mark.parametrize("params,field", [
    ({"foo": 1}, "foo"),
    ({"n_agent": 300}, "n_agent"),
    ({"model.n_agents": 300}, "model.n_agents"),
])
def test_evaluate_unknown_parameter(params, field):
    with pytest.raises(ConfigError) as info:
        s3sim.evaluate(seed=0, **SMALL_PARAMS, **params)
    assert info.value.field == field
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("params,key", [
    ({"n_agents": -5}, "model.n_agents"),
    ({"n_agents": 10}, "model.n_agents"),
    ({"a0": 2.0}, "model.a0"),
    ({"sigma_v": -1.0}, "model.sigma_v"),
    ({"world_n_regions": 1}, "world.n_regions"),
    ({"horizon": 0, "burn_in": 0}, "model.horizon"),
    ({"a0": "high"}, "model.a0"),
    ({"partnering": "maybe"}, "model.partnering"),
])
def test_evaluate_bad_value(params, key):
    kwargs = {**SMALL_PARAMS, **params}
    with pytest.raises(ConfigError) as info:
        s3sim.evaluate(seed=0, **kwargs)
    assert info.value.field == key
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{key}=")


def test_evaluate_bad_seed():
    with pytest.raises(ConfigError) as info:
        s3sim.evaluate(seed=-1, **SMALL_PARAMS)
    assert info.value.field == "seed"


class TestReplicates:
    """Replicates of a sweep are streams spawned from the sweep seed, not seed + i."""

    def test_replicate_is_spawned_child_of_seed(self):
        from s3sim import S3Model
        from s3sim.runner import config_from_params

        cfg = config_from_params(n_agents=150, horizon=4, burn_in=2, materialize_agents=False)
        m = S3Model(cfg, seed=5, replicate=3)
        child = np.random.SeedSequence(5).spawn(4)[3]
        assert (m.seed_sequence.generate_state(4) == child.generate_state(4)).all()
        plain = S3Model(cfg, seed=5)
        assert not (plain.seed_sequence.generate_state(4) == child.generate_state(4)).all()

    def test_replicates_differ_and_repeat(self):
        from s3sim.runner import config_from_params, simulate

        cfg = config_from_params(n_agents=200, horizon=6, burn_in=2)
        a = simulate(cfg, seed=0, replicate=1)
        b = simulate(cfg, seed=0, replicate=1)
        c = simulate(cfg, seed=0, replicate=2)
        pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
        assert not a.timeseries["value"].equals(c.timeseries["value"])
        assert a.manifest["replicate"] == 1 and a.manifest["seed"] == 0

    def test_bad_replicate_is_a_config_error(self):
        from s3sim import compose
        from s3sim.errors import ConfigError

        with pytest.raises(ConfigError, match="replicate"):
            compose(["replicate=-1"])


def test_outcomes_of_one_region(result):
    """Outcomes for one region: firms add up to the total; a bad region name is a one-line error."""
    from s3sim.indicators.outcomes import outcomes

    total = outcomes(result.timeseries, result.innovations, result.firms)
    regions = [r for r in result.timeseries["region"].astype(str).unique() if r != "ALL"]
    per = {r: outcomes(result.timeseries, result.innovations, result.firms, region=r) for r in regions}
    assert sum(o["firms"] for o in per.values()) == total["firms"]
    assert all(math.isnan(o["gini_innovation_per_capita"]) for o in per.values())
    assert all(0 <= o["radical_share"] <= 1 for o in per.values())
    with pytest.raises(ConfigError, match="region"):
        outcomes(result.timeseries, result.innovations, result.firms, region="XX")
