"""Figures and reports of a scenario comparison (see :mod:`s3sim.analysis.compare`).

:func:`write_report` writes into one output directory:

* ``figures/timeseries.png``: each key indicator over time for every scenario (mean over seeds, 95% band);
* ``figures/contrast_over_time.png``: the headline contrast against the baseline over time, with its band;
* ``figures/region_contrasts.png``: the headline contrast per region with 95% intervals, one panel per scenario;
* ``figures/map.png``: the regions at their coordinates, coloured by the relative headline effect;
* ``figures/heatmap.png``: scenario x indicator relative effects, intervals excluding zero marked;
* ``report.html`` (self-contained: figures embedded as data URIs), ``summary.md`` (figures linked),
  ``contrasts.csv`` / ``contrasts.parquet``, ``regions_improving.csv``, ``horizon.csv``, ``over_time.csv``.

Files are written to temporary names and renamed into place.
"""

from __future__ import annotations

import base64
import html
import os
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..files import atomic_table, atomic_text, atomic_write, check_output_dir
from .compare import KPIS, Comparison, _fmt, plural

FIGURES = ("timeseries", "contrast_over_time", "region_contrasts", "map", "heatmap")
#: the files :func:`write_report` writes directly into its output directory (besides ``figures/``)
TABLES_AND_TEXTS = ("report.html", "summary.md", "contrasts.csv", "contrasts.parquet", "regions_improving.csv",
                    "horizon.csv", "over_time.csv")
_HTML_HEAD = "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>s3sim scenario comparison"
_MD_HEAD = "# s3sim scenario comparison"


def _starts_with(path: Path, head: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(len(head)) == head
    except OSError:
        return False


def _an_earlier_report(out: Path) -> bool:
    """Whether the files of ``out`` that a report would replace are those of an earlier (perhaps unfinished)
    report: its report.html or summary.md, or figures/ holding only report figures."""
    if _starts_with(out / "report.html", _HTML_HEAD) or _starts_with(out / "summary.md", _MD_HEAD):
        return True
    figs = out / "figures"
    names = {f"{n}.png" for n in FIGURES}
    return (figs.is_dir() and any(figs.iterdir())
            and all(p.name in names or p.name.endswith(".tmp.png") for p in figs.iterdir())
            and not any((out / n).exists() for n in TABLES_AND_TEXTS))


def check_report_dir(out: str | os.PathLike) -> Path:
    """Refuse, before any work, an output directory that cannot hold a report: one that cannot be stored into
    (:func:`s3sim.files.check_output_dir`), or a directory whose files of the report's names are not an earlier
    report's (they would be replaced). Creates nothing."""
    from ..errors import ConfigError

    check_output_dir("--out", out)
    out = Path(out)
    if out.is_dir():
        ours = [n for n in (*TABLES_AND_TEXTS, "figures") if (out / n).exists()]
        if ours and not _an_earlier_report(out):
            raise ConfigError("--out", str(out), f"a new or empty directory, or an earlier s3sim-compare report "
                                                 f"(this directory holds {', '.join(ours)}, which the report would "
                                                 f"replace)")
    return out


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _colors(names: list[str]) -> dict[str, Any]:
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, bbox_inches="tight"))
    _plt().close(fig)
    return path


