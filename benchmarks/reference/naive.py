"""Naive Mesa reference implementation of one S3Model step (benchmark baseline and correctness oracle).

This is the model written the way a typical Mesa user would write it:

* one fat ``mesa.Agent`` per firm or research institute (:class:`Firm`, :class:`ResearchInstitute`), holding
  every state variable as a Python attribute and its kene as four Python lists (``capability``, ``ability``,
  ``expertise``, ``in_ih``), its tie memory as lists of agent references;
* one Python method per phase (market share, profile refresh, partner search, knowledge exchange, research,
  spillovers, learning and forgetting, accounting, exit, spin-off planning), invoked through
  ``model.agents.shuffle_do(...)`` or ``model.agents.do(...)``;
* per-region Python loops for the aggregates (critical mass, candidate pools, per-step DataCollector-style sums).

It is initialised from the production model's initial state (an ``S3Model(cfg, seed)`` built headless and
copied into fat agents) and it draws from the production model's random streams (``model.streams[name]``), calling
``.random()``, ``.standard_normal()`` and ``.poisson()`` exactly where and in the order production does.

``activation``:

* ``"sequential"`` visits agents in row order through ``model.agents.do`` (and the partner search in the
  Fisher-Yates order that production draws from the partnering stream). In this mode the reference reproduces
  the production model draw for draw; ``benchmarks/run.py`` checks this before timing anything.
* ``"shuffle"`` uses ``model.agents.shuffle_do`` for every agent phase, the usual Mesa idiom (random activation
  with ``model.random``). Same rules and the same amount of work, but the activation order differs, so the
  trajectory differs from production's. This is the mode that is timed.

``exact_float32``: production stores ability, the domain profile and the advert profile as float32, and numba
multiplies two float32 values in float32. With ``exact_float32=True`` the reference rounds to float32 at exactly
those points (``float(numpy.float32(x))``), which the bit-for-bit equivalence check needs. A typical Mesa user
would just use Python floats; ``exact_float32=False`` does that (slightly faster, results differ in the last
bits). The timing in ``run.py`` uses ``False`` so the rounding emulation does not inflate the speed-up.

Not reproduced (production does more work here, so the speed-up is conservative): policies (the benchmark runs
without one), the money ledger, the indicator recorder, the Gini index and the network metrics.
"""

from __future__ import annotations

import copy
import math

import mesa
from mesa.agent import AgentSet
import numpy as np

from s3sim.model import S3Model
from s3sim.model.state import (ORIGIN_NONLOCAL, ORIGIN_RI_SPINOFF, ORIGIN_SPINOFF, RI, STARTUP, TIE_SLOTS)

#: 1 - exp(-E) for E = 0..10, computed as production computes it (numpy exp), as Python floats
EXPERTISE_WEIGHT = (1.0 - np.exp(-np.arange(11, dtype=np.float64))).tolist()

_F32 = np.float32


def _f32(x):
    """Round a Python float to the nearest float32 (what a store into a float32 array does)."""
    return float(_F32(x))


def _same(x):
    return x


def _dot_f32(u, v):
    """Sum of float32 products accumulated in float64, in index order (numba on two float32 vectors)."""
    s = 0.0
    for k in range(len(u)):
        s += float(_F32(u[k] * v[k]))
    return s


def _dot(u, v):
    s = 0.0
    for k in range(len(u)):
        s += u[k] * v[k]
    return s


