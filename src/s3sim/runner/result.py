"""The result of one run (:class:`RunResult`) and its on-disk store (Parquet tables plus ``manifest.json``).

A stored run is a directory holding

* ``timeseries.parquet``: step, region (``ALL`` for totals), indicator, value;
* ``panel.parquet``: step, region, domain, firms, innovations, rca, specialised, relatedness_density,
  cluster_members and cluster_innovations (of the region's cluster organisation in that domain; -1 and 0 if none);
* ``firms.parquet``: one row per firm alive at the end of the run;
* ``innovations.parquet``: one row per innovation (step, region, domain, kind, value);
* ``manifest.json``: resolved config, seed, status, timings, package versions and git revision.

Tables are written to temporary names and renamed into place, the manifest last, so a directory whose manifest
says ``completed`` always holds complete tables; :meth:`RunResult.save` refuses to overwrite a stored run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pyarrow import ArrowException

from ..errors import ConfigError, first_line
from ..files import atomic_json, atomic_table

TABLES = ("timeseries", "panel", "firms", "innovations")
MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass
class RunResult:
    """Tidy tables of one simulation run and its manifest."""

    timeseries: pd.DataFrame
    panel: pd.DataFrame
    firms: pd.DataFrame
    innovations: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------------------------------------------------
    @property
    def seed(self) -> int | None:
        return self.manifest.get("seed")

    def indicator(self, name: str, region: str = "ALL") -> pd.Series:
        """One indicator's time series (indexed by step) for a region or ``ALL``."""
        ts = self.timeseries
        known = set(ts["indicator"].astype(str).unique())
        if name not in known:
            raise ConfigError("indicator", name, f"one of {', '.join(sorted(known))}")
        sel = ts[(ts["indicator"] == name) & (ts["region"] == region)]
        return sel.set_index("step")["value"].rename(f"{name}[{region}]")

    def wide(self, region: str = "ALL") -> pd.DataFrame:
        """Indicators as columns, steps as rows, for one region or ``ALL``."""
        ts = self.timeseries[self.timeseries["region"] == region]
        return ts.pivot(index="step", columns="indicator", values="value")

    def outcomes(self) -> dict[str, float]:
        """End-of-run scalar outcomes (see :func:`s3sim.indicators.outcomes`)."""
        from ..indicators.outcomes import outcomes

        return outcomes(self.timeseries, self.innovations, self.firms)

    # ------------------------------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the run into ``directory`` (created if needed). Refuses to replace a stored run unless
        ``overwrite``. Returns the directory."""
        d = Path(directory)
        if (d / MANIFEST).exists() and not overwrite:
            raise ConfigError(str(d), "existing run", "an empty directory or one without a manifest.json "
                                                       "(pass overwrite=True to replace it)")
        d.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            atomic_table(getattr(self, name), d / f"{name}.parquet")
        manifest = dict(self.manifest)
        manifest.setdefault("status", "completed")
        manifest["format_version"] = FORMAT_VERSION
        manifest["tables"] = {name: f"{name}.parquet" for name in TABLES}
        atomic_json(d / MANIFEST, manifest, default=_json_default)
        return d

    def __repr__(self) -> str:
        steps = int(self.timeseries["step"].max()) if len(self.timeseries) else 0
        return (f"RunResult(seed={self.seed}, steps={steps}, firms={len(self.firms)}, "
                f"innovations={len(self.innovations)})")


def load_result(directory: str | os.PathLike) -> RunResult:
    """Read a run stored by :meth:`RunResult.save`."""
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError("directory", str(d), "an existing directory holding a stored s3sim run")
    mpath = d / MANIFEST
    if not mpath.is_file():
        raise ConfigError("directory", str(d), f"a stored s3sim run (no {MANIFEST} found)")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError) as exc:  # ValueError covers JSONDecodeError and UnicodeDecodeError
        raise ConfigError(str(mpath), "unreadable", f"a JSON manifest written by s3sim ({exc})") from None
    if not isinstance(manifest, dict):
        raise ConfigError(str(mpath), type(manifest).__name__, "a JSON object written by s3sim")
    if manifest.get("status") != "completed":
        raise ConfigError(str(mpath), manifest.get("status"), "a completed run (status 'completed')")
    tables = {}
    for name in TABLES:
        path = d / f"{name}.parquet"
        if not path.is_file():
            raise ConfigError("directory", str(d), f"a complete stored run ({path.name} is missing)")
        try:
            tables[name] = pd.read_parquet(path)
        except (OSError, ValueError, ArrowException) as exc:
            raise ConfigError(str(path), "unreadable", f"a Parquet table written by s3sim ({first_line(exc)})") \
                from None
    return RunResult(manifest=manifest, **tables)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
