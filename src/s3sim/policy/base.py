"""S15 Policy strategies: the protocol every S3 regime implements, and the registry of regimes by name.

A regime is a small object with the six decisions of an S3 strategy (model-spec 5.8):

* :meth:`Regime.review_priorities` - which domains are priorities (or ``None``: keep them);
* :meth:`Regime.publish_calls` - which collaborative calls open this quarter, with which budget;
* :meth:`Regime.eligible` - hard criteria for a proposal;
* :meth:`Regime.rank` - soft criteria (scores) for eligible proposals;
* :meth:`Regime.direct_support` - single-beneficiary subsidies and cluster grants this quarter;
* :meth:`Regime.monitor` - bookkeeping after the quarter (the EDP's evidence).

Regimes hold only their parameters and state; agent behaviour stays in the model's submodels, which the
:class:`~s3sim.policy.engine.S3Policy` engine drives through the model's public levers (transfers, search tilt,
cluster brokerage, critical-mass links, project partnerships and innovations). A new regime is a subclass
registered with :func:`register`; nothing in the model changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError

REGIMES: dict[str, type["Regime"]] = {}


def register(cls: type["Regime"]) -> type["Regime"]:
    """Class decorator: make a regime available by its ``name``."""
    REGIMES[cls.name] = cls
    return cls


def regime_class(name: str) -> type["Regime"]:
    try:
        return REGIMES[name]
    except KeyError:
        raise ConfigError("policy.regime", name, f"one of {', '.join(REGIMES)}") from None


@dataclass
class Call:
    """A collaborative call: who may apply, in which domain, with which budget."""

    call_id: int
    domain: int
    budget: float
    regions: np.ndarray            # regions whose actors may join (one for a regional call)
    min_regions: int = 1           # a joint (trans-regional) call needs consortia spanning >= 2 regions
    scope: int = -1                # cluster organisation whose members may apply (pilot calls), or -1
    funder: int = -1               # region paying (-1: the trans-regional pool)


@dataclass
class Proposal:
    call: Call
    members: np.ndarray            # actor rows, coordinator first
    score: float = 0.0


@dataclass
class Project:
    """A funded project: its consortium exchanges knowledge every quarter, members are paid the public share of
    their costs, and it may deliver innovations (S8)."""

    call: Call
    members: np.ndarray
    regions: np.ndarray            # distinct regions of the members
    start: int
    end: int
    funding_per_step: float        # public money per quarter (all members)
    cost_per_member: float = 0.0   # what each member spends per quarter on the project


@dataclass
class Scope:
    """What a regime instance governs: a region's actors, or a pilot cluster's members."""

    region: int
    cluster: int = -1              # -1: the whole region (minus pilot clusters)
    label: str = ""


class Regime:
    """Base class of S3 regimes. Subclasses set ``name`` and override the decisions they take."""

    name: ClassVar[str] = "base"
    funded: ClassVar[bool] = True          # spends public money (only ``none`` does not)
    prioritises: ClassVar[bool] = False    # holds priority domains
    collaborative: ClassVar[bool] = False  # publishes collaborative calls
    joint: ClassVar[bool] = False          # takes part in trans-regional joint calls

    def __init__(self, params: Any, scope: Scope):
        self.p = params
        self.scope = scope
        self.priorities = np.zeros(0, dtype=bool)
        self.state: dict[str, Any] = {}

    # the six decisions --------------------------------------------------------------------------------------------
    def review_priorities(self, engine, model, t: int) -> np.ndarray | None:
        return None

    def publish_calls(self, engine, model, t: int, budget: float) -> list[Call]:
        return []

    def eligible(self, engine, model, proposal: Proposal) -> bool:
        kinds = model.actors.kind[proposal.members]
        has_sme = bool(np.isin(kinds, (0, 2)).any())
        has_knowledge_actor = bool((kinds == 3).any() or (model.actors.cluster[proposal.members] >= 0).any())
        regions = np.unique(model.actors.region[proposal.members])
        return has_sme and has_knowledge_actor and regions.size >= proposal.call.min_regions

    def rank(self, engine, model, proposals: list[Proposal]) -> np.ndarray:
        """Mean share of the members' knowledge in the call domain, plus complementarity, plus a tie-breaking
        draw (INFSO-SKIN ranks by mean expertise, then capability match, then at random)."""
        out = np.empty(len(proposals))
        prof = model.actors.profile
        rng = model.streams["policy"]
        for k, prop in enumerate(proposals):
            m = prop.members
            fit = float(prof[m, prop.call.domain].mean())
            breadth = float((prof[m].max(axis=0) > 0).sum()) / prof.shape[1]
            out[k] = fit + 0.25 * breadth + 0.01 * rng.random()
        return out

    def direct_support(self, engine, model, t: int, budget: float) -> None:
        return None

    def monitor(self, engine, model, t: int) -> None:
        return None
