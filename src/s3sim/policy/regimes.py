"""The five S3 regimes (model-spec 5.8; docs/policy/<name>.md has each one's rules and sources).

* ``none`` (P0a): no public support; cluster organisations exist but broker nothing extra.
* ``horizontal`` (P0b): R&D subsidies open to any researching firm, no priorities.
* ``topdown_s3`` (P1): priorities chosen once per programming period from existing strengths with selection noise
  (or the region's stated priorities); subsidies only in priority domains; radical search tilted toward them.
* ``cluster_s3`` (P2): a continuous entrepreneurial discovery process fed by cluster organisations' signals,
  relatedness and complexity evidence; an exit rule for failing priorities; collaborative calls with consortium
  rules; operating grants and brokerage for clusters.
* ``transregional_s3`` (P3): ``cluster_s3`` plus joint calls from a pooled budget share (the synchronised
  scheme), consortia spanning regions with related priorities, and linked regions' mass counting toward
  critical mass.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K
from .base import Call, Regime, register


def zscore(x: np.ndarray) -> np.ndarray:
    """``(x - x.mean()) / x.std()``, zeros when the standard deviation is 0 (compiled for float64, integer and
    boolean input, bit-identical to numpy; other dtypes take numpy's own path)."""
    x = np.asarray(x)
    if x.dtype == np.float64 or x.dtype.kind in "iub":
        return K.zscore(np.ascontiguousarray(x, dtype=np.float64))
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x, dtype=np.float64)


def top_k(score: np.ndarray, k: int) -> np.ndarray:
    mask = np.zeros(score.size, dtype=bool)
    mask[np.argsort(-score, kind="stable")[: min(k, score.size)]] = True
    return mask


@register
class NoPolicy(Regime):
    """P0a: no public support."""

    name = "none"
    funded = False


@register
class Horizontal(Regime):
    """P0b: subsidy_rate x the research cost of any firm doing research, first come (random order) until the
    quarter's budget is spent; no priorities, no calls."""

    name = "horizontal"

    def direct_support(self, engine, model, t, budget):
        engine.subsidise(model, self.scope, budget, domains=None)


@register
class TopDownS3(Regime):
    """P1: the authority picks ``n_priorities`` domains once per programming period (``review_period``) by
    z(RCA) + z(share of the region's firms) + N(0, sigma_sel^2), or takes the stated priorities; it subsidises
    research of firms whose product is in a priority domain, and tilts radical search toward priorities by
    ``tau_dir``."""

    name = "topdown_s3"
    prioritises = True

    def review_priorities(self, engine, model, t):
        last = self.state.get("last_review")
        if last is not None and t - last < self.p.review_period:
            return None
        self.state["last_review"] = t
        r = self.scope.region
        stated = model.world.priority_mask[r]
        if self.p.use_stated_priorities and stated.any():
            return stated.copy()
        rng = model.streams["policy"]
        firms = model.mass[r]
        share = firms / firms.sum() if firms.sum() > 0 else firms
        score = zscore(model.rca[r]) + zscore(share) + self.p.sigma_sel * rng.standard_normal(share.size)
        return top_k(score, self.p.n_priorities)

    def direct_support(self, engine, model, t, budget):
        engine.subsidise(model, self.scope, budget, domains=self.priorities)