def fig_timeseries(c: Comparison, path: Path) -> Path:
    plt = _plt()
    kpis = c.kpis[:6]
    ncol = 2 if len(kpis) > 1 else 1
    nrow = int(np.ceil(len(kpis) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.2 * ncol, 3.1 * nrow), squeeze=False)
    colors = _colors([c.baseline, *c.scenarios])
    lv = c.levels_over_time
    for ax, k in zip(axes.flat, kpis):
        for s in [c.baseline, *c.scenarios]:
            d = lv[(lv["kpi"] == k.name) & (lv["scenario"] == s)].sort_values("step")
            ax.plot(d["step"], d["mean"], color=colors[s], lw=1.6, label=s)
            ax.fill_between(d["step"], d["ci_low"], d["ci_high"], color=colors[s], alpha=0.18, lw=0)
        if c.burn_in:
            ax.axvline(c.burn_in, color="0.4", ls=":", lw=1)
        ax.set_title(k.label, fontsize=10)
        ax.set_xlabel("quarter")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(kpis):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8, frameon=False)
    fig.suptitle("Key indicators over time (all regions; mean over seeds, 95% band; dotted: policy starts)",
                 fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def fig_contrast_over_time(c: Comparison, path: Path) -> Path:
    plt = _plt()
    k = c.headline
    fig, ax = plt.subplots(figsize=(8, 3.6))
    colors = _colors([c.baseline, *c.scenarios])
    co = c.contrasts_over_time
    for s in c.scenarios:
        d = co[(co["kpi"] == k.name) & (co["scenario"] == s)].sort_values("step")
        ax.plot(d["step"], d["mean"], color=colors[s], lw=1.6, label=f"{s} - {c.baseline}")
        ax.fill_between(d["step"], d["ci_low"], d["ci_high"], color=colors[s], alpha=0.18, lw=0)
    ax.axhline(0, color="0.2", lw=0.8)
    if c.burn_in:
        ax.axvline(c.burn_in, color="0.4", ls=":", lw=1)
    ax.set_xlabel("quarter")
    ax.set_ylabel(k.unit)
    ax.set_title(f"Paired contrast in {k.label} against {c.baseline} (95% band)", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _region_names(c: Comparison) -> dict[str, str]:
    if "name" in c.regions:
        return dict(zip(c.regions["id"], c.regions["name"]))
    return {}


def fig_region_contrasts(c: Comparison, path: Path) -> Path:
    plt = _plt()
    k = c.headline
    cs = c.contrasts[(c.contrasts["kpi"] == k.name)]
    n = len(c.scenarios)
    regions = sorted(set(cs["region"]) - {"ALL"}) + ["ALL"]
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 0.32 * len(regions) + 1.6), squeeze=False, sharey=True)
    for ax, s in zip(axes.flat, c.scenarios):
        d = cs[cs["scenario"] == s].set_index("region").reindex(regions)
        y = np.arange(len(regions))
        good = (d["mean"] > 0) == k.higher_is_better
        colors = np.where(good, "#2b8cbe", "#e34a33")
        ax.barh(y, d["mean"], color=colors, alpha=0.85)
        err = np.vstack([d["mean"] - d["ci_low"], d["ci_high"] - d["mean"]])
        ax.errorbar(d["mean"], y, xerr=np.nan_to_num(err), fmt="none", ecolor="0.2", lw=1, capsize=2)
        ax.axvline(0, color="0.2", lw=0.8)
        ax.set_yticks(y, regions)
        ax.set_title(f"{s} - {c.baseline}", fontsize=10)
        ax.set_xlabel(k.unit)
        ax.grid(axis="x", alpha=0.3)
    axes.flat[0].invert_yaxis()
    fig.suptitle(f"{k.label}: paired contrast per region at the horizon (95% interval)", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def fig_map(c: Comparison, path: Path) -> Path:
    plt = _plt()
    from matplotlib.colors import TwoSlopeNorm

    k = c.headline
    reg = c.regions
    n = len(c.scenarios)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.2), squeeze=False)
    cs = c.contrasts[(c.contrasts["kpi"] == k.name) & (c.contrasts["region"] != "ALL")]
    rel = cs["relative"].replace([np.inf, -np.inf], np.nan)
    lim = float(np.nanmax(np.abs(rel))) if rel.notna().any() else 1.0
    lim = lim if lim > 0 else 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
    cmap = plt.get_cmap("RdBu" if k.higher_is_better else "RdBu_r")
    has_xy = {"lon", "lat"} <= set(reg.columns)
    sc = None
    for j, (ax, s) in enumerate(zip(axes.flat, c.scenarios)):
        d = cs[cs["scenario"] == s].set_index("region")
        if has_xy:
            x, y = reg["lon"].to_numpy(float), reg["lat"].to_numpy(float)
        else:  # synthetic worlds without coordinates: regions on a circle
            t = np.linspace(0, 2 * np.pi, len(reg), endpoint=False)
            x, y = np.cos(t), np.sin(t)
        vals = d["relative"].reindex(reg["id"]).to_numpy(float)
        clear = ((d["ci_low"] > 0) | (d["ci_high"] < 0)).reindex(reg["id"]).fillna(False).to_numpy(bool)
        sc = ax.scatter(x, y, c=vals, cmap=cmap, norm=norm, s=420, edgecolors=np.where(clear, "k", "0.6"),
                        linewidths=np.where(clear, 2.0, 0.8), zorder=3)
        for xi, yi, rid in zip(x, y, reg["id"]):
            ax.annotate(rid, (xi, yi), xytext=(0, 15), textcoords="offset points", ha="center", fontsize=7)
        if has_xy:
            ax.set_aspect(1 / np.cos(np.deg2rad(np.nanmean(y))))
            ax.set_xlabel("longitude")
            if j % axes.shape[-1] == 0:  # the first panel of a row: the others would overlap their neighbours
                ax.set_ylabel("latitude")
        pad = 0.12 * (np.nanmax(y) - np.nanmin(y) + 1e-9)
        xpad = 0.08 * (np.nanmax(x) - np.nanmin(x) + 1e-9)
        ax.set_ylim(np.nanmin(y) - pad, np.nanmax(y) + 2 * pad)
        ax.set_xlim(np.nanmin(x) - xpad, np.nanmax(x) + xpad)
        ax.grid(alpha=0.25)
        ax.set_title(f"{s} vs {c.baseline}", fontsize=10)
    if sc is not None:
        cb = fig.colorbar(sc, ax=axes.ravel().tolist(), shrink=0.8,
                          format=plt.FuncFormatter(lambda v, _: f"{v:+.0%}"))
        cb.set_label(textwrap.fill(f"relative change in {k.label}", 30), fontsize=8)  # within the bar's height
    fig.suptitle(f"Where {k.label} changes (thick edge: 95% interval excludes zero)", fontsize=11)
    return _save(fig, path)


