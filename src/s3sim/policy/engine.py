"""S16 Calls, proposals and projects, and the policy engine that runs every region's regime.

:class:`S3Policy` is the object the model calls after the burn-in (``before_step``, ``project_pairs``,
``after_step``). It gives each region its regime (the default one, or its own from ``policy.regions``), and
pilot cluster organisations the ``pilot_regime`` while the rest of their region keeps its own. It owns the
budgets and the life cycle of collaborative calls:

publish -> assemble consortia -> check eligibility -> rank -> fund within the call budget -> run (members pay
``project_cost`` per quarter, the public share ``subsidy_rate`` comes back as a transfer, the consortium
exchanges knowledge every quarter) -> deliver innovations (chance ``p_deliverable`` x the critical-mass
multiplier per quarter) -> end (members keep the ties).

**Fair comparison.** The total public budget per quarter is ``budget_per_firm`` x the firms alive when the
policy starts (identical for every regime on a seed, because the burn-in is policy-free and every subsystem
draws from its own random stream); it is split over regions by economic mass, and trans-regional regions pay
``transregional_share`` of theirs into the joint pool. ``none`` has no budget. No budget is ever exceeded:
subsidies stop when the quarter's budget is spent (unspent subsidy money lapses), and a call funds proposals in
rank order only while the committed public share fits its budget; what a call does not commit carries over to
the regime's next call.

**Speed.** The loops over subsidies, a call's consortia, the running projects, their deliverables and the
StressTest scores are compiled (:mod:`s3sim.policy._kernels`); they take the same draws from the ``policy`` stream
in the same order and do the same floating-point operations as the rules described in the docstrings here, so a run
is bit-identical to the plain-numpy rules (``benchmarks/policy_equivalence.py`` checks stored runs table by table).
When every region runs a built-in regime (no pilots, no override of its support or calls), a quarter's subsidies,
operating grants and calls run in few compiled passes instead of one per region (:meth:`S3Policy._support_builtin`:
the same draws and bookings in the same order; a test checks it against the one-region-at-a-time loop). Likewise,
when every regime holding priorities is a built-in ``cluster_s3`` or ``transregional_s3`` (no pilots), a quarter's
EDP reviews run in one compiled pass (:meth:`S3Policy._review_builtin`), and the projects a batch of calls funds
are started in one (:meth:`S3Policy._funded`).
A regime that overrides ``eligible`` or ``rank`` gets its proposals as :class:`Proposal` objects through those
methods. Lean runs (``model.full_records = False``, the stress test) skip the policy's own indicators, which no
outcome reads, until the last step.
"""

from __future__ import annotations

import math
from itertools import compress
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..model.partnering import build_csr
from . import _kernels as K
from .base import Call, Project, Proposal, Regime, Scope, regime_class
from .regimes import ClusterS3, Horizontal, NoPolicy, TopDownS3, TransregionalS3

INSTRUMENTS = ("spent_subsidies", "spent_projects", "spent_cluster_grants")
STRESS = ("stress_cluster_design", "stress_cluster_implementation", "stress_breadth", "stress_alignment",
          "stress_transformative", "stress_cluster_support")


