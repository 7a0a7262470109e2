"""Tests of the world layer: alpine data, relatedness and complexity, synthetic generators, proximity."""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from s3sim.config.schema import WorldConfig
from s3sim.errors import ConfigError
from s3sim.world import (
    Domains,
    World,
    alpine_domains,
    build_world,
    haversine_km,
    load_alpine_regions,
    read_regions_csv,
    synthetic_domains,
    synthetic_regions,
)

ALPINE_IDS = ("CH_FR", "AT_UA", "AT_SB", "DE_BW", "DE_BY", "FR_FC", "IT_LO", "IT_PI", "IT_TN", "IT_VE", "SI")
SHARED_CSV = Path("/work/shared/data/alpine_partner_regions.csv")


@pytest.fixture(scope="module")
def alpine() -> World:
    return build_world(WorldConfig(kind="alpine"), np.random.default_rng(0))


def synthetic(seed: int, **kw) -> World:
    cfg = WorldConfig(kind="synthetic", n_regions=20, n_domains=30)
    return build_world(replace(cfg, **kw), np.random.default_rng(seed))


def check_relatedness(dom: Domains) -> None:
    r = dom.relatedness
    assert r.shape == (len(dom), len(dom)) and r.dtype == np.float64
    assert np.array_equal(r, r.T)
    assert np.all(np.diag(r) == 1.0)
    assert r.min() >= 0.0 and r.max() <= 1.0
    assert dom.complexity.shape == (len(dom),)
    assert dom.complexity.min() >= 0.0 and dom.complexity.max() <= 1.0


# ---------------------------------------------------------------------------------------------------------------
# Alpine world
# ---------------------------------------------------------------------------------------------------------------
def test_alpine_regions_ids_and_countries(alpine):
    reg = alpine.regions
    assert reg.ids == ALPINE_IDS and len(reg) == 11 and alpine.n_regions == 11
    assert reg.countries[reg.index("CH_FR")] == "CH" and reg.countries[reg.index("SI")] == "SI"
    assert sorted(set(reg.countries)) == ["AT", "CH", "DE", "FR", "IT", "SI"]
    # country_index points into the sorted unique countries
    uniq = sorted(set(reg.countries))
    assert [uniq[i] for i in reg.country_index] == list(reg.countries)
    assert reg.country_index.dtype == np.int16


def test_alpine_figures_and_fallbacks(alpine):
    reg = alpine.regions
    i = reg.index
    assert reg.population_m[i("DE_BY")] == pytest.approx(13.0)
    assert reg.gdp_pps[i("AT_UA")] == pytest.approx(130.0)
    assert reg.berd_share[i("AT_UA")] == pytest.approx(0.91)
    assert reg.cluster_count.dtype == np.int64
    assert reg.cluster_count[i("DE_BW")] == 100
    for rid in ("CH_FR", "AT_SB", "IT_TN"):  # empty cells in the file
        assert reg.cluster_count[i(rid)] == -1
    assert np.allclose(reg.economic_mass, reg.population_m * reg.gdp_pps / 100)
    assert np.all((reg.berd_share >= 0) & (reg.berd_share <= 1))
    frame = reg.to_frame()
    assert list(frame.index) == list(ALPINE_IDS) and "cluster_count_conf" in frame


def test_alpine_confidence_flags_preserved(alpine):
    conf = alpine.regions.confidence
    i = alpine.regions.index
    assert set(conf) == {"population_m", "gdp_pps", "gerd_pct", "berd_share", "cluster_count", "priorities"}
    assert all(len(v) == 11 for v in conf.values())
    assert conf["cluster_count"][i("AT_UA")] == "verified (2,200 partner firms)"  # unquoted comma in the file
    assert conf["cluster_count"][i("CH_FR")] == "unknown"
    assert conf["population_m"][i("IT_VE")] == "verified"
    assert conf["gdp_pps"][i("CH_FR")] == "approx (national level)"
    assert conf["priorities"][i("IT_VE")] == "verified (RIS3 2014-20)"


@pytest.mark.skipif(not SHARED_CSV.exists(), reason="shared calibration file not present")
def test_packaged_csv_is_unchanged_copy():
    packaged = resources.files("s3sim.world").joinpath("data", "alpine_partner_regions.csv").read_bytes()
    assert packaged == SHARED_CSV.read_bytes()


def test_alpine_distances(alpine):
    reg = alpine.regions
    d = reg.distance_km
    assert d.shape == (11, 11)
    assert np.array_equal(d, d.T) and np.all(np.diag(d) == 0.0)
    off = d[~np.eye(11, dtype=bool)]
    assert off.min() > 30 and off.max() < 1000
    assert d[reg.index("DE_BY"), reg.index("DE_BW")] == pytest.approx(190, abs=10)   # Munich-Stuttgart
    assert d[reg.index("IT_LO"), reg.index("IT_PI")] == pytest.approx(125, abs=10)   # Milan-Turin


def test_haversine_quarter_meridian():
    d = haversine_km(np.array([0.0, 90.0]), np.array([0.0, 0.0]))
    assert d[0, 1] == pytest.approx(6371.0088 * np.pi / 2)