def fig_heatmap(c: Comparison, path: Path) -> Path:
    plt = _plt()
    from matplotlib.colors import TwoSlopeNorm

    cs = c.contrasts[c.contrasts["region"] == "ALL"]
    names = [k.name for k in c.kpis]
    rel = np.full((len(c.scenarios), len(names)), np.nan)
    clear = np.zeros_like(rel, dtype=bool)
    for i, s in enumerate(c.scenarios):
        for j, k in enumerate(c.kpis):
            row = cs[(cs["scenario"] == s) & (cs["kpi"] == k.name)]
            if len(row):
                r = row.iloc[0]
                sign = 1 if k.higher_is_better else -1
                rel[i, j] = sign * r["relative"]
                clear[i, j] = bool(r["ci_low"] > 0 or r["ci_high"] < 0)
    finite = rel[np.isfinite(rel)]
    lim = float(np.max(np.abs(finite))) if finite.size else 1.0
    lim = lim if lim > 0 else 1.0
    fig, ax = plt.subplots(figsize=(1.25 * len(names) + 2.5, 0.6 * len(c.scenarios) + 2.2))
    im = ax.imshow(rel, cmap="RdBu", norm=TwoSlopeNorm(vcenter=0, vmin=-lim, vmax=lim), aspect="auto")
    for i in range(rel.shape[0]):
        for j in range(rel.shape[1]):
            if np.isfinite(rel[i, j]):
                ax.text(j, i, f"{rel[i, j]:+.0%}{'*' if clear[i, j] else ''}", ha="center", va="center",
                        fontsize=8, color="k" if abs(rel[i, j]) < 0.6 * lim else "w")
    ax.set_xticks(range(len(names)), [KPIS[n].label if n in KPIS else n for n in names], rotation=35, ha="right",
                  fontsize=8)
    ax.set_yticks(range(len(c.scenarios)), c.scenarios)
    cb = fig.colorbar(im, ax=ax, shrink=0.8, format=plt.FuncFormatter(lambda v, _: f"{v:+.0%}"))
    cb.set_label("relative change (positive = better)")
    ax.set_title(f"Relative effect against {c.baseline}, all regions (* 95% interval excludes zero)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _table_rows(c: Comparison) -> pd.DataFrame:
    cs = c.contrasts[c.contrasts["region"] == "ALL"]
    imp = c.regions_improving.set_index(["scenario", "kpi"])
    out = []
    for r in cs.itertuples():
        ri = imp.loc[(r.scenario, r.kpi)] if (r.scenario, r.kpi) in imp.index else None
        out.append({
            "scenario": r.scenario, "indicator": KPIS[r.kpi].label if r.kpi in KPIS else r.kpi,
            "baseline mean": _fmt(r.baseline_mean), "scenario mean": _fmt(r.scenario_mean),
            "contrast [95% CI]": f"{_fmt(r.mean, sign=True)} [{_fmt(r.ci_low, sign=True)}, {_fmt(r.ci_high, sign=True)}]",
            "relative": f"{r.relative:+.1%}" if np.isfinite(r.relative) else "n/a",
            "effect size d_z": f"{r.effect_size:+.2f}" if np.isfinite(r.effect_size) else "n/a",
            "regions improving": (f"{int(ri['improving'])}/{int(ri['regions'])} ({int(ri['clearly_improving'])} clearly)"
                                  if ri is not None else "n/a"),
            "pairs": int(r.n)})
    return pd.DataFrame(out)


_HTML_CHECK = """<script>
// Reports whether every figure decoded, for readers and for the headless-browser test.
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img.figure'));
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var el = document.getElementById('figure-status');
  el.textContent = ok + ' of ' + imgs.length + ' figures loaded';
  el.setAttribute('data-loaded', String(ok));
  el.setAttribute('data-total', String(imgs.length));
  el.className = ok === imgs.length ? 'ok' : 'bad';
});
</script>"""

_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.86em;margin:.6em 0}th,td{border:1px solid #ddd;padding:.3em .55em;
text-align:right}th{background:#f4f4f4}td:first-child,td:nth-child(2){text-align:left}
img.figure{max-width:100%;border:1px solid #eee;margin:.4em 0}.meta{color:#555;font-size:.9em}
#figure-status{font-size:.8em;color:#777}.reading li{margin:.3em 0}"""


def write_report(c: Comparison, out_dir: str | os.PathLike, *, progress: bool = True,
                 figures: bool = True) -> dict[str, Path]:
    """Write the figures, tables, ``report.html`` and ``summary.md`` of a comparison into ``out_dir``
    (``figures=False``: the tables and texts only, much faster; the texts say that no figures were drawn)."""
    from tqdm import tqdm

    out = Path(out_dir)
    figs = out / "figures"
    out.mkdir(parents=True, exist_ok=True)
    if figures:
        figs.mkdir(exist_ok=True)
    makers = {"timeseries": fig_timeseries, "contrast_over_time": fig_contrast_over_time,
              "region_contrasts": fig_region_contrasts, "map": fig_map, "heatmap": fig_heatmap}
    captions = {
        "timeseries": "Key indicators over time for every scenario: mean over seeds with a 95% band.",
        "contrast_over_time": f"Paired contrast in {c.headline.label} against {c.baseline}, step by step.",
        "region_contrasts": f"Paired contrast in {c.headline.label} per region at the horizon, with 95% intervals.",
        "map": f"Regions at their coordinates, coloured by the relative change in {c.headline.label}.",
        "heatmap": "Relative effect of every scenario on every key indicator, all regions together.",
    }
    paths: dict[str, Path] = {}
    for name in tqdm(FIGURES if figures else (), desc="s3sim report", unit="figure", delay=2, file=sys.stderr,
                     disable=not progress):
        paths[name] = makers[name](c, figs / f"{name}.png")
    no_figures = ("Figures not drawn (--no-figures); any in figures/ are an earlier report's." if not figures
                  else None)

    atomic_table(c.contrasts, out / "contrasts.csv")
    atomic_table(c.contrasts, out / "contrasts.parquet")
    atomic_table(c.regions_improving, out / "regions_improving.csv")
    atomic_table(c.horizon, out / "horizon.csv")
    over = pd.concat([c.levels_over_time.assign(kind="level"), c.contrasts_over_time.assign(kind="contrast")])
    atomic_table(over, out / "over_time.csv")

    table = _table_rows(c)
    reading = c.reading()
    n_runs = int(len(c.horizon["run"].unique()))
    excluded = c.excluded
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    only = "; ".join(f"{k}={v}" for k, v in c.where.items())
    only = f" (only the runs with {only})" if only else ""
    meta = (f"Sweep {c.sweep_dir}; {plural(n_runs, 'run')} used{html.escape(only)}, compared by "
            f"<code>{html.escape(c.factor)}</code> against <b>{html.escape(c.baseline)}</b>; horizon values over the "
            f"last {c.window} quarters; paired over seeds (common random numbers). Made {created}.")

    # --- HTML ----------------------------------------------------------------------------------------------------
    parts = [f"{_HTML_HEAD}</title><style>{_CSS}</style></head><body>",
             "<h1>s3sim scenario comparison</h1>", f"<p class='meta'>{meta}</p>",
             "<p id='figure-status'>figures not checked yet</p>",
             "<h2>Reading</h2><ul class='reading'>" + "".join(f"<li>{html.escape(x)}</li>" for x in reading)
             + "</ul>",
             "<h2>Contrasts against the baseline (all regions)</h2>",
             table.to_html(index=False, escape=True, border=0)]
    if no_figures:
        parts.append(f"<p>{html.escape(no_figures)}</p>")
    for name, path in paths.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f"<h2>{html.escape(name.replace('_', ' ').capitalize())}</h2>"
                     f"<img class='figure' alt='{html.escape(captions[name])}' src='data:image/png;base64,{data}'>"
                     f"<p>{html.escape(captions[name])}</p>")
    if len(excluded):
        parts.append("<h2>Runs not used</h2>")
        cols = [x for x in ("run", "status", "reason", "overrides", "error") if x in excluded]
        parts.append(excluded[cols].astype(object).where(excluded[cols].notna(), "")
                     .to_html(index=False, escape=True, border=0))
    parts.append("<h2>Method</h2><p>For each pair of runs that share a seed and replicate (and so the burn-in "
                 "and every random stream), the contrast is the scenario's value minus the baseline's. The table "
                 "gives the mean contrast with a 95% t interval, the paired effect size d_z (mean / standard "
                 "deviation of the contrasts) and the relative change against the baseline mean. A region improves "
                 "when its mean contrast goes in the better direction, clearly so when its interval excludes zero; "
                 "the regional intervals are not adjusted for multiple comparisons. When the sweep varies other "
                 "keys too, the contrasts of one seed and replicate are averaged over them before the interval is "
                 "taken, so each independent replicate counts once. "
                 "Tables: contrasts.csv (every indicator and region), regions_improving.csv, horizon.csv (every "
                 "run), over_time.csv.</p>")
    parts.append(_HTML_CHECK + "</body></html>")
    html_path = out / "report.html"
    atomic_text(html_path, "\n".join(parts))

    # --- Markdown --------------------------------------------------------------------------------------------------
    md = [_MD_HEAD, "",
          f"Sweep `{c.sweep_dir}`; {plural(n_runs, 'run')} used{only}, compared by `{c.factor}` against "
          f"**{c.baseline}**; horizon values over the last {c.window} quarters; paired over seeds. Made {created}.",
          "", "## Reading", ""]
    md += [f"- {x}" for x in reading]
    md += ["", "## Contrasts against the baseline (all regions)", "", markdown_table(table), ""]
    if no_figures:
        md += [no_figures, ""]
    for name in paths:
        md += [f"![{captions[name]}](figures/{name}.png)", ""]
    if len(excluded):
        md += ["## Runs not used", ""]
        md += [f"- run {int(r.run)} ({r.status}): {r.reason}" for r in excluded.itertuples()]
        md += ["", f"{plural(len(excluded), 'run')} {'was' if len(excluded) == 1 else 'were'} not used; "
               f"report.html lists their overrides and errors.", ""]
    md_path = out / "summary.md"
    atomic_text(md_path, "\n".join(md))
    return {"html": html_path, "markdown": md_path, **{f"figure_{k}": v for k, v in paths.items()}}


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (cell text with ``|`` replaced by ``/``)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "/") for v in row) + " |")
    return "\n".join(lines)