class _ProjectTable:
    """The running projects as flat arrays for the compiled loops (members of project k are
    ``members[off[k]:off[k + 1]]``, its regions ``regions[reg_off[k]:reg_off[k + 1]]``)."""

    def __init__(self, engine: S3Policy, projects: list[Project]):
        self.n = len(projects)
        calls = [pr.call for pr in projects]
        p_of_call: dict[tuple[int, int], float] = {}  # a call's regime follows from its scope and funder
        for call in calls:
            key = (call.scope, call.funder)
            if key not in p_of_call:
                p_of_call[key] = engine._regime_for_call(call).p.p_deliverable
        self.off, self.members = self._flat([pr.members for pr in projects])
        self.reg_off, self.regions = self._flat([pr.regions for pr in projects])
        self.funding = np.array([pr.funding_per_step for pr in projects], dtype=np.float64)
        self.cost = np.array([pr.cost_per_member for pr in projects], dtype=np.float64)
        self.funder = np.array([call.funder for call in calls], dtype=np.int64)
        self.domain = np.array([call.domain for call in calls], dtype=np.int64)
        self.p_deliverable = np.array([p_of_call[call.scope, call.funder] for call in calls], dtype=np.float64)

    _ARRAYS = ("funding", "cost", "funder", "domain", "p_deliverable")

    @classmethod
    def of_arrays(cls, off: np.ndarray, members: np.ndarray, reg_off: np.ndarray, regions: np.ndarray,
                  **arrays: np.ndarray) -> _ProjectTable:
        """The table whose flat members, regions and per-project arrays (``_ARRAYS``, by name) are given."""
        out = object.__new__(cls)
        out.n = off.size - 1
        out.off, out.members, out.reg_off, out.regions = off, members, reg_off, regions
        for name in cls._ARRAYS:
            setattr(out, name, arrays[name])
        return out

    def extended(self, more: _ProjectTable) -> _ProjectTable:
        """This table with the projects of ``more`` appended (as a table of both lists would be)."""
        out = object.__new__(_ProjectTable)
        out.n = self.n + more.n
        out.off = np.concatenate([self.off, more.off[1:] + self.off[-1]])
        out.members = np.concatenate([self.members, more.members])
        out.reg_off = np.concatenate([self.reg_off, more.reg_off[1:] + self.reg_off[-1]])
        out.regions = np.concatenate([self.regions, more.regions])
        for name in self._ARRAYS:
            setattr(out, name, np.concatenate([getattr(self, name), getattr(more, name)]))
        return out

    def kept(self, keep: np.ndarray) -> _ProjectTable:
        """The table of the projects flagged in ``keep`` (as a table of the shorter list would be)."""
        out = object.__new__(_ProjectTable)
        out.n = int(keep.sum())
        out.off, out.members = self._keep_flat(self.off, self.members, keep)
        out.reg_off, out.regions = self._keep_flat(self.reg_off, self.regions, keep)
        for name in self._ARRAYS:
            setattr(out, name, getattr(self, name)[keep])
        return out

    @staticmethod
    def _keep_flat(off: np.ndarray, flat: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lens = np.diff(off)
        new_off = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
        np.cumsum(lens[keep], out=new_off[1:])
        return new_off, flat[np.repeat(keep, lens)]

    @staticmethod
    def _flat(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        off = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([x.size for x in parts], out=off[1:])
        flat = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
        return off, flat


class _Params:
    """A regime's parameters: the policy config with a region's own overrides."""

    def __init__(self, base: Any, overrides: dict | None = None):
        self.__dict__.update(base)
        if overrides:
            self.__dict__.update(overrides)


class S3Policy:
    """Runs the configured S3 regimes on a model (see the module docstring)."""

    def __init__(self, config: Any):
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            config = OmegaConf.to_container(config, resolve=True)
        elif not isinstance(config, dict):
            import dataclasses

            config = dataclasses.asdict(config)
        self.config = dict(config)
        self.name = self.config["regime"]
        regime_class(self.name)
        regime_class(self.config["pilot_regime"])

    # ------------------------------------------------------------------------------------------------------------
    def setup(self, model) -> None:
        w = model.world
        R, D = w.n_regions, w.n_domains
        base = {k: v for k, v in self.config.items() if k not in ("regions", "pilots")}
        self.regimes: list[Regime] = []
        for r, rid in enumerate(w.regions.ids):
            spec = (self.config.get("regions") or {}).get(rid)
            overrides = {"regime": spec} if isinstance(spec, str) else dict(spec or {})
            params = _Params(base, overrides)
            self.regimes.append(regime_class(params.regime)(params, Scope(r, -1, rid)))
        # pilots: cluster organisations under the pilot regime
        self.pilot_of = np.full(model.clusters.n, -1, dtype=np.int64)
        self.pilots: list[Regime] = []
        for spec in self.config.get("pilots") or []:
            for co in self._resolve_pilot(model, spec):
                if self.pilot_of[co] >= 0:
                    continue
                r = int(model.clusters.region[co])
                params = _Params(base, {"regime": self.config["pilot_regime"]})
                reg = regime_class(params.regime)(params, Scope(r, int(co), f"{w.regions.ids[r]}:pilot"))
                reg.priorities = np.zeros(D, dtype=bool)
                reg.priorities[model.clusters.domain[co]] = True
                self.pilot_of[co] = len(self.pilots)
                self.pilots.append(reg)
        for reg in self.regimes:
            reg.priorities = np.zeros(D, dtype=bool)
        cl = model.clusters
        # static lookups (cluster organisations neither move nor change domain)
        self._pilot_flag = np.append(self.pilot_of >= 0, False)  # by an actor's cluster (-1: the sentinel)
        self._region_cos = [np.flatnonzero((cl.region == r) & (self.pilot_of < 0)).astype(np.int64)
                            for r in range(R)]
        self._region_co_domains = [cl.domain[cos] for cos in self._region_cos]
        self._co_start = np.zeros(R + 1, dtype=np.int64)  # the same as one array: region r's are _co_rows[start[r]:]
        np.cumsum([cos.size for cos in self._region_cos], out=self._co_start[1:])
        self._co_rows = np.concatenate(self._region_cos).astype(np.int64) if R else np.zeros(0, dtype=np.int64)
        self._co_domain = cl.domain[self._co_rows]
        self._all_region_cos = [np.flatnonzero(cl.region == r) for r in range(R)]  # pilots included
        self._all_co_start = np.zeros(R + 1, dtype=np.int64)  # the same as one array (as _co_start, _co_rows)
        np.cumsum([cos.size for cos in self._all_region_cos], out=self._all_co_start[1:])
        self._all_co_rows = (np.concatenate(self._all_region_cos).astype(np.int64) if R
                             else np.zeros(0, dtype=np.int64))
        self._one_region = np.eye(R, dtype=bool)
        self._no_domains = np.zeros(0, dtype=bool)  # subsidies open to every domain
        self._no_rows = np.zeros(0, dtype=np.int64)
        self._by_region = [[reg for reg in self._all() if reg.scope.region == r] for r in range(R)]
        self._table_key: tuple | None = None
        self._table_cache: _ProjectTable | None = None
        self._target_key: tuple | None = None
        self._target_cache: np.ndarray | None = None
        self._step_cache: dict[Any, Any] = {}
        self.started = None
        self.projects: list[Project] = []
        self._first_end = math.inf  # the earliest end of a running project
        self.next_call_id = 0
        self.region_budget = np.zeros(R)
        self.pool_budget = 0.0
        self.call_budget_acc: dict[int, float] = {}
        self.pool_acc = 0.0
        self.spent = {k: np.zeros(R) for k in INSTRUMENTS}
        self.cum_spent = np.zeros(R)
        self.cum_innov = np.zeros(R)
        self.innov_review = np.zeros((R, D))       # region x domain innovations since the region's last review
        self.member_innov = np.zeros((model.clusters.n, D))  # per cluster organisation, since the last review
        self.transformative = np.zeros(R)
        self.to_clusters = np.zeros(R)
        self.funded_intra = np.zeros(R)
        self.funded_inter = np.zeros(R)
        self.funded_inter_total = 0
        self.participations = np.zeros(R)
        self.cluster_participations = np.zeros(R)
        self.committed = 0.0
        self.budget_total = 0.0
        self.budget_log: list[tuple[int, float, float]] = []
        self._prev_innov: np.ndarray | None = None  # (call id, budget, committed) for every call

    def describe(self, model) -> dict:
        """What ran where: each region's regime and the pilot cluster organisations (the treated clusters of the
        phase-3 test; every other cluster organisation is untreated). Stored in the run's manifest."""
        w, cl = model.world, model.clusters
        return {
            "regimes": {w.regions.ids[reg.scope.region]: reg.name for reg in self.regimes},
            "pilots": [{"cluster": int(reg.scope.cluster), "region": w.regions.ids[reg.scope.region],
                        "domain": w.domains.names[cl.domain[reg.scope.cluster]], "regime": reg.name}
                       for reg in self.pilots],
            "budget_per_quarter": float(self.budget_total),
        }

    def _resolve_pilot(self, model, spec: str) -> list[int]:
        w, cl = model.world, model.clusters
        if spec == "auto":  # one per region: the organisation with most members
            out = []
            for r in range(w.n_regions):
                cos = np.flatnonzero((cl.region == r) & (cl.members > 0))
                if cos.size:
                    out.append(int(cos[np.argmax(cl.members[cos])]))
            return out
        rid, _, dom = str(spec).partition(":")
        r = w.regions.index(rid)
        cos = np.flatnonzero(cl.region == r)
        names = [w.domains.names[cl.domain[c]] for c in cos]
        if dom not in names:
            raise ConfigError("policy.pilots", spec, f"a cluster organisation of {rid}: "
                              f"{', '.join(f'{rid}:{n}' for n in names) or 'none exists'}, or 'auto'")
        return [int(cos[names.index(dom)])]

    # ------------------------------------------------------------------------------------------------------------
    def _all(self) -> list[Regime]:
        return self.regimes + self.pilots

    def _start(self, model, t: int) -> None:
        """First policy step: fix the budgets (equal total for every funded regime)."""
        self.started = t
        a, w = model.actors, model.world
        n = a.n
        firms = int((a.alive[:n] & (a.kind[:n] != 3)).sum())
        total = self.config["budget_per_firm"] * firms
        mass = w.regions.economic_mass / w.regions.economic_mass.sum()
        self.budget_total = total if any(r.funded for r in self._all()) else 0.0
        for r, reg in enumerate(self.regimes):
            self.region_budget[r] = self.budget_total * mass[r]
        for reg in self._all():
            self.call_budget_acc[id(reg)] = 0.0

    def _budget_of(self, reg: Regime) -> float:
        """A regime's quarterly budget: its region's (minus pilots' share), or a pilot's members' share."""
        r = reg.scope.region
        b = self.region_budget[r]
        if not self.regimes[r].funded and reg.scope.cluster < 0:
            return 0.0
        share = self._pilot_share(r)
        if reg.scope.cluster >= 0:
            members = self._members(reg.scope.cluster)
            return b * members / max(self._actors_in(r), 1) if reg.funded else 0.0
        return b * (1.0 - share) if reg.funded else 0.0

    def _members(self, co: int) -> int:
        return int(self._model.clusters.members[co])

    def _actors_in(self, r: int) -> int:
        counts = self._step_cache.get("actors_in")
        if counts is None:
            a = self._model.actors
            n = a.n
            counts = np.bincount(a.region[:n][a.alive[:n]], minlength=self._model.world.n_regions)
            self._step_cache["actors_in"] = counts
        return int(counts[r])

    def _pilot_share(self, r: int) -> float:
        cos = [p.scope.cluster for p in self.pilots if p.scope.region == r]
        if not cos:
            return 0.0
        return sum(self._members(c) for c in cos) / max(self._actors_in(r), 1)

    def scope_mask(self, model, scope: Scope) -> np.ndarray:
        a = model.actors
        n = a.n
        mask = a.alive[:n] & (a.region[:n] == scope.region)
        cl = a.cluster[:n]
        if scope.cluster >= 0:
            return mask & (cl == scope.cluster)
        if self.pilots:
            mask &= ~self._pilot_flag[cl]
        return mask

    # ------------------------------------------------------------------------------------------------------------
    # instruments
    # ------------------------------------------------------------------------------------------------------------
    def subsidise(self, model, scope: Scope, budget: float, domains: np.ndarray | None) -> None:
        """Single-beneficiary R&D subsidies: subsidy_rate x the research cost of firms about to research (last
        profit <= success_threshold), in a random order, until ``budget`` is spent."""
        a, p = model.actors, model.p
        n = a.n
        if scope.cluster >= 0:
            rows = np.flatnonzero(self.scope_mask(model, scope) & (a.kind[:n] != 3)
                                  & (a.profit[:n] <= p.success_threshold))
        else:
            rows = self._researching(model)[scope.region]
        if budget <= 0:
            return
        rate = self._regime(scope).p.subsidy_rate
        booked, total, to_clusters, transformative = K.subsidise(
            model.stream_handle("policy"), rows, self._no_domains if domains is None else domains, a.product_domain,
            a.capital, a.transfers, a.subsidy, a.cluster, rate, p.c_rad, p.c_incr, p.low_capital_threshold,
            float(budget), self._target(model)[scope.region])
        if booked:
            r = scope.region
            self.spent["spent_subsidies"][r] += total
            self.cum_spent[r] += total
            self.to_clusters[r] += to_clusters
            self.transformative[r] += transformative

    def _researching(self, model) -> list[np.ndarray]:
        """This step's firms about to research (last profit <= success_threshold) by region (ascending rows),
        pilot cluster members left out: the candidates of a region's subsidies."""
        out = self._step_cache.get("researching")
        if out is None:
            start, rows = self._researching_csr(model)
            out = [rows[start[r]: start[r + 1]] for r in range(model.world.n_regions)]
            self._step_cache["researching"] = out
        return out

    def _researching_csr(self, model) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_researching` as one array: the rows of region r are ``rows[start[r]:start[r + 1]]``."""
        csr = self._step_cache.get("researching_csr")
        if csr is None:
            a, p = model.actors, model.p
            csr = self._step_cache["researching_csr"] = K.researching_by_region(
                a.n, a.alive, a.kind, a.profit, a.region, a.cluster, self._pilot_flag, p.success_threshold,
                model.world.n_regions)
        return csr

    def grant_clusters(self, model, scope: Scope, budget: float, domains: np.ndarray, brokerage: float) -> None:
        """Operating grants, split equally among the scope's cluster organisations in priority domains, which
        broker with ``brokerage``."""
        cl = model.clusters
        if scope.cluster >= 0:
            cos = np.array([scope.cluster], dtype=np.int64)
            domains = np.ones(domains.size, dtype=bool)  # a pilot's own organisation, whatever its domain
            co_domains = cl.domain[cos]
        else:
            cos = self._region_cos[scope.region]
            co_domains = self._region_co_domains[scope.region]
        k, transformative = K.grant_clusters(cos, co_domains, domains, brokerage, cl.brokerage, cl.budget,
                                             float(budget), self._target(model)[scope.region])
        if k == 0 or budget <= 0:
            return
        r = scope.region
        self.spent["spent_cluster_grants"][r] += budget
        self.cum_spent[r] += budget
        self.to_clusters[r] += budget
        self.transformative[r] += transformative

    def _target(self, model) -> np.ndarray:
        """Region x domain: related (density above the region's median) and not yet specialised. Recomputed when
        the model's evidence (``rd``, ``specialised``: replaced, never changed in place) is new."""
        key = (model.rd, model.specialised)
        if self._target_key is None or self._target_key[0] is not key[0] or self._target_key[1] is not key[1]:
            self._target_cache = K.target_mask(np.ascontiguousarray(model.rd, dtype=np.float64),
                                               np.ascontiguousarray(model.specialised, dtype=np.bool_))
            self._target_key = key
        return self._target_cache

    def _regime(self, scope: Scope) -> Regime:
        return self.pilots[self.pilot_of[scope.cluster]] if scope.cluster >= 0 else self.regimes[scope.region]

    # ------------------------------------------------------------------------------------------------------------
    # evidence for the EDP
    # ------------------------------------------------------------------------------------------------------------
    def cluster_signals(self, model, scope: Scope) -> np.ndarray:
        """Signals of the scope's cluster organisations: one for each focal domain plus the innovations of their
        members since the last review, by domain."""
        cl = model.clusters
        D = model.world.n_domains
        cos = self._all_region_cos[scope.region] if scope.cluster < 0 else np.array([scope.cluster])
        # whole numbers throughout, so the order of the additions does not matter (compiled: K.cluster_signals)
        return K.cluster_signals(cos.astype(np.int64, copy=False), cl.domain, self.member_innov, D)

    def innovations_since_review(self, scope: Scope) -> np.ndarray:
        return self.innov_review[scope.region].copy()

    def reset_review(self, scope: Scope) -> None:
        self.innov_review[scope.region] = 0.0
        if scope.cluster >= 0:
            self.member_innov[scope.cluster] = 0.0
        else:
            self.member_innov[self._all_region_cos[scope.region]] = 0.0

    # ------------------------------------------------------------------------------------------------------------
    # calls, proposals, projects
    # ------------------------------------------------------------------------------------------------------------
    def new_call(self, domain: int, budget: float, regions: np.ndarray, min_regions: int, scope: int,
                 funder: int) -> Call:
        self.next_call_id += 1
        return Call(self.next_call_id, int(domain), float(budget), np.asarray(regions), min_regions, scope, funder)

    def _joint_calls(self, model, budget: float) -> list[Call]:
        """Joint calls of the trans-regional pool: domains where at least two participating regions have a
        priority equal or related (>= phi_min) to the domain; at most three calls, the most widely shared."""
        phi = model.world.domains.relatedness
        regs = [reg for reg in self._all() if reg.joint and reg.priorities.any()]
        if budget <= 0 or len({reg.scope.region for reg in regs}) < 2:
            return []
        D = model.world.n_domains
        phi_min = self.config["phi_min"]
        eligible = np.zeros((model.world.n_regions, D), dtype=bool)
        for reg in regs:
            eligible[reg.scope.region] |= (phi[reg.priorities] >= phi_min).any(axis=0)
        counts = eligible.sum(axis=0)
        domains = [d for d in np.argsort(-counts, kind="stable") if counts[d] >= 2][:3]
        return [self.new_call(d, budget / len(domains), np.flatnonzero(eligible[:, d]), 2, -1, -1) for d in domains]

    def _assemble(self, model, call: Call) -> list[Proposal]:
        """Consortia for a call (INFSO-SKIN): coordinators are research institutes or cluster members holding
        knowledge in the call domain (at most five, in a random order); each invites the best-matching eligible
        actors (knowledge in the call domain, previous partners first, a random tie-break), up to
        ``project_size``, then keeps the composition rules (an SME; a research institute or cluster member; for
        joint calls, at least two regions) by swapping its last invitee for the best candidate that fixes a
        missing SME, then a member for the best candidate from a missing second region (the last invitee whose
        departure leaves an SME). Candidates are alive actors of the call's regions with knowledge
        in its domain and in fewer than two projects; of the pilot cluster for pilot calls, of joint regimes for
        joint calls. (Compiled: :func:`s3sim.policy._kernels.assemble`.)"""
        a = model.actors
        size = int(self._regime_for_call(call).p.project_size)
        members = np.empty((K.MAX_COORDINATORS, max(size, 3)), dtype=np.int64)
        lens = np.empty(K.MAX_COORDINATORS, dtype=np.int64)
        region_ok, single, scope, use_mask = self._pool(model, call)
        reg_start, reg_rows = self._region_rows(model)
        n_props = K.assemble(model.stream_handle("policy"), a.n, a.alive, a.region, a.kind, a.cluster, a.profile,
                             a.tie_partner, self._busy_of(model), int(call.domain), region_ok, single, reg_start,
                             reg_rows, scope, use_mask, self._joint_mask(model), size, int(call.min_regions),
                             members, lens)
        return [Proposal(call, members[k, : lens[k]].copy()) for k in range(n_props)]

    def _pool(self, model, call: Call) -> tuple[np.ndarray, int, int, bool]:
        """Who may join a call: its regions (a mask; ``single`` is the region of a one-region call, else -1),
        the pilot cluster (``scope``) and whether only actors under a joint regime may (joint calls)."""
        regions = np.asarray(call.regions)
        if regions.size == 1:
            single = int(regions[0])
            region_ok = self._one_region[single]
        else:
            single = -1
            region_ok = np.zeros(model.world.n_regions, dtype=bool)
            region_ok[regions] = True
        return region_ok, single, int(call.scope), bool(call.scope < 0 and call.funder < 0)

    def _region_rows(self, model) -> tuple[np.ndarray, np.ndarray]:
        """This step's actor rows by region (ascending within a region): rows of region r are
        ``rows[start[r]:start[r + 1]]``."""
        csr = self._step_cache.get("region_rows")
        if csr is None:
            a = model.actors
            csr = build_csr(a.region, np.ones(a.n, dtype=np.bool_), a.n, model.world.n_regions)  # a counting sort
            self._step_cache["region_rows"] = csr
        return csr

    def _joint_mask(self, model) -> np.ndarray:
        """This step's actors under a joint regime."""
        mask = self._step_cache.get("joint_mask")
        if mask is None:
            a = model.actors
            mask = np.zeros(a.n, dtype=bool)
            for reg in self._all():
                if reg.joint:
                    mask |= self.scope_mask(model, reg.scope)
            self._step_cache["joint_mask"] = mask
        return mask

    def _regime_for_call(self, call: Call) -> Regime:
        if call.scope >= 0:
            return self.pilots[self.pilot_of[call.scope]]
        if call.funder >= 0:
            return self.regimes[call.funder]
        return next((r for r in self._all() if r.joint), self.regimes[0])

    def _busy(self, n: int) -> np.ndarray:
        """Projects each of the first ``n`` actors is in."""
        return K.busy_count(self._table().members, n)

    def _busy_of(self, model) -> np.ndarray:
        """This step's project counts per actor, kept up to date as calls fund projects."""
        busy = self._step_cache.get("busy")
        if busy is None:
            busy = self._step_cache["busy"] = self._busy(model.actors.n)
        return busy

    def _table(self) -> _ProjectTable:
        """The running projects as arrays (extended when projects were appended to the list, rebuilt when the list
        changed otherwise, except by :meth:`after_step`, which cuts the table as it cuts the list)."""
        key = (self.projects, len(self.projects))
        old = self._table_key
        if old is None or old[0] is not key[0] or old[1] > key[1]:
            self._table_cache = _ProjectTable(self, self.projects)
        elif old[1] < key[1]:
            self._table_cache = self._table_cache.extended(_ProjectTable(self, self.projects[old[1]:]))
        self._table_key = key
        return self._table_cache

    @staticmethod
    def _standard_rules(reg: Regime) -> bool:
        """True when a regime judges and ranks proposals by the base rules (the compiled path applies)."""
        return (type(reg).eligible is Regime.eligible and type(reg).rank is Regime.rank
                and "eligible" not in reg.__dict__ and "rank" not in reg.__dict__)

    @staticmethod
    def _unit(p: Any, call: Call) -> float:
        """A project's cost per member and quarter (joint projects cost ``joint_cost_factor`` more)."""
        return p.project_cost * (1.0 + (p.joint_cost_factor if call.min_regions >= 2 else 0.0))

    def _fund(self, model, call: Call, t: int) -> float:
        """Fund a call's best eligible proposals within its budget; returns the public money committed.

        Eligible proposals are ranked (joint calls also weigh the partner regions' mass in the domain: + 0.1
        log1p of it) and funded in rank order while the committed public share fits the call budget; a proposal
        with a member already in two projects is passed over."""
        reg = self._regime_for_call(call)
        if self._standard_rules(reg):
            return self._fund_calls(model, [call], t)[0]
        a = model.actors
        p = reg.p
        props = [pr for pr in self._assemble(model, call) if reg.eligible(self, model, pr)]
        n_funded, committed = 0, 0.0
        members = np.zeros((1, 1), dtype=np.int64)
        lens = np.zeros(1, dtype=np.int64)
        funded = np.zeros(1, dtype=np.int64)
        if props:
            scores = np.array(reg.rank(self, model, props), dtype=np.float64)
            members = np.zeros((len(props), max(pr.members.size for pr in props)), dtype=np.int64)
            lens = np.array([pr.members.size for pr in props], dtype=np.int64)
            for k, pr in enumerate(props):
                members[k, : pr.members.size] = pr.members
            funded = np.empty(len(props), dtype=np.int64)
            n_funded, committed = K.fund_ranked(
                a.region, model.mass, self._busy_of(model), members, lens, np.arange(len(props)), scores,
                int(call.domain), call.min_regions >= 2, p.subsidy_rate, self._unit(p, call), p.project_duration,
                call.budget, funded)
        return self._funded(model, [call], [reg], self._call_columns(model, [call], [reg]),
                            np.array([self._unit(p, call)]), members[None], lens[None], funded[None],
                            np.array([n_funded], dtype=np.int64), [committed], t)[0]

    def _fund_calls(self, model, calls: list[Call], t: int, regs: list[Regime] | None = None,
                    columns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> list[float]:
        """Fund calls in turn (as :meth:`_fund` does one by one); returns the money each committed. ``regs``: the
        calls' regimes (:meth:`_regime_for_call`), ``columns``: their :meth:`_call_columns`, when the caller
        knows them."""
        if not calls:
            return []
        if regs is None:
            regs = [self._regime_for_call(call) for call in calls]
        checked: set[int] = set()
        for reg in regs:
            if id(reg) not in checked:
                if not self._standard_rules(reg):
                    return [self._fund(model, call, t) for call in calls]
                checked.add(id(reg))
        a = model.actors
        k = len(calls)
        if columns is None:
            columns = self._call_columns(model, calls, regs)
        ints, floats, region_ok = columns
        domain, scope, funder, min_regions, sizes, single = (np.ascontiguousarray(x) for x in ints)
        budget, rate, duration, cost, joint_factor = (np.ascontiguousarray(x) for x in floats)
        # as _unit, elementwise (the same two operations per call)
        unit = cost * (1.0 + np.where(min_regions >= 2, joint_factor, 0.0))
        use_mask = (scope < 0) & (funder < 0)
        members = np.empty((k, K.MAX_COORDINATORS, max(int(sizes.max()), 3)), dtype=np.int64)
        lens = np.empty((k, K.MAX_COORDINATORS), dtype=np.int64)
        funded = np.empty((k, K.MAX_COORDINATORS), dtype=np.int64)
        n_funded = np.empty(k, dtype=np.int64)
        committed = np.empty(k)
        reg_start, reg_rows = self._region_rows(model)
        K.fund_calls(
            model.stream_handle("policy"), a.n, a.alive, a.region, a.kind, a.cluster, a.profile, a.tie_partner,
            self._busy_of(model), model.mass, reg_start, reg_rows, self._joint_mask(model), domain, region_ok, single,
            scope, use_mask, sizes, min_regions, rate, unit, duration, budget, members, lens, funded, n_funded,
            committed)
        return self._funded(model, calls, regs, columns, unit, members, lens, funded, n_funded, committed.tolist(), t)

    @staticmethod
    def _call_columns(model, calls: list[Call], regs: list[Regime]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the compiled funding of calls reads of them and their regimes, one column per call: the rows
        domain, scope, funder, min_regions, project_size and the region of a one-region call (else -1), as
        int64; the rows budget, subsidy_rate, project_duration, project_cost and joint_cost_factor, as float64;
        and the calls' regions as a mask (calls x regions; as :meth:`_pool`)."""
        k = len(calls)
        ints = np.empty((6, k), dtype=np.int64)
        ints[:5] = np.array([(call.domain, call.scope, call.funder, call.min_regions, int(reg.p.project_size))
                             for call, reg in zip(calls, regs)], dtype=np.int64).T
        floats = np.array([(call.budget, p.subsidy_rate, p.project_duration, p.project_cost, p.joint_cost_factor)
                           for call, p in zip(calls, (reg.p for reg in regs))], dtype=np.float64).T
        regions = [np.asarray(call.regions) for call in calls]
        n_reg = np.array([x.size for x in regions], dtype=np.int64)
        flat = np.concatenate(regions).astype(np.int64, copy=False)
        region_ok = np.zeros((k, model.world.n_regions), dtype=bool)
        region_ok[np.repeat(np.arange(k), n_reg), flat] = True
        single = ints[5]
        single[:] = -1
        one = n_reg == 1
        single[one] = flat[(np.cumsum(n_reg) - n_reg)[one]]
        return ints, floats, region_ok

    def _funded(self, model, calls: list[Call], regs: list[Regime], columns: tuple[np.ndarray, ...], unit: np.ndarray,
                members: np.ndarray, lens: np.ndarray, funded: np.ndarray, n_funded: np.ndarray,
                committed: list[float], t: int) -> list[float]:
        """Start the funded proposals' projects of calls in turn, each call's in funding order, and book each
        call's commitment; returns the commitments. Call ``j`` (regime ``regs[j]``, :meth:`_call_columns`
        ``columns``, :meth:`_unit` ``unit[j]``) had the proposals ``members[j, p, :lens[j, p]]``, of which it funded
        ``funded[j, :n_funded[j]]``. A project's regions are its members' distinct regions (ascending); it counts
        as funded within one region or across regions (compiled: :func:`s3sim.policy._kernels.start_projects`)."""
        if n_funded.any():
            ints, floats, _ = columns
            region = model.actors.region
            off, flat, reg_off, regions, call_of, per_step, n_inter = K.start_projects(
                members, lens, funded, n_funded, region, np.ascontiguousarray(floats[1]), unit, self.funded_intra,
                self.funded_inter)
            self.funded_inter_total += n_inter
            end = t + floats[2].astype(np.int64)  # t + int(project_duration)
            self._first_end = min(self._first_end, int(end[n_funded > 0].min()))
            # members and regions of each project: slices of one fresh array each (regions in the actors' dtype)
            own_regions = regions.astype(region.dtype)
            o, ro, ends, units = off.tolist(), reg_off.tolist(), end.tolist(), unit.tolist()
            new = [Project(calls[j], flat[o[q]: o[q + 1]], own_regions[ro[q]: ro[q + 1]], t, ends[j], x, units[j])
                   for q, (j, x) in enumerate(zip(call_of.tolist(), per_step.tolist()))]
            old = self._table_key
            fresh = old is not None and old[0] is self.projects and old[1] == len(self.projects)
            self.projects.extend(new)
            if fresh:  # the table of the list so far, extended by these projects (as _table would extend it)
                p_deliverable = np.array([reg.p.p_deliverable for reg in regs], dtype=np.float64)
                part = _ProjectTable.of_arrays(off, flat, reg_off, regions, funding=per_step, cost=unit[call_of],
                                               funder=ints[2][call_of], domain=ints[0][call_of],
                                               p_deliverable=p_deliverable[call_of])
                self._table_cache = self._table_cache.extended(part)
                self._table_key = (self.projects, len(self.projects))
        total = self.committed
        for c in committed:  # in call order
            total += c
        self.committed = total
        self.budget_log.extend([(call.call_id, call.budget, c) for call, c in zip(calls, committed)])
        return committed

    def _run_projects(self, model, t: int) -> None:
        """Pay the running projects' public share, book members' costs, link regions of joint projects.

        Per project with alive members (members that exited are neither paid nor charged): each pays
        ``cost_per_member`` and gets funding_per_step / members as a transfer; the public money is booked to the
        funder (the members' regions for the joint pool). A joint project links its regions (critical mass) and
        its members' cluster organisations in different regions (brokerage, S6)."""
        a = model.actors
        links = model.regions.links
        links[:] = 0.0
        model.clusters.link[:] = -1
        tb = self._table()
        if tb.n == 0:
            return
        K.run_projects(tb.members, tb.off, tb.funding, tb.cost, tb.funder, tb.domain, tb.regions, tb.reg_off,
                       a.alive, a.region, a.cluster, a.costs, a.rd_spend, a.transfers, self.spent["spent_projects"],
                       self.cum_spent, self.to_clusters, self.transformative, self.participations,
                       self.cluster_participations, self._target(model), links, model.clusters.region,
                       model.clusters.link)

    def project_pairs(self, model) -> tuple[np.ndarray, np.ndarray]:
        """This quarter's project partnerships: every member with its coordinator."""
        tb = self._table()
        if tb.n == 0:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
        return K.project_pairs(tb.members, tb.off, model.actors.alive)

    # ------------------------------------------------------------------------------------------------------------
    # the model's hooks
    # ------------------------------------------------------------------------------------------------------------
    def before_step(self, model) -> None:
        self._model = model
        self._step_cache = {}
        t = model.steps
        if self.started is None:
            self._start(model, t)
        for k in self.spent:
            self.spent[k][:] = 0.0
        self.funded_intra[:] = 0.0
        self.funded_inter[:] = 0.0
        self.funded_inter_total = 0
        model.clusters.brokerage[:] = 1.0
        tilt = model.regions.search_tilt
        if not self._review_builtin(model, t):
            for reg in self._all():
                new = reg.review_priorities(self, model, t) if reg.prioritises else None
                if new is not None:
                    reg.priorities = new
        builtin = self._builtin_support()
        pri = None
        if builtin:
            try:
                pri = np.array([reg.priorities for reg in self.regimes])
            except ValueError:  # rows of different lengths
                pri = None
        if pri is not None and pri.dtype == _BOOL and pri.shape == tilt.shape:
            # every row at once: the same products as below (no priorities: a row of zeros times 0.0)
            flags = [reg.prioritises for reg in self.regimes]
            self._step_cache["priorities"] = pri  # support reads each regime's own priorities, as the loop below
            if not all(flags):
                pri = pri.copy()
                pri[~np.array(flags, dtype=bool)] = False
            tau = np.array([reg.p.tau_dir if f else 0.0 for reg, f in zip(self.regimes, flags)], dtype=np.float64)
            model.regions.priority[:] = pri
            np.multiply(tau[:, None], pri, out=tilt)
        else:
            for r, reg in enumerate(self.regimes):
                model.regions.priority[r] = reg.priorities if reg.prioritises else False
                tilt[r] = reg.p.tau_dir * reg.priorities if reg.prioritises else 0.0
        due = (t - self.started) % int(self.config["call_period"]) == 0
        if builtin:
            self._support_builtin(model, t, due)
        else:
            for reg in self._all():
                b = self._budget_of(reg)
                pool_part = self.config["transregional_share"] * b if reg.joint else 0.0
                self.pool_acc += pool_part
                b -= pool_part
                if reg.collaborative:
                    reg.direct_support(self, model, t, b)
                    self.call_budget_acc[id(reg)] += b * reg.call_share()
                    if due:
                        calls = list(reg.publish_calls(self, model, t, self.call_budget_acc[id(reg)]))
                        for committed in self._fund_calls(model, calls, t):
                            # what a call does not commit carries over to the next call
                            self.call_budget_acc[id(reg)] -= committed
                elif reg.funded:
                    reg.direct_support(self, model, t, b)
            if due:
                for committed in self._fund_calls(model, self._joint_calls(model, self.pool_acc), t):
                    self.pool_acc -= committed
        self._run_projects(model, t)

    def _review_builtin(self, model, t: int) -> bool:
        """The quarter's EDP reviews in one compiled pass (:func:`s3sim.policy._kernels.edp_reviews`) when every
        regime that holds priorities is a built-in ``cluster_s3`` or ``transregional_s3`` reviewing by the shipped
        rule (no pilots, no override of the review or of the engine's evidence for it, the compiled path's dtypes);
        returns False, having changed nothing, otherwise. The same draws (one standard normal per domain, region
        after region) and operations, in the same order, as ``ClusterS3.review_priorities`` one region at a time,
        with the same state kept on each regime."""
        own = self.__dict__
        if self.pilots or type(self) is not S3Policy or any(m in own for m in _REVIEW_EVIDENCE):
            return False
        due: list[Regime] = []
        never: list[bool] = []  # not reviewed yet
        for reg in self.regimes:
            if not reg.prioritises:
                continue
            cls = type(reg)
            if cls not in _CLUSTER_TYPES or cls.review_priorities is not _CLUSTER_REVIEW \
                    or "review_priorities" in reg.__dict__:
                return False
            last = reg.state.get("last_review")
            if last is None or not t - last < reg.p.edp_period:
                due.append(reg)
                never.append(last is None)
        if not due:
            return True
        n, D = len(due), model.world.n_domains
        rd = model.rd
        z_cx = due[0]._z_complexity(model)  # every cluster_s3 regime's own copy holds the same values
        strikes = [reg.state.get("strikes") for reg in due]
        none = np.zeros(D, dtype=np.int64)  # a first review's strikes are not read
        try:
            pri = np.array([reg.priorities for reg in due])
            strike = np.array([none if s is None else s for s in strikes])
        except ValueError:  # rows of different lengths
            return False
        if (rd.dtype != np.float64 or rd.shape[1:] != (D,) or z_cx.dtype != np.float64 or z_cx.shape != (D,)
                or pri.dtype != np.bool_ or pri.shape != (n, D) or strike.dtype != np.int64 or strike.shape != (n, D)):
            return False
        noise = model.streams["policy"].standard_normal(n * D).reshape(n, D)  # the draws of n reviews, in turn
        ps = [reg.p for reg in due]
        fparams = np.array([(p.w_signal, p.w_relatedness, p.w_complexity, p.sigma_edp, p.theta_exit) for p in ps],
                           dtype=np.float64)
        iparams = np.array([(reg.scope.region, p.max_changes, min(p.n_priorities, D)) for reg, p in zip(due, ps)],
                           dtype=np.int64)
        first = np.array(never, dtype=np.bool_)
        new = np.zeros((n, D), dtype=np.bool_)
        signalled = np.zeros((n, D), dtype=np.bool_)
        dropped = np.zeros(n, dtype=np.int64)
        K.edp_reviews(iparams, self._all_co_start, self._all_co_rows, model.clusters.domain, self.member_innov,
                      self.innov_review, np.ascontiguousarray(rd), z_cx, noise, fparams, first, pri, strike, new,
                      signalled, dropped)
        for reg, s, f, x, sig, row, out in zip(due, strikes, first.tolist(), dropped.tolist(), signalled, strike, new):
            state = reg.state  # as the regime's own review leaves it
            state["last_review"] = t
            if f:
                state["strikes"] = np.zeros(D, dtype=np.int64)
            else:
                s[:] = row
                state["dropped"] = state.get("dropped", 0) + x
            state["signalled"] = sig
            reg.priorities = out
        return True

    def _builtin_support(self) -> bool:
        """True when the quarter's support may run as :meth:`_support_builtin`: no pilots, every region under a
        built-in regime whose support, calls and budget flags are the shipped ones (no override in a subclass, on
        the class or on the instance), and the engine's own instruments as shipped (not overridden on the
        engine instance; replacing them on the class ``S3Policy`` itself is not detected: subclass it)."""
        own = self.__dict__
        if self.pilots or type(self) is not S3Policy:
            return False
        for m in _ENGINE_INSTRUMENTS:
            if m in own:
                return False
        for cls in set(map(type, self.regimes)):
            rules = _BUILTIN_RULES.get(cls)
            if rules is None:
                return False
            for m, f in zip(_SUPPORT_RULES, rules):
                if getattr(cls, m, None) is not f:
                    return False
        for reg in self.regimes:
            if not _SUPPORT_OVERRIDES.isdisjoint(reg.__dict__):
                return False
        return True

    def _support_builtin(self, model, t: int, due: bool) -> None:
        """The quarter's budgets, subsidies, operating grants and calls of the built-in regimes (no pilots), with
        the same draws, bookings and floating-point operations, in the same order, as the general loop in
        :meth:`before_step`, but in few compiled passes: the subsidies of consecutive regions in one, the calls of
        consecutive regions in one (a region's subsidies and calls draw from the policy stream, so they keep their
        order), every operating grant in one (grants draw nothing, and without pilots a region's grants and
        subsidies never meet in one region's books). A ``cluster_s3`` region's calls are those of
        ``ClusterS3.publish_calls`` (one per priority domain, the budget split equally), made here with their
        columns for the compiled funding."""
        share = self.config["transregional_share"]
        budgets = self.region_budget.tolist()
        acc = self.call_budget_acc
        pri = self._step_cache.get("priorities")  # the regions' priorities as rows, when before_step made them
        subs: list[tuple[int, Regime, float]] = []
        grants: list[tuple[int, Regime, float]] = []
        calls: list[Call] = []
        owners: list[Regime] = []
        groups: list[tuple[Regime, int, list[int], float]] = []  # a region's calls: regime, region, domains, budget
        for r, reg in enumerate(self.regimes):
            b = budgets[r] if reg.funded else 0.0  # as _budget_of (b x (1 - 0), exactly b): no pilot takes a share
            pool_part = share * b if reg.joint else 0.0
            self.pool_acc += pool_part
            if not reg.funded:
                continue
            b -= pool_part
            if reg.collaborative:
                grants.append((r, reg, reg.p.co_grant_share * b))
                acc[id(reg)] += b * reg.call_share()
                if due:
                    budget = acc[id(reg)]
                    domains = np.flatnonzero(reg.priorities if pri is None else pri[r]).tolist()
                    if domains and not budget <= 0:  # ClusterS3.publish_calls, as new_call makes its calls
                        if subs:
                            self._subsidise_regions(model, subs, pri)
                            subs = []
                        each = budget / len(domains)
                        cid = self.next_call_id
                        regions = np.array([r])
                        scope = reg.scope.cluster
                        calls.extend([Call(cid + j, d, each, regions.copy(), 1, scope, r)
                                      for j, d in enumerate(domains, 1)])
                        self.next_call_id = cid + len(domains)
                        owners.extend([reg] * len(domains))
                        groups.append((reg, r, domains, each))
            else:
                if calls:
                    self._fund_owned(model, calls, owners, t, self._group_columns(model, groups))
                    calls, owners, groups = [], [], []
                subs.append((r, reg, b))
        if grants:
            self._grant_regions(model, grants, pri)
        if subs:
            self._subsidise_regions(model, subs, pri)
        columns = self._group_columns(model, groups) if groups else None
        if due:
            joint = self._joint_calls(model, self.pool_acc)
            if joint:
                regs = [self._regime_for_call(call) for call in joint]
                more = self._call_columns(model, joint, regs)
                if columns is not None:  # calls are columns of the first two, rows of the mask
                    more = tuple(np.concatenate([x, y], axis=axis) for x, y, axis in zip(columns, more, (1, 1, 0)))
                columns = more
                calls.extend(joint)
                owners.extend([None] * len(joint))
        if calls:
            self._fund_owned(model, calls, owners, t, columns)

    @staticmethod
    def _group_columns(model, groups: list[tuple[Regime, int, list[int], float]]) -> tuple[np.ndarray, ...]:
        """:meth:`_call_columns` of regional calls given by groups (regime, region, domains, budget of each call):
        one call per domain, of the region alone, funded by it."""
        counts = [len(g[2]) for g in groups]
        k = sum(counts)
        by_group = np.array([(reg.scope.cluster, r, int(reg.p.project_size)) for reg, r, _, _ in groups],
                            dtype=np.int64)
        ints = np.empty((6, k), dtype=np.int64)
        ints[0] = [d for g in groups for d in g[2]]
        ints[1], ints[2], ints[4] = np.repeat(by_group, counts, axis=0).T
        ints[3] = 1
        ints[5] = ints[2]
        floats = np.repeat(np.array([(each, reg.p.subsidy_rate, reg.p.project_duration, reg.p.project_cost,
                                      reg.p.joint_cost_factor) for reg, _, _, each in groups], dtype=np.float64),
                           counts, axis=0).T
        region_ok = np.zeros((k, model.world.n_regions), dtype=bool)
        region_ok[np.arange(k), ints[2]] = True
        return ints, floats, region_ok

    def _fund_owned(self, model, calls: list[Call], owners: list[Regime | None], t: int,
                    columns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        """Fund calls in one pass and carry what each does not commit over to its owner's next call (``None``:
        the trans-regional pool)."""
        regs = [self._regime_for_call(call) if owner is None else owner for call, owner in zip(calls, owners)]
        for owner, committed in zip(owners, self._fund_calls(model, calls, t, regs, columns)):
            if owner is None:
                self.pool_acc -= committed
            else:
                self.call_budget_acc[id(owner)] -= committed

    def _subsidise_regions(self, model, subs: list[tuple[int, Regime, float]], pri: np.ndarray | None = None) -> None:
        """:meth:`subsidise` of several regions' scopes (region, regime, budget) in turn, in one compiled pass;
        ``topdown_s3`` subsidises its priority domains, ``horizontal`` every domain (``pri``: the regions'
        priorities as rows, when known)."""
        a, p = model.actors, model.p
        k = len(subs)
        rs, regs, bs = zip(*subs)
        regions = np.array(rs, dtype=np.int64)
        budget = np.array(bs, dtype=np.float64)
        rate = np.array([reg.p.subsidy_rate for reg in regs], dtype=np.float64)
        all_domains = np.array([type(reg) is Horizontal for reg in regs], dtype=np.bool_)
        if pri is None:
            domains = np.zeros((k, model.world.n_domains), dtype=np.bool_)
            for j, (_, reg, _) in enumerate(subs):
                if not all_domains[j]:
                    domains[j] = reg.priorities
        else:  # rows of horizontal regions are never read
            domains = pri[regions]
        start, rows = self._researching_csr(model)
        K.subsidise_regions(model.stream_handle("policy"), regions, start, rows, all_domains, domains,
                            a.product_domain, a.capital, a.transfers, a.subsidy, a.cluster, rate, p.c_rad, p.c_incr,
                            p.low_capital_threshold, budget, self._target(model), self.spent["spent_subsidies"],
                            self.cum_spent, self.to_clusters, self.transformative)

    def _grant_regions(self, model, grants: list[tuple[int, Regime, float]], pri: np.ndarray | None = None) -> None:
        """:meth:`grant_clusters` of several regions' ``cluster_s3`` scopes (region, regime, grant budget) in
        turn, in one compiled pass (``pri``: the regions' priorities as rows, when known)."""
        cl = model.clusters
        k = len(grants)
        rs, regs, bs = zip(*grants)
        regions = np.array(rs, dtype=np.int64)
        budget = np.array(bs, dtype=np.float64)
        brokerage = np.array([reg.p.co_brokerage for reg in regs], dtype=np.float64)
        if pri is None:
            priorities = np.zeros((k, model.world.n_domains), dtype=np.bool_)
            for j, (_, reg, _) in enumerate(grants):
                priorities[j] = reg.priorities
        else:
            priorities = pri[regions]
        K.grant_regions(regions, self._co_start, self._co_rows, self._co_domain, priorities, brokerage,
                        cl.brokerage, cl.budget, budget, self._target(model), self.spent["spent_cluster_grants"],
                        self.cum_spent, self.to_clusters, self.transformative)

    def after_step(self, model) -> None:
        t = model.steps
        a, w = model.actors, model.world
        D = w.n_domains
        self._step_cache = {}
        # deliverables: per project with an alive member, chance p_deliverable x G(region of its first alive
        # member, call domain); the innovation goes to a random alive member, value lognormal(0, sigma_v)
        tb = self._table()
        k = 0
        if tb.n:
            rows = np.empty(tb.n, dtype=np.int64)
            z = np.empty(tb.n)
            doms = np.empty(tb.n, dtype=np.int64)
            k = K.deliverables(model.stream_handle("policy"), tb.members, tb.off, tb.domain, tb.p_deliverable, a.alive,
                               a.region, model.G, rows, z, doms)
        if k:
            rows, doms = rows[:k], doms[:k]
            sigma_v = model.p.sigma_v
            values = np.array([math.exp(sigma_v * float(x)) for x in z[:k]])
            model.credit_innovations(rows, values, doms)
        if self._first_end <= t + 1:  # a project runs quarters start..end-1
            keep = [pr.end > t + 1 for pr in self.projects]
            tb = self._table()
            self.projects = list(compress(self.projects, keep))
            self._table_cache, self._table_key = tb.kept(np.array(keep, dtype=bool)), (self.projects, len(self.projects))
            self._first_end = min((pr.end for pr in self.projects), default=math.inf)
        # evidence for the next reviews: this step's innovations by region x domain and by cluster
        if not k:
            rows = doms = self._no_rows
        K.count_review_innovations(model.innovation_log[-1], rows, doms, a.region, D, self.innov_review,
                                   self.cum_innov)
        self._cluster_innovations(model)
        for reg in self._all():
            reg.monitor(self, model, t)
        if model.full_records or t >= model.n_steps_total:  # lean runs (stress test): outcomes read none of these
            self._record(model, t)

    def _cluster_innovations(self, model) -> None:
        """Innovations of cluster members this step (research and project ones): actors whose counter rose."""
        a = model.actors
        n = a.n
        prev = self._prev_innov
        cur = a.innovations[:n].copy()
        if prev is not None:
            K.count_member_innovations(prev, cur, a.cluster, a.product_domain, self.member_innov)
        self._prev_innov = cur

    # ------------------------------------------------------------------------------------------------------------
    def _record(self, model, t: int) -> None:
        rec, w = model.recorder, model.world
        R = w.n_regions
        budget = np.array([sum(self._budget_of(reg) for reg in self._by_region[r]) for r in range(R)])
        rec.set(t, "policy_budget", budget)
        for k in INSTRUMENTS:
            rec.set(t, k, self.spent[k])
        rec.set(t, "projects_funded_intra", self.funded_intra)
        rec.set(t, "projects_funded_inter", self.funded_inter, total=float(self.funded_inter_total))
        active = np.bincount(self._table().regions, minlength=R).astype(np.float64)
        rec.set(t, "projects_active", active, total=float(len(self.projects)))
        pri = np.array([reg.priorities.sum() if reg.prioritises else 0 for reg in self.regimes], dtype=float)
        rec.set(t, "priorities", pri, total=float(pri.mean()))
        with np.errstate(divide="ignore", invalid="ignore"):
            ipm = np.where(self.cum_spent > 0, self.cum_innov / self.cum_spent * 1e6, np.nan)
            tot = self.cum_innov.sum() / self.cum_spent.sum() * 1e6 if self.cum_spent.sum() > 0 else np.nan
        rec.set(t, "innovations_per_million", ipm, total=tot)
        for name, values in self.stress_scores(model).items():
            rec.set(t, name, values[:R], total=float(values[R]))

    def stress_scores(self, model) -> dict[str, np.ndarray]:
        """The project's StressTest dimensions as scores in [0, 1] per region (index R: mean over regions).

        * cluster design: share of the region's cluster organisations whose domain was signalled at the last
          EDP review x share of them in a priority domain (collaborative regimes; 0 without priorities);
        * cluster implementation: share of project participations by cluster members;
        * breadth: share of domains that are priorities (1 for horizontal support, 0 without policy);
        * alignment: mean Jaccard overlap of the priorities with those of the regions within ``lambda_km``;
        * transformative: share of the money spent that went to related, not yet specialised domains;
        * cluster support: share of the money spent that went to cluster organisations and their members.
        """
        w, cl = model.world, model.clusters
        R, D = w.n_regions, w.n_domains
        pri = np.zeros((R, D), dtype=bool)
        signalled = np.zeros((R, D), dtype=bool)
        has_signal = np.zeros(R, dtype=bool)
        for r, reg in enumerate(self.regimes):
            if reg.prioritises:
                pri[r] = reg.priorities
            sig = reg.state.get("signalled")
            if sig is not None:
                signalled[r] = sig
                has_signal[r] = True
        kinds = np.array([(reg.prioritises, reg.funded, reg.collaborative) for reg in self.regimes], dtype=bool)
        out = np.zeros((6, R + 1))
        K.stress_scores(pri, kinds[:, 0].copy(), kinds[:, 1].copy(), kinds[:, 2].copy(), signalled, has_signal,
                        cl.region, cl.domain, w.regions.distance_km <= model.p.lambda_km, self.participations,
                        self.cluster_participations, self.cum_spent, self.transformative, self.to_clusters, out)
        return dict(zip(STRESS, out))


# the support rules and budget flags (how the engine budgets a regime) as shipped, compared by identity
_SUPPORT_RULES = ("direct_support", "call_share", "publish_calls", "eligible", "rank",
                  "funded", "prioritises", "collaborative", "joint")
_BUILTIN_RULES = {cls: tuple(getattr(cls, m, None) for m in _SUPPORT_RULES)
                  for cls in (NoPolicy, Horizontal, TopDownS3, ClusterS3, TransregionalS3)}
_SUPPORT_OVERRIDES = frozenset(_SUPPORT_RULES)
_BOOL = np.dtype(np.bool_)
_CLUSTER_TYPES = (ClusterS3, TransregionalS3)
_CLUSTER_REVIEW = ClusterS3.review_priorities
_REVIEW_EVIDENCE = ("cluster_signals", "innovations_since_review", "reset_review")
_ENGINE_INSTRUMENTS = ("subsidise", "grant_clusters", "new_call", "_fund_calls", "_fund", "_funded")


def build_policy(config: Any) -> S3Policy | None:
    """The policy engine for a policy config, or ``None`` when every region runs ``none`` without pilots (the
    model then runs exactly as without a policy)."""
    get = config.get if hasattr(config, "get") else (lambda k, d=None: getattr(config, k, d))
    regions = get("regions") or {}
    specs = [get("regime")] + [v if isinstance(v, str) else (v or {}).get("regime", get("regime"))
                               for v in regions.values()]
    if all(s == "none" for s in specs) and not (get("pilots") or []):
        return None
    return S3Policy(config)
