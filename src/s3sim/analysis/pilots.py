"""Phase 3: what do pilot clusters gain? A difference-in-differences evaluation of pilot cluster organisations.

The S3-4AlpClusters pilots ran the improved model in one cluster organisation per partner region while the rest
of the region kept its S3. An evaluator sees treated and untreated clusters before and after the pilot started,
and estimates the effect by difference in differences (DiD). This module does exactly that on stored runs, and,
because a model allows what reality does not, also measures the **true** effect of the pilots on the same
clusters: the same seed and replicate run without pilots (common random numbers) is the treated clusters'
counterfactual. Comparing the two shows how far the evaluator's estimate can be trusted.

Data: the ``panel`` table's cluster columns (``cluster_members``, ``cluster_innovations``: innovations by the
members of a region's cluster organisation in a domain since the previous observation) and the run manifest's
``policy_setup.pilots``. The outcome is a cluster's **innovations per member per year** in an observation window.

Estimators, per run (one seed and replicate), then over runs with a t interval:

* ``did``: (post - pre) of the pilot clusters taken together minus the same for their comparison clusters;
  pre = the last ``pre_window`` quarters of the burn-in (before any policy, after the start-up transient),
  post = the policy horizon after ``lag`` quarters; rates are member-weighted (innovations / member-quarters);
* comparison clusters ("comparable untreated clusters"): for each pilot, the ``k`` untreated clusters whose
  pre-period outcome and membership are closest (nearest neighbours on standardised log values), drawn from
  other regions to keep them away from the pilot's own region; ``match="all"`` uses every untreated cluster.
  They are not a clean counterfactual: every region has a pilot, pilots cooperate across regions, and any policy
  change shifts every later random draw, so the comparison clusters also change between the pilot and the
  no-pilot run (``runs`` reports their post-period rate in both as a diagnostic);
* ``true_effect``: the pilot clusters' post-period outcome in the pilot run minus the same clusters in the paired
  run without pilots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..files import atomic_write
from .collect import SweepStore, open_sweep
from .compare import paired_summary


@dataclass
class PilotEvaluation:
    """Per-run estimates and their summaries (see the module docstring)."""

    runs: pd.DataFrame            # one row per pilot run: did, true_effect, n_pilots, n_controls, pre/post means
    summary: pd.DataFrame         # estimator -> n, mean, ci_low, ci_high
    event: pd.DataFrame           # step, group (pilot, comparison, pilot without pilots), mean, ci_low, ci_high
    per_pilot: pd.DataFrame       # region: mean DiD and true effect of the region's pilot over runs
    burn_in: int
    lag: int
    match: str

    def estimate(self, name: str = "did") -> dict[str, float]:
        row = self.summary[self.summary["estimator"] == name]
        if row.empty:
            raise ConfigError("estimator", name, f"one of {', '.join(self.summary['estimator'])}")
        return row.iloc[0].to_dict()

    def reading(self) -> list[str]:
        d, t = self.estimate("did"), self.estimate("true_effect")

        def ci(x: dict) -> str:
            return f"{x['mean']:+.2f} [{x['ci_low']:+.2f}, {x['ci_high']:+.2f}]"

        out = [f"Difference in differences: pilot clusters gain {ci(d)} innovations per member a year against "
               f"comparable untreated clusters in other regions ({int(d['n'])} runs, 95% interval)."]
        if np.isfinite(t["mean"]):
            counterfactual = float(np.nanmean(self.runs["pilot_post"] - self.runs["true_effect"]))
            rel = f", {t['mean'] / counterfactual:+.0%} of their rate without pilots" if counterfactual > 0 else ""
            out.append(f"True effect (the same clusters in the paired run without pilots): {ci(t)}{rel}.")
            if np.isfinite(d["ci_low"]) and np.isfinite(t["mean"]):
                inside = d["ci_low"] <= t["mean"] <= d["ci_high"]
                out.append("The DiD interval contains the true effect." if inside else
                           "The DiD interval misses the true effect: the comparison clusters are not a clean "
                           "counterfactual (the pilots change them too, or their trends differ).")
        return out


def _cluster_panel(panel: pd.DataFrame) -> pd.DataFrame:
    p = panel[panel["cluster_members"] >= 0].copy()
    p["region"] = p["region"].astype(str)
    p["domain"] = p["domain"].astype(str)
    return p


def _window_rates(p: pd.DataFrame, burn_in: int, lag: int, every: int, pre_window: int) -> pd.DataFrame:
    """Per cluster and window (pre: the last ``pre_window`` quarters of the burn-in; post: after the lag): member
    innovations, member-quarters, and innovations per member per year."""
    pre = p[(p["step"] <= burn_in) & (p["step"] > burn_in - pre_window)]
    post = p[p["step"] > burn_in + lag]
    out = []
    for name, part in (("pre", pre), ("post", post)):
        g = part.groupby(["region", "domain"])
        inn = g["cluster_innovations"].sum().rename(f"{name}_inn")
        mq = (g["cluster_members"].sum() * every).rename(f"{name}_mq")  # members x quarters of their window
        out += [inn, mq, (4 * inn / mq.where(mq > 0)).rename(name)]
    members = pre.groupby(["region", "domain"])["cluster_members"].mean().rename("pre_members")
    return pd.concat([*out, members], axis=1).reset_index()


def _event_rates(panel: pd.DataFrame, units: list, run: int, group: str, every: int) -> list[dict]:
    """Innovations per member a year of the clusters ``units`` (panel indexed by region and domain), pooled, at
    each observed step: rows of the event study."""
    e = panel.loc[units].reset_index().groupby("step").agg(inn=("cluster_innovations", "sum"),
                                                          mem=("cluster_members", "sum"))
    return [{"run": run, "group": group, "step": int(step),
             "rate": 4 * v["inn"] / (v["mem"] * every) if v["mem"] > 0 else math.nan} for step, v in e.iterrows()]


def _pooled(rates: pd.DataFrame, units: list, window: str) -> float:
    """Innovations per member per year of a group of clusters taken together (member-weighted)."""
    sel = rates.loc[[u for u in units if u in rates.index]]
    mq = sel[f"{window}_mq"].sum()
    return float(4 * sel[f"{window}_inn"].sum() / mq) if mq > 0 else math.nan


def _match(rates: pd.DataFrame, pilots: set[tuple[str, str]], k: int, match: str) -> dict[tuple[str, str], list]:
    treated = rates[[(r, d) in pilots for r, d in zip(rates["region"], rates["domain"])]]
    pool = rates[[(r, d) not in pilots for r, d in zip(rates["region"], rates["domain"])]]
    pool = pool[np.isfinite(pool["pre"]) & np.isfinite(pool["post"])]
    out: dict[tuple[str, str], list] = {}
    if match == "all":
        ctrl = list(zip(pool["region"], pool["domain"]))
        return {(r, d): ctrl for r, d in zip(treated["region"], treated["domain"])}
    feats = np.column_stack([np.log1p(pool["pre"].to_numpy(float)), np.log1p(pool["pre_members"].to_numpy(float))])
    scale = feats.std(axis=0)
    scale[scale == 0] = 1.0
    for _, row in treated.iterrows():
        other = (pool["region"] != row["region"]).to_numpy()
        if not other.any():
            continue
        f = np.array([math.log1p(row["pre"]) if np.isfinite(row["pre"]) else 0.0, math.log1p(row["pre_members"])])
        dist = (((feats - f) / scale) ** 2).sum(axis=1)
        dist[~other] = np.inf
        idx = np.argsort(dist, kind="stable")[:k]
        idx = idx[np.isfinite(dist[idx])]
        out[(row["region"], row["domain"])] = list(zip(pool["region"].to_numpy()[idx], pool["domain"].to_numpy()[idx]))
    return out


def evaluate_pilots(store: SweepStore | str, *, by: str = "policy", pilot: str = "pilot", without: str | None = None,
                    lag: int = 8, pre_window: int = 8, k: int = 3, match: str = "nearest", conf: float = 0.95,
                    progress: bool = True) -> PilotEvaluation:
    """DiD and true effect of pilot clusters in a sweep that varies ``by`` over a pilot scenario (value
    ``pilot``) and, optionally, the same S3 without pilots (``without``, for the true effect)."""
    if not isinstance(store, SweepStore):
        store = open_sweep(store, progress=progress)
    if match not in ("nearest", "all"):
        raise ConfigError("match", match, "'nearest' or 'all'")
    if k < 1:
        raise ConfigError("k", k, "a positive number of comparison clusters per pilot")
    if lag < 0 or pre_window < 1:
        raise ConfigError("lag" if lag < 0 else "pre_window", lag if lag < 0 else pre_window,
                          "a non-negative lag and a positive pre-period window, in quarters")
    idx = store.completed.copy()
    if by not in idx:
        raise ConfigError("by", by, f"a swept key of this sweep ({', '.join(store.swept_keys)})")
    values = list(dict.fromkeys(idx[by].dropna()))
    if pilot not in values:
        raise ConfigError("pilot", pilot, f"one of {', '.join(map(str, values))} (the values of {by})")
    if without is not None and without not in values:
        raise ConfigError("without", without, f"one of {', '.join(map(str, values))} (the values of {by})")
    idx["replicate"] = idx["replicate"].astype("Int64").fillna(-1).astype(int)
    idx["pair"] = idx["seed"].astype(str) + "|" + idx["replicate"].astype(str)
    cols = ["run", "step", "region", "domain", "cluster_members", "cluster_innovations"]
    want = idx[idx[by].isin([pilot, without])]
    panel = store.read("panel", columns=cols, filters=[("run", "in", [int(r) for r in want["run"]])])
    if "cluster_members" not in panel:
        raise ConfigError(str(store.sweep_dir), "panel without cluster columns", "runs made by s3sim >= 0.1 with "
                          "the panel's cluster_members and cluster_innovations columns")
    panel = _cluster_panel(panel)
    rows, per_pilot, event_rows = [], [], []
    base_runs = want[want[by] == without].set_index("pair")["run"] if without is not None else pd.Series(dtype=int)
    burn_in = None
    for r in want[want[by] == pilot].itertuples():
        man = store.manifest(int(r.run))
        burn_in = int(man.get("burn_in") or 0)
        every = int(((man.get("config") or {}).get("model") or {}).get("evidence_every", 4))
        pilots = {(p["region"], p["domain"]) for p in (man.get("policy_setup") or {}).get("pilots", [])}
        if not pilots:
            raise ConfigError(f"run {r.run}", "no pilots", f"runs whose {by}={pilot} has pilot clusters "
                                                            f"(policy.pilots)")
        p = panel[panel["run"] == r.run]
        rates = _window_rates(p, burn_in, lag, every, pre_window)
        matches = {u: c for u, c in _match(rates, pilots, k, match).items() if c}
        if not matches:
            continue
        rates_i = rates.set_index(["region", "domain"])
        base = None
        if r.pair in base_runs.index:
            base = _window_rates(panel[panel["run"] == base_runs[r.pair]], burn_in, lag, every,
                                 pre_window).set_index(["region", "domain"])
        treated = list(matches)
        ctrl_all = sorted({c for cs in matches.values() for c in cs})
        t_pre, t_post = _pooled(rates_i, treated, "pre"), _pooled(rates_i, treated, "post")
        c_pre, c_post = _pooled(rates_i, ctrl_all, "pre"), _pooled(rates_i, ctrl_all, "post")
        true = t_post - _pooled(base, treated, "post") if base is not None else math.nan
        c_post_base = _pooled(base, ctrl_all, "post") if base is not None else math.nan
        rows.append({"run": int(r.run), "pair": r.pair, "did": (t_post - t_pre) - (c_post - c_pre),
                     "true_effect": true, "n_pilots": len(treated), "n_controls": len(ctrl_all),
                     "pilot_pre": t_pre, "pilot_post": t_post, "control_pre": c_pre, "control_post": c_post,
                     "control_post_without_pilots": c_post_base})
        for unit, ctrl in matches.items():
            u = [unit]
            d = (_pooled(rates_i, u, "post") - _pooled(rates_i, u, "pre")) - \
                (_pooled(rates_i, ctrl, "post") - _pooled(rates_i, ctrl, "pre"))
            te = _pooled(rates_i, u, "post") - _pooled(base, u, "post") if base is not None else math.nan
            per_pilot.append({"run": int(r.run), "region": unit[0], "domain": unit[1], "did": d, "true_effect": te})
        # event study: the outcome at each observation for pilots, their comparisons and the pilots without pilots
        pi = p.set_index(["region", "domain"])
        event_rows += _event_rates(pi, treated, int(r.run), "pilot clusters", every)
        event_rows += _event_rates(pi, list(ctrl_all), int(r.run), "comparison clusters", every)
        if r.pair in base_runs.index:
            bp = panel[panel["run"] == base_runs[r.pair]].set_index(["region", "domain"])
            event_rows += _event_rates(bp, [u for u in treated if u in bp.index], int(r.run),
                                       "pilot clusters, run without pilots", every)
    if not rows:
        raise ConfigError(str(store.sweep_dir), "no evaluable pilot runs", "completed pilot runs with pilot and "
                                                                           "comparison clusters")
    runs = pd.DataFrame(rows)
    summary = pd.DataFrame([{"estimator": name, **paired_summary(runs[name].to_numpy(float), conf)}
                            for name in ("did", "true_effect")])
    ev = pd.DataFrame(event_rows)
    event = []
    for (g, step), part in ev.groupby(["group", "step"]):
        s = paired_summary(part["rate"].to_numpy(float), conf)
        event.append({"group": g, "step": step, "mean": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"]})
    pp = pd.DataFrame(per_pilot)
    pp = pp.groupby("region", as_index=False).agg(did=("did", "mean"), true_effect=("true_effect", "mean"),
                                                  runs=("run", "nunique"),
                                                  domains=("domain", lambda d: ", ".join(sorted(set(d)))))
    return PilotEvaluation(runs=runs, summary=summary, event=pd.DataFrame(event), per_pilot=pp,
                           burn_in=int(burn_in or 0), lag=lag, match=match)


def figure(ev: PilotEvaluation, path, title: str = "Phase 3: pilot clusters") -> Any:
    """Event-study lines (pilots, comparison clusters, pilots in the run without pilots) and per-pilot effects."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12.5, 4.2), gridspec_kw={"width_ratios": [1.5, 1]})
    colors = {"pilot clusters": "#d95f02", "comparison clusters": "#1b9e77",
              "pilot clusters, run without pilots": "#7570b3"}
    for g, part in ev.event.groupby("group"):
        part = part.sort_values("step")
        a.plot(part["step"], part["mean"], color=colors.get(g, "k"), lw=1.6, label=g)
        a.fill_between(part["step"], part["ci_low"], part["ci_high"], color=colors.get(g, "k"), alpha=0.15, lw=0)
    a.axvline(ev.burn_in, color="0.3", ls=":", lw=1)
    a.axvspan(ev.burn_in, ev.burn_in + ev.lag, color="0.9", lw=0)
    a.set_xlabel("quarter (dotted: pilots start; shaded: lag before the post period)")
    a.set_ylabel("innovations per member a year")
    a.legend(fontsize=8, frameon=False)
    a.grid(alpha=0.3)
    a.set_title("Event study (mean over runs, 95% band)", fontsize=10)
    pp = ev.per_pilot.sort_values("region")
    y = np.arange(len(pp))
    b.barh(y - 0.2, pp["did"], height=0.4, color="#d95f02", label="DiD estimate")
    b.barh(y + 0.2, pp["true_effect"], height=0.4, color="#7570b3", label="true effect")
    b.set_yticks(y, list(pp["region"]), fontsize=8)
    b.axvline(0, color="0.2", lw=0.8)
    b.invert_yaxis()
    b.legend(fontsize=8, frameon=False)
    b.set_xlabel("innovations per member a year (mean over runs of each region's pilot)")
    d = ev.estimate("did")
    b.set_title(f"Per pilot; pooled DiD {d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]", fontsize=10)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


__all__: Sequence[str] = ["PilotEvaluation", "evaluate_pilots", "figure"]