class Actor(mesa.Agent):
    """A firm or research institute with all of its state held on the object (no arrays)."""

    def __init__(self, model, row, kind, region):
        super().__init__(model)
        D = model.n_domains
        self.row = row
        self.alive = True
        self.kind = kind
        self.origin = 0
        self.region = region
        self.cluster = -1
        self.capital = 0.0
        self.revenue = 0.0
        self.costs = 0.0
        self.transfers = 0.0
        self.profit = 0.0
        self.prev_profit = 0.0
        self.rd_spend = 0.0
        self.innovations = 0
        self.innov_incr = 0
        self.innov_rad = 0
        self.innov_value = 0.0
        self.product_domain = 0
        self.quality = 0.0
        self.appeal = 1.0
        self.birth = 0
        self.parent = -1
        self.res_slot = -1
        self.res_dir = 0
        self.kcap = 0
        self.n_partners = 0
        self.flows_in = 0
        # kene: parallel Python lists
        self.capability = []
        self.ability = []
        self.expertise = []
        self.in_ih = []
        # tie memory (ring buffer of partner agents)
        self.tie_partner = [None] * TIE_SLOTS
        self.tie_step = [-(10**6)] * TIE_SLOTS
        self.profile = [0.0] * D
        self.advert = [0.0] * D
        # per-step scratch
        self._u = 0.0

    # ------------------------------------------------------------------------------------------------------------
    # kene helpers (S1, S2)
    # ------------------------------------------------------------------------------------------------------------
    def find_capability(self, c):
        caps = self.capability
        for k in range(len(caps)):
            if caps[k] == c:
                return k
        return -1

    def add_triple(self, c, a, e):
        """Add (c, a, e); if the kene is full evict the lowest-expertise triple outside the IH."""
        n = len(self.capability)
        a = self.model.f32(a)
        if n < self.kcap:
            self.capability.append(c)
            self.ability.append(a)
            self.expertise.append(e)
            self.in_ih.append(False)
            return n
        k = -1
        best = 127
        for s in range(n):
            if not self.in_ih[s] and self.expertise[s] < best:
                best = self.expertise[s]
                k = s
        if k < 0:
            return -1
        self.capability[k] = c
        self.ability[k] = a
        self.expertise[k] = e
        self.in_ih[k] = False
        return k

    def remove_slot(self, k):
        last = len(self.capability) - 1
        if k != last:
            self.capability[k] = self.capability[last]
            self.ability[k] = self.ability[last]
            self.expertise[k] = self.expertise[last]
            self.in_ih[k] = self.in_ih[last]
        self.capability.pop()
        self.ability.pop()
        self.expertise.pop()
        self.in_ih.pop()

    def draw_ih(self, rng):
        n = len(self.capability)
        self.in_ih = [False] * n
        hi = min(self.model.p.ih_len_max, n)
        if hi <= 0:
            return
        lo = min(2, hi)
        length = lo + int(rng.random() * (hi - lo + 1))
        if length > hi:
            length = hi
        chosen = 0
        while chosen < length:
            k = int(rng.random() * n)
            if not self.in_ih[k]:
                self.in_ih[k] = True
                chosen += 1

    def draw_kene(self, rng, length, profile_cdf):
        m = self.model
        D = m.n_domains
        tries = 0
        while len(self.capability) < length and tries < 50 * length:
            tries += 1
            if rng.random() < m.p.u0:
                d = int(rng.random() * D)
            else:
                u = rng.random()
                d = 0
                while d < D - 1 and profile_cdf[d] < u:
                    d += 1
            c = (d << m.cap_shift) + int(rng.random() * m.caps_per_domain)
            if self.find_capability(c) >= 0:
                continue
            a = rng.random() * 10.0
            e = 1 + int(rng.random() * 10)
            self.add_triple(c, a, e)
        self.draw_ih(rng)

    def update_product(self):
        """S2: product domain (most IH expertise, ties to the lowest domain) and quality."""
        shift = self.model.cap_shift
        caps, abil, expt, ih = self.capability, self.ability, self.expertise, self.in_ih
        q = 0.0
        m = 0
        best_d = 0
        best_e = -1
        n = len(caps)
        for k in range(n):
            if not ih[k]:
                continue
            e = expt[k]
            q += abil[k] * EXPERTISE_WEIGHT[e]
            m += 1
            d = caps[k] >> shift
            tot = 0
            for k2 in range(n):
                if ih[k2] and (caps[k2] >> shift) == d:
                    tot += expt[k2]
            if tot > best_e or (tot == best_e and d < best_d):
                best_e = tot
                best_d = d
        self.product_domain = best_d
        self.quality = q / (10.0 * m) if m > 0 else 0.0

    # ------------------------------------------------------------------------------------------------------------
    # phases
    # ------------------------------------------------------------------------------------------------------------
    def reset_step(self):
        self.costs = 0.0
        self.transfers = 0.0
        self.rd_spend = 0.0
        self.flows_in = 0
        self.n_partners = 0

    # S3 market: three passes (best utility per domain, logit weights, revenue)
    def market_utility(self):
        if self.kind == RI:
            return
        m = self.model
        p = m.p
        u = p.beta_q * self.quality + p.appeal_weight * math.log(self.appeal)
        self._u = u
        d = self.product_domain
        if u > m.market_shift[d]:
            m.market_shift[d] = u

    def market_weight(self):
        if self.kind == RI:
            return
        m = self.model
        d = self.product_domain
        e = math.exp(self._u - m.market_shift[d])
        self._u = e
        m.market_global[d] += e
        m.market_regional[self.region][d] += e

    def market_revenue(self):
        self.revenue = 0.0
        if self.kind == RI:
            return
        m = self.model
        hb = m.p.home_bias
        d = self.product_domain
        r = self.region
        e = self._u
        self.revenue = m.demand_list[d] * ((1.0 - hb) * e / m.market_global[d]
                                           + hb * m.population_share[r] * e / m.market_regional[r][d])

    def refresh_profile(self):
        m = self.model
        D = m.n_domains
        shift = m.cap_shift
        f32 = m.f32
        prof = [0.0] * D
        adv = [0.0] * D
        tot = 0.0
        caps, expt, ih = self.capability, self.expertise, self.in_ih
        for k in range(len(caps)):
            d = caps[k] >> shift
            e = expt[k]
            prof[d] += e
            tot += e
            if ih[k]:
                adv[d] += e
        if tot > 0:
            ss = 0.0
            inv_tot = 1.0 / tot
            for d in range(D):
                prof[d] = f32(prof[d] * inv_tot)
                ss += adv[d] * adv[d]
            if ss > 0:
                inv = 1.0 / math.sqrt(ss)
                for d in range(D):
                    adv[d] = f32(adv[d] * inv)
        self.profile = prof
        self.advert = adv

    # S6 partner search
    def is_searcher(self):
        return self.kind == RI or self.profit <= self.model.p.success_threshold

    def maybe_search_partner(self):
        if self.is_searcher():
            self.search_partner()

    def random_tie(self, since):
        live = []
        for s in range(TIE_SLOTS):
            j = self.tie_partner[s]
            if j is not None and self.tie_step[s] >= since and j.alive:
                live.append(j)
        if not live:
            return None
        return live[int(self.model.rng_partnering.random() * len(live))]

    def has_recent_tie(self, other, since):
        for s in range(TIE_SLOTS):
            if self.tie_partner[s] is other and self.tie_step[s] >= since:
                return True
        return False

    def partnered_at(self, other, t):
        for s in range(TIE_SLOTS):
            if self.tie_partner[s] is other and self.tie_step[s] == t:
                return True
        return False

    def remember(self, other, t):
        oldest = 0
        for s in range(TIE_SLOTS):
            if self.tie_partner[s] is other:
                self.tie_step[s] = t
                return
            if self.tie_step[s] < self.tie_step[oldest]:
                oldest = s
        self.tie_partner[oldest] = other
        self.tie_step[oldest] = t

    def search_partner(self):
        m = self.model
        p = m.p
        rng = m.rng_partnering
        t = m.steps
        if self.n_partners >= p.max_partners or rng.random() >= p.search_rate:
            return
        since = t - p.tie_memory
        r = self.region
        c = self.cluster
        t1 = p.p_prev
        t2 = t1 + p.p_tc
        t3 = t2
        if c >= 0:
            t3 = min(1.0, t2 + p.p_cluster * m.cluster_brokerage[c])
        local = m.region_pool[r]
        everyone = m.all_pool
        best = None
        best_a = p.theta_attr
        bonus_max = (1.0 + p.w_soc) * (1.0 + p.w_org)
        for _ in range(p.n_candidates):
            u = rng.random()
            j = None
            if u < t1:
                j = self.random_tie(since)
            elif u < t2:
                k = self.random_tie(since)
                if k is not None:
                    j = k.random_tie(since)
            elif u < t3:
                pool = m.cluster_pool[c]
                if pool:
                    j = pool[int(rng.random() * len(pool))]
            elif u < t3 + (1.0 - t3) * p.p_local:
                j = None
            elif everyone:
                j = everyone[int(rng.random() * len(everyone))]
            if j is None:  # nobody offered: fall back to the own region
                j = local[int(rng.random() * len(local))] if local else None
            if j is None or j is self or not j.alive:
                continue
            a = m.dot32(self.advert, j.advert)
            if a * bonus_max <= best_a:
                continue
            a *= m.region_factor[r][j.region]
            if self.has_recent_tie(j, since):
                if self.partnered_at(j, t):
                    continue
                a *= 1.0 + p.w_soc
            if c >= 0 and j.cluster == c:
                a *= 1.0 + p.w_org
            if a > best_a:
                best_a = a
                best = j
        if best is not None and best.n_partners < p.max_partners:
            m.pairs.append((self, best))
            self.n_partners += 1
            best.n_partners += 1
            self.costs += p.c_collab
            best.costs += p.c_collab
            self.remember(best, t)
            best.remember(self, t)

    # S7 knowledge exchange
    def ih_snapshot(self):
        return [(self.capability[k], self.ability[k], self.expertise[k]) for k in range(len(self.capability))
                if self.in_ih[k]]

    def learn_from(self, triples, p_abs, rng):
        flows = 0
        pen = self.model.p.e_penalty_new
        for c, a, e in triples:
            k = self.find_capability(c)
            if k >= 0:
                if e > self.expertise[k]:
                    self.ability[k] = a
                    self.expertise[k] = e
                    flows += 1
            elif rng.random() < p_abs:
                if self.add_triple(c, a, max(e - pen, 2)) >= 0:
                    flows += 1
        return flows

    def maybe_new_hypothesis(self, rng):
        m = self.model
        if rng.random() < 1.0 / (1.0 + math.exp((m.l_mid - len(self.capability)) / (0.25 * m.l_mid))):
            self.draw_ih(rng)
            self.appeal = math.exp(m.p.sigma_v * rng.standard_normal())

    def exchange_with(self, other):
        m = self.model
        p = m.p
        rng = m.rng_exchange
        dot = m.dot32(self.profile, other.profile)
        ni = m.dot32(self.profile, self.profile)
        nj = m.dot32(other.profile, other.profile)
        cos = dot / math.sqrt(ni * nj) if ni > 0 and nj > 0 else 0.0
        x = (1.0 - cos) / p.d_star
        g = min(max(x * (2.0 - x), 0.0), 1.0)
        p_abs = p.a0 * max(p.g_floor, g)
        mine = self.ih_snapshot()
        theirs = other.ih_snapshot()
        fi = self.learn_from(theirs, p_abs, rng)
        fj = other.learn_from(mine, p_abs, rng)
        self.flows_in += fi
        other.flows_in += fj
        self.maybe_new_hypothesis(rng)
        other.maybe_new_hypothesis(rng)
        return fi + fj

    # S5 / S12 research
    def incremental_research(self, rng, improved):
        m = self.model
        k = self.res_slot
        n = len(self.capability)
        if k < 0 or k >= n or not self.in_ih[k] or not improved:
            ih_slots = [s for s in range(n) if self.in_ih[s]]
            if not ih_slots:
                return
            k = ih_slots[int(rng.random() * len(ih_slots))]
            self.res_dir = 1 if rng.random() < 0.5 else -1
            self.res_slot = k
        a = self.ability[k]
        a = a + self.res_dir * m.p.s_incr * a / (1.0 + (self.capability[k] & m.cap_mask))
        if a <= 0.0 or a >= 10.0:
            a = min(max(a, 0.0), 10.0)
            self.res_slot = -1
        self.ability[k] = m.f32(a)

    def radical_research(self, rng):
        m = self.model
        p = m.p
        D = m.n_domains
        rel = m.relatedness
        prof = self.profile
        r = self.region
        weights = [0.0] * D
        tot = 0.0
        for d2 in range(D):
            s = 0.0
            for d in range(D):
                s += prof[d] * rel[d][d2]
            weights[d2] = s
            tot += s
        acc = 0.0
        rb = p.relatedness_bias
        tilt = m.tilt[r]
        for d in range(D):
            base = weights[d] / tot if tot > 0 else 1.0 / D
            weights[d] = (rb * base + (1.0 - rb) / D) * (1.0 + tilt[d])
            acc += weights[d]
        u = rng.random() * acc
        d = 0
        run = weights[0]
        while run < u and d < D - 1:
            d += 1
            run += weights[d]
        c = -1
        for _ in range(20):
            cand = (d << m.cap_shift) + int(rng.random() * m.caps_per_domain)
            if self.find_capability(cand) < 0:
                c = cand
                break
        if c < 0 or not self.capability:
            return -1, d
        src = int(rng.random() * len(self.capability))
        return self.add_triple(c, self.ability[src], self.expertise[src]), d

    def research(self):
        m = self.model
        p = m.p
        rng = m.rng_research
        r = self.region
        is_ri = self.kind == RI
        if is_ri:
            radical = False
        elif self.profit > p.success_threshold:
            return
        else:
            radical = self.capital + self.transfers <= p.low_capital_threshold
        if not radical:
            self.incremental_research(rng, self.profit > self.prev_profit)
            self.costs += p.c_incr
            self.rd_spend += p.c_incr
            d = self.product_domain
            if rng.random() < p.p_innov_incr * m.G[r][d]:
                v = math.exp(p.sigma_v * rng.standard_normal())
                if v > self.appeal:
                    self.appeal = v
                self.innovations += 1
                self.innov_incr += 1
                self.innov_value += v
                m.step_innovations.append((v, 1, r * m.n_domains + d))
            if not (is_ri and rng.random() < p.p_radical_ri):
                return
        k, d = self.radical_research(rng)
        self.costs += p.c_rad
        self.rd_spend += p.c_rad
        if k >= 0 and rng.random() < p.p_innov_rad * m.G[r][d]:
            self.draw_ih(rng)
            if not self.in_ih[k]:  # the new capability must be part of the new hypothesis
                for s in range(len(self.capability)):
                    if self.in_ih[s] and s != k:
                        self.in_ih[s] = False
                        break
                self.in_ih[k] = True
            v = math.exp(p.sigma_v * rng.standard_normal())
            self.appeal = v
            self.res_slot = -1
            self.innovations += 1
            self.innov_rad += 1
            self.innov_value += v
            m.step_innovations.append((v, 2, r * m.n_domains + d))

    # S10 spillovers
    def spillover(self):
        m = self.model
        rng = m.rng_spillovers
        D = m.n_domains
        prof = self.profile
        field = m.field[self.region]
        p = 0.0
        for d in range(D):
            p += prof[d] * field[d]
        if rng.random() >= m.p.sigma_s * p:
            return
        m.spill_events += 1
        rel = m.relatedness
        w2 = [0.0] * D
        tot = 0.0
        for d2 in range(D):
            s = 0.0
            for d in range(D):
                s += prof[d] * rel[d][d2]
            w2[d2] = s * field[d2]
            tot += w2[d2]
        u = rng.random() * tot
        d = 0
        run = w2[0]
        while run < u and d < D - 1:
            d += 1
            run += w2[d]
        shift = m.cap_shift
        if rng.random() < 0.8:
            held = [k for k in range(len(self.capability)) if (self.capability[k] >> shift) == d]
            if held:
                k = held[int(rng.random() * len(held))]
                if self.expertise[k] < 10:
                    self.expertise[k] += 1
                return
        c = (d << shift) + int(rng.random() * m.caps_per_domain)
        if self.find_capability(c) < 0:
            self.add_triple(c, rng.random() * 10.0, 2)

    # S9 learning by doing and forgetting
    def learn_and_forget(self):
        t = self.model.steps
        forget = self.kind != RI or t % 2 == 0
        k = 0
        while k < len(self.capability):
            if self.in_ih[k]:
                if self.expertise[k] < 10:
                    self.expertise[k] += 1
            elif forget:
                self.expertise[k] -= 1
                if self.expertise[k] <= 0:
                    if self.res_slot == k:
                        self.res_slot = -1
                    elif self.res_slot == len(self.capability) - 1:
                        self.res_slot = k
                    self.remove_slot(k)
                    continue
            k += 1

    # S4 accounting
    def settle(self):
        p = self.model.p
        self.costs += p.depreciation
        if self.kind == RI:
            self.transfers += p.ri_grant
        profit = self.revenue + self.transfers - self.costs
        self.prev_profit = self.profit
        self.profit = profit
        self.capital += profit

    # S13 demography
    def check_exit(self):
        if self.kind != RI and self.capital < 0.0:
            self.alive = False
            self.model.gone.append(self)

    def plan_birth(self):
        m = self.model
        p = m.p
        rng = m.rng_demography
        if self.kind == RI:
            if rng.random() < p.ri_spinoff_rate:
                m.birth_plan.append((self, self.region, ORIGIN_RI_SPINOFF, self.region))
        elif self.profit > p.start_up_trigger and rng.random() < p.spinoff_rate:
            r = self.region
            if rng.random() >= p.spinoff_local_prob:
                u = rng.random()
                r = 0
                while r < m.n_regions - 1 and m.region_cdf[r] < u:
                    r += 1
            m.birth_plan.append((self, r, ORIGIN_SPINOFF, self.region))

    def join_cluster(self, rng):
        m = self.model
        for co in m.clusters_of_region[self.region]:
            d = m.cluster_domain[co]
            held = 0
            for c in self.capability:
                if (c >> m.cap_shift) == d:
                    held += 1
            if held >= 2:
                if rng.random() < m.p.co_membership_rate:
                    self.cluster = co
                    m.cluster_members[co] += 1
                break


