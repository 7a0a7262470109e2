"""Tests of the result store: ``RunResult.save`` and ``s3sim.load_result``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import s3sim
from s3sim import ConfigError, RunResult
from s3sim.runner.result import MANIFEST, TABLES

# pytest-xdist (`make test`: --dist loadgroup) runs the whole module on one worker, so
# its stored runs are made once
pytestmark = pytest.mark.xdist_group("store")

SMALL = ["model.n_agents=300", "model.burn_in=2", "model.horizon=8"]


@pytest.fixture(scope="module")
def result() -> RunResult:
    return s3sim.simulate(s3sim.compose(SMALL), seed=5)


@pytest.fixture(scope="module")
def other_result() -> RunResult:
    return s3sim.simulate(s3sim.compose(SMALL), seed=6)


@pytest.fixture(scope="module")
def stored(result, tmp_path_factory) -> Path:
    """A run saved once; tests must not modify it (copy it first)."""
    d = tmp_path_factory.mktemp("store") / "run"
    result.save(d)
    return d


@pytest.fixture
def stored_copy(stored, tmp_path) -> Path:
    d = tmp_path / "copy"
    shutil.copytree(stored, d)
    return d


def snapshot(d: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under d (including hidden ones)."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def load_error(d) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        s3sim.load_result(d)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return info.value


# ----------------------------------------------------------------------------------------------------------------
# round trip
# ----------------------------------------------------------------------------------------------------------------
def test_save_writes_tables_and_manifest(stored):
    names = {p.name for p in stored.iterdir()}
    assert names == {f"{t}.parquet" for t in TABLES} | {MANIFEST}  # no temporary files left behind
    assert set(TABLES) == {"timeseries", "panel", "firms", "innovations"}


def test_save_returns_directory_and_creates_parents(result, tmp_path):
    d = tmp_path / "a" / "b" / "run"
    assert result.save(d) == d
    assert (d / MANIFEST).is_file()
    # accepts a str path too
    assert result.save(str(tmp_path / "s")) == tmp_path / "s"


@pytest.mark.parametrize("name", TABLES)
def test_round_trip_tables(result, stored, name):
    loaded = s3sim.load_result(stored)
    a, b = getattr(result, name), getattr(loaded, name)
    assert_frame_equal(b, a, check_exact=True, check_categorical=True)
    assert list(b.dtypes) == list(a.dtypes)
    for col in a.columns:
        if isinstance(a[col].dtype, pd.CategoricalDtype):
            assert b[col].cat.categories.equals(a[col].cat.categories), col
            assert b[col].cat.ordered == a[col].cat.ordered, col


def test_round_trip_manifest(result, stored):
    loaded = s3sim.load_result(stored)
    expected = json.loads(json.dumps(result.manifest))
    for key, value in expected.items():
        assert loaded.manifest[key] == value, key
    assert loaded.manifest["status"] == "completed"
    assert loaded.manifest["tables"] == {t: f"{t}.parquet" for t in TABLES}
    assert isinstance(loaded.manifest["format_version"], int)
    assert loaded.seed == result.seed == 5


def test_round_trip_outcomes_and_views(result, stored):
    loaded = s3sim.load_result(stored)
    assert loaded.outcomes() == result.outcomes()
    assert_frame_equal(loaded.wide(), result.wide())
    assert repr(loaded) == repr(result)


def test_save_does_not_mutate_result(result, tmp_path):
    before = dict(result.manifest)
    result.save(tmp_path / "run")
    assert result.manifest == before


def test_manifest_is_plain_json(stored):
    m = json.loads((stored / MANIFEST).read_text())
    assert m["seed"] == 5
    for key in ("config", "timings", "versions", "git", "started", "finished"):
        assert key in m
    assert m["config"]["model"]["n_agents"] == 300
    assert m["versions"]["s3sim"] == s3sim.__version__
    assert "revision" in m["git"]


def test_save_into_existing_empty_dir(result, tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    result.save(d)
    assert_frame_equal(s3sim.load_result(d).firms, result.firms)


def test_save_into_dir_with_other_files_keeps_them(result, tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    result.save(d)
    assert (d / "notes.txt").read_text() == "keep me"
    s3sim.load_result(d)


# ----------------------------------------------------------------------------------------------------------------
# overwrite protection
# ----------------------------------------------------------------------------------------------------------------
def test_save_refuses_to_overwrite(other_result, stored_copy):
    before = snapshot(stored_copy)
    mtimes = {p: p.stat().st_mtime_ns for p in stored_copy.iterdir()}
    with pytest.raises(ConfigError) as info:
        other_result.save(stored_copy)
    msg = str(info.value)
    assert "\n" not in msg and str(stored_copy) in msg and "overwrite" in msg
    assert snapshot(stored_copy) == before  # byte-identical, nothing added
    assert {p: p.stat().st_mtime_ns for p in stored_copy.iterdir()} == mtimes
    assert s3sim.load_result(stored_copy).seed == 5


def test_save_refuses_same_result_twice(result, stored_copy):
    before = snapshot(stored_copy)
    with pytest.raises(ConfigError):
        result.save(stored_copy)
    assert snapshot(stored_copy) == before


def test_save_refuses_even_over_incomplete_run(other_result, stored_copy):
    # a manifest of any status marks the directory as taken
    m = json.loads((stored_copy / MANIFEST).read_text())
    m["status"] = "running"
    (stored_copy / MANIFEST).write_text(json.dumps(m))
    before = snapshot(stored_copy)
    with pytest.raises(ConfigError):
        other_result.save(stored_copy)
    assert snapshot(stored_copy) == before


def test_save_overwrite_true_replaces(other_result, stored_copy):
    other_result.save(stored_copy, overwrite=True)
    loaded = s3sim.load_result(stored_copy)
    assert loaded.seed == 6
    assert_frame_equal(loaded.timeseries, other_result.timeseries)
    assert {p.name for p in stored_copy.iterdir()} == {f"{t}.parquet" for t in TABLES} | {MANIFEST}


# ----------------------------------------------------------------------------------------------------------------
# load_result errors
# ----------------------------------------------------------------------------------------------------------------
def test_load_missing_dir(tmp_path):
    err = load_error(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(err)
    assert "directory" in str(err)


def test_load_file_instead_of_dir(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    err = load_error(f)
    assert str(f) in str(err)


def test_load_empty_dir(tmp_path):
    err = load_error(tmp_path)
    assert str(tmp_path) in str(err) and MANIFEST in str(err)


def test_load_accepts_str_path(stored):
    assert s3sim.load_result(str(stored)).seed == 5


@pytest.mark.parametrize("content", [
    b"",
    b"{not json",
    b'{"status": "comp',
    b"\xff\xfe\x00\x01garbage",
    b"[1, 2, 3]",
    b'"completed"',
    b"null",
], ids=["empty", "not-json", "truncated", "binary", "list", "string", "null"])
def test_load_corrupt_manifest(stored_copy, content):
    (stored_copy / MANIFEST).write_bytes(content)
    err = load_error(stored_copy)
    assert MANIFEST in str(err)


@pytest.mark.parametrize("status", ["running", "failed", None])
def test_load_incomplete_run(stored_copy, status):
    m = json.loads((stored_copy / MANIFEST).read_text())
    if status is None:
        del m["status"]
    else:
        m["status"] = status
    (stored_copy / MANIFEST).write_text(json.dumps(m))
    err = load_error(stored_copy)
    assert "completed" in str(err)


@pytest.mark.parametrize("name", TABLES)
def test_load_missing_table(stored_copy, name):
    (stored_copy / f"{name}.parquet").unlink()
    err = load_error(stored_copy)
    assert f"{name}.parquet" in str(err) and "missing" in str(err)


@pytest.mark.parametrize("name", TABLES)
def test_load_corrupt_table(stored_copy, name):
    path = stored_copy / f"{name}.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    err = load_error(stored_copy)
    assert f"{name}.parquet" in str(err)


def test_load_table_replaced_by_directory(stored_copy):
    path = stored_copy / "panel.parquet"
    path.unlink()
    path.mkdir()
    err = load_error(stored_copy)
    assert "panel.parquet" in str(err)


def test_save_leaves_no_temporary_files(result, tmp_path):
    d = tmp_path / "run"
    result.save(d)
    assert not [p for p in d.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")]
    assert os.listdir(d)
