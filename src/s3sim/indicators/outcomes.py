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


#: outcomes with no value for a single region (a measure between regions): NaN under ``region=``
WHOLE_WORLD_ONLY = frozenset({"gini_innovation_per_capita"})


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

    def total(name: str) -> float:
        return float(wide[name].sum()) if name in wide else 0.0

    top10 = top_share(innovations["value"].to_numpy()) if len(innovations) else 0.0
    specialised = (_per_region_last(timeseries, "specialised_domains") if region == "ALL"
                   else last_obs("specialised_domains"))
    return _assemble(float(wide["firms"].iloc[-1]), mean, total, last_obs, top10, specialised, region)


def _assemble(firms_now, mean, total, last_obs, top10: float, specialised: float, region: str) -> dict[str, float]:
    """The outcomes from accessors of one run's indicators: ``mean(name)`` over the window, ``total(name)`` over
    the run, ``last_obs(name)``."""
    firms_mean = mean("firms")
    actors = firms_mean + mean("research_institutes")
    innov = mean("innovations")
    collab = mean("collaborations_intra") + mean("collaborations_inter")
    return {
        "firms": firms_now,
        "innovations_per_1000_firms": 4.0 * 1000.0 * innov / firms_mean if firms_mean > 0 else 0.0,
        "radical_share": mean("innovations_radical") / innov if innov > 0 else 0.0,
        "top10_value_share": top10,
        "entry_rate": 4.0 * mean("entries") / firms_mean if firms_mean > 0 else 0.0,
        "exit_rate": 4.0 * mean("exits") / firms_mean if firms_mean > 0 else 0.0,
        "revenue": mean("revenue"),
        "value_added": mean("value_added"),
        "rd_spending": mean("rd_spending"),
        "collaborations": collab,
        "interregional_collaboration_share": mean("collaborations_inter") / collab if collab > 0 else 0.0,
        "knowledge_flows_per_actor": mean("knowledge_flows") / actors if actors > 0 else 0.0,
        "specialised_domains_per_region": specialised,
        "specialisation_entries": total("specialisation_entries"),
        "specialisation_exits": total("specialisation_exits"),
        "mean_degree": last_obs("mean_degree"),
        "clustering": last_obs("clustering"),
        "giant_component_share": last_obs("giant_component_share"),
        "interregional_tie_share": last_obs("interregional_tie_share"),
        "gini_innovation_per_capita": last_obs("gini_innovation_per_capita") if region == "ALL" else float("nan"),
        "public_transfers": mean("public_transfers"),
    }


def _per_region_last(timeseries: pd.DataFrame, name: str) -> float:
    sel = timeseries[(timeseries["indicator"] == name) & (timeseries["region"] != "ALL")]
    if sel.empty:
        return float("nan")
    lastv = sel[sel["step"] == sel["step"].max()]
    return float(lastv["value"].mean())


def _nanmean(v: np.ndarray) -> float:
    """``pandas.Series(v).mean()`` exactly: NaNs count as zeros in the (pairwise) sum and are left out of the
    count."""
    mask = np.isnan(v)
    count = v.size - int(mask.sum())
    if count == 0:
        return float("nan")
    return float(np.where(mask, 0.0, v).sum() / np.float64(count))


def _nansum(v: np.ndarray) -> float:
    """``pandas.Series(v).sum()`` exactly (NaNs as zeros)."""
    return float(np.where(np.isnan(v), 0.0, v).sum())


def _last(v: np.ndarray) -> float:
    """Last non-NaN value, NaN if none."""
    idx = np.flatnonzero(~np.isnan(v))
    return float(v[idx[-1]]) if idx.size else float("nan")


def outcomes_from_records(values: np.ndarray, region_ids: tuple[str, ...], innovation_value: np.ndarray,
                          innovation_region: np.ndarray, window: int = 8, region: str = "ALL") -> dict[str, float]:
    """:func:`outcomes` straight from a run's records, without building its tables (the stress test's path).

    ``values`` is the recorder's ``(steps, regions + 1, indicators)`` array of the recorded steps (NaN =
    unobserved; index ``R`` holds the totals), ``innovation_value`` and ``innovation_region`` (region index) list
    every innovation of the run. The result equals ``outcomes(tables...)`` bit for bit (a test checks it): the
    same values are summed in the same order as pandas sums them."""
    from . import INDEX

    R = len(region_ids)
    if region == "ALL":
        r = R
        inn = np.asarray(innovation_value, dtype=np.float64)
    else:
        if region not in region_ids:
            from ..errors import ConfigError

            raise ConfigError("region", region, f"one of {', '.join(sorted((*region_ids, 'ALL')))}")
        r = region_ids.index(region)
        inn = np.asarray(innovation_value, dtype=np.float64)[np.asarray(innovation_region) == r]
    n_steps = values.shape[0]
    series = values[:, r, :]
    recent = series[max(n_steps - window, 0):]

    def col(name: str) -> np.ndarray:
        return series[:, INDEX[name]]

    def mean(name: str) -> float:
        return _nanmean(recent[:, INDEX[name]].copy())

    def last_obs(name: str) -> float:
        return _last(col(name))

    if region == "ALL":
        spec = values[:, :R, INDEX["specialised_domains"]]
        seen = np.flatnonzero(~np.isnan(spec).all(axis=1))
        if seen.size:
            row = spec[seen[-1]]
            specialised = _nanmean(row[~np.isnan(row)].copy())
        else:
            specialised = float("nan")
    else:
        specialised = last_obs("specialised_domains")

    def total(name: str) -> float:
        return _nansum(col(name).copy())

    top10 = top_share(inn) if len(inn) else 0.0
    return _assemble(float(col("firms")[-1]), mean, total, last_obs, top10, specialised, region)
