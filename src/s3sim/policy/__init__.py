"""Policy layer: S3 regimes as pluggable rules (S15), calls, proposals and projects (S16), pilot clusters.

    cfg = s3sim.compose(["policy=cluster_s3", "policy.regions.IT_VE=topdown_s3"])
    result = s3sim.simulate(cfg, seed=1)          # the config's policy runs after the burn-in

Regimes are registered by name in :data:`REGIMES`; a new one subclasses :class:`Regime` and is decorated with
:func:`register`.
"""

from ..model.model import set_policy_factory
from .base import REGIMES, Call, Project, Proposal, Regime, Scope, register
from .engine import S3Policy, build_policy
from .regimes import ClusterS3, Horizontal, NoPolicy, TopDownS3, TransregionalS3

set_policy_factory(build_policy)

__all__ = ["REGIMES", "Regime", "register", "Call", "Proposal", "Project", "Scope", "S3Policy", "build_policy",
           "NoPolicy", "Horizontal", "TopDownS3", "ClusterS3", "TransregionalS3"]
