"""Phase 1: how each partner region's S3 performs and where it is fragile. Every region runs its S3 as applied
(``policy=as_applied``) against no policy on the same seeds; per region the experiment reports the paired effect
of its S3, the six StressTest scores of S3-4AlpClusters' questionnaire turned into model measures, and which
assumptions the region's outcome is most sensitive to (a Morris screening with one output per region).

    .venv/bin/python experiments/phase1_regions/run.py [small=true] [replicates=40] [sensitivity.n=20]

Writes into the Hydra run directory (``outputs/experiments/phase1/<date>_<time>/``): the sweep and its comparison
report, the screening (``sensitivity/``), ``phase1.md``, ``phase1_regions.csv`` and ``figures/phase1.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import fixed_override, interval_bars, markdown_table, merged, run_stress, run_sweep, save_figure, setup  # noqa: E402

COLLABORATIVE = ("cluster_s3", "transregional_s3")  # regimes whose calls involve cluster organisations
STRESS_SCORES = {
    "stress_cluster_design": "clusters in S3 design",
    "stress_cluster_implementation": "clusters in implementation",
    "stress_breadth": "breadth (priorities / domains)",
    "stress_alignment": "alignment with neighbours",
    "stress_transformative": "transformative focus",
    "stress_cluster_support": "support reaching clusters",
}


def stress_scores(store, scenario_runs: list[int], window: int = 8) -> pd.DataFrame:
    """Per region: each StressTest score averaged over the last ``window`` quarters, then over runs (mean)."""
    ts = store.read("timeseries", columns=["run", "step", "region", "indicator", "value"],
                    filters=[("indicator", "in", list(STRESS_SCORES)), ("run", "in", scenario_runs)])
    ts["region"] = ts["region"].astype(str)
    last = ts["step"].max()
    recent = ts[(ts["step"] > last - window) & (ts["region"] != "ALL")]
    per_run = recent.groupby(["run", "region", "indicator"])["value"].mean()
    return per_run.groupby(["region", "indicator"]).mean().unstack("indicator")[list(STRESS_SCORES)]


def figure(scores: pd.DataFrame, effect: pd.DataFrame, sens: pd.DataFrame | None, path: Path, label: str,
           baseline: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = 3 if sens is not None and len(sens) else 2
    fig, axes = plt.subplots(1, n, figsize=(5.6 * n, 4.6), gridspec_kw={"width_ratios": [1.2, 1, 1.3][:n]})
    regions = list(scores.index)
    ax = axes[0]
    im = ax.imshow(scores.to_numpy(float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for i in range(scores.shape[0]):
        for j in range(scores.shape[1]):
            v = scores.iat[i, j]
            ax.text(j, i, f"{v:.2f}" if np.isfinite(v) else "n/a", ha="center", va="center", fontsize=7,
                    color="w" if np.isfinite(v) and v < 0.6 else "k")
    ax.set_xticks(range(scores.shape[1]), [STRESS_SCORES[c] for c in scores.columns], rotation=40, ha="right",
                  fontsize=8)
    ax.set_yticks(range(len(regions)), regions)
    ax.set_title("StressTest scores of S3 as applied (0-1; n/a: no collaborative calls)", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.7)
    ax = axes[1]
    interval_bars(ax, effect, regions, f"{label}: S3 as applied minus {baseline}",
                  "Effect of each region's S3 (95% interval)")
    if n == 3:
        ax = axes[2]
        s = sens.reindex(regions)
        im = ax.imshow(s.to_numpy(float), cmap="magma_r", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(s.shape[1]), list(s.columns), rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(regions)), regions)
        ax.set_title("Sensitivity of each region's outcome\n(Morris mu*, scaled to the region's largest)",
                     fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.7)
    save_figure(fig, path, "Phase 1: S3 as each Alpine Space region applies it")


@hydra.main(config_path=".", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from s3sim.analysis.collect import open_sweep
    from s3sim.analysis.compare import KPIS, compare
    from s3sim.analysis.report import write_report

    out, reps, extra = setup(cfg)
    label = KPIS[cfg.outcome].label if cfg.outcome in KPIS else cfg.outcome
    # 1. the comparison: S3 as applied against no policy, per region
    sweep = run_sweep(out / "sweep", [f"policy={cfg.baseline},{cfg.scenario}", f"seed={cfg.seed}",
                                      f"replicate=range({reps})", *extra], cfg.workers)
    comp = compare(sweep, baseline=cfg.baseline)
    write_report(comp, sweep / "report")
    c = comp.contrasts
    effect = c[(c["kpi"] == cfg.outcome) & (c["scenario"] == cfg.scenario)].set_index("region")
    store = open_sweep(sweep)
    runs = [int(r) for r in store.completed.loc[store.completed["policy"] == cfg.scenario, "run"]]
    scores = stress_scores(store, runs)
    regimes = store.manifest(runs[0])["policy_setup"]["regimes"]
    # the two cluster-involvement scores are defined only where the regime publishes collaborative calls (the
    # cluster-led regimes); elsewhere they are 0 by construction, not measured, and shown as n/a
    for r in scores.index:
        if regimes.get(r) not in COLLABORATIVE:
            scores.loc[r, ["stress_cluster_design", "stress_cluster_implementation"]] = np.nan
    # 2. which assumptions each region's outcome is most sensitive to
    st = merged(cfg, "sensitivity")
    regions = list(scores.index)
    outputs = ",".join(f"{cfg.scenario}:{cfg.outcome}@{r}" for r in regions)
    workers = [] if cfg.workers == -1 else [f"executor.workers={cfg.workers}"]
    sens_dir = run_stress(out / "sensitivity", [f"sensitivity={st.method}", f"sensitivity.n={st.n}",
                                                f"seed={cfg.seed}", f"target.outputs=[{outputs}]",
                                                f"target.replicates={st.replicates}",
                                                f"target.fixed={fixed_override(st.fixed)}", *workers])
    ind = pd.read_csv(sens_dir / "indices.csv")
    key = "mu_star" if st.method == "morris" else "ST"
    ind = ind[ind["index"] == key].copy()
    ind["region"] = ind["output"].str.rsplit("@", n=1).str[1]
    sens = ind.pivot_table(index="region", columns="parameter", values="value")
    sens = sens.div(sens.max(axis=1).replace(0, np.nan), axis=0)
    top = {r: ", ".join(sens.loc[r].sort_values(ascending=False).index[:3]) for r in sens.index}
    # 3. the table, figure and report
    table = pd.DataFrame({
        "region": regions,
        "regime": [regimes.get(r, "") for r in regions],
        "effect": [f"{effect.loc[r, 'mean']:+.1f} [{effect.loc[r, 'ci_low']:+.1f}, {effect.loc[r, 'ci_high']:+.1f}]"
                   for r in regions],
        **{STRESS_SCORES[k]: [f"{scores.loc[r, k]:.2f}" if np.isfinite(scores.loc[r, k]) else "n/a"
                              for r in regions] for k in STRESS_SCORES},
        "most sensitive to": [top.get(r, "") for r in regions],
    })
    raw = pd.concat([scores, effect.drop(index="ALL", errors="ignore")[["mean", "ci_low", "ci_high"]]
                     .add_prefix("effect_")], axis=1)
    raw.index.name = "region"
    raw.to_csv(out / "phase1_regions.csv")
    figure(scores, effect, sens, out / "figures" / "phase1.png", label, cfg.baseline)
    weakest = {}
    for k in STRESS_SCORES:
        if scores[k].notna().sum() < 2:  # defined in one region only: nothing to rank
            continue
        low = scores[k][np.isclose(scores[k], scores[k].min())].index.tolist()
        weakest[STRESS_SCORES[k]] = (", ".join(low) if len(low) <= 3 else f"{len(low)} regions") + \
            f" ({scores[k].min():.2f})"
    lines = ["# Phase 1: S3 as each region applies it", "",
             f"Every region runs its S3 as applied (`policy={cfg.scenario}`) against `{cfg.baseline}` on {reps} "
             f"paired seeds (report: `{sweep / 'report' / 'report.html'}`); screening: {st.method} with {st.n} "
             f"trajectories, one output per region (`{sens_dir / 'summary.md'}`).", "", "## Reading", ""]
    lines += [f"- {x}" for x in comp.reading()[:1]]
    reg = effect.drop(index="ALL", errors="ignore")
    clear_up = [r for r in reg.index if reg.loc[r, "ci_low"] > 0]
    clear_down = [r for r in reg.index if reg.loc[r, "ci_high"] < 0]
    lines.append(f"- With every region applying its S3 at once (so a region's effect includes its neighbours' "
                 f"policies), {label} rises clearly in {len(clear_up)} of {len(reg)} regions"
                 + (f" ({', '.join(clear_up)})" if clear_up else "")
                 + (f" and falls clearly in {', '.join(clear_down)}" if clear_down else "") + ".")
    lines.append("- Lowest regions on each StressTest score (among regions where it is defined): "
                 + "; ".join(f"{k}: {v}" for k, v in weakest.items()) + ".")
    common = pd.Series([p for r in top.values() for p in r.split(", ") if p]).value_counts()
    if len(common):
        lines.append(f"- Across regions the outcome is most often sensitive to {', '.join(common.index[:3])}.")
    lines += ["", "## Regions", "", markdown_table(table), "", "![Phase 1](figures/phase1.png)", ""]
    (out / "phase1.md").write_text("\n".join(lines))
    print("\n".join(lines[5:]))
    print(f"phase1: report written to {out / 'phase1.md'}")


if __name__ == "__main__":
    main()
