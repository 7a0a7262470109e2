"""Collect a sweep: an index of its runs and its tables combined into Parquet datasets (``s3sim-collect``).

``s3sim-collect SWEEP_DIR`` always works, also when jobs failed or never ran. It writes, into
``SWEEP_DIR/collected/`` and nowhere else,

* ``index.parquet`` and ``index.csv``: one row per job: ``run`` (the job number), ``status`` (completed,
  failed, interrupted, missing, running, damaged), ``scenario`` (the swept overrides other than seed and
  replicate), one column per swept key, ``seed``, ``replicate``, ``regime`` (the run's default regime), timings, host and the error;
* ``timeseries.parquet``, ``panel.parquet``, ``firms.parquet``, ``innovations.parquet``: the completed runs'
  tables with a leading ``run`` column, written one run at a time (row groups per run), so neither collect nor
  a reader needs all runs in memory;
* ``collected.json``: when and from what the collection was made (to tell whether it is stale).

Read a collection lazily with :func:`open_sweep`: ``store.index`` is a small DataFrame; ``store.read(table,
columns=..., filters=...)`` reads only what it needs through pyarrow. ``--rerun-missing`` first runs the
failed, interrupted and missing jobs on local worker processes (see :func:`s3sim.runner.sweep.rerun_missing`).
Nothing outside ``collected/`` is modified, and the files inside it are replaced atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..errors import ConfigError, first_line
from ..runner.result import MANIFEST, TABLES
from ..runner.sweep import REPLICATE_KEYS, read_json, read_sweep_index, sweep_statuses

COLLECTED = "collected"
INDEX = "index"
META = "collected.json"
#: index columns that differ between executions of the same sweep (timings, hosts, process ids)
VOLATILE_COLUMNS = ("run_seconds", "total_seconds", "started", "finished", "host")


def _override_key(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    return key.lstrip("+~"), value


def swept_keys(index: dict[str, Any]) -> list[str]:
    """Override keys whose values differ between the jobs of a sweep, in the order they were given."""
    values: dict[str, set[str]] = {}
    for job in index["jobs"]:
        for text in job["overrides"]:
            key, value = _override_key(text)
            values.setdefault(key, set()).add(value)
    counts = {k: len(v) for k, v in values.items()}
    n = len(index["jobs"])
    present_everywhere = {k for k in values if sum(any(_override_key(t)[0] == k for t in j["overrides"])
                                                   for j in index["jobs"]) == n}
    return [k for k in values if counts[k] > 1 or (k not in present_everywhere)]


def _fingerprint(sweep_dir: Path, statuses: list[dict[str, Any]]) -> list[list[Any]]:
    out = []
    for s in statuses:
        m = sweep_dir / str(s["num"]) / MANIFEST
        try:
            mtime = m.stat().st_mtime_ns
        except OSError:
            mtime = None
        out.append([s["num"], s["status"], mtime])
    return out


def _plain_schema_table(table):
    """Dictionary-encoded columns (pandas categoricals) as plain values, so every run has one schema."""
    import pyarrow as pa

    cols = []
    for field, col in zip(table.schema, table.columns):
        if pa.types.is_dictionary(field.type):
            col = col.cast(field.type.value_type)
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def collect(sweep_dir: str | os.PathLike, *, progress: bool = True) -> "SweepStore":
    """Index the sweep's jobs and combine the completed runs' tables into ``SWEEP_DIR/collected/``."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import ArrowException
    from tqdm import tqdm

    d = Path(sweep_dir)
    index = read_sweep_index(d)
    statuses = sweep_statuses(d, index, verify=True)
    keys = swept_keys(index)
    out_dir = d / COLLECTED
    tmp = d / f".{COLLECTED}.{os.getpid()}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    writers: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    rows = []
    try:
        for s in tqdm(statuses, desc="s3sim collect", unit="run", delay=2, file=sys.stderr,
                      disable=None if progress else True):  # None: on a terminal only
            num = int(s["num"])
            ov = dict(_override_key(t) for t in s["overrides"])
            row: dict[str, Any] = {"run": num, "status": s["status"],
                                   "scenario": ",".join(f"{k}={ov[k]}" for k in keys
                                                        if k not in REPLICATE_KEYS and k in ov) or "all",
                                   "overrides": " ".join(s["overrides"])}
            for k in keys:
                row[k] = ov.get(k)
            row.update(seed=None, replicate=None, regime=None, steps=None, burn_in=None, run_seconds=None,
                       total_seconds=s.get("seconds"), started=s.get("started"), finished=s.get("finished"),
                       host=s.get("host"), error=s.get("error"), job_dir=str(num))
            if s["status"] == "completed":
                job = d / str(num)
                manifest = read_json(job / MANIFEST) or {}
                try:
                    tables = {name: _plain_schema_table(pq.read_table(job / f"{name}.parquet")) for name in TABLES}
                    for name, t in tables.items():
                        t = t.add_column(0, "run", pa.array([num] * t.num_rows, type=pa.int32()))
                        if name not in writers:
                            schemas[name] = t.schema
                            writers[name] = pq.ParquetWriter(tmp / f"{name}.parquet", t.schema)
                        tables[name] = t.cast(schemas[name])
                except (OSError, ValueError, ArrowException) as exc:
                    row.update(status="damaged", error=f"{type(exc).__name__}: {first_line(exc, '')}")
                else:
                    for name, t in tables.items():
                        writers[name].write_table(t)
                    cfg = manifest.get("config") or {}
                    row.update(seed=manifest.get("seed", cfg.get("seed")), replicate=manifest.get("replicate"),
                               regime=manifest.get("policy") or "none", steps=manifest.get("steps"),
                               burn_in=manifest.get("burn_in"),
                               run_seconds=(manifest.get("timings") or {}).get("run_seconds"),
                               error=None)
            rows.append(row)
        for w in writers.values():
            w.close()
        writers.clear()
        idx = pd.DataFrame(rows)
        for col in ("seed", "replicate", "steps", "burn_in"):
            idx[col] = pd.array(idx[col], dtype="Int64")
        idx.to_parquet(tmp / f"{INDEX}.parquet", index=False)
        idx.to_csv(tmp / f"{INDEX}.csv", index=False)
        meta = {"collected": datetime.now(timezone.utc).isoformat(), "sweep_dir": str(d), "swept_keys": keys,
                "runs": len(rows), "status_counts": idx["status"].value_counts().to_dict(),
                "tables": [n for n in TABLES if (tmp / f"{n}.parquet").exists()],
                "sources": _fingerprint(d, statuses)}
        (tmp / META).write_text(json.dumps(meta, indent=2, default=str))
        out_dir.mkdir(exist_ok=True)
        for name in TABLES:  # tables of a previous collection that has no completed run left
            if not (tmp / f"{name}.parquet").exists() and (out_dir / f"{name}.parquet").exists():
                (out_dir / f"{name}.parquet").unlink()
        for f in sorted(tmp.iterdir(), key=lambda p: p.name == META):  # the metadata last
            os.replace(f, out_dir / f.name)
    finally:
        for w in writers.values():
            w.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return open_sweep(d, auto_collect=False)


