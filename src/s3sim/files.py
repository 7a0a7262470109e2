"""Atomic file writes: every file s3sim stores is written to a hidden temporary name beside its target and renamed
into place, so a reader (or a crash) never sees half a file. One mechanism for run stores, sweep status files,
stress-test chunks, analysis tables, figures and reports. :func:`check_output_dir` checks, before any work, that
a directory can be stored into."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _temp_path(path: Path, pid: int | str) -> Path:
    """The temporary file of ``path`` while process ``pid`` writes it (``"*"``: a glob over every process)."""
    return path.with_name(f".{path.stem}.{pid}.tmp{path.suffix}")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` for a temporary path beside ``path`` (same suffix, so writers that infer the format
    from it still work; the process id keeps concurrent writers apart), then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path, os.getpid())
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_json(path: str | os.PathLike, obj: Any, **dumps: Any) -> Path:
    """``obj`` as JSON (indent 2, sorted keys unless told otherwise)."""
    options = {"indent": 2, "sort_keys": True, **dumps}
    return atomic_text(path, json.dumps(obj, **options))


def atomic_table(frame: Any, path: str | os.PathLike) -> Path:
    """A DataFrame as Parquet or CSV, chosen by the suffix of ``path``, without the index."""
    if Path(path).suffix == ".parquet":
        return atomic_write(path, lambda p: frame.to_parquet(p, index=False))
    return atomic_write(path, lambda p: frame.to_csv(p, index=False))


def remove_stale_temp_files(directory: str | os.PathLike, pattern: str = "*") -> None:
    """Remove the temporary files of :func:`atomic_write` for targets matching ``pattern`` in ``directory`` that a
    process of this machine left behind when it was killed; those of a live process are kept."""
    for tmp in Path(directory).glob(_temp_path(Path(pattern), "*").name):
        try:
            os.kill(int(tmp.name.rsplit(".tmp", 1)[0].rsplit(".", 1)[1]), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, IndexError, OSError):  # not a name of ours, or another user's live process
            continue


def check_output_dir(field: str, value: str | os.PathLike) -> Path:
    """``value`` as an absolute path, or a one-line ConfigError naming ``field`` unless it is a directory, or a path
    where one can be made, that can be written: neither it nor a parent may be a file, and a probe directory must
    be creatable in it (or in its nearest existing parent). Creates nothing that stays."""
    import tempfile

    from .errors import ConfigError

    path = Path(value).absolute()
    nearest = next(where for where in (path, *path.parents) if where.exists())
    if not nearest.is_dir():
        what = "this is an existing file" if nearest == path else f"{nearest} is a file"
        raise ConfigError(field, str(value), f"a directory, or a path where one can be created ({what})")
    try:
        tempfile.TemporaryDirectory(dir=nearest, prefix=".s3sim-check.").cleanup()
    except OSError as exc:
        raise ConfigError(field, str(value), f"a directory, or a path where one can be created (nothing can be "
                                             f"written in {nearest}: {exc.strerror or type(exc).__name__})") from None
    return path
