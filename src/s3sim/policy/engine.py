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
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Call, Project, Proposal, Regime, Scope, regime_class

INSTRUMENTS = ("spent_subsidies", "spent_projects", "spent_cluster_grants")


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
        self.started = None
        self.projects: list[Project] = []
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
        a = self._model.actors
        return int((a.alive[: a.n] & (a.region[: a.n] == r)).sum())

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
        pilot_cos = np.flatnonzero(self.pilot_of >= 0)
        if pilot_cos.size:
            mask &= ~np.isin(cl, pilot_cos)
        return mask

    # ------------------------------------------------------------------------------------------------------------
    # instruments
    # ------------------------------------------------------------------------------------------------------------
    def subsidise(self, model, scope: Scope, budget: float, domains: np.ndarray | None) -> None:
        """Single-beneficiary R&D subsidies: subsidy_rate x the research cost of firms about to research (last
        profit <= success_threshold), in a random order, until ``budget`` is spent."""
        a, p = model.actors, model.p
        n = a.n
        mask = self.scope_mask(model, scope) & (a.kind[:n] != 3) & (a.profit[:n] <= p.success_threshold)
        if domains is not None:
            mask &= domains[a.product_domain[:n]]
        rows = np.flatnonzero(mask)
        if rows.size == 0 or budget <= 0:
            return
        rows = model.streams["policy"].permutation(rows)
        rate = self._regime(scope).p.subsidy_rate
        # research is radical when capital plus this quarter's transfers stays at or below the threshold (S5), so
        # a radical-sized subsidy is paid only when it leaves the firm radical; never more than rate x its cost
        radical = a.capital[rows] + a.transfers[rows] + rate * p.c_rad <= p.low_capital_threshold
        cost = np.where(radical, p.c_rad, p.c_incr) * rate
        paid = rows[np.cumsum(cost) <= budget]
        amount = cost[: paid.size]
        a.transfers[paid] += amount
        a.subsidy[paid] += amount
        self._book(model, scope.region, "spent_subsidies", paid, amount)

    def grant_clusters(self, model, scope: Scope, budget: float, domains: np.ndarray, brokerage: float) -> None:
        """Operating grants, split equally among the scope's cluster organisations in priority domains, which
        broker with ``brokerage``."""
        cl = model.clusters
        cos = np.flatnonzero((cl.region == scope.region) & domains[cl.domain] & (self.pilot_of < 0))
        if scope.cluster >= 0:
            cos = np.array([scope.cluster])
        cl.brokerage[:] = np.where(np.isin(np.arange(cl.n), cos), brokerage, cl.brokerage)
        if cos.size == 0 or budget <= 0:
            return
        cl.budget[cos] += budget / cos.size
        r = scope.region
        self.spent["spent_cluster_grants"][r] += budget
        self.cum_spent[r] += budget
        self.to_clusters[r] += budget
        self._transform(model, r, np.bincount(cl.domain[cos], minlength=model.world.n_domains) * (budget / cos.size))

    def _book(self, model, r: int, instrument: str, rows: np.ndarray, amount: np.ndarray) -> None:
        a = model.actors
        total = float(amount.sum())
        self.spent[instrument][r] += total
        self.cum_spent[r] += total
        self.to_clusters[r] += float(amount[a.cluster[rows] >= 0].sum())
        D = model.world.n_domains
        self._transform(model, r, np.bincount(a.product_domain[rows], weights=amount, minlength=D))

    def _transform(self, model, r: int, by_domain: np.ndarray) -> None:
        """Accumulate funding that goes to related (density above the median) domains not yet specialised."""
        rd = model.rd[r]
        target = (rd > np.median(rd)) & ~model.specialised[r]
        self.transformative[r] += float(by_domain[target].sum())

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
        cos = np.flatnonzero(cl.region == scope.region) if scope.cluster < 0 else np.array([scope.cluster])
        sig = np.zeros(D)
        for co in cos:
            sig[cl.domain[co]] += 1.0
            sig += self.member_innov[co]
        return sig

    def innovations_since_review(self, scope: Scope) -> np.ndarray:
        return self.innov_review[scope.region].copy()

    def reset_review(self, scope: Scope) -> None:
        self.innov_review[scope.region] = 0.0
        if scope.cluster >= 0:
            self.member_innov[scope.cluster] = 0.0
        else:
            self.member_innov[self._model.clusters.region == scope.region] = 0.0

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
        knowledge in the call domain; each invites the best-matching eligible actors, previous partners first,
        up to ``project_size``, keeping the composition rules (an SME; a research institute or cluster member;
        for joint calls, at least two regions)."""
        a = model.actors
        n = a.n
        rng = model.streams["policy"]
        d = call.domain
        size = int(self._regime_for_call(call).p.project_size)
        pool = a.alive[:n] & np.isin(a.region[:n], call.regions) & (a.profile[:n, d] > 0)
        if call.scope >= 0:
            pool &= a.cluster[:n] == call.scope
        elif call.funder < 0:  # joint call: only actors under a joint regime (not the rest of a pilot's region)
            joint = np.zeros(n, dtype=bool)
            for reg in self._all():
                if reg.joint:
                    joint |= self.scope_mask(model, reg.scope)
            pool &= joint
        busy = self._busy(n)
        pool &= busy < 2
        cand = np.flatnonzero(pool)
        if cand.size < 2:
            return []
        knowledge = (a.kind[cand] == 3) | (a.cluster[cand] >= 0)
        coords = cand[knowledge]
        if coords.size == 0:
            return []
        coords = rng.permutation(coords)[:5]
        proposals = []
        fit = a.profile[cand, d].astype(np.float64)
        for c in coords:
            ties = np.isin(cand, a.tie_partner[c])
            score = fit + 0.5 * ties + 0.2 * rng.random(cand.size)
            score[cand == c] = -np.inf
            order = cand[np.argsort(-score, kind="stable")]
            members = [int(c)] + [int(x) for x in order[: size - 1] if score[np.searchsorted(cand, x)] > -np.inf]
            members = self._repair(model, call, members, order)
            proposals.append(Proposal(call, np.array(members, dtype=np.int64)))
        return proposals

    def _repair(self, model, call: Call, members: list[int], order: np.ndarray) -> list[int]:
        """Swap the last invitee for the best candidate that fixes a missing SME or a missing second region."""
        a = model.actors
        kinds = a.kind[members]
        if not np.isin(kinds, (0, 2)).any():
            smes = [int(x) for x in order if a.kind[x] in (0, 2) and int(x) not in members]
            if smes:
                members = members[:-1] + [smes[0]] if len(members) > 1 else members + [smes[0]]
        if call.min_regions >= 2 and np.unique(a.region[members]).size < 2:
            home = a.region[members[0]]
            other = [int(x) for x in order if a.region[x] != home and int(x) not in members]
            if other:
                members = members[:-1] + [other[0]] if len(members) > 2 else members + [other[0]]
        return members

    def _regime_for_call(self, call: Call) -> Regime:
        if call.scope >= 0:
            return self.pilots[self.pilot_of[call.scope]]
        if call.funder >= 0:
            return self.regimes[call.funder]
        return next((r for r in self._all() if r.joint), self.regimes[0])

    def _busy(self, n: int) -> np.ndarray:
        busy = np.zeros(n, dtype=np.int64)
        for pr in self.projects:
            busy[pr.members] += 1
        return busy

    def _fund(self, model, call: Call, t: int) -> float:
        """Fund a call's best eligible proposals within its budget; returns the public money committed."""
        reg = self._regime_for_call(call)
        props = [pr for pr in self._assemble(model, call) if reg.eligible(self, model, pr)]
        committed = 0.0
        if props:
            scores = reg.rank(self, model, props)
            if call.min_regions >= 2:  # joint calls also weigh the partner regions' mass in the domain
                for k, pr in enumerate(props):
                    regs = np.unique(model.actors.region[pr.members])
                    scores[k] += 0.1 * math.log1p(float(model.mass[regs, call.domain].sum()))
            p = reg.p
            unit = p.project_cost * (1.0 + (p.joint_cost_factor if call.min_regions >= 2 else 0.0))
            busy = self._busy(model.actors.n)
            for k in np.argsort(-scores, kind="stable"):
                pr = props[k]
                per_step = p.subsidy_rate * unit * pr.members.size
                cost = per_step * p.project_duration
                if cost <= 0.0:
                    break  # no public money in it: the call funds nothing
                if committed + cost > call.budget + 1e-9 or (busy[pr.members] >= 2).any():
                    continue  # over budget, or a member already in two projects
                busy[pr.members] += 1
                committed += cost
                regions = np.unique(model.actors.region[pr.members])
                self.projects.append(Project(call, pr.members, regions, t, t + int(p.project_duration), per_step,
                                             unit))
                if regions.size > 1:
                    self.funded_inter[regions] += 1
                    self.funded_inter_total += 1
                else:
                    self.funded_intra[regions[0]] += 1
        self.committed += committed
        self.budget_log.append((call.call_id, call.budget, committed))
        return committed

    def _run_projects(self, model, t: int) -> None:
        """Pay the running projects' public share, book members' costs, link regions of joint projects."""
        a = model.actors
        links = model.regions.links
        links[:] = 0.0
        model.clusters.link[:] = -1
        D = model.world.n_domains
        for pr in self.projects:
            m = pr.members[a.alive[pr.members]]  # members that exited are neither paid nor charged
            if m.size == 0:
                continue
            share = pr.funding_per_step / pr.members.size
            cost = pr.cost_per_member
            a.costs[m] += cost
            a.rd_spend[m] += cost
            a.transfers[m] += share
            payer = pr.call.funder
            for r in np.unique(a.region[m]):
                amount = share * float((a.region[m] == r).sum())
                rr = r if payer < 0 else payer
                self.spent["spent_projects"][rr] += amount
                self.cum_spent[rr] += amount
                self.to_clusters[rr] += share * float(((a.region[m] == r) & (a.cluster[m] >= 0)).sum())
                self._transform(model, rr, np.eye(D)[pr.call.domain] * amount)
                self.participations[r] += float((a.region[m] == r).sum())
                self.cluster_participations[r] += float(((a.region[m] == r) & (a.cluster[m] >= 0)).sum())
            if pr.regions.size > 1:
                for x in pr.regions:
                    links[x, pr.regions] = 1.0
                links[pr.regions, pr.regions] = 0.0
                self._link_clusters(model, pr)

    def _link_clusters(self, model, pr: Project) -> None:
        """Cluster-to-cluster link of a joint project: the cluster organisations of the members, in different
        regions, broker candidates for each other's members (S6) while the project runs."""
        cl, a = model.clusters, model.actors
        cos = np.unique(a.cluster[pr.members])
        cos = cos[cos >= 0]
        for x in cos:
            for y in cos:
                if cl.region[x] != cl.region[y] and cl.link[x] < 0:
                    cl.link[x] = y

    def project_pairs(self, model) -> tuple[np.ndarray, np.ndarray]:
        """This quarter's project partnerships: every member with its coordinator."""
        pa, pb = [], []
        alive = model.actors.alive
        for pr in self.projects:
            m = pr.members[alive[pr.members]]
            if m.size >= 2:
                pa.append(np.full(m.size - 1, m[0]))
                pb.append(m[1:])
        if not pa:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
        return np.concatenate(pa).astype(np.int32), np.concatenate(pb).astype(np.int32)

    # ------------------------------------------------------------------------------------------------------------
    # the model's hooks
    # ------------------------------------------------------------------------------------------------------------
    def before_step(self, model) -> None:
        self._model = model
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
        for reg in self._all():
            new = reg.review_priorities(self, model, t) if reg.prioritises else None
            if new is not None:
                reg.priorities = new
        for r, reg in enumerate(self.regimes):
            model.regions.priority[r] = reg.priorities if reg.prioritises else False
            tilt[r] = reg.p.tau_dir * reg.priorities if reg.prioritises else 0.0
        due = (t - self.started) % int(self.config["call_period"]) == 0
        for reg in self._all():
            b = self._budget_of(reg)
            pool_part = self.config["transregional_share"] * b if reg.joint else 0.0
            self.pool_acc += pool_part
            b -= pool_part
            if reg.collaborative:
                reg.direct_support(self, model, t, b)
                self.call_budget_acc[id(reg)] += b * reg.call_share()
                if due:
                    for call in reg.publish_calls(self, model, t, self.call_budget_acc[id(reg)]):
                        # what a call does not commit carries over to the next call
                        self.call_budget_acc[id(reg)] -= self._fund(model, call, t)
            elif reg.funded:
                reg.direct_support(self, model, t, b)
        if due:
            for call in self._joint_calls(model, self.pool_acc):
                self.pool_acc -= self._fund(model, call, t)
        self._run_projects(model, t)

    def after_step(self, model) -> None:
        t = model.steps
        a, w = model.actors, model.world
        D = w.n_domains
        rng = model.streams["policy"]
        rows, values, doms = [], [], []
        for pr in self.projects:
            m = pr.members[a.alive[pr.members]]
            if m.size == 0:
                continue
            r0 = int(a.region[m[0]])
            p = self._regime_for_call(pr.call).p
            if rng.random() < p.p_deliverable * model.G[r0, pr.call.domain]:
                rows.append(int(m[int(rng.random() * m.size)]))
                values.append(math.exp(model.p.sigma_v * rng.standard_normal()))
                doms.append(pr.call.domain)
        if rows:
            model.credit_innovations(np.array(rows), np.array(values), np.array(doms))
        self.projects = [pr for pr in self.projects if pr.end > t + 1]  # a project runs quarters start..end-1
        # evidence for the next reviews: this step's innovations by region x domain and by cluster
        innov = model.innovation_log[-1]
        cells = innov[:, 2].astype(np.int64)
        by_cell = np.bincount(cells, minlength=w.n_regions * D).reshape(w.n_regions, D)
        if rows:
            np.add.at(by_cell, (a.region[rows], doms), 1)
        self.innov_review += by_cell
        self.cum_innov += by_cell.sum(axis=1)
        self._cluster_innovations(model)
        for reg in self._all():
            reg.monitor(self, model, t)
        self._record(model, t)

    def _cluster_innovations(self, model) -> None:
        """Innovations of cluster members this step (research and project ones): actors whose counter rose."""
        a = model.actors
        n = a.n
        prev = self._prev_innov
        cur = a.innovations[:n].copy()
        if prev is not None:
            grew = np.flatnonzero((cur[: prev.size] > prev) & (a.cluster[: prev.size] >= 0))
            np.add.at(self.member_innov, (a.cluster[grew], a.product_domain[grew]), 1.0)
        self._prev_innov = cur

    # ------------------------------------------------------------------------------------------------------------
    def _record(self, model, t: int) -> None:
        rec, w = model.recorder, model.world
        R = w.n_regions
        budget = np.array([sum(self._budget_of(reg) for reg in self._all() if reg.scope.region == r)
                           for r in range(R)])
        rec.set(t, "policy_budget", budget)
        for k in INSTRUMENTS:
            rec.set(t, k, self.spent[k])
        rec.set(t, "projects_funded_intra", self.funded_intra)
        rec.set(t, "projects_funded_inter", self.funded_inter, total=float(self.funded_inter_total))
        active = np.zeros(R)
        for pr in self.projects:
            active[pr.regions] += 1
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
        """The project's StressTest dimensions as scores in [0, 1] per region (index R: mean over regions)."""
        w, cl = model.world, model.clusters
        R, D = w.n_regions, w.n_domains
        out = {k: np.zeros(R + 1) for k in ("stress_cluster_design", "stress_cluster_implementation",
                                             "stress_breadth", "stress_alignment", "stress_transformative",
                                             "stress_cluster_support")}
        pri = np.array([reg.priorities if reg.prioritises else np.zeros(D, bool) for reg in self.regimes])
        near = w.regions.distance_km <= model.p.lambda_km
        for r, reg in enumerate(self.regimes):
            cos = np.flatnonzero(cl.region == r)
            sig = reg.state.get("signalled")
            if reg.collaborative and cos.size and sig is not None:
                out["stress_cluster_design"][r] = float(sig[cl.domain[cos]].mean() * pri[r][cl.domain[cos]].mean()
                                                        if pri[r].any() else 0.0)
            if self.participations[r] > 0:
                out["stress_cluster_implementation"][r] = self.cluster_participations[r] / self.participations[r]
            out["stress_breadth"][r] = pri[r].sum() / D if reg.prioritises else (1.0 if reg.funded else 0.0)
            others = np.flatnonzero(near[r] & (np.arange(R) != r))
            if others.size and pri[r].any():
                inter = (pri[others] & pri[r]).sum(axis=1)
                union = (pri[others] | pri[r]).sum(axis=1)
                out["stress_alignment"][r] = float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 0)))
            if self.cum_spent[r] > 0:
                out["stress_transformative"][r] = self.transformative[r] / self.cum_spent[r]
                out["stress_cluster_support"][r] = self.to_clusters[r] / self.cum_spent[r]
        for v in out.values():
            v[R] = v[:R].mean()
        return out


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