def test_alpine_vocabulary_and_priorities(alpine):
    dom = alpine.domains
    assert len(dom) == 18 and alpine.n_domains == 18
    stated = {p for prios in alpine.regions.priorities for p in prios}
    assert stated == set(dom.names)  # vocabulary is exactly the union of stated priorities
    assert alpine.priority_mask.dtype == bool and alpine.priority_mask.shape == (11, 18)
    for r, prios in enumerate(alpine.regions.priorities):
        assert {dom.names[j] for j in np.flatnonzero(alpine.priority_mask[r])} == set(prios)
    assert alpine.priority_mask[alpine.regions.index("SI"), dom.index("tourism")]


def test_alpine_relatedness_and_complexity(alpine):
    dom = alpine.domains
    check_relatedness(dom)
    rel, kappa, ix = dom.relatedness, dom.complexity, dom.index
    # engineering domains are closer to each other than to tourism
    assert rel[ix("automotive_mobility"), ix("aerospace")] > rel[ix("automotive_mobility"), ix("tourism")]
    assert kappa[ix("electronics")] > kappa[ix("agrifood")]
    assert kappa.min() == 0.0 and kappa.max() == 1.0


def test_alpine_is_deterministic_and_ignores_rng():
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    a = build_world(WorldConfig(kind="alpine"), rng)
    assert rng.bit_generator.state == state
    b = build_world(WorldConfig(kind="alpine"), np.random.default_rng(99))
    assert np.array_equal(a.domains.relatedness, b.domains.relatedness)
    assert np.array_equal(a.regions.distance_km, b.regions.distance_km)
    assert alpine_domains() is alpine_domains() and load_alpine_regions() is load_alpine_regions()


def test_world_arrays_are_read_only(alpine):
    with pytest.raises(ValueError):
        alpine.regions.population_m[0] = 0.0
    with pytest.raises(ValueError):
        alpine.domains.relatedness[0, 1] = 0.0


def test_capabilities(alpine):
    cfg = WorldConfig(kind="alpine", caps_per_domain=5)
    w = build_world(cfg, np.random.default_rng(0))
    assert w.n_capabilities == 90
    cd = w.capability_domain()
    assert cd.dtype == np.int16 and cd.shape == (90,)
    assert cd[0] == 0 and cd[4] == 0 and cd[5] == 1 and cd[-1] == 17
    assert np.array_equal(np.bincount(cd), np.full(18, 5))


# ---------------------------------------------------------------------------------------------------------------
# Data-file robustness
# ---------------------------------------------------------------------------------------------------------------
def test_missing_numeric_cells_fall_back(tmp_path):
    header = ("region_id,name,country,lat,lon,population_m,population_conf,gdp_per_capita_pps_eu100,gdp_conf,"
              "gerd_pct_gdp,gerd_conf,berd_share,berd_conf,cluster_count,cluster_conf,s3_priorities,priorities_conf")
    rows = ["XA_1,One,XA,46.0,10.0,2.0,approx,120,approx,2.5,approx,0.6,approx,4,verified (1,000 firms),a;b,approx",
            "XB_2,,,47.0,11.0,,,n/a,,,,,,,,,"]
    path = tmp_path / "regions.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    reg = read_regions_csv(path)
    assert reg.ids == ("XA_1", "XB_2") and reg.countries == ("XA", "XB")
    assert reg.population_m[1] == 2.0 and reg.gdp_pps[1] == 100.0
    assert reg.gerd_pct[1] == 2.5 and reg.berd_share[1] == 0.6
    assert reg.cluster_count.tolist() == [4, -1]
    assert reg.priorities == (("a", "b"), ())
    assert reg.confidence["cluster_count"] == ("verified (1,000 firms)", "unknown")
    assert reg.confidence["gdp_pps"][1] == "unknown"