@dataclass
class SweepStore:
    """A collected sweep, read lazily."""

    sweep_dir: Path
    index: pd.DataFrame
    meta: dict[str, Any]

    @property
    def swept_keys(self) -> list[str]:
        return list(self.meta.get("swept_keys", []))

    @property
    def completed(self) -> pd.DataFrame:
        return self.index[self.index["status"] == "completed"]

    def path(self, table: str) -> Path:
        if table not in TABLES:
            raise ConfigError("table", table, f"one of {', '.join(TABLES)}")
        return self.sweep_dir / COLLECTED / f"{table}.parquet"

    def read(self, table: str, columns: Iterable[str] | None = None, filters: Any = None) -> pd.DataFrame:
        """Read (part of) a combined table; ``filters`` as in :func:`pyarrow.parquet.read_table`, e.g.
        ``[("indicator", "in", ["firms", "innovations"])]``."""
        import pyarrow.parquet as pq

        p = self.path(table)
        if not p.exists():
            raise ConfigError(str(self.sweep_dir), "no completed runs", f"a sweep with at least one completed run "
                                                                       f"(no {table} table was collected)")
        return pq.read_table(p, columns=None if columns is None else list(columns), filters=filters).to_pandas()

    def dataset(self, table: str):
        """The combined table as a :class:`pyarrow.dataset.Dataset` (for scans larger than memory)."""
        import pyarrow.dataset as ds

        return ds.dataset(self.path(table), format="parquet")

    def manifest(self, run: int) -> dict[str, Any]:
        m = read_json(self.sweep_dir / str(int(run)) / MANIFEST)
        if m is None:
            raise ConfigError("run", run, "a completed run of this sweep")
        return m


def is_stale(sweep_dir: Path) -> bool:
    """Whether ``collected/`` is missing or older than the job directories it was made from."""
    d = Path(sweep_dir)
    meta = read_json(d / COLLECTED / META)
    if meta is None:
        return True
    return meta.get("sources") != _fingerprint(d, sweep_statuses(d))


def open_sweep(sweep_dir: str | os.PathLike, *, auto_collect: bool = True, progress: bool = True) -> SweepStore:
    """Open a collected sweep; with ``auto_collect`` (re-)collect first when the collection is missing or stale."""
    d = Path(sweep_dir)
    read_sweep_index(d)  # one-line error for foreign directories
    if auto_collect and is_stale(d):
        return collect(d, progress=progress)
    meta = read_json(d / COLLECTED / META)
    if meta is None:
        raise ConfigError(str(d), "not collected", f"a collected sweep (run `s3sim-collect {d}`)")
    try:
        index = pd.read_parquet(d / COLLECTED / f"{INDEX}.parquet")
    except Exception as exc:  # noqa: BLE001 - any unreadable index is a user-facing error
        raise ConfigError(str(d / COLLECTED / f"{INDEX}.parquet"), "unreadable",
                          f"an index written by s3sim-collect ({type(exc).__name__}); run s3sim-collect again") \
            from None
    return SweepStore(d, index, meta)


def summary(store: SweepStore) -> str:
    counts = store.index["status"].value_counts()
    parts = ", ".join(f"{int(v)} {k}" for k, v in counts.items())
    return f"{len(store.index)} runs ({parts}) -> {store.sweep_dir / COLLECTED}"
