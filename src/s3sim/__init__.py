"""s3sim: agent-based simulation of regional innovation clusters under EU Smart Specialisation (S3) policy.

Public API::

    cfg = s3sim.compose(["model.n_agents=2000", "seed=3"])   # validated config (Hydra compose semantics)
    model = s3sim.S3Model(cfg, seed=3)                          # a mesa.Model; model.step(), model.run()
    result = s3sim.simulate(cfg, seed=3)                        # RunResult: timeseries, panel, firms, ...
    result.save("outputs/my_run"); s3sim.load_result("outputs/my_run")
    s3sim.PARAMETERS                                            # every parameter: default, range, unit, source
    s3sim.evaluate(seed=0, n_agents=1000, sigma_v=2.0)          # dict of end-of-run outcomes
"""

from . import policy  # noqa: F401  (registers the policy factory with the model)
from .config import PARAMETERS, compose
from .errors import ConfigError, S3SimError
from .model import ClusterOrganisation, Firm, RegionalAuthority, ResearchInstitute, S3Model
from .runner import RunResult, evaluate, load_result, simulate

__version__ = "0.1.0"

__all__ = ["PARAMETERS", "compose", "S3Model", "simulate", "evaluate", "RunResult", "load_result", "ConfigError",
           "S3SimError", "Firm", "ResearchInstitute", "ClusterOrganisation", "RegionalAuthority", "__version__"]
