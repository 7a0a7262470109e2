"""Regenerate the README gallery: one figure per phase and the validation table.

    .venv/bin/python experiments/gallery.py            # full size (about half an hour on 2 cores); = make gallery
    .venv/bin/python experiments/gallery.py --small    # the reduced sizes of the test suite (a minute or two)
    .venv/bin/python experiments/gallery.py --reuse outputs/gallery/2026-11-27_12-00-00   # rebuild from a run

It runs the three phase experiments and ``s3sim-validate`` into ``outputs/gallery/<date>_<time>/``, copies their
figures to ``docs/gallery/``, and rewrites the block between the gallery markers of README.md (figures, the key
sentences of each phase report and the validation table). With ``--readme PATH`` it writes another file instead
(the tests use this so that the committed README is untouched).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

from s3sim.analysis.report import markdown_table
from s3sim.files import atomic_text

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- gallery:start -->", "<!-- gallery:end -->"
PHASES = {"phase1": "phase1_regions", "phase2": "phase2_improved_s3", "phase3": "phase3_pilots"}
TITLES = {"phase1": "Phase 1: S3 as each region applies it", "phase2": "Phase 2: the improved S3 model",
          "phase3": "Phase 3: pilot clusters"}


def _env() -> dict[str, str]:
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def run_all(out: Path, small: bool, workers: int) -> None:
    for name, folder in PHASES.items():
        args = [sys.executable, str(ROOT / "experiments" / folder / "run.py"), f"hydra.run.dir={out / name}",
                f"workers={workers}"] + (["small=true"] if small else [])
        print("$", " ".join(args[1:]), flush=True)
        subprocess.run(args, check=True, env=_env(), cwd=ROOT)
    args = [sys.executable, "-m", "s3sim.runner.validate", "--out", str(out / "validation")]
    args += ["--quick"] if small else []
    args += [] if workers == -1 else ["--workers", str(workers)]
    print("$ s3sim-validate", " ".join(args[3:]), flush=True)
    r = subprocess.run(args, env=_env(), cwd=ROOT)
    if r.returncode not in (0, 1):  # failing facts are results, not errors
        raise SystemExit(r.returncode)


#: which bullets of each phase report's Reading section the gallery shows (substrings; all bullets if empty)
KEEP = {"phase1": (), "phase2": ("cluster_s3 ", "transregional_s3 ", "Stress test"), "phase3": ()}


def _reading(md: Path, keep: tuple[str, ...] = (), n: int = 6) -> list[str]:
    """Bullet points of a phase report's Reading section: those starting with one of ``keep`` (all if empty),
    each with its indented continuation lines, at most ``n``."""
    lines = md.read_text().splitlines()
    try:
        start = lines.index("## Reading") + 1
    except ValueError:
        return []
    out: list[str] = []
    for line in lines[start:]:
        if line.startswith("## "):
            break
        if line.startswith("- "):
            taken = not keep or line[2:].startswith(keep)
            if taken:
                out.append(line)
        elif line.startswith("  ") and out and taken:
            out.append(line)
    bullets = [i for i, x in enumerate(out) if x.startswith("- ")]
    return out[: bullets[n]] if len(bullets) > n else out


def validation_table(csv: Path) -> str:
    """fact, target, measured [95% CI], result and source, from ``validation.csv`` of s3sim-validate."""
    v = pd.read_csv(csv)

    def ci(row) -> str:
        lo, hi = row["ci_low"], row["ci_high"]
        return f"{row['measured']:.3g} [{lo:.3g}, {hi:.3g}]" if pd.notna(lo) else f"{row['measured']:.3g}"

    table = pd.DataFrame({"fact": v["fact"] + " " + v["name"], "target": v["target"].astype(str),
                          "measured [95% CI]": [ci(r) for _, r in v.iterrows()], "result": v["result"],
                          "source": v["source"]})
    return markdown_table(table)


def build_block(out: Path, docs: Path, command: str) -> str:
    docs.mkdir(parents=True, exist_ok=True)
    parts = [START, "", f"Made by `{command}` on {datetime.now():%Y-%m-%d} (outputs in `{out}`).", ""]
    for name in PHASES:
        fig = out / name / "figures" / f"{name}.png"
        shutil.copyfile(fig, docs / f"{name}.png")
        parts += [f"**{TITLES[name]}**", "", f"![{TITLES[name]}](docs/gallery/{name}.png)", ""]
        parts += _reading(out / name / f"{name}.md", KEEP[name]) + [""]
    val = out / "validation"
    csv = val / "validation.csv"
    if csv.exists():
        parts += ["**Validation against stylised facts** (`s3sim-validate`, see "
                  "[docs/validation.md](docs/validation.md))", "", validation_table(csv), ""]
    parts.append(END)
    return "\n".join(parts)


def write_readme(readme: Path, block: str) -> None:
    text = readme.read_text() if readme.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n## Gallery\n\n" + block + "\n"
    atomic_text(readme, text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="the reduced sizes of the test suite")
    ap.add_argument("--reuse", default=None, help="rebuild the gallery from an existing gallery output directory")
    ap.add_argument("--out", default=None, help="output directory (default outputs/gallery/<date>_<time>)")
    ap.add_argument("--workers", type=int, default=-1, help="worker processes (-1: all cores)")
    ap.add_argument("--readme", default=str(ROOT / "README.md"), help="the file whose gallery block is rewritten")
    ap.add_argument("--docs", default=str(ROOT / "docs" / "gallery"), help="where the figures are copied")
    args = ap.parse_args(argv)
    if args.reuse:
        out = Path(args.reuse)
        missing = [n for n in PHASES if not (out / n / f"{n}.md").exists()]
        if missing:
            print(f"gallery: error: --reuse={out} is not allowed: a gallery output directory with "
                  f"{', '.join(missing)} results", file=sys.stderr)
            raise SystemExit(2)
    else:
        out = Path(args.out or ROOT / "outputs" / "gallery" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}")
        run_all(out, args.small, args.workers)
    command = "make gallery" if not args.small else "python experiments/gallery.py --small"
    if args.reuse:
        command = f"python experiments/gallery.py --reuse {args.reuse}"
    try:
        shown = out.relative_to(ROOT)
    except ValueError:
        shown = out
    write_readme(Path(args.readme), build_block(out, Path(args.docs), command).replace(str(out), str(shown)))
    print(f"gallery: figures in {args.docs}, block written into {args.readme}")


if __name__ == "__main__":
    main()
