"""Model state as a struct of arrays (ODD: entities and state variables).

The model owns every state variable as a numpy column; Mesa agents (:mod:`s3sim.model.agents`) are thin views
over one row. Rows of :class:`ActorState` (firms and research institutes) are never reused within a run: an
exit clears ``alive`` and an entry appends a row, growing the arrays by doubling, so tie tables stay valid.
"""

from __future__ import annotations

import numpy as np

# actor kinds
SME, LARGE, STARTUP, RI = 0, 1, 2, 3
KIND_NAMES = ("SME", "large", "start-up", "research institute")
# origin of an actor
ORIGIN_INITIAL, ORIGIN_SPINOFF, ORIGIN_NONLOCAL, ORIGIN_RI_SPINOFF = 0, 1, 2, 3
ORIGIN_NAMES = ("initial", "spin-off", "non-local entrant", "academic spin-off")

TIE_SLOTS = 8  # remembered partners per actor (the least recently renewed tie is replaced)


class ActorState:
    """Columns of every firm and research institute, indexed by row.

    Kenes (SKIN knowledge) are stored compactly: slots ``0..klen-1`` are occupied, each a triple of capability
    ``cap`` (capability code ``domain << cap_shift | j`` with j < caps_per_domain, so the domain is one shift), ability ``abil`` in [0, 10] and
    expertise ``expt`` in 1..10; ``ih`` flags the slots of the innovation hypothesis.
    """

    _columns = {
        "alive": np.bool_, "kind": np.int8, "origin": np.int8, "region": np.int32, "cluster": np.int32,
        "capital": np.float64, "revenue": np.float64, "costs": np.float64, "transfers": np.float64,
        "subsidy": np.float64,
        "profit": np.float64, "prev_profit": np.float64, "rd_spend": np.float64,
        "innovations": np.int32, "innov_incr": np.int32, "innov_rad": np.int32, "innov_value": np.float64,
        "product_domain": np.int32, "quality": np.float64, "appeal": np.float64,
        "log_appeal": np.float64, "appeal_seen": np.float64,  # the market's cache of log(appeal) (S3)
        "birth": np.int32, "parent": np.int32, "res_slot": np.int32, "res_dir": np.int8,
        "klen": np.int32, "kcap": np.int32, "n_partners": np.int32,
        "flows_in": np.int32,
    }

    def __init__(self, capacity: int, kene_width: int, n_domains: int, cap_dtype=np.int32):
        self.n = 0
        self.capacity = max(int(capacity), 16)
        self.max_rows = 0  # cap on rows ever created (0: none); set by the model from model.max_actors
        self.width = int(kene_width)
        self.n_domains = int(n_domains)
        c = self.capacity
        for name, dt in self._columns.items():
            setattr(self, name, np.zeros(c, dtype=dt))
        self.cluster[:] = -1
        self.parent[:] = -1
        self.res_slot[:] = -1
        self.appeal_seen[:] = np.nan  # no appeal seen yet (NaN equals nothing, even an appeal of 0)
        self.cap = np.full((c, self.width), -1, dtype=cap_dtype)  # int16 whenever the codes fit
        self.abil = np.zeros((c, self.width), dtype=np.float32)
        self.expt = np.zeros((c, self.width), dtype=np.int8)
        self.ih = np.zeros((c, self.width), dtype=np.bool_)
        self.tie_partner = np.full((c, TIE_SLOTS), -1, dtype=np.int32)
        self.tie_step = np.full((c, TIE_SLOTS), -(10**6), dtype=np.int32)
        self.profile = np.zeros((c, self.n_domains), dtype=np.float32)  # expertise-weighted domain profile
        self.advert = np.zeros((c, self.n_domains), dtype=np.float32)  # L2-normalised IH domain profile

    # ------------------------------------------------------------------------------------------------------------
    def reserve(self, extra: int) -> None:
        """Make room for ``extra`` more rows (capacity doubling)."""
        need = self.n + int(extra)
        if self.max_rows and need > self.max_rows:
            from ..errors import CapacityError

            raise CapacityError(f"model.max_actors={self.max_rows} would be exceeded ({need} actors ever created); "
                                f"raise model.max_actors or set it to 0 (no cap)")
        if need <= self.capacity:
            return
        new = self.capacity
        while new < need:
            new *= 2
        for name in list(self._columns) + ["cap", "abil", "expt", "ih", "tie_partner", "tie_step", "profile",
                                           "advert"]:
            old = getattr(self, name)
            arr = np.zeros((new,) + old.shape[1:], dtype=old.dtype)
            arr[: self.capacity] = old
            if name in ("cluster", "parent", "res_slot", "cap", "tie_partner"):
                arr[self.capacity:] = -1
            elif name == "tie_step":
                arr[self.capacity:] = -(10**6)
            elif name == "appeal_seen":
                arr[self.capacity:] = np.nan
            setattr(self, name, arr)
        self.capacity = new

    def add(self, count: int) -> np.ndarray:
        """Append ``count`` empty rows and return their indices."""
        self.reserve(count)
        rows = np.arange(self.n, self.n + count)
        self.n += count
        return rows

    def view(self, name: str) -> np.ndarray:
        """Column ``name`` restricted to the used rows."""
        return getattr(self, name)[: self.n]

    @property
    def is_firm(self) -> np.ndarray:
        return self.kind[: self.n] != RI

    def nbytes(self) -> int:
        return sum(getattr(self, k).nbytes for k in list(self._columns) + ["cap", "abil", "expt", "ih",
                                                                             "tie_partner", "tie_step", "profile",
                                                                             "advert"])


class ClusterState:
    """Cluster organisations: region, focal domain, members, budget (read and written by policies)."""

    def __init__(self, region: np.ndarray, domain: np.ndarray):
        self.region = np.asarray(region, dtype=np.int32)
        self.domain = np.asarray(domain, dtype=np.int32)
        self.n = len(self.region)
        self.members = np.zeros(self.n, dtype=np.int64)
        self.budget = np.zeros(self.n, dtype=np.float64)
        self.brokerage = np.ones(self.n, dtype=np.float64)
        self.link = np.full(self.n, -1, dtype=np.int32)  # linked cluster organisation in another region (policy)


class RegionState:
    """Regional authorities: stated priorities, budget and policy levers (read and written by policies)."""

    def __init__(self, n_regions: int, n_domains: int, priorities: np.ndarray, population_share: np.ndarray):
        self.n = n_regions
        self.priority = np.array(priorities, dtype=np.bool_, copy=True)
        self.budget = np.zeros(n_regions, dtype=np.float64)
        self.spent = np.zeros(n_regions, dtype=np.float64)
        self.search_tilt = np.zeros((n_regions, n_domains), dtype=np.float64)  # radical-search tilt (policy)
        self.links = np.zeros((n_regions, n_regions), dtype=np.float64)  # critical-mass links (policy)
        self.population_share = np.asarray(population_share, dtype=np.float64)
