"""Phase 2: the improved S3 model (cluster-led ``cluster_s3`` and trans-regional ``transregional_s3``) against
classic top-down S3 and no policy across the eleven Alpine Space regions, with paired contrasts, and the stress
test's robustness verdict: in which share of the plausible parameter space each improved regime still beats
classic S3, and where it loses (scenario discovery).

    .venv/bin/python experiments/phase2_improved_s3/run.py [small=true] [replicates=40] [stress.n=20]

Writes into the Hydra run directory (``outputs/experiments/phase2/<date>_<time>/``): the sweep and its comparison
report (``sweep/report/report.html``), the stress test (``stress/summary.md``), ``phase2.md`` and
``figures/phase2.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from s3sim.analysis.discovery import limits_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import fixed_override, interval_bars, markdown_table, merged, run_stress, run_sweep, save_figure, setup  # noqa: E402


def oriented(table: pd.DataFrame, cfg: DictConfig) -> pd.DataFrame:
    """Rows 'improved regime vs baseline' of the stress test's robustness table, whichever order it holds them in
    (a reversed row is swapped: the baseline's losses as the share, with the interval over the same effective n)."""
    from s3sim.analysis.sensitivity import swapped

    rows = []
    for row in table[table["outcome"] == cfg.outcome].to_dict("records"):
        if row["regime_a"] in cfg.improved and row["regime_b"] == cfg.baseline:
            rows.append(row)
        elif row["regime_b"] in cfg.improved and row["regime_a"] == cfg.baseline:
            rows.append(swapped(row))
    return pd.DataFrame(rows)


def figure(contrasts: pd.DataFrame, robust: pd.DataFrame, cfg: DictConfig, path: Path, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.8))
    c = contrasts[(contrasts["kpi"] == cfg.outcome) & (contrasts["region"] == "ALL")].set_index("scenario")
    names = [s for s in cfg.regimes if s != cfg.baseline and s in c.index]
    interval_bars(a, c, names, f"{label}: contrast with {cfg.baseline} (95% interval)",
                  "Paired contrasts at the default assumptions")
    r = robust.set_index("regime_a").rename(columns={"share_a_wins": "mean"})
    r = r.reindex([g for g in cfg.improved if g in r.index])
    r.index = [f"{g}\n({v})" for g, v in zip(r.index, r["verdict"])]
    names = list(r.index)
    interval_bars(b, r, names, f"share of the plausible parameter space where it beats {cfg.baseline}",
                  "Stress test: robustness of the advantage", centre=0.5, colour="#7570b3")
    b.set_xlim(0, 1)
    save_figure(fig, path, "Phase 2: the improved S3 model against classic top-down S3 (Alpine Space)")


@hydra.main(config_path=".", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from s3sim.analysis.compare import KPIS, compare
    from s3sim.analysis.report import write_report

    out, reps, extra = setup(cfg)
    # 1. the comparison
    sweep = run_sweep(out / "sweep", [f"policy={','.join(cfg.regimes)}", f"seed={cfg.seed}",
                                      f"replicate=range({reps})", *extra], cfg.workers)
    comp = compare(sweep, baseline=cfg.baseline)
    write_report(comp, sweep / "report")
    # 2. the stress test of each improved regime's contrast with classic S3
    st = merged(cfg, "stress")
    outputs = ",".join(f"{r}-{cfg.baseline}:{cfg.outcome}" for r in cfg.improved)
    workers = [] if cfg.workers == -1 else [f"executor.workers={cfg.workers}"]
    stress = run_stress(out / "stress", [f"sensitivity={st.method}", f"sensitivity.n={st.n}", f"seed={cfg.seed}",
                                         f"target.outputs=[{outputs}]", f"target.replicates={st.replicates}",
                                         f"target.fixed={fixed_override(st.fixed)}", *workers])
    robust = oriented(pd.read_csv(stress / "robustness.csv"), cfg)
    discovery = pd.read_csv(stress / "discovery.csv") if (stress / "discovery.csv").exists() else pd.DataFrame()
    indices = pd.read_csv(stress / "indices.csv")
    label = KPIS[cfg.outcome].label if cfg.outcome in KPIS else cfg.outcome
    figure(comp.contrasts, robust, cfg, out / "figures" / "phase2.png", label)
    # 3. the report
    lines = ["# Phase 2: the improved S3 model against classic S3", "",
             f"Comparison: {', '.join(cfg.regimes)} on {reps} paired seeds across the eleven regions "
             f"(report: `{sweep / 'report' / 'report.html'}`). Stress test: {st.method} with {st.n} "
             f"{'trajectories' if st.method == 'morris' else 'base samples'} over the plausible ranges of "
             f"conf/target/s3.yaml, {st.replicates} replicate(s) per sample (`{stress / 'summary.md'}`).", "",
             "## Reading", ""]
    lines += [f"- {x}" for x in comp.reading()[: len(comp.scenarios) + 1]]
    for row in robust.itertuples():
        lines.append(f"- Stress test: {row.regime_a} beats {cfg.baseline} on {label} in {row.share_a_wins:.0%} "
                     f"[{row.ci_low:.0%}, {row.ci_high:.0%}] of the sampled assumptions: **{row.verdict}**.")
        out_name = f"{row.regime_a}-{cfg.baseline}:{cfg.outcome}"
        box = discovery[discovery["output"] == out_name] if len(discovery) else discovery
        if len(box):
            cond = "; ".join(limits_text(b.parameter, b.low, b.high) for b in box.itertuples())
            b0 = box.iloc[0]
            lines.append(f"  It loses mostly where {cond} (PRIM box: coverage {b0.coverage:.0%}, density "
                         f"{b0.density:.0%} against a base rate of {b0.base_rate:.0%}).")
        top = indices[(indices["output"] == out_name) & (indices["index"] == ("mu_star" if st.method == "morris"
                                                                                else "ST"))]
        if len(top):
            names = ", ".join(top.sort_values("value", ascending=False)["parameter"].head(3))
            lines.append(f"  The assumptions that move this contrast most: {names}.")
    tab = robust[["regime_a", "regime_b", "samples", "share_a_wins", "ci_low", "ci_high", "mean_difference",
                  "verdict"]].copy()
    for col in ("share_a_wins", "ci_low", "ci_high"):
        tab[col] = tab[col].map(lambda v: f"{v:.0%}")
    tab["mean_difference"] = tab["mean_difference"].map(lambda v: f"{v:+.1f}")
    lines += ["", "## Robustness (stress test)", "", markdown_table(tab), "", "![Phase 2](figures/phase2.png)", ""]
    (out / "phase2.md").write_text("\n".join(lines))
    robust.to_csv(out / "phase2_robustness.csv", index=False)
    print("\n".join(lines[6:]))
    print(f"phase2: report written to {out / 'phase2.md'}")


if __name__ == "__main__":
    main()
