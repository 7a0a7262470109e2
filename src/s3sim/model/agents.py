"""Mesa agents as thin views over the model's arrays.

:class:`Firm`, :class:`ResearchInstitute`, :class:`ClusterOrganisation` and :class:`RegionalAuthority` are real
``mesa.Agent`` subclasses, registered in ``model.agents`` and ``model.agents_by_type``, so Mesa idioms
(``select``, ``groupby``, ``agg``, the DataCollector, visualisation) work. Each holds only its row; attributes
read and write the model's columns, so a change made through an agent is a change of the model state. The
model's step never loops over these objects.
"""

from __future__ import annotations

import mesa
import numpy as np

from .state import KIND_NAMES, ORIGIN_NAMES


class _ActorView(mesa.Agent):
    """Common view of a firm or research institute (one row of :class:`~s3sim.model.state.ActorState`)."""

    def __init__(self, model, row: int):
        super().__init__(model)
        self.row = int(row)

    # read/write state -------------------------------------------------------------------------------------------
    @property
    def capital(self) -> float:
        return float(self.model.actors.capital[self.row])

    @capital.setter
    def capital(self, value: float) -> None:
        self.model.actors.capital[self.row] = value

    @property
    def cluster(self) -> int:
        """Index of the cluster organisation the actor belongs to, or -1."""
        return int(self.model.actors.cluster[self.row])

    @cluster.setter
    def cluster(self, value: int) -> None:
        self.model.actors.cluster[self.row] = value

    # read-only state ----------------------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return bool(self.model.actors.alive[self.row])

    @property
    def region(self) -> str:
        return self.model.world.regions.ids[self.model.actors.region[self.row]]

    @property
    def region_index(self) -> int:
        return int(self.model.actors.region[self.row])

    @property
    def kind(self) -> str:
        return KIND_NAMES[self.model.actors.kind[self.row]]

    @property
    def origin(self) -> str:
        return ORIGIN_NAMES[self.model.actors.origin[self.row]]

    @property
    def domain(self) -> str:
        """Product domain (firms) or main domain (research institutes)."""
        return self.model.world.domains.names[self.model.actors.product_domain[self.row]]

    @property
    def innovations(self) -> int:
        return int(self.model.actors.innovations[self.row])

    @property
    def quality(self) -> float:
        return float(self.model.actors.quality[self.row])

    @property
    def revenue(self) -> float:
        return float(self.model.actors.revenue[self.row])

    @property
    def profit(self) -> float:
        return float(self.model.actors.profit[self.row])

    @property
    def cluster_member(self) -> bool:
        return self.cluster >= 0

    @property
    def kene(self) -> dict[str, np.ndarray]:
        """The kene as views: capability, ability, expertise, in_ih (writes go to the model)."""
        a = self.model.actors
        n = a.klen[self.row]
        return {"capability": a.cap[self.row, :n], "ability": a.abil[self.row, :n],
                "expertise": a.expt[self.row, :n], "in_ih": a.ih[self.row, :n]}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.unique_id} row={self.row} {self.region}>"


class Firm(_ActorView):
    """A firm (SME, large firm or start-up): researches, partners, sells in its product domain."""


class ResearchInstitute(_ActorView):
    """A publicly funded research institute: researches, partners, spawns academic spin-offs; does not sell."""


class ClusterOrganisation(mesa.Agent):
    """A cluster organisation with a focal domain in one region; brokers partnerships among its members."""

    def __init__(self, model, row: int):
        super().__init__(model)
        self.row = int(row)

    @property
    def region(self) -> str:
        return self.model.world.regions.ids[self.model.clusters.region[self.row]]

    @property
    def domain(self) -> str:
        return self.model.world.domains.names[self.model.clusters.domain[self.row]]

    @property
    def members(self) -> int:
        return int(self.model.clusters.members[self.row])

    @property
    def brokerage(self) -> float:
        return float(self.model.clusters.brokerage[self.row])

    @brokerage.setter
    def brokerage(self, value: float) -> None:
        self.model.clusters.brokerage[self.row] = value

    @property
    def budget(self) -> float:
        return float(self.model.clusters.budget[self.row])


class RegionalAuthority(mesa.Agent):
    """The regional authority running a region's S3: priorities and budget (policies act through it)."""

    def __init__(self, model, row: int):
        super().__init__(model)
        self.row = int(row)

    @property
    def region(self) -> str:
        return self.model.world.regions.ids[self.row]

    @property
    def priorities(self) -> tuple[str, ...]:
        names = self.model.world.domains.names
        return tuple(names[d] for d in np.flatnonzero(self.model.regions.priority[self.row]))

    @property
    def budget(self) -> float:
        return float(self.model.regions.budget[self.row])

    @budget.setter
    def budget(self, value: float) -> None:
        self.model.regions.budget[self.row] = value
