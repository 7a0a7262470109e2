"""Structured config of the ``s3sim-stress`` app (primary config ``conf/stress.yaml``).

Three config groups choose the pieces, and every field can be overridden from the shell:

* ``sensitivity`` (``morris``, ``sobol``, ``fast``, ``delta``, ``pawn``, ``rbd_fast``): the SALib method, its
  sample size and the analysis settings;
* ``target`` (``s3``, ``ishigami``): the model function, the parameters it varies (names or ``group:<name>`` from
  :data:`s3sim.PARAMETERS`), range overrides, fixed parameters, replicates and the outputs analysed;
* ``executor`` (``serial``, ``local``, ``dask``): where evaluations run.

Validation that needs the parameter registry or the outcome list (names, ranges, output syntax) is done by
:func:`s3sim.runner.stress.resolve`, which turns this config into a :class:`~s3sim.runner.stress.StressSpec`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class SensitivityConfig:
    """The SALib method and its settings (see docs/stress-test.md for what each means)."""

    method: str = "sobol"
    n: int = 512  # base sample size: Sobol N (runs N(D+2) or N(2D+2)), Morris trajectories, FAST runs per
    # parameter, given-data methods (delta, pawn, rbd_fast): Latin hypercube size
    second_order: bool = False  # Sobol: also S2 (costs N(2D+2) runs instead of N(D+2))
    num_levels: int = 4  # Morris grid levels
    m: int = 4  # FAST interference parameter M (rbd_fast: harmonics, SALib default 10)
    slices: int = 10  # PAWN conditioning slices S
    num_resamples: int = 200  # bootstrap resamples for the confidence intervals
    conf_level: float = 0.95
    convergence: bool = True  # re-analyse prefixes N/8, N/4, N/2, N of the design
    top_k: int = 3  # convergence verdict: the ranking of the top k parameters must be stable
    ci_threshold: float = 0.1  # convergence verdict: widest top-k interval (normalised index) at N


@dataclass
class TargetConfig:
    """The model function: ``s3`` (s3sim.evaluate) or ``ishigami`` (analytic test function)."""

    name: str = "s3"
    params: list[str] = field(default_factory=list)  # names or group:<group> of s3sim.PARAMETERS
    ranges: dict[str, Any] = field(default_factory=dict)  # name -> [low, high], overrides the registry range
    fixed: dict[str, Any] = field(default_factory=dict)  # name -> value held fixed (e.g. n_agents)
    # Sobol' and Morris only: indices of groups of parameters, each group varied as one factor (SALib's groups;
    # Sobol' then costs N(G+2) runs for G groups). {} for none, a mapping label -> [parameter names] (a varied
    # parameter not listed is a group of its own), or "catalogue" for the groups of s3sim.PARAMETERS
    groups: Any = field(default_factory=dict)
    # name -> the distribution of a parameter on its range (default unif): logunif, [triang, peak] (the mode at
    # low + peak x (high - low)) or [truncnorm, mean, sd] (a normal truncated to the range); SALib's dists.
    # Integer parameters: on [low - 0.5, high + 0.5], rounded
    dists: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)  # outcome, regime:outcome or A-B:outcome
    # s3 only: quarters of the policy horizon, before its end, at which every output is also analysed (labels
    # <output>#q<quarter>); burn_in + quarter must be a multiple of evidence_every (default: whole years)
    times: list[int] = field(default_factory=list)
    regime: str = "none"  # regime of a bare outcome name
    replicates: int = 3  # stochastic replicates per sample (averaged; their spread is reported)
    noise: float = 0.0  # ishigami only: sd of Gaussian noise added per replicate (0: deterministic)


@dataclass
class ExecutorConfig:
    """Where evaluations run: ``serial``, ``local`` worker processes, or ``dask``."""

    kind: str = "local"
    workers: Optional[int] = None  # null: every core (dask with an address: the scheduler's workers)
    address: Optional[str] = None  # dask only: tcp://host:8786 of a running scheduler


@dataclass
class StressConfig:
    """Root of the stress-test config."""

    seed: int = 0  # root of every random stream (design, per-sample run seeds, bootstrap)
    chunk_size: int = 16  # samples per checkpointed chunk (each chunk holds all replicates and regimes)
    figures: bool = True
    progress: bool = True  # tqdm bar over chunks
    sensitivity: SensitivityConfig = field(default_factory=SensitivityConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)


@functools.cache
def register_stress_configs() -> None:
    """Register the stress schema as ``stress_schema`` in Hydra's ConfigStore (idempotent), and what
    :func:`s3sim.config.compose.register_configs` registers."""
    from hydra.core.config_store import ConfigStore

    from .compose import register_configs

    register_configs()

    ConfigStore.instance().store(name="stress_schema", node=StressConfig)
