"""Executors: run a picklable module-level function over a list of task arguments, serially, in local worker
processes or on a Dask cluster, and yield ``(index, result)`` pairs as tasks finish.

    with make_executor("local", workers=2) as ex:
        for i, result in ex.map_unordered(fn, tasks):
            ...   # i is the position of the task in ``tasks``

The interface is deliberately tiny so that any many-run job can use it (the stress test evaluates design chunks
with it; a sweep can re-run its missing jobs with it):

* :class:`SerialExecutor` (``serial``): in this process, in task order; the reference for reproducibility;
* :class:`LocalExecutor` (``local``): a :class:`concurrent.futures.ProcessPoolExecutor` with the *spawn* start
  method (safe with numba, threads and Mesa, and the same on Linux, macOS and Windows); ``workers`` defaults to
  every core;
* :class:`DaskExecutor` (``dask``): a ``distributed.Client`` on a new ``LocalCluster(n_workers=workers,
  threads_per_worker=1, processes=True)``, or on an existing scheduler given by ``address`` (``tcp://host:8786``),
  e.g. one started by dask-jobqueue on a SLURM cluster (see ``docs/stress-test.md``).

Results never depend on the executor: a task's result is a function of its arguments only (all randomness comes
from seeds carried in the task), and the caller stores results by task index, not by arrival order.

Workers run one task at a time on one core: the parent sets ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` to 1 (unless already set) before starting worker processes, which
inherit them, so that two workers on two cores do not oversubscribe them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import ConfigError

EXECUTORS = ("serial", "local", "dask")
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _pin_threads() -> None:
    """One thread per worker for BLAS and numba; set before worker processes start (they inherit it)."""
    for var in _THREAD_VARS:
        os.environ.setdefault(var, "1")


def default_workers() -> int:
    """Cores available to this process (the CPU affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the process that started it is gone (killed with SIGKILL, say),
    instead of idling on as an orphan. A daemon thread looks once a second."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="s3sim-exit-with-parent", daemon=True).start()


class Executor:
    """Base class: ``map_unordered(fn, tasks)`` yields ``(index, fn(tasks[index]))`` as tasks finish.

    ``fn`` must be a module-level function (picklable by reference) and each task one picklable argument.
    Use as a context manager, or call :meth:`close`.
    """

    kind = "base"
    workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (idempotent)."""

    def describe(self) -> str:
        return f"{self.kind} ({self.workers} worker{'s' if self.workers != 1 else ''})"

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Every task in this process, in order."""

    kind = "serial"

    def map_unordered(self, fn, tasks):
        for i, task in enumerate(tasks):
            yield i, fn(task)


class LocalExecutor(Executor):
    """Worker processes on this machine (``concurrent.futures`` with the spawn start method).

    The pool starts lazily on the first :meth:`map_unordered` and is reused by later calls. On an exception
    (including KeyboardInterrupt) pending tasks are cancelled and the workers are shut down.
    """

    kind = "local"

    def __init__(self, workers: int | None = None):
        self.workers = int(workers) if workers else default_workers()
        self._pool = None

    def _ensure(self):
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            _pin_threads()
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=_exit_with_parent, initargs=(os.getpid(),))
        return self._pool

    def map_unordered(self, fn, tasks):
        from concurrent.futures import FIRST_COMPLETED, wait

        pool = self._ensure()
        # keep at most 2 tasks per worker in flight, so an interruption loses little and memory stays flat
        pending: dict[Any, int] = {}
        todo = iter(enumerate(tasks))
        limit = 2 * self.workers
        try:
            for i, task in todo:
                pending[pool.submit(fn, task)] = i
                if len(pending) >= limit:
                    break
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    yield i, fut.result()
                    nxt = next(todo, None)
                    if nxt is not None:
                        pending[pool.submit(fn, nxt[1])] = nxt[0]
        except BaseException:
            for fut in pending:
                fut.cancel()
            self.close(wait=False, terminate=True)
            raise

    def close(self, wait: bool = True, terminate: bool = False) -> None:
        """Shut the pool down; with ``terminate`` (an interruption or an error) stop the workers at once instead of
        letting them finish tasks whose results nobody will store."""
        if self._pool is not None:
            if terminate:
                for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                    process.terminate()
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Dask distributed: a new LocalCluster of ``workers`` single-threaded worker processes, or an existing
    scheduler at ``address`` (then ``workers`` is informational: the scheduler's workers are used)."""

    kind = "dask"

    def __init__(self, workers: int | None = None, address: str | None = None):
        self.address = address or None
        self.workers = int(workers) if workers else default_workers()
        self._client = None
        self._cluster = None

    def _ensure(self):
        if self._client is None:
            import logging

            from distributed import Client, LocalCluster

            # importing distributed sets its loggers up anew (INFO lines on every start); the scheduler of a
            # LocalCluster runs in this process. Warnings (workers lost, memory) still show.
            logging.getLogger("distributed").setLevel(logging.WARNING)

            if self.address:
                try:
                    self._client = Client(self.address, timeout="20s")
                except (OSError, TimeoutError) as exc:
                    raise ConfigError("executor.address", self.address,
                                      f"the address of a running Dask scheduler ({exc.__class__.__name__})") from None
                self.workers = max(1, sum(w.get("nthreads", 1)
                                          for w in self._client.scheduler_info()["workers"].values()))
            else:
                _pin_threads()
                # dashboard_address=None does not stop the scheduler's HTTP server from trying port 8787 (and
                # warning when another cluster holds it: dask/distributed#7207, #8136); ":0" takes a free port
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                             dashboard_address=":0", silence_logs=40)
                self._client = Client(self._cluster)
        return self._client

    def map_unordered(self, fn, tasks):
        from distributed import as_completed

        client = self._ensure()
        futures = {}
        for i, task in enumerate(tasks):
            futures[client.submit(fn, task, pure=False)] = i
        try:
            for fut in as_completed(list(futures)):
                i = futures[fut]
                result = fut.result()
                fut.release()
                yield i, result
        except BaseException:
            client.cancel(list(futures))
            raise

    def describe(self) -> str:
        if self.address:
            self._ensure()  # connect: the scheduler's workers are what runs the tasks
            return f"dask on {self.address} ({self.workers} worker thread{'s' if self.workers != 1 else ''})"
        return f"dask on LocalCluster ({self.workers} worker{'s' if self.workers != 1 else ''})"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def make_executor(kind: str = "serial", workers: int | None = None, address: str | None = None) -> Executor:
    """An executor by name (``serial``, ``local``, ``dask``); raises ConfigError for anything else."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError("executor.workers", workers, "a positive integer, or null for every core")
    if address is not None and kind != "dask":
        raise ConfigError("executor.address", address, "null unless executor=dask (an address names a Dask "
                          "scheduler: add executor=dask)")
    if kind == "serial":
        if workers not in (None, 1):
            raise ConfigError("executor.workers", workers, "1 with executor=serial (worker processes: "
                              "executor=local)")
        return SerialExecutor()
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        if address is not None and not (isinstance(address, str) and "://" in address):
            raise ConfigError("executor.address", address, "a scheduler address such as tcp://host:8786, or null")
        if address is not None and workers is not None:
            raise ConfigError("executor.workers", workers, "null with executor.address (the scheduler's own "
                              "workers run the evaluations; executor.workers sizes a LocalCluster)")
        return DaskExecutor(workers, address)
    raise ConfigError("executor.kind", kind, f"one of {', '.join(EXECUTORS)}")
