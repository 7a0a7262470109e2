"""The stress test gives identical results on every executor: serial, 2 local worker processes, and a real Dask
LocalCluster of 2 worker processes (tiny model, chunks that finish out of order)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from s3sim.analysis.sensitivity import load_run
from s3sim.errors import ConfigError
from s3sim.runner.executors import DaskExecutor, LocalExecutor, SerialExecutor, make_executor
from s3sim.runner.stress import run_stress

# pytest-xdist (`make test`: --dist loadgroup) runs the whole module on one worker, so
# its process pools and Dask LocalClusters (2 worker processes each) run one at a time
pytestmark = pytest.mark.xdist_group("stress_executors")

CFG = {"target": {"name": "s3", "params": ["g_min", "c_collab"], "fixed": {"n_agents": 150, "burn_in": 4,
                                                                            "horizon": 8},
                  "outputs": ["cluster_s3-topdown_s3:innovations_per_1000_firms"], "replicates": 2},
       "sensitivity": {"method": "sobol", "n": 2, "num_resamples": 20}, "chunk_size": 2, "figures": False}


def _square(x):
    return x * x


def test_serial_local_and_dask_give_identical_outputs(tmp_path):
    runs = {}
    for kind in ("serial", "local", "dask"):
        with make_executor(kind, workers=None if kind == "serial" else 2) as ex:
            assert ex.workers == (1 if kind == "serial" else 2)
            report = run_stress(CFG, tmp_path / kind, executor=ex)
        run = load_run(tmp_path / kind)
        runs[kind] = (run.samples, run.evaluations, report.indices(), (tmp_path / kind / "summary.md").read_text())
    ref = runs["serial"]
    assert len(ref[1]) == 8 * 2 and ref[1]["cluster_s3:innovations_per_1000_firms"].notna().all()
    for kind in ("local", "dask"):
        samples, evaluations, indices, summary = runs[kind]
        pd.testing.assert_frame_equal(samples, ref[0])
        pd.testing.assert_frame_equal(evaluations, ref[1])
        pd.testing.assert_frame_equal(indices, ref[2])
        assert summary == ref[3]


def test_dask_local_cluster_leaves_the_default_dashboard_port_alone():
    """A LocalCluster of the dask executor takes a free port for the scheduler's HTTP server: another process
    (or a second cluster) holding 8787 gives no 'Port 8787 is already in use' warning (dask/distributed#8136)."""
    import socket
    import warnings

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
    except OSError:
        pass  # held already by something else: the same situation
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with make_executor("dask", workers=1) as ex:
                assert dict(ex.map_unordered(_square, [3])) == {0: 9}
        assert not [w for w in caught if "8787" in str(w.message)]
    finally:
        holder.close()


def _env(var):
    return os.environ.get(var)


def test_executors_yield_every_task_once_with_its_index_and_workers_are_single_threaded():
    tasks = list(range(7))
    for ex in (SerialExecutor(), LocalExecutor(2)):
        with ex:
            got = dict(ex.map_unordered(_square, tasks))
            assert got == {i: i * i for i in tasks}
            if ex.kind == "local":  # the pool is reused by a second map
                envs = [v for _, v in sorted(ex.map_unordered(_env, ["OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"]))]
                # workers inherit the parent's settings, which the executor sets to 1 unless the user chose otherwise
                assert envs == [os.environ["OPENBLAS_NUM_THREADS"], os.environ["NUMBA_NUM_THREADS"]]


def test_bad_executor_settings():
    with pytest.raises(ConfigError, match="executor.kind"):
        make_executor("mpi")
    with pytest.raises(ConfigError, match="executor.workers"):
        make_executor("local", workers=0)
    with pytest.raises(ConfigError, match="executor.address"):
        make_executor("dask", address="localhost")
    assert isinstance(make_executor("dask", address="tcp://127.0.0.1:1"), DaskExecutor)  # connects lazily
    # settings another executor would use are refused, not ignored (a scheduler address without executor=dask
    # would run everything on this machine)
    with pytest.raises(ConfigError, match="executor.address.*executor=dask"):
        make_executor("local", address="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="executor.workers.*serial"):
        make_executor("serial", workers=2)
    with pytest.raises(ConfigError, match="executor.workers.*executor.address"):
        make_executor("dask", workers=4, address="tcp://127.0.0.1:1")


def test_dask_executor_on_an_existing_scheduler_address(tmp_path):
    from distributed import LocalCluster

    cfg = {"target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "replicates": 2,
                      "noise": 0.5},
           "sensitivity": {"method": "sobol", "n": 16, "num_resamples": 20}, "chunk_size": 10, "figures": False}
    serial = run_stress(cfg, tmp_path / "serial", executor="serial")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with make_executor("dask", address=cluster.scheduler_address) as ex:
            remote = run_stress(cfg, tmp_path / "remote", executor=ex)
            assert ex.workers == 2 and cluster.scheduler_address in ex.describe()
    pd.testing.assert_frame_equal(load_run(tmp_path / "remote").evaluations, load_run(tmp_path / "serial").evaluations)
    pd.testing.assert_frame_equal(remote.indices(), serial.indices())
