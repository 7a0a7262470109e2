"""The S3 model: :class:`S3Model`, a ``mesa.Model`` over struct-of-arrays state.

One step is one quarter. The schedule (ODD: process overview and scheduling) is

1. policy (after the burn-in): the policy sets transfers, priority tilts, brokerage and critical-mass links;
2. S3 domain market: demand moves, firms earn revenue;
3. S6 partner search and S7 knowledge exchange (if ``partnering``);
4. S5/S12 research (critical-mass multiplier S11 from last step's masses);
5. S10 spillovers;
6. S9 learning by doing and forgetting;
7. S4 accounting;
8. S13 demography (exit, spin-offs, entrants, cluster membership);
9. S11 masses, S14 regional evidence and the indicators (network metrics every ``network_every`` steps).

Updates within a phase are synchronous where order cannot matter and sequential in a random order (drawn from
the phase's own random stream) where it can (partner capacity). Every phase draws from its own
``numpy.random.Generator`` spawned from the run's ``SeedSequence``, so a change in one subsystem (a policy)
does not shift the draws of another (common random numbers between scenarios).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from ..config import S3SimConfig, to_object, validate
from ..indicators import INDEX as INDICATOR_INDEX
from ..indicators import Recorder, gini
from ..world import World, build_world
from . import critical_mass as cm
from ._jit import StreamHandles, kernel
from .accounting import open_books, settle
from .agents import ClusterOrganisation, Firm, RegionalAuthority, ResearchInstitute
from .demography import draw_entrants, exits, join_clusters, leave_clusters, place_newborns, plan_births
from .evidence import expertise_mass, rca, relatedness_density, relatedness_weights
from .exchange import exchange
from .knowledge import draw_kene, refresh_products, refresh_profiles
from .learning import learn_and_forget
from .market import clear_market, update_demand
from .network import metrics_from_ties
from .partnering import build_csr, remember_pairs, search_index, search_partners
from .research import do_research
from .spillovers import spill, spillover_field
from .state import KIND_NAMES, LARGE, ORIGIN_NAMES, RI, SME, ActorState, ClusterState, RegionState

_POLICY_FACTORY = None


def set_policy_factory(factory) -> None:
    """Let the policy layer build a policy from ``config.policy`` (the model never imports the policy layer)."""
    global _POLICY_FACTORY
    _POLICY_FACTORY = factory


PROJECT_INNOVATION = 3
INNOVATION_KINDS = ("", "incremental", "radical", "project")  # codes in the innovation log

if TYPE_CHECKING:
    import pandas as pd

STREAMS = ("world", "init", "market", "partnering", "exchange", "research", "spillovers", "demography", "policy",
           "mesa")


class S3Model(mesa.Model):
    """Regional innovation clusters under S3 policy.

    Parameters
    ----------
    config:
        A config from :func:`s3sim.compose` (or an :class:`~s3sim.config.S3SimConfig`).
    seed:
        Run seed; defaults to ``config.seed``. All randomness flows from ``SeedSequence(seed)``.
    replicate:
        Replicate number (defaults to ``config.replicate``). When set, the run's root sequence is spawned from
        the seed, ``SeedSequence(seed).spawn(replicate + 1)[replicate]``, so replicates of a sweep are
        independent streams of one sweep seed.
    policy:
        Optional policy object (see :mod:`s3sim.policy`); ``None`` runs without public support.
    world:
        Optional prebuilt :class:`~s3sim.world.World` (to share one world across runs).
    """

    def __init__(self, config: Any = None, seed: int | None = None, *, policy: Any = None,
                 world: World | None = None, replicate: int | None = None, _validated: bool = False):
        t0 = time.perf_counter()
        if config is None:
            from ..config import compose

            config = compose()
        if not (_validated and isinstance(config, S3SimConfig)):  # _validated: the caller validated it already
            validate(config)
        cfg = to_object(config)
        self.config: S3SimConfig = cfg
        self.seed = int(cfg.seed if seed is None else seed)
        if self.seed < 0:
            from ..errors import ConfigError

            raise ConfigError("seed", seed, "a non-negative integer")
        self.replicate = cfg.replicate if replicate is None else int(replicate)
        if self.replicate is not None and self.replicate < 0:
            from ..errors import ConfigError

            raise ConfigError("replicate", replicate, "a non-negative integer or None")
        # SeedSequence(seed, spawn_key=(r,)) is exactly the r-th child of SeedSequence(seed).spawn(...)
        self.seed_sequence = (np.random.SeedSequence(self.seed) if self.replicate is None
                              else np.random.SeedSequence(self.seed, spawn_key=(self.replicate,)))
        self.streams = dict(zip(STREAMS, (np.random.Generator(np.random.PCG64(s))
                                          for s in self.seed_sequence.spawn(len(STREAMS)))))
        self._stream_handles = StreamHandles()
        super().__init__(rng=self.streams["mesa"])
        self.p = cfg.model
        self.world = world if world is not None else build_world(cfg.world, self.streams["world"])
        if policy is None and _POLICY_FACTORY is not None:
            policy = _POLICY_FACTORY(cfg.policy)
        self.policy = policy
        self.n_steps_total = self.p.burn_in + self.p.horizon
        #: False: record only what :meth:`outcomes` reads (the stress test's runs): network metrics at the last
        #: observation, the between-region Gini at the last step, no panel; :meth:`tables` then refuses
        self.full_records = True
        #: steps at which a lean run also records what :meth:`outcomes` reads, so that ``outcomes(step=...)`` gives
        #: the outcomes as of those steps (the stress test's ``target.times``)
        self.outcome_steps: frozenset[int] = frozenset()
        self._setup()
        self.recorder = Recorder(self.n_steps_total, self.world.regions.ids)
        self.init_seconds = 0.0
        if self.p.materialize_agents:
            self._materialize()
        if self.policy is not None and hasattr(self.policy, "setup"):
            self.policy.setup(self)
        self.init_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------------------------------------------------------
    # initialisation (ODD: initialisation)
    # ------------------------------------------------------------------------------------------------------------
    def _setup(self) -> None:
        p, w = self.p, self.world
        rng = self.streams["init"]
        R, D = w.n_regions, w.n_domains
        self.caps_per_domain = w.caps_per_domain
        self.cap_shift = max(int(self.caps_per_domain - 1).bit_length(), 1)  # capability code = d << shift | j
        self.relatedness = np.ascontiguousarray(w.domains.relatedness, dtype=np.float64)
        regions = w.regions
        dist = regions.distance_km
        diff_country = regions.country_index[:, None] != regions.country_index[None, :]
        geo = np.exp(-dist / p.lambda_km)
        self.region_factor = geo ** p.w_geo * np.where(diff_country, p.border_penalty ** p.w_inst, 1.0)
        self.kernel = geo * np.where(diff_country, p.border_penalty, 1.0)

        # region specialisation profiles (seeded on stated priorities, spread to related domains)
        pri = w.priority_mask.astype(np.float64)
        pri[pri.sum(axis=1) == 0] = 1.0
        phi0 = self.relatedness - np.eye(D)
        h = pri + 0.5 * pri @ phi0
        h /= h.sum(axis=1, keepdims=True)
        self.region_profile = h
        self.region_profile_cdf = np.ascontiguousarray(np.cumsum(h, axis=1))
        self.region_profile_cdf[:, -1] = 1.0

        # how many of each kind per region
        n_co = np.where(regions.cluster_count >= 0, np.minimum(regions.cluster_count, p.co_max_per_region),
                        p.co_default).astype(np.int64)
        n_co = np.minimum(n_co, D)
        n_actors = p.n_agents - R - int(n_co.sum())
        if n_actors < 5 * R:
            from ..errors import ConfigError

            raise ConfigError("model.n_agents", p.n_agents,
                              f"at least {5 * R + R + int(n_co.sum())} for {R} regions "
                              f"(5 actors per region plus authorities and cluster organisations)")
        mass_share = regions.economic_mass / regions.economic_mass.sum()
        self.region_cdf = np.cumsum(mass_share)
        self.region_cdf[-1] = 1.0
        per_region = _largest_remainder(mass_share, n_actors, minimum=5)
        tilt = (1.0 - regions.berd_share) * regions.gerd_pct
        tilt = tilt / tilt.mean() if tilt.mean() > 0 else np.ones(R)
        n_ri = np.clip(np.rint(per_region * p.ri_per_100_firms / 100.0 * tilt), 1, per_region // 3).astype(int)
        if p.ri_per_100_firms == 0:
            n_ri[:] = 0
        n_firm = per_region - n_ri

        width = int(math.ceil(p.cap_growth * max(p.kene_sme, p.kene_large, p.kene_ri)))
        cap_dtype = np.int16 if (D << self.cap_shift) <= np.iinfo(np.int16).max else np.int32
        if p.max_actors and n_actors > p.max_actors:
            from ..errors import ConfigError

            raise ConfigError("model.max_actors", p.max_actors, f"0 (no cap) or at least the {n_actors} initial actors")
        a = self.actors = ActorState(int(n_actors * 1.1) + 16, width, D, cap_dtype)
        a.max_rows = int(p.max_actors)
        rows = a.add(n_actors)
        region_col = np.repeat(np.arange(R), per_region)
        kind_col = np.concatenate([np.r_[np.full(n_firm[r], SME), np.full(n_ri[r], RI)] for r in range(R)])
        firms = np.flatnonzero(kind_col == SME)
        n_large = int(round(p.large_share * firms.size))
        kind_col[rng.choice(firms, size=n_large, replace=False)] = LARGE
        a.region[rows] = region_col
        a.kind[rows] = kind_col
        a.alive[rows] = True
        lengths = np.select([kind_col == LARGE, kind_col == RI], [p.kene_large, p.kene_ri], p.kene_sme)
        a.kcap[rows] = np.ceil(p.cap_growth * lengths).astype(np.int32)
        a.capital[rows] = np.where(kind_col == LARGE, p.initial_capital * p.large_capital_mult, p.initial_capital)
        _init_kenes(self.stream_handle("init"), rows, lengths.astype(np.int64), region_col.astype(np.int64), self.region_profile_cdf,
                    self.caps_per_domain, self.cap_shift, p.u0, a.klen, a.kcap, a.cap, a.abil, a.expt, a.ih,
                    p.ih_len_max)
        a.appeal[rows] = np.exp(p.sigma_v * rng.standard_normal(n_actors))
        refresh_products(a.alive, a.n, a.klen, a.cap, a.abil, a.expt, a.ih, self.cap_shift, D,
                         a.product_domain, a.quality)
        refresh_profiles(a.alive, a.n, a.klen, a.cap, a.expt, a.ih, self.cap_shift, a.profile, a.advert)
        self.l_mid = p.ih_regen_mid * float(np.median(lengths))

        # cluster organisations: focal domains = stated priorities first, by initial expertise mass
        x0 = expertise_mass(a.alive, a.region, a.n, a.klen, a.cap, a.expt, self.cap_shift, R, D)
        co_region, co_domain = [], []
        for r in range(R):
            score = x0[r] + 1e9 * w.priority_mask[r]
            top = np.argsort(-score, kind="stable")[: n_co[r]]
            co_region += [r] * len(top)
            co_domain += list(top)
        self.clusters = ClusterState(np.array(co_region, dtype=np.int32), np.array(co_domain, dtype=np.int32))
        self.co_start, self.co_rows = build_csr(self.clusters.region, np.ones(self.clusters.n, dtype=np.bool_),
                                                self.clusters.n, R)
        join_clusters(self.stream_handle("init"), rows, a.region, a.klen, a.cap, a.cluster, self.co_start, self.co_rows,
                      self.clusters.domain, self.cap_shift, p.co_membership_rate, self.clusters.members)

        pop_share = regions.population_m / regions.population_m.sum()
        self.regions = RegionState(R, D, w.priority_mask, pop_share)

        # market calibration (model-spec 5.5 step 4, restated for a heavy-tailed market): at t0 total firm
        # revenue equals revenue_cost_ratio x the firms' running costs (depreciation + incremental research +
        # one partnership), so money units follow SKIN's costs and the economy neither booms nor starves.
        mrng = self.streams["market"]
        self.demand = np.exp(p.sigma_M * mrng.standard_normal(D))
        clear_market(a.alive, a.kind, a.region, a.product_domain, a.quality, a.appeal, a.n, p.beta_q, p.appeal_weight, self.demand,
                     p.home_bias, pop_share, a.revenue, a.log_appeal, a.appeal_seen)
        n_firms = int((a.alive[: a.n] & (a.kind[: a.n] != RI)).sum())
        total = float(a.revenue[: a.n].sum())
        target = p.revenue_cost_ratio * n_firms * (p.depreciation + p.c_incr + p.c_collab)
        self.demand *= target / max(total, 1e-12)
        a.revenue[: a.n] = 0.0

        # critical mass reference and masses
        self.mass = cm.mass(a.alive, a.region, a.product_domain, a.n, R, D)
        pos = self.mass[self.mass > 0]
        self.m_star = p.m_star_rel * (float(pos.mean()) if pos.size else 1.0)
        self.G = cm.multiplier(self.mass, self.m_star, p.g_min, p.eta)

        # evidence at t0
        self.x = x0
        self.rca = rca(x0, whole=True)  # expertise sums are whole numbers
        self.specialised = self.rca >= 1.0
        self._rd_weights = relatedness_weights(self.relatedness)  # the world's relatedness never changes
        self.rd = relatedness_density(self.specialised, self.relatedness, self._rd_weights)
        self._last_obs = (self.specialised.copy(), self.rd.copy())

        # per-step scratch and ledgers
        self._extra_innovations: list[np.ndarray] = []
        self.n_institutes = int(n_ri.sum())  # research institutes never exit and are never born
        self._no_links = np.zeros((R, R))
        self._no_tilt = np.zeros((R, D))
        self.pair_a = np.empty(0, dtype=np.int32)
        self.pair_b = np.empty(0, dtype=np.int32)
        self.n_pairs = 0
        self.innovation_log: list[np.ndarray] = []  # per step: (value, kind, region*D+domain) rows
        self.ledger = {"revenue": 0.0, "transfers": 0.0, "costs": 0.0, "entered": 0.0, "exited": 0.0}
        self.cum_innov_region = np.zeros(R)
        self.panel_rows: list[tuple] = []  # step, then (R, D) arrays: see tables()
        self._innov_since_obs = np.zeros((R, D))
        self._innov_at_obs = np.zeros(0, dtype=np.int64)  # each actor's innovation count at the last observation
        self.row_agent: list[Any] = []

    def _materialize(self) -> None:
        a = self.actors
        self.row_agent = [None] * a.n
        for i in range(a.n):
            self.row_agent[i] = (ResearchInstitute if a.kind[i] == RI else Firm)(self, i)
        self.cluster_agents = [ClusterOrganisation(self, k) for k in range(self.clusters.n)]
        self.authorities = [RegionalAuthority(self, r) for r in range(self.world.n_regions)]

    # ------------------------------------------------------------------------------------------------------------
    # common random numbers: several policies on one shared burn-in
    # ------------------------------------------------------------------------------------------------------------
    def _policy_variant(self, config: Any, caller: str):
        """``config`` as an object, checked to differ from this model's in its policy section only."""
        cfg = to_object(config)
        if cfg.model != self.config.model or cfg.world != self.config.world:
            raise ValueError(f"{caller}(): the config may differ from the model's in its policy section only")
        return cfg

    def policy_for(self, config: Any) -> Any:
        """The policy of ``config`` (a validated config that differs from this model's in ``policy`` only), set up
        on this model as :meth:`__init__` sets up its own: call it before the first step, and pass the result to
        :meth:`fork` once the burn-in is done. ``None`` when the config runs without public support."""
        if self.steps != 0:
            raise RuntimeError("policy_for() sets a policy up on the initial state: call it before the first step")
        cfg = self._policy_variant(config, "policy_for")
        policy = _POLICY_FACTORY(cfg.policy) if _POLICY_FACTORY is not None else None
        if policy is not None and hasattr(policy, "setup"):
            policy.setup(self)
        return policy

    def fork(self, config: Any, policy: Any) -> S3Model:
        """An independent copy of this model (state, random streams, records) that runs on under ``config`` and
        ``policy`` (from :meth:`policy_for`, prepared before the first step).

        While no policy has acted (during the burn-in every submodel draws from its own stream and the policy is
        idle), the copy continues exactly as a fresh ``S3Model(config, seed, replicate=...)`` would: the regimes of
        a contrast share one burn-in (common random numbers, bit-identical to separate runs; a test checks it).
        Models with materialised Mesa agents cannot be forked."""
        import copy

        if self.p.materialize_agents:
            raise RuntimeError("fork() needs model.materialize_agents=False")
        if self.policy is not None and getattr(self.policy, "started", None) is not None:
            raise RuntimeError("fork() after the policy started would not reproduce a separate run")
        if self.steps > self.p.burn_in:
            raise RuntimeError("fork() is exact only within the burn-in")
        cfg = self._policy_variant(config, "fork")
        shared = ("world", "config", "p", "policy", "step", "_user_step")
        memo = {id(self): None}
        for name in shared:
            if name in self.__dict__:
                memo[id(self.__dict__[name])] = self.__dict__[name]
        new = object.__new__(type(self))
        memo[id(self)] = new
        state = {k: copy.deepcopy(v, memo) for k, v in self.__dict__.items() if k not in shared}
        new.__dict__.update(state)
        new.world = self.world
        new.config = cfg
        new.p = cfg.model
        new.policy = policy
        new._user_step = new.step  # mesa's wrapped step, bound to the copy
        new.step = new._wrapped_step
        return new

    @classmethod
    def through_burn_in(cls, configs: Sequence[Any], seed: int | None, replicate: int | None = None, *,
                        full_records: bool = True, outcome_steps: Sequence[int] = (),
                        _validated: bool = False) -> list[S3Model]:
        """One model per config (configs that differ in their policy only, e.g. the regimes of a contrast), each at
        the end of the burn-in: one model runs it under the last config and the others continue from copies of it
        (:meth:`policy_for`, :meth:`fork`; bit-identical to separate runs). With materialised Mesa agents, which
        cannot be forked, each model runs its own burn-in. ``full_records`` and ``outcome_steps`` are set on every
        model before its first step."""
        configs = list(configs)
        steps = frozenset(int(s) for s in outcome_steps)
        root = cls(configs[-1], seed=seed, replicate=replicate, _validated=_validated)
        root.full_records = full_records
        root.outcome_steps = steps
        if len(configs) > 1 and not root.p.materialize_agents:
            policies = [root.policy_for(cfg) for cfg in configs[:-1]]
            root.run(root.p.burn_in)
            return [root.fork(cfg, policy) for cfg, policy in zip(configs[:-1], policies)] + [root]
        models = [cls(cfg, seed=seed, replicate=replicate, _validated=_validated) for cfg in configs[:-1]] + [root]
        for model in models:
            model.full_records = full_records
            model.outcome_steps = steps
            model.run(model.p.burn_in)
        return models

    def stream_handle(self, name: str) -> np.ndarray:
        """The random stream ``name`` as compiled kernels take it cheaply (:func:`s3sim.model._jit.stream_handle`;
        the draws are those of ``self.streams[name]``, which it advances)."""
        return self._stream_handles.get(name, self.streams[name])

    # ------------------------------------------------------------------------------------------------------------
    @property
    def in_burn_in(self) -> bool:
        """True while the current step is part of the burn-in (no policy)."""
        return self.steps <= self.p.burn_in

    def step(self) -> None:
        """Advance one quarter (see the module docstring for the schedule)."""
        p, a, w = self.p, self.actors, self.world
        t = self.steps
        if t > self.n_steps_total:
            self.recorder.grow(t)
        R, D = w.n_regions, w.n_domains
        n = a.n
        open_books(n, a.costs, a.transfers, a.subsidy, a.rd_spend, a.flows_in)
        policy_active = self.policy is not None and not self.in_burn_in
        if policy_active:
            self.policy.before_step(self)

        # S3 market
        update_demand(self.streams["market"], self.demand, p.mu_g, p.sigma_g)
        clear_market(a.alive, a.kind, a.region, a.product_domain, a.quality, a.appeal, n, p.beta_q, p.appeal_weight, self.demand,
                     p.home_bias, self.regions.population_share, a.revenue, a.log_appeal, a.appeal_seen)

        # S6 partner search, S7 knowledge exchange
        flows = 0
        self.n_pairs = 0
        if p.partnering:
            reg_start, reg_rows, cl_start, cl_rows = search_index(a.region, a.cluster, a.alive, n, R, self.clusters.n)
            if self.pair_a.size < n:  # at most one new partnership per searcher
                self.pair_a = np.empty(n + n // 2, dtype=np.int32)
                self.pair_b = np.empty(n + n // 2, dtype=np.int32)
            self.n_pairs = search_partners(
                self.stream_handle("partnering"), t, a.alive, a.kind, a.region, a.cluster, n, a.profit,
                p.success_threshold, a.advert, a.tie_partner, a.tie_step, a.n_partners, a.costs,
                reg_start, reg_rows, cl_start, cl_rows, self.clusters.brokerage * p.cluster_brokerage,
                self.clusters.link,
                self.region_factor, p.tie_memory, p.search_rate, p.n_candidates, p.max_partners, p.theta_attr, p.p_prev, p.p_tc,
                p.p_cluster, p.p_local, p.w_soc, p.w_org, p.c_collab, a.rd_spend, self.pair_a, self.pair_b)
            if policy_active and hasattr(self.policy, "project_pairs"):
                self._add_pairs(*self.policy.project_pairs(self), t)
            flows = exchange(self.stream_handle("exchange"), self.pair_a, self.pair_b, self.n_pairs, a.profile, a.klen,
                             a.kcap, a.cap, a.abil, a.expt, a.ih, a.appeal, a.product_domain, a.quality, a.flows_in,
                             p.a0, p.d_star, p.g_floor, p.e_penalty_new, self.l_mid, p.sigma_v,
                             self.cap_shift, p.ih_len_max)

        # S11 critical mass multiplier, S5/S12 research
        links = self.regions.links if policy_active else self._no_links
        self.G = cm.multiplier(cm.effective_mass(self.mass, links, p.omega), self.m_star, p.g_min, p.eta)
        tilt = self.regions.search_tilt if policy_active else self._no_tilt
        room = n + self.n_institutes  # an institute may innovate twice in a step
        innov = do_research(
            self.stream_handle("research"), a.alive, a.kind, a.region, n, a.capital, a.profit, a.prev_profit,
            a.transfers, a.subsidy, a.costs, a.rd_spend, a.klen, a.kcap, a.cap, a.abil, a.expt, a.ih, a.res_slot, a.res_dir,
            a.product_domain, a.quality, a.appeal, a.profile, self.relatedness, tilt, self.G, a.innovations,
            a.innov_incr, a.innov_rad, a.innov_value, room, p.success_threshold,
            p.low_capital_threshold, p.c_incr, p.c_rad, p.s_incr, p.p_innov_incr, p.p_innov_rad,
            p.relatedness_bias, p.p_radical_ri, p.sigma_v, self.caps_per_domain, self.cap_shift, p.ih_len_max,
            p.crowding_out)
        self.innovation_log.append(innov)

        # S10 spillovers, S9 learning by doing
        field = spillover_field(self.mass, self.kernel, self.relatedness)
        spills = spill(self.stream_handle("spillovers"), a.alive, a.region, n, a.profile, field, self.relatedness,
                       p.sigma_s, self.caps_per_domain, self.cap_shift, a.klen, a.kcap, a.cap, a.abil, a.expt, a.ih)
        # S9 learning by doing, then S2 products and qualities from the kenes as they now stand
        learn_and_forget(a.alive, a.kind, n, t, a.klen, a.cap, a.abil, a.expt, a.ih, a.res_slot, self.cap_shift, D,
                         a.product_domain, a.quality, a.profile, a.advert)

        # S4 accounting
        rev, tr, co = settle(a.alive, a.kind, n, a.revenue, a.transfers, a.costs, a.capital, a.profit,
                             a.prev_profit, p.depreciation, p.ri_grant)
        self.ledger["revenue"] += rev
        self.ledger["transfers"] += tr
        self.ledger["costs"] += co
        if policy_active and hasattr(self.policy, "after_step"):
            self.policy.after_step(self)
        if self._extra_innovations:
            innov = np.concatenate([innov] + self._extra_innovations)
            self.innovation_log[-1] = innov
            self._extra_innovations = []

        # S13 demography
        births, gone = self._demography(t)

        # S11 masses, S14 evidence, indicators
        n = a.n
        self.mass = cm.mass(a.alive, a.region, a.product_domain, n, R, D)
        self._observe(t, innov, births, gone, flows, spills)

    def _add_pairs(self, pa: np.ndarray, pb: np.ndarray, t: int) -> None:
        """Append partnerships formed outside partner search (a policy's project consortia): they exchange
        knowledge this step and are remembered as ties."""
        k = len(pa)
        if k == 0:
            return
        need = self.n_pairs + k
        if self.pair_a.size < need:
            self.pair_a = np.concatenate([self.pair_a[: self.n_pairs], np.empty(need, dtype=np.int32)])
            self.pair_b = np.concatenate([self.pair_b[: self.n_pairs], np.empty(need, dtype=np.int32)])
        self.pair_a[self.n_pairs: need] = pa
        self.pair_b[self.n_pairs: need] = pb
        remember_pairs(np.asarray(pa, dtype=np.int64), np.asarray(pb, dtype=np.int64), t, self.actors.tie_partner,
                       self.actors.tie_step)
        self.n_pairs = need

    def credit_innovations(self, rows: np.ndarray, values: np.ndarray, domains: np.ndarray) -> None:
        """Credit project innovations (a policy's deliverables) to actors: counted like research innovations,
        logged with kind ``project`` in the actor's region and the given domain."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        a, D = self.actors, self.world.n_domains
        np.add.at(a.innovations, rows, 1)
        np.add.at(a.innov_value, rows, values)
        block = np.empty((rows.size, 3))
        block[:, 0] = values
        block[:, 1] = PROJECT_INNOVATION
        block[:, 2] = a.region[rows].astype(np.int64) * D + np.asarray(domains, dtype=np.int64)
        self._extra_innovations.append(block)

    def _demography(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        p, a = self.p, self.actors
        R = self.world.n_regions
        n = a.n
        gone, lost, firms_r = exits(a.alive, a.kind, a.region, a.capital, n, R)
        self.ledger["exited"] += lost
        handle = self.stream_handle("demography")
        entrants = draw_entrants(handle, p.entrant_rate, firms_r)
        if entrants is None:  # a mean of 10 or more: numpy's own sampler (numba's differs from it there)
            entrants = self.streams["demography"].poisson(p.entrant_rate * firms_r).astype(np.int64)
        parent, reg, origin, source = plan_births(handle, a.alive, a.kind, a.region, a.profit, n, p.start_up_trigger,
                                                  p.spinoff_rate, p.spinoff_local_prob, p.ri_spinoff_rate,
                                                  self.region_cdf, entrants)
        rows = a.add(parent.size)
        if rows.size:
            place_newborns(handle, rows, parent, reg, origin, source, t, a.alive, a.kind, a.origin, a.region,
                           a.capital, a.appeal, a.birth, a.parent, a.klen, a.kcap, a.cap, a.abil, a.expt, a.ih,
                           a.product_domain, a.quality, a.profile, a.advert, self.region_profile_cdf, p.kene_sme,
                           int(math.ceil(p.cap_growth * p.kene_sme)), p.u0, p.startup_expertise_cap,
                           p.initial_capital, p.sigma_v, self.caps_per_domain, self.cap_shift, p.ih_len_max,
                           a.cluster, self.co_start, self.co_rows, self.clusters.domain, p.co_membership_rate,
                           self.clusters.members)
            self.ledger["entered"] += p.initial_capital * rows.size
        if gone.size:
            leave_clusters(gone, a.cluster, self.clusters.members)
        if self.p.materialize_agents:
            for i in gone:
                self.row_agent[i].remove()
            for i in rows:
                self.row_agent.append(Firm(self, int(i)))
        return rows, gone

    # ------------------------------------------------------------------------------------------------------------
    # observation (S14, S17)
    # ------------------------------------------------------------------------------------------------------------
    def _observe(self, t: int, innov: np.ndarray, births: np.ndarray, gone: np.ndarray, flows: int,
                 spills: int) -> None:
        p, a, w = self.p, self.actors, self.world
        R, D = w.n_regions, w.n_domains
        n = a.n
        rec = self.recorder
        row = rec.values[t - 1]
        _step_indicators(row, _COLUMNS, a.alive, a.kind, a.region, a.cluster, a.revenue, a.rd_spend, a.transfers,
                         a.capital, a.flows_in, n, p.depreciation, births, gone, innov, D, self.pair_a, self.pair_b,
                         self.n_pairs, self.cum_innov_region, self._innov_since_obs)
        row[-1, _COLUMNS[15]] = float(spills)
        full = self.full_records or t >= self.n_steps_total or t in self.outcome_steps
        if full:
            row[-1, _COLUMNS[16]] = gini(self.cum_innov_region / w.regions.population_m)
        rec.n_steps = max(rec.n_steps, t)

        if t % p.evidence_every == 0 or t == self.n_steps_total:
            self.observe_evidence(t)
        # lean runs: the network's last observation before the end and before each of the outcome steps
        every = p.network_every
        if t % every == 0 and (full or t + every > self.n_steps_total
                               or any(t <= s < t + every for s in self.outcome_steps)):
            for name, values in metrics_from_ties(a.alive, a.region, a.tie_partner, a.tie_step, t, p.tie_memory, n,
                                                  R).items():
                rec.set_all(t, name, values)

    def observe_evidence(self, t: int) -> None:
        """S14 regional evidence at step ``t``: RCA, specialisation, relatedness density, the panel row, and the
        specialisation entries and exits since the previous observation."""
        a, w = self.actors, self.world
        R, D = w.n_regions, w.n_domains
        n = a.n
        rec = self.recorder
        self.x = expertise_mass(a.alive, a.region, n, a.klen, a.cap, a.expt, self.cap_shift, R, D)
        self.rca = rca(self.x, whole=True)  # expertise sums are whole numbers
        self.specialised = self.rca >= 1.0
        self.rd = relatedness_density(self.specialised, self.relatedness, self._rd_weights)
        rec.set(t, "specialised_domains", self.specialised.sum(axis=1))
        prev_spec, prev_rd = self._last_obs
        entry = self.specialised & ~prev_spec
        exit_ = prev_spec & ~self.specialised
        rec.set(t, "specialisation_entries", entry.sum(axis=1))
        rec.set(t, "specialisation_exits", exit_.sum(axis=1))
        rec.set_all(t, "entry_relatedness_density", _masked_mean(prev_rd, entry))
        rec.set_all(t, "exit_relatedness_density", _masked_mean(prev_rd, exit_))
        self._last_obs = (self.specialised.copy(), self.rd.copy())
        if not self.full_records:
            return
        firm = a.alive[:n] & (a.kind[:n] != RI)
        firms_rd = np.bincount(a.region[:n][firm].astype(np.int64) * D + a.product_domain[:n][firm],
                               minlength=R * D).reshape(R, D)
        # cluster organisations (at most one per region and domain): members now, and the innovations their
        # members (including members that left since) made since the last observation (phase-3 pilot evaluation)
        cl = self.clusters
        count = a.innovations[:n].astype(np.int64)
        since = count.copy()
        since[: self._innov_at_obs.size] -= self._innov_at_obs[: min(self._innov_at_obs.size, n)]
        self._innov_at_obs = count
        in_co = a.cluster[:n] >= 0
        co_innov = np.bincount(a.cluster[:n][in_co], weights=since[in_co], minlength=cl.n)
        co_members = np.bincount(a.cluster[:n][in_co & a.alive[:n]], minlength=cl.n)
        cm_rd = np.full((R, D), -1, dtype=np.int64)
        ci_rd = np.zeros((R, D), dtype=np.int64)
        cm_rd[cl.region, cl.domain] = co_members
        ci_rd[cl.region, cl.domain] = np.rint(co_innov).astype(np.int64)
        self.panel_rows.append((t, firms_rd, self._innov_since_obs.copy(), self.rca.copy(),
                                self.specialised.copy(), self.rd.copy(), cm_rd, ci_rd))
        self._innov_since_obs[:] = 0

    # ------------------------------------------------------------------------------------------------------------
    def run(self, steps: int | None = None) -> "S3Model":
        """Run ``steps`` quarters (default: burn-in + horizon minus the steps already taken).

        Ctrl-C stops the run between two steps (a second Ctrl-C at once): an interrupt raised inside a step could
        land in a Python callback of compiled code (numba unpickling a constant), which turns it into a
        SystemError or worse. This holds in the main thread while SIGINT has Python's default handler."""
        from ..errors import CapacityError

        todo = self.n_steps_total - self.steps if steps is None else int(steps)
        with _interrupts_between_steps() as pending:
            for _ in range(max(todo, 0)):
                try:
                    self.step()
                except CapacityError as exc:
                    raise CapacityError(f"step {self.steps}: {exc}") from None
                if pending:
                    raise KeyboardInterrupt
        return self

    def tables(self) -> dict[str, "pd.DataFrame"]:
        """The run's tidy tables: timeseries, panel, firms (alive at the end) and innovations."""
        import pandas as pd

        if not self.full_records:
            raise RuntimeError("tables() needs full_records=True (this run recorded only what outcomes() reads)")

        w, a = self.world, self.actors
        R, D = w.n_regions, w.n_domains
        region_ids = np.array(w.regions.ids, dtype=object)
        domain_names = np.array(w.domains.names, dtype=object)
        reg_cat = pd.CategoricalDtype(list(w.regions.ids))
        dom_cat = pd.CategoricalDtype(list(w.domains.names))
        if self.panel_rows:
            steps = np.repeat([r[0] for r in self.panel_rows], R * D).astype(np.int32)
            panel = pd.DataFrame({
                "step": steps,
                "region": pd.Categorical(np.tile(np.repeat(region_ids, D), len(self.panel_rows)), dtype=reg_cat),
                "domain": pd.Categorical(np.tile(np.tile(domain_names, R), len(self.panel_rows)), dtype=dom_cat),
                "firms": np.concatenate([r[1].ravel() for r in self.panel_rows]).astype(np.int64),
                "innovations": np.concatenate([r[2].ravel() for r in self.panel_rows]).astype(np.int64),
                "rca": np.concatenate([r[3].ravel() for r in self.panel_rows]),
                "specialised": np.concatenate([r[4].ravel() for r in self.panel_rows]),
                "relatedness_density": np.concatenate([r[5].ravel() for r in self.panel_rows]),
                "cluster_members": np.concatenate([r[6].ravel() for r in self.panel_rows]),
                "cluster_innovations": np.concatenate([r[7].ravel() for r in self.panel_rows]),
            })
        else:
            panel = pd.DataFrame({c: [] for c in ("step", "region", "domain", "firms", "innovations", "rca",
                                                  "specialised", "relatedness_density", "cluster_members",
                                                  "cluster_innovations")})
        n = a.n
        rows = np.flatnonzero(a.alive[:n] & (a.kind[:n] != RI))
        kind_names = np.array(KIND_NAMES, dtype=object)
        origin_names = np.array(ORIGIN_NAMES, dtype=object)
        firms = pd.DataFrame({
            "firm_id": rows.astype(np.int64),
            "kind": pd.Categorical(kind_names[a.kind[rows]], categories=list(KIND_NAMES[:3])),
            "region": pd.Categorical(region_ids[a.region[rows]], dtype=reg_cat),
            "domain": pd.Categorical(domain_names[a.product_domain[rows]], dtype=dom_cat),
            "size": a.capital[rows].copy(),
            "revenue": a.revenue[rows].copy(),
            "innovations": a.innovations[rows].astype(np.int64),
            "cluster_member": a.cluster[rows] >= 0,
            "cluster": a.cluster[rows].astype(np.int64),  # cluster organisation index (-1: none)
            "origin": pd.Categorical(origin_names[a.origin[rows]], categories=list(ORIGIN_NAMES)),
            "birth_step": a.birth[rows].astype(np.int64),
        })
        log = [(t + 1, x) for t, x in enumerate(self.innovation_log)]
        if log:
            steps = np.concatenate([np.full(len(x), t, dtype=np.int32) for t, x in log])
            allx = np.concatenate([x for _, x in log])
        else:
            steps, allx = np.zeros(0, dtype=np.int32), np.zeros((0, 3))
        cell = allx[:, 2].astype(np.int64)
        innovations = pd.DataFrame({
            "step": steps,
            "region": pd.Categorical(region_ids[cell // D], dtype=reg_cat),
            "domain": pd.Categorical(domain_names[cell % D], dtype=dom_cat),
            "kind": pd.Categorical(np.array(INNOVATION_KINDS, dtype=object)[allx[:, 1].astype(np.int64)],
                                   categories=list(INNOVATION_KINDS[1:])),
            "value": allx[:, 0],
        })
        return {"timeseries": self.recorder.tidy(), "panel": panel, "firms": firms, "innovations": innovations}

    def outcomes(self, window: int = 8, region: str = "ALL", step: int | None = None) -> dict[str, float]:
        """The run's scalar outcomes (:func:`s3sim.indicators.outcomes.outcomes`) straight from the records,
        without building tables: equal, bit for bit, to ``outcomes(**tables())`` (a test checks it).

        ``step`` takes them as the run stood after that step (default: the last step run): flows over the
        ``window`` steps up to it, stocks at it, evidence and network measures at their last observation up to
        it. When ``step`` is a multiple of ``evidence_every``, they equal those of a run that ends at ``step``
        (a test checks it). A lean run (``full_records=False``) records what this needs only at the steps of
        :attr:`outcome_steps` and from the end of its horizon on."""
        from ..indicators.outcomes import outcomes_from_records

        rec = self.recorder
        k = rec.n_steps if step is None else int(step)
        if step is not None and not (1 <= k <= rec.n_steps):
            raise ValueError(f"outcomes(step={step}): a step the run has taken, 1..{rec.n_steps}")
        if step is not None and not self.full_records and k < self.n_steps_total and k not in self.outcome_steps:
            raise ValueError(f"outcomes(step={step}): this lean run (full_records=False) recorded outcomes at steps "
                             f"{sorted(self.outcome_steps)} (outcome_steps) and from {self.n_steps_total} on only")
        log = self.innovation_log[:k]
        allx = np.concatenate(log) if log else np.zeros((0, 3))
        regions = allx[:, 2].astype(np.int64) // self.world.n_domains
        return outcomes_from_records(rec.values[:k], tuple(self.world.regions.ids), allx[:, 0], regions,
                                     window=window, region=region)

    def agent_of(self, row: int):
        """The Mesa agent of an actor row (materialised models only)."""
        return self.row_agent[row]


@contextlib.contextmanager
def _interrupts_between_steps():
    """While running steps: SIGINT is recorded (in the yielded list) instead of raised, and raised by the caller
    between steps; a second SIGINT raises at once. Only in the main thread, and only over Python's default handler
    (an application's own handler, such as s3sim-stress's, is left alone)."""
    pending: list[int] = []
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield pending
        return

    def record(signum, frame):
        if pending:
            raise KeyboardInterrupt
        pending.append(signum)

    signal.signal(signal.SIGINT, record)
    try:
        yield pending
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_COLUMN_NAMES = ("firms", "research_institutes", "entries", "exits", "innovations", "innovations_incremental",
                 "innovations_radical", "innovation_value", "rd_spending", "revenue", "value_added",
                 "public_transfers", "capital", "collaborations_intra", "collaborations_inter", "spillover_events",
                 "gini_innovation_per_capita", "knowledge_flows", "cluster_members")
_COLUMNS = np.array([INDICATOR_INDEX[name] for name in _COLUMN_NAMES], dtype=np.int64)


@kernel
def _step_indicators(row, col, alive, kind, region, cluster, revenue, rd_spend, transfers, capital, flows_in, n,
                     depreciation, births, gone, innov, n_domains, pair_a, pair_b, n_pairs, cum_innov_region,
                     innov_cells):
    """Every per-step indicator per region and in total, written into the recorder row ``row[region, col]`` in
    one pass over actors, births, exits, innovations and pairs (columns as in ``_COLUMN_NAMES``)."""
    n_regions = row.shape[0] - 1
    m = np.zeros((n_regions + 1, 19))
    for i in range(n):
        r = region[i]
        m[r, 8] += rd_spend[i]
        m[r, 11] += transfers[i]
        m[r, 17] += flows_in[i]
        if not alive[i]:
            continue
        if kind[i] == RI:
            m[r, 1] += 1
        else:
            m[r, 0] += 1
            m[r, 9] += revenue[i]
            m[r, 10] += revenue[i] - depreciation
        m[r, 12] += capital[i]
        if cluster[i] >= 0:
            m[r, 18] += 1
    for b in range(births.shape[0]):
        m[region[births[b]], 2] += 1
    for b in range(gone.shape[0]):
        m[region[gone[b]], 3] += 1
    for q in range(innov.shape[0]):
        cell = int(innov[q, 2])
        r = cell // n_domains
        m[r, 4] += 1
        if innov[q, 1] == 1:
            m[r, 5] += 1
        elif innov[q, 1] == 2:
            m[r, 6] += 1
        m[r, 7] += innov[q, 0]
        cum_innov_region[r] += 1
        innov_cells[r, cell - r * n_domains] += 1
    inter = 0
    for q in range(n_pairs):
        ra = region[pair_a[q]]
        rb = region[pair_b[q]]
        if ra == rb:
            m[ra, 13] += 1
        else:
            m[ra, 14] += 1
            m[rb, 14] += 1
            inter += 1
    for k in range(19):
        s = 0.0
        for r in range(n_regions):
            s += m[r, k]
        m[n_regions, k] = s
    m[n_regions, 14] = inter
    for k in range(19):
        if k == 15 or k == 16:  # totals only, set by the caller
            continue
        for r in range(n_regions + 1):
            row[r, col[k]] = m[r, k]


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    cnt = mask.sum(axis=1)
    s = np.where(mask, values, 0.0).sum(axis=1)
    per = np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)
    tot = s.sum() / cnt.sum() if cnt.sum() > 0 else np.nan
    return np.append(per, tot)


def _largest_remainder(shares: np.ndarray, total: int, minimum: int = 0) -> np.ndarray:
    """Integer split of ``total`` proportional to ``shares`` with at least ``minimum`` each."""
    k = shares.size
    base = np.full(k, minimum, dtype=np.int64)
    rest = total - base.sum()
    raw = shares / shares.sum() * rest
    out = np.floor(raw).astype(np.int64)
    left = rest - out.sum()
    order = np.argsort(-(raw - out), kind="stable")
    out[order[:left]] += 1
    return base + out


@kernel
def _init_kenes(rng, rows, lengths, region_col, cdf, caps_per_domain, cap_shift, u0, klen, kcap, cap, abil, expt, ih,
                ih_len_max):
    """S1 initial kenes of ``rows``, each drawn from its region's specialisation profile."""
    for b in range(rows.shape[0]):
        draw_kene(rng, rows[b], lengths[b], cdf[region_col[b]], caps_per_domain, cap_shift, u0, klen, kcap, cap,
                  abil, expt, ih, ih_len_max)
