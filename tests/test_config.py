"""Tests of the configuration layer: ``s3sim.compose``, validation, ``s3sim.PARAMETERS`` and ``config_from_params``."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from omegaconf import DictConfig, OmegaConf

import s3sim
from s3sim import PARAMETERS, ConfigError, S3SimError, compose
from s3sim.config import ModelConfig, S3SimConfig, WorldConfig, group_options, validate
from s3sim.config.compose import SYNTHETIC_ONLY
from s3sim.config.schema import PolicyConfig
from s3sim.runner import config_from_params

SMALL = ["model.n_agents=300", "model.burn_in=2", "model.horizon=8"]
KNOWN_GROUPS = {"world", "scale", "knowledge", "core", "market", "flows", "critical_mass", "demography", "observation", "policy"}


@pytest.fixture(scope="module")
def default_cfg() -> DictConfig:
    return compose([])


def _as_tree(cfg) -> dict:
    """Plain nested dict of a DictConfig or an S3SimConfig dataclass."""
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.structured(cfg)
    return OmegaConf.to_container(cfg, resolve=True)


def _raises_config_error(overrides: list[str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        compose(overrides)
    return info.value


def _assert_one_line(err: Exception) -> str:
    msg = str(err)
    assert msg, "empty error message"
    assert "\n" not in msg and "\r" not in msg, f"message is not a single line: {msg!r}"
    assert "Traceback" not in msg
    return msg


# ----------------------------------------------------------------------------------------------------------------
# compose
# ----------------------------------------------------------------------------------------------------------------
class TestCompose:
    def test_default_tree(self, default_cfg):
        assert isinstance(default_cfg, DictConfig)
        assert set(default_cfg.keys()) == {"seed", "replicate", "world", "model", "policy", "output"}
        assert default_cfg.policy.regime == "none"
        assert "hydra" not in default_cfg
        assert default_cfg.seed == 0
        assert default_cfg.world.kind == "alpine"
        # the structured schema supplies every default
        assert _as_tree(default_cfg) == _as_tree(S3SimConfig())

    def test_returns_validated_config(self, default_cfg):
        assert validate(default_cfg) is default_cfg

    def test_overrides_apply_with_declared_types(self):
        cfg = compose(["seed=3", "model.n_agents=500", "model.a0=0.3", "model.partnering=false", "world=synthetic",
                       "world.k_rel=3"])
        assert cfg.seed == 3
        assert cfg.model.n_agents == 500 and type(cfg.model.n_agents) is int
        assert cfg.model.a0 == 0.3 and type(cfg.model.a0) is float
        assert cfg.model.partnering is False
        assert cfg.world.k_rel == 3

    def test_int_literal_for_float_field_becomes_float(self):
        cfg = compose(["model.a0=1"])
        assert cfg.model.a0 == 1.0 and type(cfg.model.a0) is float

    def test_group_option_synthetic_world(self):
        cfg = compose(["world=synthetic", "world.n_regions=20"])
        assert cfg.world.kind == "synthetic"
        assert cfg.world.n_regions == 20
        # the other world defaults are untouched
        assert cfg.world.n_domains == WorldConfig().n_domains

    @pytest.mark.parametrize("override", ["world.n_regions=20", "world.k_rel=3", "world.extent_km=100"])
    def test_synthetic_world_parameters_are_refused_under_the_alpine_world(self, override):
        # the shipped world ignores them: accepted, they were recorded in the manifest as if they applied
        key, value = override.split("=")
        with pytest.raises(ConfigError, match=f"{key}={value}.*under world=alpine.*world=synthetic"):
            compose([override])
        assert compose([override, "world=synthetic"]).world[key.split(".")[1]] == type(
            getattr(WorldConfig(), key.split(".")[1]))(value)
        compose([f"{key}={getattr(WorldConfig(), key.split('.')[1])}"])  # the default itself is fine

    def test_group_option_order_does_not_matter(self):
        # Hydra applies group selections before value overrides, whatever their order on the command line
        a = compose(["world.n_regions=20", "world=synthetic"])
        b = compose(["world=synthetic", "world.n_regions=20"])
        assert _as_tree(a) == _as_tree(b)

    def test_later_override_wins(self):
        assert compose(["model.n_agents=300", "model.n_agents=400"]).model.n_agents == 400

    def test_group_options(self):
        assert group_options("world") == ["alpine", "synthetic"]

    def test_accepts_any_sequence(self):
        assert compose(("seed=2",)).seed == 2
        assert compose().seed == 0

    def test_composed_config_is_struct(self, default_cfg):
        with pytest.raises(Exception):
            default_cfg.model.not_a_field = 1

    def test_independent_results(self):
        a = compose(["seed=1"])
        b = compose(["seed=2"])
        assert (a.seed, b.seed) == (1, 2)

    def test_compose_twice_same(self):
        assert _as_tree(compose(SMALL)) == _as_tree(compose(SMALL))

    def test_ih_longer_than_a_small_kene_is_allowed(self):
        # the IH is capped at the kene length when drawn, so independent draws from both plausible ranges
        # (as a stress test makes them) are always valid
        cfg = compose(["model.ih_len_max=12", "model.kene_sme=5"])
        assert (cfg.model.ih_len_max, cfg.model.kene_sme) == (12, 5)


# ----------------------------------------------------------------------------------------------------------------
# bad overrides
# ----------------------------------------------------------------------------------------------------------------
# (override, field named in the message, value named in the message, phrase saying what is allowed)
BAD_OVERRIDES = [
    # unknown keys
    ("model.foo=1", "model.foo", "1", "n_agents"),
    ("world.bar=1", "world.bar", "1", "n_regions"),
    ("foo=1", "foo", "1", "model"),
    ("output.foo=1", "output.foo", "1", "dir"),
    ("+model.foo=1", "model.foo", "1", "n_agents"),
    # wrong types
    ("model.n_agents=abc", "model.n_agents", "abc", "integer"),
    ("model.n_agents=1.5", "model.n_agents", "1.5", "integer"),
    ("model.a0=high", "model.a0", "high", "number"),
    ("model.partnering=maybe", "model.partnering", "maybe", "true or false"),
    ("model.partnering=2", "model.partnering", "2", "true or false"),  # OmegaConf alone takes it as true
    ("model.partnering=0.0", "model.partnering", "0.0", "true or false"),
    ("world.n_regions=abc", "world.n_regions", "abc", "integer"),
    ("seed=abc", "seed", "abc", "integer"),
    # out of bounds
    ("model.n_agents=-5", "model.n_agents", "-5", "[50, 10000000]"),
    ("model.a0=2", "model.a0", "2", "[0.0, 1.0]"),
    ("model.a0=-0.1", "model.a0", "-0.1", "[0.0, 1.0]"),
    ("seed=-1", "seed", "-1", "non-negative integer"),
    ("world.n_regions=1", "world.n_regions", "1", "[2, 500]"),
    # unknown group option / choice
    ("world=mars", "world", "mars", "alpine, synthetic"),
    ("world.kind=mars", "world.kind", "mars", "alpine, synthetic"),
    ("model.ih_len_max=1", "model.ih_len_max", "1", "[2, 50]"),
    # not an override at all
    ("model.n_agents", "model.n_agents", "model.n_agents", "key=value"),
]


@pytest.mark.parametrize("override,field,value,allowed", BAD_OVERRIDES, ids=[b[0] for b in BAD_OVERRIDES])
def test_bad_override_raises_one_line_config_error(override, field, value, allowed):
    err = _raises_config_error([override])
    msg = _assert_one_line(err)
    assert isinstance(err, S3SimError) and isinstance(err, ValueError)
    assert err.field == field, msg
    assert msg.startswith(f"{field}="), msg
    assert value in msg, msg
    assert allowed in msg, msg
    assert err.allowed and err.allowed in msg


def test_bad_override_among_good_ones_is_named():
    err = _raises_config_error(SMALL + ["world=synthetic", "model.a0=high", "seed=2"])
    assert err.field == "model.a0"


@pytest.mark.parametrize("overrides,value", [
    (["model.n_agents=300", "model.n_agents=abc"], "abc"),
    (["model.a0=0.3", "model.a0=high"], "high"),
    (["seed=1", "seed=abc"], "abc"),
])
def test_repeated_key_names_the_failing_value(overrides, value):
    err = _raises_config_error(overrides)
    assert err.value == value, str(err)
    assert f"={value!r}" in _assert_one_line(err)


def test_zero_length_run_is_rejected():
    err = _raises_config_error(["model.burn_in=0", "model.horizon=0"])
    _assert_one_line(err)
    assert err.field == "model.horizon"


def test_unknown_key_message_lists_allowed_keys():
    msg = str(_raises_config_error(["model.n_agent=300"]))
    assert "model.n_agent=" in msg
    for name in ("n_agents", "horizon", "a0"):
        assert name in msg


def _out_of_bounds(p) -> object:
    lo, hi = p.bounds
    if lo is not None:
        return lo - 1 if p.kind is int else lo - 0.5
    return hi + 1 if p.kind is int else hi + 0.5


BOUNDED = [p for p in PARAMETERS.values() if p.kind in (int, float) and p.bounds != (None, None)]


# Composing is slow (Hydra); through compose one int and one float parameter per group, every parameter and both
# bounds through config_from_params (the same validate()).
COMPOSE_SAMPLE = list({(p.group, p.kind): p for p in reversed(BOUNDED)}.values())


@pytest.mark.parametrize("p", COMPOSE_SAMPLE, ids=[p.name for p in COMPOSE_SAMPLE])
def test_bounded_parameters_are_checked_by_compose(p):
    bad = _out_of_bounds(p)
    err = _raises_config_error([f"{p.key}={bad}"])
    msg = _assert_one_line(err)
    assert err.field == p.key
    assert msg.startswith(f"{p.key}=")
    assert "[" in msg and "]" in msg  # the allowed interval


@pytest.mark.parametrize("p", BOUNDED, ids=[p.name for p in BOUNDED])
def test_both_bounds_are_checked(p):
    lo, hi = p.bounds
    for bad in ([lo - (1 if p.kind is int else 0.5)] if lo is not None else []) + \
               ([hi + (1 if p.kind is int else 0.5)] if hi is not None else []):
        with pytest.raises(ConfigError) as info:
            config_from_params(**{p.name: bad})
        assert info.value.field == p.key
        _assert_one_line(info.value)


@pytest.mark.parametrize("p", BOUNDED, ids=[p.name for p in BOUNDED])
def test_bounds_are_inclusive(p):
    lo, hi = p.bounds
    for ok in (v for v in (lo, hi) if v is not None):
        params = {p.name: ok}
        if p.key.split(".")[1] in SYNTHETIC_ONLY and p.key.startswith("world."):
            params["world_kind"] = "synthetic"  # read by generated worlds only (refused under the alpine world)
        cfg = config_from_params(**params)
        section, _, field = p.key.partition(".")
        assert getattr(getattr(cfg, section), field) == ok


# ----------------------------------------------------------------------------------------------------------------
# validate
# ----------------------------------------------------------------------------------------------------------------
def test_validate_accepts_a_dataclass():
    cfg = validate(S3SimConfig())
    assert isinstance(cfg, DictConfig)


@pytest.mark.parametrize("section,field,value,allowed", [
    ("model", "a0", "x", "a number"),
    ("model", "partnering", "maybe", "true or false"),
    ("model", "n_agents", 1.5, "an integer"),
    ("world", "n_regions", "x", "an integer"),
])
def test_validate_dataclass_with_wrong_type(section, field, value, allowed):
    base = S3SimConfig()
    sub = dataclasses.replace(getattr(base, section), **{field: value})
    bad = dataclasses.replace(base, **{section: sub})
    with pytest.raises(ConfigError) as info:
        validate(bad)
    msg = _assert_one_line(info.value)
    assert info.value.field == f"{section}.{field}"
    assert allowed in msg


def test_validate_rejects_negative_seed():
    with pytest.raises(ConfigError) as info:
        validate(dataclasses.replace(S3SimConfig(), seed=-3))
    assert info.value.field == "seed"


# ----------------------------------------------------------------------------------------------------------------
# PARAMETERS
# ----------------------------------------------------------------------------------------------------------------
def _metadata_fields() -> dict[str, dataclasses.Field]:
    out = {}
    for prefix, cls in (("world", WorldConfig), ("model", ModelConfig), ("policy", PolicyConfig)):
        for f in dataclasses.fields(cls):
            if "s3sim" in f.metadata:
                out[f"{prefix}.{f.name}"] = f
    return out


def test_parameters_cover_every_model_and_world_field():
    fields = _metadata_fields()
    assert {p.key for p in PARAMETERS.values()} == set(fields)
    # every model and world field carries metadata; every scalar policy field too (regions and pilots are
    # mappings and lists, not parameters)
    assert len(fields) == (len(dataclasses.fields(WorldConfig)) + len(dataclasses.fields(ModelConfig))
                           + len(dataclasses.fields(PolicyConfig)) - 2)
    assert len(PARAMETERS) == len(fields)


def test_parameter_names():
    for name, p in PARAMETERS.items():
        assert name == p.name
        section, _, field = p.key.partition(".")
        assert section in ("model", "world", "policy")
        assert p.name == (field if section == "model" else f"{section}_{field}")
    assert PARAMETERS.by_key("model.n_agents") is PARAMETERS["n_agents"]
    with pytest.raises(KeyError):
        PARAMETERS.by_key("model.nope")


def test_parameters_is_read_only_mapping():
    assert "n_agents" in PARAMETERS and "nope" not in PARAMETERS
    with pytest.raises(TypeError):
        PARAMETERS["n_agents"] = None  # type: ignore[index]


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_parameter_metadata(name, default_cfg):
    p = PARAMETERS[name]
    # default equals the composed config's value at the key (the structured config is the only source)
    composed = OmegaConf.select(default_cfg, p.key)
    assert composed == p.default
    assert type(composed) is type(p.default) is p.kind
    # text fields
    for text in (p.unit, p.meaning, p.source):
        assert isinstance(text, str) and text.strip() and "\n" not in text
    assert p.group in KNOWN_GROUPS
    # hard bounds
    lo, hi = p.bounds
    if p.kind in (int, float):
        assert lo is None or p.default >= lo, (p.default, p.bounds)
        assert hi is None or p.default <= hi, (p.default, p.bounds)
        assert lo is None or hi is None or lo < hi
    else:
        assert p.bounds == (None, None)
    # plausible range
    if p.range is not None:
        low, high = p.range
        assert p.kind in (int, float)
        assert low < high
        assert low <= p.default <= high, (p.default, p.range)
        assert lo is None or low >= lo
        assert hi is None or high <= hi
        assert p.varies
    else:
        assert not p.varies
    if p.choices is not None:
        assert p.default in p.choices
        assert p.kind is str


def test_world_kind_choices_match_group_options():
    assert set(PARAMETERS["world_kind"].choices) == set(group_options("world"))


def test_some_parameters_vary():
    varied = PARAMETERS.varied()
    assert varied and all(p.range is not None for p in varied)
    assert {p.name for p in varied} >= {"sigma_v", "a0", "d_star"}
    assert set(PARAMETERS.groups) <= KNOWN_GROUPS
    assert sum(len(PARAMETERS.in_group(g)) for g in PARAMETERS.groups) == len(PARAMETERS)


def test_to_frame():
    df = PARAMETERS.to_frame()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["name", "key", "default", "low", "high", "unit", "group", "meaning", "source"]
    assert len(df) == len(PARAMETERS)
    assert df["name"].is_unique and df["key"].is_unique
    for row in df.itertuples(index=False):
        p = PARAMETERS[row.name]
        assert row.key == p.key
        assert row.default == p.default
        assert row.unit == p.unit and row.group == p.group and row.meaning == p.meaning and row.source == p.source
        if p.range is None:
            assert pd.isna(row.low) and pd.isna(row.high)
        else:
            assert (row.low, row.high) == p.range
            assert row.low < row.high


def test_markdown_table_lists_every_parameter():
    table = PARAMETERS.markdown_table()
    for p in PARAMETERS.values():
        assert f"`{p.key}`" in table


# ----------------------------------------------------------------------------------------------------------------
# config_from_params
# ----------------------------------------------------------------------------------------------------------------
def _override(p, value) -> str:
    if isinstance(value, bool):
        value = str(value).lower()
    elif p.kind in (int, float):
        value = p.kind(value)
    return f"{p.key}={value}"


PARAM_SETS = [
    {},
    {"n_agents": 300, "burn_in": 2, "horizon": 8},
    {"a0": 0.3, "sigma_v": 2.5, "partnering": False, "materialize_agents": False},
    {"world_kind": "synthetic", "world_n_regions": 20, "world_p_rewire": 0.25, "kene_sme": 12, "ih_len_max": 12},
    {"n_agents": 300.0, "a0": 1},  # int-valued float for an int field, int for a float field
]


@pytest.mark.parametrize("params", PARAM_SETS)
def test_config_from_params_equals_compose(params):
    got = config_from_params(**params)
    assert isinstance(got, S3SimConfig)
    overrides = []
    for name, value in params.items():
        p = PARAMETERS[name]
        if name == "world_kind":
            overrides.insert(0, f"world={value}")
        else:
            overrides.append(_override(p, value))
    want = compose(overrides)
    assert _as_tree(got)["model"] == _as_tree(want)["model"]
    assert _as_tree(got)["world"] == _as_tree(want)["world"]
    for name, value in params.items():
        p = PARAMETERS[name]
        v = getattr(getattr(got, p.key.split(".")[0]), p.key.split(".")[1])
        assert v == value and type(v) is p.kind


def test_config_from_params_with_base():
    base = compose(SMALL + ["seed=4"])
    got = config_from_params(base, a0=0.25)
    assert got.seed == 4 and got.model.n_agents == 300 and got.model.a0 == 0.25


def test_config_from_params_accepts_numpy_scalars():
    # samplers (SALib, EMA Workbench) hand out numpy scalars
    got = config_from_params(n_agents=np.int64(300), a0=np.float64(0.3), sigma_v=np.float32(2.0),
                             partnering=np.bool_(False), horizon=np.float64(8.0))
    assert got.model.n_agents == 300 and type(got.model.n_agents) is int
    assert type(got.model.a0) is float and math.isclose(got.model.a0, 0.3)
    assert type(got.model.sigma_v) is float
    assert got.model.partnering is False
    assert got.model.horizon == 8 and type(got.model.horizon) is int


@pytest.mark.parametrize("params,field", [
    ({"foo": 1}, "foo"),
    ({"model.n_agents": 300}, "model.n_agents"),
    ({"world.n_regions": 20}, "world.n_regions"),
    ({"n_regions": 20}, "n_regions"),  # world parameters carry the world_ prefix
    ({"seed": 3}, "seed"),
])
def test_config_from_params_rejects_unknown_names(params, field):
    with pytest.raises(ConfigError) as info:
        config_from_params(**params)
    _assert_one_line(info.value)
    assert info.value.field == field


@pytest.mark.parametrize("params,key,allowed", [
    ({"n_agents": "abc"}, "model.n_agents", "integer"),
    ({"n_agents": 300.5}, "model.n_agents", "integer"),
    ({"n_agents": True}, "model.n_agents", "integer"),
    ({"a0": "high"}, "model.a0", "number"),
    ({"partnering": "maybe"}, "model.partnering", "true or false"),
    ({"materialize_agents": 1}, "model.materialize_agents", "true or false"),
    ({"world_kind": 3}, "world.kind", "string"),
    ({"world_kind": "mars"}, "world.kind", "alpine, synthetic"),
    ({"a0": 2.0}, "model.a0", "[0.0, 1.0]"),
    ({"n_agents": -5}, "model.n_agents", "[50, 10000000]"),
    ({"ih_len_max": 1}, "model.ih_len_max", "[2, 50]"),
])
def test_config_from_params_rejects_bad_values(params, key, allowed):
    with pytest.raises(ConfigError) as info:
        config_from_params(**params)
    msg = _assert_one_line(info.value)
    assert info.value.field == key
    assert allowed in msg


def test_public_names():
    for name in ("compose", "PARAMETERS", "simulate", "evaluate", "load_result", "RunResult", "ConfigError",
                 "S3SimError", "S3Model"):
        assert name in s3sim.__all__ and hasattr(s3sim, name)
    assert issubclass(ConfigError, S3SimError) and issubclass(ConfigError, ValueError)
    err = ConfigError("model.a0", 2.0, "a value in [0, 1]")
    assert (err.field, err.value, err.allowed) == ("model.a0", 2.0, "a value in [0, 1]")
    assert str(err) == "model.a0=2.0 is not allowed: a value in [0, 1]"


def test_a_section_given_no_mapping_says_a_mapping_is_wanted_and_a_bad_entry_says_why():
    # a section (or free-form mapping) given a list or a word: what is wanted; a mapping with a bad entry: that entry
    err = _raises_config_error(["model=[1,2]"])
    assert err.field == "model" and err.allowed == "a mapping {name: value, ...}"
    err = _raises_config_error(["model={n_agents: abc}"])
    assert "could not be converted to Integer" in str(err) and "a mapping" not in str(err)
    err = _raises_config_error(["++model.n_agents=abc"])  # the key as the field, without Hydra's ++
    assert err.field == "model.n_agents" and err.allowed == "an integer"
