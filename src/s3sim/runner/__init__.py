"""Runner layer: run one config to a RunResult, store and load runs, the CLI entry points."""

from .result import RunResult, load_result
from .simulate import config_from_params, evaluate, simulate

__all__ = ["RunResult", "load_result", "simulate", "evaluate", "config_from_params"]