@register
class ClusterS3(Regime):
    """P2: continuous EDP every ``edp_period`` steps. Candidates are scored by
    w_signal z(cluster signals) + w_relatedness z(relatedness density) + w_complexity z(complexity) +
    N(0, sigma_edp^2), where a cluster organisation signals its focal domain and the domains of its members'
    innovations since the last review (entrepreneurial discoveries). Incumbent priorities stay unless their
    innovations fall below ``theta_exit`` x the median of the region's priorities at two consecutive reviews;
    at most ``max_changes`` are replaced per review. A share ``co_grant_share`` of the budget goes to operating
    grants of cluster organisations in priority domains, which also broker with ``co_brokerage``; the rest funds
    collaborative calls in the priority domains every ``call_period`` steps."""

    name = "cluster_s3"
    prioritises = True
    collaborative = True

    def review_priorities(self, engine, model, t):
        if self.scope.cluster >= 0:
            return None  # a pilot cluster's priority is its focal domain (set by the engine)
        last = self.state.get("last_review")
        if last is not None and t - last < self.p.edp_period:
            return None
        self.state["last_review"] = t
        r = self.scope.region
        rng = model.streams["policy"]
        signal = engine.cluster_signals(model, self.scope)
        rd, z_cx = model.rd[r], self._z_complexity(model)
        noise = rng.standard_normal(signal.size)  # the only draw: the z-scores draw nothing
        if signal.dtype == rd.dtype == z_cx.dtype == np.float64:  # compiled, the same operations
            score = K.edp_scores(signal, np.ascontiguousarray(rd), z_cx, noise, self.p.w_signal,
                                 self.p.w_relatedness, self.p.w_complexity, self.p.sigma_edp)
        else:
            score = (self.p.w_signal * zscore(signal) + self.p.w_relatedness * zscore(rd)
                     + self.p.w_complexity * z_cx + self.p.sigma_edp * noise)
        k = min(self.p.n_priorities, signal.size)
        if last is None or not self.priorities.any():
            new = top_k(score, k)
            self.state["strikes"] = np.zeros(signal.size, dtype=np.int64)
        else:
            kpi = engine.innovations_since_review(self.scope)
            pri = self.priorities
            strikes = self.state["strikes"]
            if (pri.dtype == np.bool_ and kpi.dtype == score.dtype == np.float64 and strikes.dtype == np.int64
                    and pri.size == kpi.size == strikes.size == score.size):  # compiled: K.edp_update
                new = np.empty(pri.size, dtype=np.bool_)
                dropped = K.edp_update(score, kpi, pri, strikes, self.p.theta_exit, self.p.max_changes, k, new)
            else:
                med = K.median(kpi[pri]) if pri.any() else 0.0
                failing = pri & (kpi < self.p.theta_exit * med)
                strikes[failing] += 1
                strikes[~failing] = 0
                out = np.flatnonzero(pri & (strikes >= 2))
                out = out[np.argsort(score[out], kind="stable")][: self.p.max_changes]
                new = pri.copy()
                new[out] = False
                strikes[out] = 0
                dropped = out.size
                need = k - int(new.sum())
                if need > 0:  # a dropped priority is replaced by the best non-priorities, not re-selected at once
                    candidates = np.flatnonzero(~pri)
                    new[candidates[np.argsort(-score[candidates], kind="stable")][:need]] = True
            self.state["dropped"] = self.state.get("dropped", 0) + dropped
        engine.reset_review(self.scope)
        self.state["signalled"] = signal > 0
        return new

    def _z_complexity(self, model) -> np.ndarray:
        """z-scores of the domains' complexity (fixed for a world: computed once)."""
        cx = model.world.domains.complexity
        cached = getattr(self, "_z_cx", None)
        if cached is None or cached[0] is not cx:
            cached = self._z_cx = (cx, zscore(cx))
        return cached[1]

    def direct_support(self, engine, model, t, budget):
        engine.grant_clusters(model, self.scope, self.p.co_grant_share * budget, self.priorities,
                              self.p.co_brokerage)

    def call_share(self) -> float:
        return 1.0 - self.p.co_grant_share

    def publish_calls(self, engine, model, t, budget):
        domains = np.flatnonzero(self.priorities)
        if domains.size == 0 or budget <= 0:
            return []
        r = self.scope.region
        return [engine.new_call(d, budget / domains.size, np.array([r]), 1, self.scope.cluster, r) for d in domains]


@register
class TransregionalS3(ClusterS3):
    """P3: ``cluster_s3`` whose regions also pay ``transregional_share`` of their budget into a joint pool.
    Every ``call_period`` the pool opens joint calls in domains where at least two participating regions have a
    priority equal or related (relatedness >= ``phi_min``) to it; consortia must span at least two such
    regions; ranking adds the partner regions' mass in the domain. Regions joined by a running joint project
    are linked, so their mass counts toward each other's critical mass (S11, weight ``model.omega``)."""

    name = "transregional_s3"
    joint = True


__all__ = ["Call", "NoPolicy", "Horizontal", "TopDownS3", "ClusterS3", "TransregionalS3", "zscore", "top_k"]
