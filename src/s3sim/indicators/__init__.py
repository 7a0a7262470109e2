"""Indicators (ODD: observation; model-spec 5.9): every measured quantity, defined once, with its unit.

:data:`INDICATORS` lists the per-step indicators recorded per region and in total (region ``ALL``).
:class:`Recorder` stores them in a preallocated ``(steps, regions + 1, indicators)`` array that the model fills
each step from its arrays (no per-agent Python), and turns them into the tidy ``timeseries`` table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Indicator:
    name: str
    unit: str
    meaning: str
    every: str = "step"  # "step", "network" (every network_every steps) or "evidence" (every evidence_every)
    total_only: bool = False


INDICATORS: tuple[Indicator, ...] = (
    Indicator("firms", "firms", "alive firms (SMEs, large firms, start-ups)"),
    Indicator("research_institutes", "actors", "research institutes"),
    Indicator("entries", "firms/quarter", "new firms this step (spin-offs, non-local entrants, academic spin-offs)"),
    Indicator("exits", "firms/quarter", "firms that left this step (negative capital)"),
    Indicator("innovations", "innovations/quarter", "innovations this step (incremental + radical + project "
              "deliverables)"),
    Indicator("innovations_incremental", "innovations/quarter", "incremental innovations this step"),
    Indicator("innovations_radical", "innovations/quarter", "radical innovations this step"),
    Indicator("innovation_value", "appeal units", "summed value (appeal draw) of this step's innovations"),
    Indicator("rd_spending", "money/quarter", "research and collaboration spending of firms and institutes"),
    Indicator("revenue", "money/quarter", "firms' sales"),
    Indicator("value_added", "money/quarter", "value-added proxy: revenue minus depreciation of firms"),
    Indicator("public_transfers", "money/quarter", "research-institute grants and policy subsidies paid"),
    Indicator("capital", "money", "capital of alive actors"),
    Indicator("collaborations_intra", "partnerships/quarter", "new partnerships within the region this step"),
    Indicator("collaborations_inter", "partnerships/quarter", "new partnerships across regions this step"),
    Indicator("knowledge_flows", "triples/quarter", "triples adopted or absorbed from partners this step"),
    Indicator("spillover_events", "events/quarter", "spillover events this step", total_only=True),
    Indicator("cluster_members", "actors", "actors that are members of a cluster organisation"),
    Indicator("specialised_domains", "domains", "domains with RCA >= 1", every="evidence"),
    Indicator("specialisation_entries", "domains", "domains that became specialised since the last observation",
              every="evidence"),
    Indicator("specialisation_exits", "domains", "domains that stopped being specialised since the last "
              "observation", every="evidence"),
    Indicator("entry_relatedness_density", "0-100", "mean relatedness density (at the earlier observation) of "
              "specialisation entries", every="evidence"),
    Indicator("exit_relatedness_density", "0-100", "mean relatedness density (at the earlier observation) of "
              "specialisation exits", every="evidence"),
    Indicator("mean_degree", "ties/actor", "mean degree of the collaboration network", every="network"),
    Indicator("clustering", "0-1", "mean local clustering per region; global transitivity in total",
              every="network"),
    Indicator("giant_component_share", "share", "share of actors in the giant component", every="network"),
    Indicator("interregional_tie_share", "share", "share of ties crossing a regional border", every="network"),
    Indicator("gini_innovation_per_capita", "0-1", "Gini coefficient between regions of cumulative innovations "
              "per million inhabitants", total_only=True),
    # policy (S15, S16): recorded only under a policy, from the first policy step on
    Indicator("policy_budget", "money/quarter", "public budget available this quarter (equal across funded "
              "regimes)", every="policy"),
    Indicator("spent_subsidies", "money/quarter", "R&D subsidies paid to single firms", every="policy"),
    Indicator("spent_projects", "money/quarter", "public share of funded collaborative projects paid",
              every="policy"),
    Indicator("spent_cluster_grants", "money/quarter", "operating grants to cluster organisations", every="policy"),
    Indicator("projects_funded_intra", "projects/quarter", "projects funded this quarter within one region",
              every="policy"),
    Indicator("projects_funded_inter", "projects/quarter", "projects funded this quarter spanning regions "
              "(counted in every partner region; the total counts each once)", every="policy"),
    Indicator("projects_active", "projects", "projects running (a project spanning regions counts in each)",
              every="policy"),
    Indicator("priorities", "domains", "priority domains of the region's strategy", every="policy"),
    Indicator("innovations_per_million", "innovations per million", "innovations since the policy started per "
              "million money units of public spending", every="policy"),
    Indicator("stress_cluster_design", "0-1", "StressTest: share of cluster organisations whose signals entered "
              "the last priority review", every="policy"),
    Indicator("stress_cluster_implementation", "0-1", "StressTest: share of project participations by cluster "
              "members", every="policy"),
    Indicator("stress_breadth", "0-1", "StressTest: breadth of the strategy (priorities / domains)",
              every="policy"),
    Indicator("stress_alignment", "0-1", "StressTest: mean overlap (Jaccard) of priorities with regions within "
              "lambda_km", every="policy"),
    Indicator("stress_transformative", "0-1", "StressTest: share of funding in related (relatedness density "
              "above the median) domains not yet specialised", every="policy"),
    Indicator("stress_cluster_support", "0-1", "StressTest: share of spending that reaches cluster organisations "
              "or their members", every="policy"),
)
INDEX = {ind.name: k for k, ind in enumerate(INDICATORS)}


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = equal)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = x.size
    if n == 0 or x.sum() <= 0:
        return 0.0
    cum = np.cumsum(x)
    return float((n + 1 - 2 * (cum.sum() / cum[-1])) / n)


class Recorder:
    """Preallocated indicator store: ``values[step - 1, region (R = total), indicator]`` (NaN = not observed)."""

    def __init__(self, n_steps: int, region_ids: tuple[str, ...]):
        self.region_ids = tuple(region_ids)
        self.values = np.full((n_steps, len(region_ids) + 1, len(INDICATORS)), np.nan)
        self.n_steps = 0

    def grow(self, n_steps: int) -> None:
        if n_steps > self.values.shape[0]:
            extra = np.full((n_steps - self.values.shape[0],) + self.values.shape[1:], np.nan)
            self.values = np.concatenate([self.values, extra])

    def set(self, step: int, name: str, per_region: np.ndarray, total: float | None = None) -> None:
        """Store one indicator for all regions; ``total`` defaults to the sum over regions."""
        k = INDEX[name]
        values = self.values
        values[step - 1, :-1, k] = per_region
        values[step - 1, -1, k] = per_region.sum() if total is None else total
        if step > self.n_steps:
            self.n_steps = step

    def set_total(self, step: int, name: str, total: float) -> None:
        self.values[step - 1, -1, INDEX[name]] = total
        self.n_steps = max(self.n_steps, step)

    def set_all(self, step: int, name: str, values_with_total: np.ndarray) -> None:
        self.values[step - 1, :, INDEX[name]] = values_with_total
        self.n_steps = max(self.n_steps, step)

    def tidy(self) -> pd.DataFrame:
        """Long table: step, region (``ALL`` for totals), indicator, value; unobserved cells dropped."""
        v = self.values[: self.n_steps]
        t, r, k = np.nonzero(~np.isnan(v))
        regions = np.array(self.region_ids + ("ALL",), dtype=object)
        names = np.array([ind.name for ind in INDICATORS], dtype=object)
        return pd.DataFrame({
            "step": (t + 1).astype(np.int32),
            "region": pd.Categorical(regions[r], categories=list(regions)),
            "indicator": pd.Categorical(names[k], categories=list(names)),
            "value": v[t, r, k],
        })
