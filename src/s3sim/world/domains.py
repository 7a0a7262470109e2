"""Technology domains: vocabulary, true relatedness graph Phi and complexity kappa.

Alpine domains (:func:`alpine_domains`)
    The 18 domains are exactly the union of the stated S3 priorities in the alpine regions file, in the order of
    ``world/data/domains.csv``: engineering and manufacturing first, then electronics and ICT, chemistry and
    materials, life sciences and health, energy and environment, the built environment, agri-food and the
    service-type domains. ``domains.csv`` gives each domain a weight profile (summing to 1) over eight broad
    knowledge bases (mechanical engineering; electronics & ICT; chemistry & materials; life sciences;
    energy & environment; construction; agriculture & food; design & services) and an R&D-intensity class.
    Both are documented modelling choices, not an official taxonomy (see ``world/data/SOURCES.md``).

    *Relatedness* ``Phi = 0.8 * cos + 0.2 * phi_co``, clipped to [0, 1] with a unit diagonal, where ``cos`` is
    the cosine similarity of the knowledge-base profiles and ``phi_co`` the co-prioritisation proximity of
    two domains over the 11 regions' stated priorities, ``min(P(d|d'), P(d'|d)) = c_dd' / max(k_d, k_d')``
    (Hidalgo et al. 2007 product-space proximity; c = regions stating both, k = regions stating one).

    *Complexity* ``kappa = minmax(0.75 * s + 0.25 * u)``, where ``s`` is the domain's R&D-intensity class in
    the OECD technology classification of manufacturing (high 1, medium-high 2/3, medium-low 1/3, low 0; the
    anchor industry is named in ``domains.csv``) and ``u = (R - k_d) / (R - 1)`` the inverse ubiquity of the
    domain among the R = 11 regions' priorities (the zeroth reflection of Hidalgo & Hausmann's method of
    reflections). Higher reflections and the eigenvector form were not used: on 11 regions' *stated* (not
    revealed) priorities they mostly pick up national groupings.

Synthetic domains (:func:`synthetic_domains`)
    A ring lattice of D domains in which each domain is linked to its ``k_rel // 2`` nearest neighbours on each
    side (at least 1, at most ``(D - 1) // 2``), every edge rewired with probability ``p_rewire`` in the
    Watts-Strogatz manner (the "incidental relatedness" of Vermeulen & Pyka 2018), edge weights ~ U[0.3, 1],
    no weight off the graph, unit diagonal; complexity ~ U[0, 1]. Names ``d00``, ``d01``, ...
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from s3sim.errors import ConfigError

from .regions import _check_world_value, _data_text, _label, _one_of, _readonly, load_alpine_regions

__all__ = ["Domains", "KNOWLEDGE_BASES", "RD_CLASS_SCORE", "alpine_domains", "co_priority_proximity",
           "load_domain_profiles", "synthetic_domains"]

#: Packaged domain profile table.
DOMAINS_CSV = "domains.csv"

#: Knowledge-base columns of ``domains.csv`` (in file order).
KNOWLEDGE_BASES = ("mech_eng", "elec_ict", "chem_mat", "life_sci", "energy_env", "construction", "agri_food",
                   "design_services")

#: Score of each OECD R&D-intensity class (ISIC Rev. 3 technology classification of manufacturing).
RD_CLASS_SCORE = {"high": 1.0, "medium-high": 2.0 / 3.0, "medium-low": 1.0 / 3.0, "low": 0.0}

#: Weights of the alpine constructions.
PROFILE_WEIGHT = 0.8          # relatedness: cosine of knowledge-base profiles (rest: co-prioritisation)
RD_CLASS_WEIGHT = 0.75        # complexity: R&D-intensity class (rest: inverse ubiquity)


@dataclass(frozen=True, eq=False)
class Domains:
    """Technology domains with their true relatedness graph and complexity.

    Attributes
    ----------
    names:
        Domain names (snake_case for the alpine vocabulary, ``d00``... when synthetic).
    relatedness:
        float64 ``[D, D]``: Phi, symmetric, values in [0, 1], diagonal exactly 1.0.
    complexity:
        float64 ``[D]``: kappa in [0, 1].
    """

    names: tuple[str, ...]
    relatedness: np.ndarray
    complexity: np.ndarray

    def __post_init__(self) -> None:
        d = len(self.names)
        if len(set(self.names)) != d:
            raise ConfigError("domains.names", self.names, "unique domain names")
        r, k = self.relatedness, self.complexity
        if r.shape != (d, d) or k.shape != (d,):
            raise ValueError(f"Domains arrays have shapes {r.shape}, {k.shape}; expected ({d}, {d}), ({d},)")
        if not (np.array_equal(r, r.T) and np.all(np.diag(r) == 1.0) and r.min() >= 0.0 and r.max() <= 1.0):
            raise ValueError("Domains.relatedness must be symmetric, in [0, 1], with a unit diagonal")
        if not (k.min() >= 0.0 and k.max() <= 1.0):
            raise ValueError("Domains.complexity must lie in [0, 1]")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of domain ``name``; :class:`ConfigError` naming the allowed names if unknown."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ConfigError("domain", name, _one_of(self.names)) from None

    def to_frame(self) -> pd.DataFrame:
        """Complexity and mean relatedness to the other domains, one row per domain."""
        d = len(self)
        off = (self.relatedness.sum(axis=1) - 1.0) / max(d - 1, 1)
        return pd.DataFrame({"complexity": self.complexity, "mean_relatedness": off},
                            index=pd.Index(self.names, name="domain"))


def _finish(names: Sequence[str], phi: np.ndarray, kappa: np.ndarray) -> Domains:
    """Symmetrise, clip and freeze Phi and kappa."""
    phi = np.clip(0.5 * (phi + phi.T), 0.0, 1.0)
    np.fill_diagonal(phi, 1.0)
    return Domains(names=tuple(names), relatedness=_readonly(phi.astype(np.float64)),
                   complexity=_readonly(np.clip(np.asarray(kappa, dtype=np.float64), 0.0, 1.0)))


def _minmax(x: np.ndarray) -> np.ndarray:
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


# ----------------------------------------------------------------------------------------------------------------
# Alpine vocabulary
# ----------------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def load_domain_profiles() -> pd.DataFrame:
    """The packaged ``domains.csv``: one row per alpine domain (index ``domain``), in vocabulary order.

    Columns: ``label``, the eight :data:`KNOWLEDGE_BASES` weights (rows sum to 1), ``rd_class`` and
    ``rd_anchor`` (the industry whose OECD R&D-intensity class the domain takes, or an ``[I]`` judgement).
    The frame is cached: treat it as read-only (copy before modifying).
    """
    df = pd.read_csv(io.StringIO(_data_text(DOMAINS_CSV)), index_col="domain")
    weights = df.loc[:, list(KNOWLEDGE_BASES)].to_numpy(dtype=np.float64)
    if not np.allclose(weights.sum(axis=1), 1.0, atol=1e-9) or weights.min() < 0:
        raise ConfigError(f"s3sim/world/data/{DOMAINS_CSV}", "profile weights",
                          "non-negative knowledge-base weights summing to 1 per domain")
    bad = sorted(set(df["rd_class"]) - set(RD_CLASS_SCORE))
    if bad:
        raise ConfigError(f"s3sim/world/data/{DOMAINS_CSV}", bad, _one_of(list(RD_CLASS_SCORE)))
    return df


def co_priority_proximity(mask: np.ndarray) -> np.ndarray:
    """Product-space proximity of domains from a binary region x domain matrix.

    ``phi[d, d'] = c[d, d'] / max(k[d], k[d'])`` with c the number of regions holding both domains and k the
    number holding each (Hidalgo et al. 2007), i.e. ``min(P(d | d'), P(d' | d))``; 0 where a domain is held by
    no region; unit diagonal.
    """
    m = np.asarray(mask, dtype=np.float64)
    co = m.T @ m
    k = np.diag(co).copy()
    denom = np.maximum.outer(k, k)
    phi = np.divide(co, denom, out=np.zeros_like(co), where=denom > 0)
    np.fill_diagonal(phi, 1.0)
    return phi


@lru_cache(maxsize=1)
def alpine_domains() -> Domains:
    """The 18-domain alpine vocabulary with its documented relatedness and complexity (module docstring).

    Deterministic and cached; arrays are read-only.

    Raises
    ------
    ConfigError
        If ``domains.csv`` and the priorities of the alpine regions file do not name the same domains.
    """
    prof = load_domain_profiles()
    names = tuple(prof.index)
    regions = load_alpine_regions()
    stated = {p for prios in regions.priorities for p in prios}
    if stated != set(names):
        raise ConfigError(f"s3sim/world/data/{DOMAINS_CSV}", sorted(stated ^ set(names)),
                          "exactly the domains named in the s3_priorities of the alpine regions file")

    mask = np.array([[n in prios for n in names] for prios in regions.priorities], dtype=bool)

    w = prof.loc[:, list(KNOWLEDGE_BASES)].to_numpy(dtype=np.float64)
    unit = w / np.linalg.norm(w, axis=1, keepdims=True)
    phi = PROFILE_WEIGHT * (unit @ unit.T) + (1.0 - PROFILE_WEIGHT) * co_priority_proximity(mask)

    r = mask.shape[0]
    s = prof["rd_class"].map(RD_CLASS_SCORE).to_numpy(dtype=np.float64)
    inverse_ubiquity = (r - mask.sum(axis=0)) / (r - 1)
    kappa = _minmax(RD_CLASS_WEIGHT * s + (1.0 - RD_CLASS_WEIGHT) * inverse_ubiquity)
    return _finish(names, phi, kappa)


# ----------------------------------------------------------------------------------------------------------------
# Synthetic domains
# ----------------------------------------------------------------------------------------------------------------
def synthetic_domains(n_domains: int, k_rel: int, p_rewire: float, rng: np.random.Generator) -> Domains:
    """A rewired ring lattice of domains (model-spec 5.2).

    Construction (all randomness from ``rng``, drawn in this order):

    1. Ring lattice: domain i is linked to i +- 1, ..., i +- h with h = clip(k_rel // 2, 1, (D - 1) // 2), so
       each domain has 2h neighbours (``k_rel`` rounded down to an even number, at least 2).
    2. Rewiring (Watts & Strogatz 1998): for j = 1..h and i = 0..D-1, with probability ``p_rewire`` the link
       (i, i + j) is replaced by a link from i to a uniformly drawn domain not yet linked to i (kept if none).
       The long links are the "incidental relatedness" of Vermeulen & Pyka (2018).
    3. Weights: each link gets U[0.3, 1]; unlinked pairs 0; diagonal 1.
    4. Complexity: U[0, 1] per domain.

    Parameters
    ----------
    n_domains, k_rel, p_rewire:
        As in :class:`~s3sim.config.schema.WorldConfig` (same bounds).
    rng:
        Source of all randomness.
    """
    d = _check_world_value("n_domains", n_domains, integer=True)
    k = _check_world_value("k_rel", k_rel, integer=True)
    p = _check_world_value("p_rewire", p_rewire)
    half = min(max(1, k // 2), (d - 1) // 2)

    adj = np.zeros((d, d), dtype=bool)
    for j in range(1, half + 1):
        idx = np.arange(d)
        adj[idx, (idx + j) % d] = True
    adj |= adj.T

    for j in range(1, half + 1):
        for i in range(d):
            rewire = rng.random() < p
            v = (i + j) % d
            if not (rewire and adj[i, v]):
                continue
            free = np.flatnonzero(~adj[i])
            free = free[free != i]
            if len(free) == 0:
                continue
            w = int(rng.choice(free))
            adj[i, v] = adj[v, i] = False
            adj[i, w] = adj[w, i] = True

    iu, ju = np.nonzero(np.triu(adj, 1))
    phi = np.zeros((d, d))
    weights = rng.uniform(0.3, 1.0, len(iu))
    phi[iu, ju] = weights
    phi[ju, iu] = weights
    kappa = rng.uniform(0.0, 1.0, d)
    return _finish([_label("d", i, d) for i in range(d)], phi, kappa)
