"""The stress test's fast paths against the plain ones, bit for bit: regimes continued from one shared burn-in
(:meth:`S3Model.fork`) against separate runs, outcomes from the records (:meth:`S3Model.outcomes`) against
outcomes of the tables, and :func:`s3_target` against :func:`s3sim.evaluate`. No timings."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

import s3sim
from s3sim.indicators.outcomes import outcomes
from s3sim.model import S3Model
from s3sim.runner import config_from_params, evaluate
from s3sim.runner.targets import s3_target

SMALL = {"n_agents": 300, "burn_in": 6, "horizon": 14, "materialize_agents": False}


def _with_regime(cfg, regime):
    return dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, regime=regime))


def _same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def _assert_same_run(got: S3Model, ref: S3Model) -> None:
    a, b = got.tables(), ref.tables()
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k], check_exact=True)
    assert got.ledger == ref.ledger
    assert got.steps == ref.steps
    for name, gen in got.streams.items():
        assert gen.bit_generator.state == ref.streams[name].bit_generator.state, name
    if ref.policy is not None:
        assert got.policy.describe(got) == ref.policy.describe(ref)


@pytest.mark.parametrize("seed,replicate", [(3, None), (8, 2)])
def test_fork_after_burn_in_equals_separate_runs(seed, replicate):
    base = config_from_params(**SMALL)
    regimes = ("cluster_s3", "topdown_s3", "transregional_s3", "horizontal", "none")
    cfgs = [_with_regime(base, r) for r in regimes]
    root = S3Model(cfgs[-1], seed=seed, replicate=replicate)
    policies = [root.policy_for(cfg) for cfg in cfgs[:-1]]
    root.run(root.p.burn_in)
    forks = [root.fork(cfg, pol) for cfg, pol in zip(cfgs[:-1], policies)]
    for cfg, model in zip(cfgs, forks + [root]):
        model.run()
        _assert_same_run(model, S3Model(cfg, seed=seed, replicate=replicate).run())


def test_fork_with_pilots_and_mixed_regions():
    """Pilots chosen from the initial cluster memberships ("auto") and per-region regimes fork exactly too."""
    base = config_from_params(**SMALL)
    ids = S3Model(base, seed=5).world.regions.ids
    pilots = dataclasses.replace(base, policy=dataclasses.replace(base.policy, regime="cluster_s3",
                                                                  pilots=["auto"]))
    mixed = dataclasses.replace(base, policy=dataclasses.replace(
        base.policy, regime="transregional_s3", regions={ids[0]: "cluster_s3", ids[1]: "none"}))
    root = S3Model(base, seed=5)
    pols = [root.policy_for(pilots), root.policy_for(mixed)]
    root.run(root.p.burn_in)
    a, b = root.fork(pilots, pols[0]), root.fork(mixed, pols[1])
    for cfg, model in ((pilots, a), (mixed, b), (base, root)):
        model.run()
        _assert_same_run(model, S3Model(cfg, seed=5).run())


def test_fork_leaves_the_original_untouched():
    base = config_from_params(**SMALL)
    root = S3Model(_with_regime(base, "topdown_s3"), seed=2)
    pol = root.policy_for(_with_regime(base, "cluster_s3"))
    root.run(3)
    copy = root.fork(_with_regime(base, "cluster_s3"), pol)
    copy.run()  # running the copy to the end must not move the original
    root.run()
    _assert_same_run(root, S3Model(_with_regime(base, "topdown_s3"), seed=2).run())


def test_fork_refuses_inexact_uses():
    base = config_from_params(**SMALL)
    model = S3Model(_with_regime(base, "cluster_s3"), seed=1)
    model.run(model.p.burn_in + 1)
    with pytest.raises(RuntimeError):
        model.fork(base, None)
    with pytest.raises(RuntimeError):
        model.policy_for(base)
    other = config_from_params(**{**SMALL, "n_agents": 310})
    fresh = S3Model(base, seed=1)
    with pytest.raises(ValueError):
        fresh.policy_for(other)
    with pytest.raises(ValueError):
        fresh.fork(other, None)


@pytest.mark.parametrize("regime,params", [
    ("cluster_s3", {}),
    ("topdown_s3", {"burn_in": 2, "horizon": 5}),   # fewer steps than the window
    ("none", {"burn_in": 0, "horizon": 3}),
    ("transregional_s3", {"n_agents": 400}),
])
def test_outcomes_from_records_equal_outcomes_of_tables(regime, params):
    cfg = config_from_params(**{**SMALL, **params, "policy_regime": regime})
    model = S3Model(cfg, seed=7).run()
    t = model.tables()
    for region in ("ALL", *model.world.regions.ids):
        ref = outcomes(t["timeseries"], t["innovations"], t["firms"], region=region)
        assert _same(model.outcomes(region=region), ref), region


def test_outcomes_from_records_unknown_region():
    from s3sim.errors import ConfigError

    model = S3Model(config_from_params(**{**SMALL, "burn_in": 1, "horizon": 1}), seed=1).run()
    with pytest.raises(ConfigError):
        model.outcomes(region="nowhere")


def _s3_target_reference(params, seed, replicate, regimes, fixed, regions):
    """The target as separate runs: one model per regime, outcomes of its tables."""
    from s3sim.policy import REGIMES
    from s3sim.runner.targets import _preset_policy

    merged = {"materialize_agents": False, **fixed, **params}
    base = config_from_params(**merged)
    out = {}
    for regime in regimes:
        if regime in REGIMES:
            cfg = _with_regime(base, regime)
        else:
            cfg = config_from_params(dataclasses.replace(base, policy=_preset_policy(regime)),
                                     **{k: v for k, v in merged.items() if k.startswith("policy_")})
        t = S3Model(cfg, seed=seed, replicate=replicate).run().tables()
        for region in ("ALL", *regions):
            res = outcomes(t["timeseries"], t["innovations"], t["firms"], region=region)
            suffix = "" if region == "ALL" else f"@{region}"
            out.update({f"{regime}:{k}{suffix}": float(v) for k, v in res.items()})
    return out


@pytest.mark.parametrize("regimes", [("cluster_s3", "topdown_s3"), ("none", "as_applied", "pilot"),
                                     ("horizontal",)])
def test_s3_target_equals_separate_runs(regimes):
    fixed = {k: v for k, v in SMALL.items() if k != "materialize_agents"}
    params = {"g_min": 0.4, "a0": 0.5, "policy_subsidy_rate": 0.3}
    ids = S3Model(config_from_params(**SMALL), seed=1).world.regions.ids
    got = s3_target(params, 4242, 1, regimes=regimes, fixed=fixed, regions=ids[:2])
    ref = _s3_target_reference(params, 4242, 1, regimes, fixed, ids[:2])
    assert sorted(got) == sorted(ref)
    assert _same({k: got[k] for k in ref}, ref)


def test_s3_target_equals_evaluate():
    fixed = {k: v for k, v in SMALL.items() if k != "materialize_agents"}
    got = s3_target({"omega": 0.3}, 77, 0, regimes=("cluster_s3", "topdown_s3"), fixed=fixed)
    for regime in ("cluster_s3", "topdown_s3"):
        ref = evaluate(seed=77, replicate=0, policy=regime, omega=0.3, **fixed)
        assert _same({k: got[f"{regime}:{k}"] for k in ref}, {k: float(v) for k, v in ref.items()})


@pytest.mark.parametrize("params", [{}, {"horizon": 13, "network_every": 3, "evidence_every": 5},
                                    {"burn_in": 0, "horizon": 2, "network_every": 4}])
def test_lean_records_give_the_same_outcomes(params):
    cfg = config_from_params(**{**SMALL, **params, "policy_regime": "cluster_s3"})
    full = S3Model(cfg, seed=9).run()
    lean = S3Model(cfg, seed=9)
    lean.full_records = False
    lean.run()
    assert lean.ledger == full.ledger
    for region in ("ALL", *full.world.regions.ids):
        assert _same(lean.outcomes(region=region), full.outcomes(region=region)), region
    with pytest.raises(RuntimeError):
        lean.tables()


def test_sample_config_is_cached_per_parameter_values_and_types():
    from s3sim.errors import ConfigError
    from s3sim.runner.targets import _sample_config

    a = _sample_config({"materialize_agents": False, "n_agents": 300, "g_min": 0.5})
    assert _sample_config({"materialize_agents": False, "n_agents": 300, "g_min": 0.5}) is a
    assert a == config_from_params(materialize_agents=False, n_agents=300, g_min=0.5)
    assert _sample_config({"materialize_agents": False, "n_agents": 300, "g_min": 0.6}) is not a
    with pytest.raises(ConfigError):  # 0 (an int) is not False for a boolean parameter, cached or not
        _sample_config({"materialize_agents": 0, "n_agents": 300, "g_min": 0.5})
    # a policy preset's config: cached too, the preset's policy with the sample's policy_* parameters on top
    params = {"materialize_agents": False, "n_agents": 300, "policy_subsidy_rate": 0.3}
    preset = _sample_config(params, preset="as_applied")
    assert _sample_config(dict(params), preset="as_applied") is preset and preset is not _sample_config(params)
    expected = s3sim.compose(["policy=as_applied", "model.n_agents=300", "model.materialize_agents=false",
                              "policy.subsidy_rate=0.3"])
    assert preset == config_from_params(expected)
    assert preset.policy.regions and preset.policy.subsidy_rate == 0.3


# ----------------------------------------------------------------------------------------------------------------
# stream handles: kernels draw from a handle exactly as from its Generator
# ----------------------------------------------------------------------------------------------------------------
def test_kernels_draw_the_same_from_a_stream_handle_as_from_its_generator():
    import copy
    import pickle

    import numpy as np

    from s3sim.model._jit import StreamHandles, stream_handle
    from s3sim.policy import _kernels as K

    by_handle, by_generator = np.random.default_rng(8), np.random.default_rng(8)
    handle = stream_handle(by_handle)
    rows = np.arange(40, dtype=np.int64)
    product_domain = (rows % 5).astype(np.int32)
    capital = np.linspace(0.0, 3000.0, 40)
    cluster = np.where(rows % 3 == 0, 1, -1).astype(np.int32)
    for _ in range(3):  # compiled draws through the handle, then numpy draws on the Generator: one stream
        out = []
        for rng in (handle, by_generator):
            transfers, subsidy = np.zeros(40), np.zeros(40)
            res = K.subsidise(rng, rows, np.zeros(0, dtype=bool), product_domain, capital, transfers, subsidy,
                              cluster, 0.5, 1000.0, 200.0, 1000.0, 3000.0, np.ones(5, dtype=bool))
            out.append((res, transfers.tolist()))
        assert out[0] == out[1]
        assert by_handle.standard_normal(3).tolist() == by_generator.standard_normal(3).tolist()
    with pytest.raises(ValueError, match="stream handle"):  # a uint64 array of another size is refused
        K.deliverables(np.zeros(3, dtype=np.uint64), np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64),
                       np.zeros(0, dtype=np.int64), np.zeros(0), np.ones(1, dtype=bool), np.zeros(1, dtype=np.int32),
                       np.ones((1, 1)), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64))
    handles = StreamHandles()
    assert handles.get("s", by_handle) is handles.get("s", by_handle)
    assert not copy.deepcopy(handles)._by_name and not pickle.loads(pickle.dumps(handles))._by_name


def test_a_fork_draws_from_its_own_streams():
    cfg = config_from_params(**SMALL, policy_regime="cluster_s3")
    root = S3Model(_with_regime(cfg, "topdown_s3"), seed=4)
    policy = root.policy_for(cfg)
    root.run(root.p.burn_in)
    handle = root.stream_handle("research")  # built before the fork: must not be shared with the copy
    fork = root.fork(cfg, policy)
    assert fork.stream_handle("research") is not handle
    state = root.streams["research"].bit_generator.state
    fork.run()
    assert root.streams["research"].bit_generator.state == state  # the fork never advanced the root's stream
    _assert_same_run(fork, S3Model(cfg, seed=4).run())


# ----------------------------------------------------------------------------------------------------------------
# inline PCG64 draws: exactly numpy's, interleaved with numpy's own draws, and a fallback for other bit generators
# ----------------------------------------------------------------------------------------------------------------
def test_inline_uniform_draws_are_numpys_own():
    import numpy as np
    from numba import njit

    from s3sim.model._jit import generator_of, stream_handle, uniform

    @njit(cache=False)
    def mixed(rng, n):
        out = np.empty(2 * n)
        for k in range(n):
            out[2 * k] = uniform(rng)
            out[2 * k + 1] = generator_of(rng).standard_normal() if k % 3 == 0 else uniform(rng)
        return out

    def reference(g, n):
        out = np.empty(2 * n)
        for k in range(n):
            out[2 * k] = g.random()
            out[2 * k + 1] = g.standard_normal() if k % 3 == 0 else g.random()
        return out

    for bits in (np.random.PCG64, np.random.Philox, np.random.SFC64):
        ours, theirs = np.random.Generator(bits(42)), np.random.Generator(bits(42))
        handle = stream_handle(ours)
        assert (handle[6] != 0) == (bits is np.random.PCG64)  # inline only where the layout was checked
        for _ in range(3):  # compiled draws, then numpy draws on the same stream: one sequence
            assert mixed(handle, 500).tobytes() == reference(theirs, 500).tobytes()
            assert ours.integers(0, 10, 7).tolist() == theirs.integers(0, 10, 7).tolist()
            assert ours.poisson(3.0, 5).tolist() == theirs.poisson(3.0, 5).tolist()
        ours.bit_generator.state = theirs.bit_generator.state = np.random.Generator(bits(7)).bit_generator.state
        assert mixed(handle, 100).tobytes() == reference(theirs, 100).tobytes()  # the handle follows the state
        assert mixed(ours, 100).tobytes() == reference(theirs, 100).tobytes()  # a Generator passed directly
    # a handle keeps its Generator alive: drawing through it after the last other reference is gone is safe
    import gc
    import sys

    gen = np.random.default_rng(5)
    refs = sys.getrefcount(gen)
    handle = stream_handle(gen)
    assert sys.getrefcount(gen) == refs + 1
    del handle
    gc.collect()
    assert sys.getrefcount(gen) == refs
    handle = stream_handle(np.random.default_rng(5))
    gc.collect()
    assert mixed(handle, 50).tobytes() == reference(np.random.default_rng(5), 50).tobytes()


def test_entrant_counts_are_numpys_poisson_draws_also_for_large_means():
    """The non-local entrants per region are numpy's Poisson draws on the demography stream, also for means of 10
    and more, where numpy uses its PTRS sampler and numba's version of it differs in rare draws (it can return 0
    where numpy rejects and draws again). The demography stream is set to a state in which numba's draws would
    differ from numpy's, and one step's entrant counts are compared with numpy's draws."""
    import numpy as np
    from numba import njit

    from s3sim.model.state import ORIGIN_NONLOCAL, RI

    @njit(cache=False)
    def numba_blocks(g, means, n_blocks):
        out = np.empty((n_blocks, means.size), dtype=np.int64)
        for b in range(n_blocks):
            for r in range(means.size):
                out[b, r] = g.poisson(means[r])
        return out

    cfg = config_from_params(n_agents=600, burn_in=2, horizon=4, materialize_agents=False, entrant_rate=0.3)
    model = S3Model(cfg, seed=11)
    model.run(3)
    a, R = model.actors, model.world.n_regions
    n = a.n
    staying = a.alive[:n] & (a.kind[:n] != RI) & (a.capital[:n] >= 0.0)
    means = cfg.model.entrant_rate * np.bincount(a.region[:n][staying], minlength=R)
    assert ((means >= 10.0) & (means < 14.0)).any() and means.min() < 10.0  # both of numpy's samplers are used
    # a state of the stream from which numba's draws differ from numpy's: the first differing block of draws
    blocks = 200_000
    theirs = np.random.default_rng(3).poisson(means, size=(blocks, R))
    differs = np.flatnonzero((numba_blocks(np.random.default_rng(3), means, blocks) != theirs).any(axis=1))
    assert differs.size
    probe = np.random.default_rng(3)
    probe.poisson(means, size=(differs[0], R))
    model.streams["demography"].bit_generator.state = probe.bit_generator.state
    model.step()
    born = (a.birth[:a.n] == model.steps) & (a.origin[:a.n] == ORIGIN_NONLOCAL)
    assert np.bincount(a.region[:a.n][born], minlength=R).tolist() == theirs[differs[0]].tolist()


def test_compiled_entrant_draws_are_numpys_below_a_mean_of_10_and_refused_above():
    import numpy as np

    from s3sim.model._jit import stream_handle
    from s3sim.model.demography import draw_entrants

    ours, theirs = np.random.default_rng(21), np.random.default_rng(21)
    handle = stream_handle(ours)
    sizes = np.random.default_rng(0)
    for k in range(2000):
        firms = sizes.integers(0, 1000, 11)
        rate = 9.999 / max(int(firms.max()), 1) * sizes.random()
        assert draw_entrants(handle, rate, firms).tolist() == theirs.poisson(rate * firms).tolist()
        if k % 500 == 0:  # no entry at all, and regions without firms
            assert draw_entrants(handle, 0.0, firms).tolist() == theirs.poisson(0.0 * firms).tolist()
            assert draw_entrants(handle, rate, 0 * firms).tolist() == theirs.poisson(rate * 0 * firms).tolist()
    state = ours.bit_generator.state
    for rate, firms in ((0.01, [5, 1000, 3]), (-0.01, [5, 10, 3])):  # a mean of 10, or negative: nothing drawn
        assert draw_entrants(handle, rate, np.array(firms)) is None
    assert ours.bit_generator.state == state
