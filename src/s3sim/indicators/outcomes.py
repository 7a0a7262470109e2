"""End-of-run scalar outcomes: the model as a function of its parameters (used by :func:`s3sim.evaluate`, the
stress test and external tools such as EMA Workbench or an optimiser).

Flows are averaged over the last ``window`` steps (default 8 = two years); stocks are taken at the last step;
network and evidence indicators at their last observation. Computed from the stored tables only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: outcome name -> meaning (units in brackets)
OUTCOMES: dict[str, str] = {
    "firms": "firms alive at the end [firms]",
    "innovations_per_1000_firms": "innovations per 1,000 firms per year over the last two years",
    "radical_share": "share of radical innovations over the last two years",
    "top10_value_share": "share of total innovation value held by the top 10% of innovations (whole run)",
    "entry_rate": "entries per firm per year over the last two years",
    "exit_rate": "exits per firm per year over the last two years",
    "revenue": "firms' revenue per quarter over the last two years [money]",
    "value_added": "value-added proxy per quarter over the last two years [money]",
    "rd_spending": "R&D and collaboration spending per quarter over the last two years [money]",
    "collaborations": "new partnerships per quarter over the last two years",
    "interregional_collaboration_share": "share of new partnerships across regions over the last two years",
    "knowledge_flows_per_actor": "knowledge flows per actor per quarter over the last two years",
    "specialised_domains_per_region": "mean number of domains with RCA >= 1 per region at the end",
    "specialisation_entries": "specialisation entries over the whole horizon (all regions)",
    "specialisation_exits": "specialisation exits over the whole horizon (all regions)",
    "mean_degree": "mean degree of the collaboration network at the last observation",
    "clustering": "global transitivity of the collaboration network at the last observation",
    "giant_component_share": "share of actors in the giant component at the last observation",
    "interregional_tie_share": "share of network ties crossing regions at the last observation",
    "gini_innovation_per_capita": "Gini between regions of cumulative innovations per million inhabitants",
    "public_transfers": "public transfers per quarter over the last two years [money]",
}


def top_share(values: np.ndarray, top: float = 0.1) -> float:
    """Share of the total held by the largest ``top`` fraction of values."""
    v = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    if v.size == 0 or v.sum() <= 0:
        return 0.0
    k = max(1, int(np.ceil(top * v.size)))
    return float(v[:k].sum() / v.sum())


def outcomes(timeseries: pd.DataFrame, innovations: pd.DataFrame, firms: pd.DataFrame,
             window: int = 8, region: str = "ALL") -> dict[str, float]:
    """Scalar outcomes of one run (see :data:`OUTCOMES`), for all regions together or for one ``region``.

    For a single region, ``specialised_domains_per_region`` is that region's count, the network measures are the
    region's (clustering: mean local clustering), and the between-region Gini is NaN."""
    if region != "ALL":
        known = set(timeseries["region"].astype(str))
        if region not in known:
            from ..errors import ConfigError

            raise ConfigError("region", region, f"one of {', '.join(sorted(known))}")
        innovations = innovations[innovations["region"].astype(str) == region]
    ts = timeseries[timeseries["region"] == region]
    wide = ts.pivot(index="step", columns="indicator", values="value")
    wide.columns = wide.columns.astype(str)
    last = wide.index.max()
    recent = wide.loc[wide.index > last - window]

    def mean(name: str) -> float:
        return float(recent[name].mean()) if name in recent else float("nan")

    def last_obs(name: str) -> float:
        s = wide[name].dropna() if name in wide else pd.Series(dtype=float)
        return float(s.iloc[-1]) if len(s) else float("nan")

    firms_now = float(wide["firms"].iloc[-1])
    firms_mean = mean("firms")
    actors = firms_mean + mean("research_institutes")
    innov = mean("innovations")
    collab = mean("collaborations_intra") + mean("collaborations_inter")
    out = {
        "firms": firms_now,
        "innovations_per_1000_firms": 4.0 * 1000.0 * innov / firms_mean if firms_mean > 0 else 0.0,
        "radical_share": mean("innovations_radical") / innov if innov > 0 else 0.0,
        "top10_value_share": top_share(innovations["value"].to_numpy()) if len(innovations) else 0.0,
        "entry_rate": 4.0 * mean("entries") / firms_mean if firms_mean > 0 else 0.0,
        "exit_rate": 4.0 * mean("exits") / firms_mean if firms_mean > 0 else 0.0,
        "revenue": mean("revenue"),
        "value_added": mean("value_added"),
        "rd_spending": mean("rd_spending"),
        "collaborations": collab,
        "interregional_collaboration_share": mean("collaborations_inter") / collab if collab > 0 else 0.0,
        "knowledge_flows_per_actor": mean("knowledge_flows") / actors if actors > 0 else 0.0,
        "specialised_domains_per_region": (_per_region_last(timeseries, "specialised_domains") if region == "ALL"
                                           else last_obs("specialised_domains")),
        "specialisation_entries": float(wide["specialisation_entries"].sum()) if "specialisation_entries" in wide
        else 0.0,
        "specialisation_exits": float(wide["specialisation_exits"].sum()) if "specialisation_exits" in wide
        else 0.0,
        "mean_degree": last_obs("mean_degree"),
        "clustering": last_obs("clustering"),
        "giant_component_share": last_obs("giant_component_share"),
        "interregional_tie_share": last_obs("interregional_tie_share"),
        "gini_innovation_per_capita": last_obs("gini_innovation_per_capita") if region == "ALL" else float("nan"),
        "public_transfers": mean("public_transfers"),
    }
    return out


def _per_region_last(timeseries: pd.DataFrame, name: str) -> float:
    sel = timeseries[(timeseries["indicator"] == name) & (timeseries["region"] != "ALL")]
    if sel.empty:
        return float("nan")
    lastv = sel[sel["step"] == sel["step"].max()]
    return float(lastv["value"].mean())