class Firm(Actor):
    """A firm (SME, large firm or start-up)."""


class ResearchInstitute(Actor):
    """A research institute (does not sell, gets a grant, always researches)."""


class NaiveS3Model(mesa.Model):
    """The S3 model step with fat agents and per-agent Python methods (see the module docstring)."""

    def __init__(self, config, seed=None, *, activation="shuffle", exact_float32=True, production=None):
        if activation not in ("sequential", "shuffle"):
            raise ValueError(f"activation must be 'sequential' or 'shuffle', not {activation!r}")
        if production is None:
            config = copy.deepcopy(config)
            config.model.materialize_agents = False
            production = S3Model(config, seed)
        prod = production
        super().__init__(seed=prod.seed)
        self.activation = activation
        self.f32 = _f32 if exact_float32 else _same
        self.dot32 = _dot_f32 if exact_float32 else _dot
        self.p = p = prod.p
        self.streams = prod.streams  # the production model's generators: same draws
        self.rng_partnering = prod.streams["partnering"]
        self.rng_exchange = prod.streams["exchange"]
        self.rng_research = prod.streams["research"]
        self.rng_spillovers = prod.streams["spillovers"]
        self.rng_demography = prod.streams["demography"]
        self.rng_market = prod.streams["market"]
        w = prod.world
        self.n_regions = R = w.n_regions
        self.n_domains = D = w.n_domains
        self.caps_per_domain = int(prod.caps_per_domain)
        self.cap_shift = int(prod.cap_shift)
        self.cap_mask = (1 << self.cap_shift) - 1
        self.relatedness = prod.relatedness.tolist()
        self.relatedness_np = prod.relatedness.copy()
        self.kernel = prod.kernel.copy()
        self.region_factor = prod.region_factor.tolist()
        self.region_profile_cdf = prod.region_profile_cdf.tolist()
        self.region_cdf = prod.region_cdf.tolist()
        self.population_share = prod.regions.population_share.tolist()
        self.tilt = np.zeros((R, D)).tolist()  # no policy
        self.demand = prod.demand.copy()
        self.l_mid = float(prod.l_mid)
        self.m_star = float(prod.m_star)
        self.mass = prod.mass.copy()
        self.cluster_domain = prod.clusters.domain.tolist()
        self.cluster_members = prod.clusters.members.tolist()
        self.cluster_brokerage = (prod.clusters.brokerage * p.cluster_brokerage).tolist()
        self.clusters_of_region = [[] for _ in range(R)]
        for co, r in enumerate(prod.clusters.region.tolist()):
            self.clusters_of_region[r].append(co)
        self.kene_cap_startup = int(math.ceil(p.cap_growth * p.kene_sme))

        # fat agents, one per actor row, copied from the production arrays
        a = prod.actors
        self.by_row = []
        for i in range(a.n):
            cls = ResearchInstitute if a.kind[i] == RI else Firm
            ag = cls(self, i, int(a.kind[i]), int(a.region[i]))
            ag.alive = bool(a.alive[i])
            ag.origin = int(a.origin[i])
            ag.cluster = int(a.cluster[i])
            ag.capital = float(a.capital[i])
            ag.revenue = float(a.revenue[i])
            ag.profit = float(a.profit[i])
            ag.prev_profit = float(a.prev_profit[i])
            ag.innovations = int(a.innovations[i])
            ag.innov_incr = int(a.innov_incr[i])
            ag.innov_rad = int(a.innov_rad[i])
            ag.innov_value = float(a.innov_value[i])
            ag.product_domain = int(a.product_domain[i])
            ag.quality = float(a.quality[i])
            ag.appeal = float(a.appeal[i])
            ag.birth = int(a.birth[i])
            ag.parent = int(a.parent[i])
            ag.res_slot = int(a.res_slot[i])
            ag.res_dir = int(a.res_dir[i])
            ag.kcap = int(a.kcap[i])
            k = int(a.klen[i])
            ag.capability = a.cap[i, :k].tolist()
            ag.ability = a.abil[i, :k].tolist()
            ag.expertise = a.expt[i, :k].tolist()
            ag.in_ih = a.ih[i, :k].tolist()
            ag.tie_step = a.tie_step[i].tolist()
            ag.profile = a.profile[i].tolist()
            ag.advert = a.advert[i].tolist()
            self.by_row.append(ag)
        for ag in self.by_row:
            ag.tie_partner = [self.by_row[j] if j >= 0 else None for j in a.tie_partner[ag.row].tolist()]
            if not ag.alive:
                ag.remove()

        # per-step scratch and DataCollector-style records
        self.pairs = []
        self.step_innovations = []
        self.spill_events = 0
        self.gone = []
        self.birth_plan = []
        self.newborns = []
        self.records = []
        self.evidence = []
        self.prev_specialised = None

    # ------------------------------------------------------------------------------------------------------------
    def _act(self, method, *args):
        if self.activation == "shuffle":
            self.agents.shuffle_do(method, *args)
        else:
            self.agents.do(method, *args)

    def step(self):
        p = self.p
        R, D = self.n_regions, self.n_domains
        t = self.steps
        self.agents.do("reset_step")
        self.pairs = []
        self.step_innovations = []
        self.spill_events = 0

        # S3 market
        self.demand *= np.exp(p.mu_g + p.sigma_g * self.rng_market.standard_normal(D))
        self.demand_list = self.demand.tolist()
        self.market_shift = [-1e300] * D
        self.market_global = [0.0] * D
        self.market_regional = [[0.0] * D for _ in range(R)]
        self._act("market_utility")
        self._act("market_weight")
        self._act("market_revenue")
        self._act("refresh_profile")

        # S6 partner search, S7 exchange
        flows = 0
        if p.partnering:
            self.region_pool = [[] for _ in range(R)]
            self.cluster_pool = [[] for _ in range(len(self.cluster_domain))]
            for ag in self.agents:  # insertion (= row) order
                self.region_pool[ag.region].append(ag)
                if ag.cluster >= 0:
                    self.cluster_pool[ag.cluster].append(ag)
            # region pools in region order, as the production CSR has them
            self.all_pool = [ag for pool in self.region_pool for ag in pool]
            if self.activation == "shuffle":
                self.agents.shuffle_do("maybe_search_partner")
            else:
                order = [ag for ag in self.agents if ag.is_searcher()]
                rng = self.rng_partnering
                for k in range(len(order) - 1, 0, -1):  # Fisher-Yates, as production draws it
                    j = int(rng.random() * (k + 1))
                    order[k], order[j] = order[j], order[k]
                AgentSet(order, random=self.random).do("search_partner")
            for ag in self.agents:
                ag.rd_spend += ag.n_partners * p.c_collab
            for a, b in self.pairs:
                flows += a.exchange_with(b)

        # S11 critical-mass multiplier (model-level R x D arithmetic, as production) and S5/S12 research
        if p.g_min >= 1.0:
            G = np.ones_like(self.mass)
        else:
            x = np.power(self.mass / self.m_star, p.eta)
            G = p.g_min + (1.0 - p.g_min) * x / (x + 1.0)
        self.G = G.tolist()
        self._act("research")

        # S10 spillovers, S9 learning by doing
        n_r = self.mass.sum(axis=1)
        pool = (self.kernel @ self.mass) / np.maximum(self.kernel @ n_r, 1e-12)[:, None]
        field = pool @ self.relatedness_np
        mean = field.mean()
        self.field = (field / mean if mean > 0 else field).tolist()
        if p.sigma_s > 0.0:
            self._act("spillover")
        self._act("learn_and_forget")
        self._act("update_product")

        # S4 accounting
        self._act("settle")

        # S13 demography
        births, gone = self.demography(t)

        # S11 masses (per-region loop) and DataCollector-style per-region aggregation
        mass = [[0.0] * D for _ in range(R)]
        for ag in self.agents:
            mass[ag.region][ag.product_domain] += 1.0
        self.mass = np.array(mass)
        self.collect(t, births, gone, flows)

    def demography(self, t):
        p = self.p
        R = self.n_regions
        rng = self.rng_demography
        self.gone = []
        self._act("check_exit")
        gone = sorted(self.gone, key=lambda ag: ag.row) if self.activation == "shuffle" else self.gone
        for ag in gone:
            ag.remove()
        firms_r = [0] * R
        for ag in self.agents:
            if ag.kind != RI:
                firms_r[ag.region] += 1
        entrants = [int(rng.poisson(p.entrant_rate * firms_r[r])) for r in range(R)]
        self.birth_plan = []
        self._act("plan_birth")
        for r in range(R):
            for _ in range(entrants[r]):
                src = r
                if R > 1:
                    src = int(rng.random() * (R - 1))
                    if src >= r:
                        src += 1
                self.birth_plan.append((None, r, ORIGIN_NONLOCAL, src))
        births = []
        for parent, r, origin, src in self.birth_plan:
            ag = Firm(self, len(self.by_row), STARTUP, r)
            self.by_row.append(ag)
            ag.origin = origin
            ag.capital = p.initial_capital
            ag.birth = t
            ag.parent = parent.row if parent is not None else -1
            ag.kcap = self.kene_cap_startup
            if parent is not None:
                for k in range(len(parent.capability)):
                    if parent.in_ih[k] and len(ag.capability) < p.ih_len_max:
                        ag.add_triple(parent.capability[k], parent.ability[k],
                                      min(parent.expertise[k], p.startup_expertise_cap))
                ag.draw_ih(rng)
            else:
                ag.draw_kene(rng, p.kene_sme, self.region_profile_cdf[src])
            ag.appeal = math.exp(p.sigma_v * rng.standard_normal())
            ag.update_product()
            births.append(ag)
        for ag in births:
            ag.join_cluster(rng)
        for ag in gone:
            if ag.cluster >= 0:
                self.cluster_members[ag.cluster] -= 1
        return births, gone

    def collect(self, t, births, gone, flows):
        """Per-region model reporters computed with Python loops (a DataCollector-style pass)."""
        p = self.p
        R, D = self.n_regions, self.n_domains
        firms = [0] * R
        institutes = [0] * R
        revenue = [0.0] * R
        value_added = [0.0] * R
        rd = [0.0] * R
        transfers = [0.0] * R
        capital = [0.0] * R
        knowledge_flows = [0] * R
        members = [0] * R
        for ag in self.agents:
            r = ag.region
            rd[r] += ag.rd_spend
            transfers[r] += ag.transfers
            knowledge_flows[r] += ag.flows_in
            if ag.kind == RI:
                institutes[r] += 1
            else:
                firms[r] += 1
                revenue[r] += ag.revenue
                value_added[r] += ag.revenue - p.depreciation
            capital[r] += ag.capital
            if ag.cluster >= 0:
                members[r] += 1
        innovations = [0] * R
        innovation_value = [0.0] * R
        for value, _kind, cell in self.step_innovations:
            innovations[cell // D] += 1
            innovation_value[cell // D] += value
        intra = [0] * R
        inter = [0] * R
        for a, b in self.pairs:
            if a.region == b.region:
                intra[a.region] += 1
            else:
                inter[a.region] += 1
                inter[b.region] += 1
        entries = [0] * R
        for ag in births:
            entries[ag.region] += 1
        exits = [0] * R
        for ag in gone:
            exits[ag.region] += 1
        self.records.append(dict(step=t, firms=firms, research_institutes=institutes, revenue=revenue,
                                 value_added=value_added, rd_spending=rd, public_transfers=transfers,
                                 capital=capital, knowledge_flows=knowledge_flows, cluster_members=members,
                                 innovations=innovations, innovation_value=innovation_value,
                                 collaborations_intra=intra, collaborations_inter=inter, entries=entries,
                                 exits=exits, spillover_events=self.spill_events, flows=flows))
        if t % p.evidence_every == 0:
            self.observe_evidence(t)

    def observe_evidence(self, t):
        """Expertise mass per region and domain, RCA and specialisation, with Python loops."""
        R, D = self.n_regions, self.n_domains
        shift = self.cap_shift
        x = [[0.0] * D for _ in range(R)]
        for ag in self.agents:
            row = x[ag.region]
            for c, e in zip(ag.capability, ag.expertise):
                row[c >> shift] += e
        total = sum(sum(row) for row in x)
        col = [sum(x[r][d] for r in range(R)) for d in range(D)]
        specialised = []
        for r in range(R):
            rs = sum(x[r])
            specialised.append([rs > 0 and col[d] > 0 and (x[r][d] / rs) / (col[d] / total) >= 1.0
                                for d in range(D)])
        self.evidence.append((t, x, specialised))
        self.prev_specialised = specialised

    # ------------------------------------------------------------------------------------------------------------
    def state_rows(self):
        """Per-row state for the equivalence check (dead rows included)."""
        return self.by_row