def test_missing_coordinates_raise(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("region_id,lat,lon\nXA_1,46.0,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="lat and lon"):
        read_regions_csv(path)


# ---------------------------------------------------------------------------------------------------------------
# Synthetic world
# ---------------------------------------------------------------------------------------------------------------
def test_synthetic_shapes():
    w = synthetic(1)
    reg, dom = w.regions, w.domains
    assert w.kind == "synthetic" and w.n_regions == 20 and w.n_domains == 30
    assert reg.ids[0] == "R00" and reg.ids[-1] == "R19" and dom.names[0] == "d00" and dom.names[-1] == "d29"
    for name in ("lat", "lon", "population_m", "gdp_pps", "gerd_pct", "berd_share"):
        arr = getattr(reg, name)
        assert arr.shape == (20,) and arr.dtype == np.float64
    assert reg.distance_km.shape == (20, 20) and np.all(np.diag(reg.distance_km) == 0)
    assert reg.population_m.sum() == pytest.approx(50.0)
    assert np.all((reg.gdp_pps >= 50) & (reg.gdp_pps <= 200))
    assert np.all((reg.berd_share >= 0.5) & (reg.berd_share <= 0.9)) and np.all(reg.gerd_pct > 0)
    assert np.all((reg.cluster_count >= 2) & (reg.cluster_count <= 10))
    assert all(3 <= len(p) <= 6 for p in reg.priorities)
    assert np.array_equal(w.priority_mask.sum(axis=1), [len(p) for p in reg.priorities])
    counts = np.bincount(reg.country_index)
    assert len(counts) == 7 and counts.min() >= 2 and counts.max() <= 3
    assert all(c.startswith("C") for c in reg.countries)
    assert all(set(v) == {"synthetic"} for v in reg.confidence.values())
    # regions fit in a 600 km square: no pair further apart than its diagonal (plus projection slack)
    assert reg.distance_km.max() < 600 * np.sqrt(2) * 1.02
    check_relatedness(dom)
    assert w.n_capabilities == 30 * 40


def test_synthetic_reproducible():
    a, b, c = synthetic(7), synthetic(7), synthetic(8)
    for field in ("lat", "population_m", "gdp_pps", "distance_km"):
        assert np.array_equal(getattr(a.regions, field), getattr(b.regions, field))
    assert a.regions.priorities == b.regions.priorities
    assert np.array_equal(a.domains.relatedness, b.domains.relatedness)
    assert np.array_equal(a.domains.complexity, b.domains.complexity)
    assert not np.array_equal(a.regions.lat, c.regions.lat)
    assert not np.array_equal(a.domains.relatedness, c.domains.relatedness)


def test_synthetic_domains_ring_and_rewiring():
    ring = synthetic_domains(30, 4, 0.0, np.random.default_rng(3))
    check_relatedness(ring)
    linked = ring.relatedness > 0
    assert np.all(linked.sum(axis=1) - 1 == 4)
    assert linked[0, 1] and linked[0, 2] and linked[0, 29] and linked[0, 28] and not linked[0, 15]
    off = ring.relatedness[linked & ~np.eye(30, dtype=bool)]
    assert off.min() >= 0.3 and off.max() <= 1.0
    rewired = synthetic_domains(30, 4, 0.5, np.random.default_rng(3))
    check_relatedness(rewired)
    # rewiring keeps the number of links but moves some of them off the lattice
    assert (rewired.relatedness > 0).sum() == linked.sum()
    assert np.any((rewired.relatedness > 0) & ~linked)


def test_synthetic_regions_standalone_without_relatedness():
    names = [f"x{i}" for i in range(4)]
    reg = synthetic_regions(5, 1.0, 300.0, names, np.random.default_rng(0))
    assert len(reg) == 5 and all(set(p) <= set(names) and 3 <= len(p) <= 4 for p in reg.priorities)
    # Zipf: the largest region has exactly rank-1 / rank-5 = 5 times the smallest
    assert reg.population_m.max() / reg.population_m.min() == pytest.approx(5.0)


# ---------------------------------------------------------------------------------------------------------------
# Proximity
# ---------------------------------------------------------------------------------------------------------------
def test_proximity(alpine):
    reg = alpine.regions
    g = alpine.proximity(300.0, 0.7)
    assert g.shape == (11, 11) and np.array_equal(g, g.T) and np.all(np.diag(g) == 1.0)
    assert g.min() > 0.0 and g.max() <= 1.0
    i, j = reg.index("DE_BY"), reg.index("DE_BW")  # same country: pure distance decay
    assert g[i, j] == pytest.approx(np.exp(-reg.distance_km[i, j] / 300.0))
    k = reg.index("AT_SB")  # Munich-Salzburg crosses a border
    assert g[i, k] == pytest.approx(0.7 * np.exp(-reg.distance_km[i, k] / 300.0))
    assert np.allclose(alpine.proximity(300.0, 1.0), np.exp(-reg.distance_km / 300.0))
    assert np.all(alpine.proximity(100.0, 0.7) <= g)  # shorter decay length, lower proximity
    with pytest.raises(ConfigError, match="model.lambda_km"):
        alpine.proximity(0.0, 0.7)
    with pytest.raises(ConfigError, match="model.border_penalty"):
        alpine.proximity(300.0, 1.5)


# ---------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------
def test_bad_kind_raises_config_error():
    with pytest.raises(ConfigError) as exc:
        build_world(WorldConfig(kind="tropical"), np.random.default_rng(0))
    assert exc.value.field == "world.kind" and exc.value.value == "tropical"
    assert "alpine" in str(exc.value) and "synthetic" in str(exc.value)


def test_unknown_region_and_domain_raise_config_error(alpine):
    with pytest.raises(ConfigError) as exc:
        alpine.regions.index("XX_YY")
    assert "AT_UA" in str(exc.value) and "SI" in str(exc.value)
    with pytest.raises(ConfigError, match="agrifood"):
        alpine.domains.index("quantum")


def test_out_of_bounds_synthetic_values_raise():
    with pytest.raises(ConfigError, match="world.n_domains"):
        synthetic_domains(1, 4, 0.1, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="world.p_rewire"):
        synthetic_domains(10, 4, 1.5, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="world.n_regions"):
        synthetic(0, n_regions=1)
