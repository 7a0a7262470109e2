"""The :class:`World` (regions + domains + stated priorities) and :func:`build_world`.

``build_world(cfg, rng)`` dispatches on ``cfg.kind``:

* ``'alpine'``: the eleven packaged partner regions and the 18-domain vocabulary. Fully deterministic: ``rng`` is
  not touched, and ``n_regions``, ``n_domains``, ``k_rel``, ``p_rewire``, ``region_size_exp`` and ``extent_km``
  are ignored (the data fix them).
* ``'synthetic'``: :func:`~s3sim.world.domains.synthetic_domains` first, then
  :func:`~s3sim.world.regions.synthetic_regions` (priorities spread over the generated relatedness graph), both
  drawing from ``rng`` in that order, so the same seed gives the same world.

The technology space has C = D x ``caps_per_domain`` capabilities; capability c belongs to domain
c // ``caps_per_domain`` (model-spec 5.2, dom(c) = floor(c D / C)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s3sim.config.schema import WorldConfig
from s3sim.errors import ConfigError

from .domains import Domains, alpine_domains, synthetic_domains
from .regions import Regions, _check_world_value, _readonly, load_alpine_regions, synthetic_regions

__all__ = ["WORLD_KINDS", "World", "build_world", "priority_mask"]

#: Accepted values of ``world.kind``.
WORLD_KINDS = ("alpine", "synthetic")


@dataclass(frozen=True, eq=False)
class World:
    """Everything exogenous the model needs about space and technology.

    Attributes
    ----------
    regions:
        The regions (identities, figures, distances).
    domains:
        The technology domains (relatedness Phi, complexity kappa).
    priority_mask:
        bool ``[R, D]``: True where region r states domain d as an S3 priority.
    caps_per_domain:
        Capabilities per domain.
    kind:
        ``'alpine'`` or ``'synthetic'``.
    """

    regions: Regions
    domains: Domains
    priority_mask: np.ndarray
    caps_per_domain: int
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in WORLD_KINDS:
            raise ConfigError("world.kind", self.kind, "one of " + ", ".join(WORLD_KINDS))
        shape = (len(self.regions), len(self.domains))
        if self.priority_mask.shape != shape or self.priority_mask.dtype != bool:
            raise ValueError(f"World.priority_mask must be bool {shape}, got {self.priority_mask.dtype} "
                             f"{self.priority_mask.shape}")
        if int(self.caps_per_domain) < 1:
            raise ConfigError("world.caps_per_domain", self.caps_per_domain, "a positive integer")

    @property
    def n_regions(self) -> int:
        """R, the number of regions."""
        return len(self.regions)

    @property
    def n_domains(self) -> int:
        """D, the number of technology domains."""
        return len(self.domains)

    @property
    def n_capabilities(self) -> int:
        """C = D x caps_per_domain."""
        return self.n_domains * self.caps_per_domain

    def capability_domain(self) -> np.ndarray:
        """int16 ``[C]``: the domain of each capability, c // caps_per_domain."""
        return (np.arange(self.n_capabilities) // self.caps_per_domain).astype(np.int16)

    def proximity(self, lambda_km: float, border_penalty: float) -> np.ndarray:
        """Geographic proximity g_rs = exp(-d_rs / lambda_km), times ``border_penalty`` across national borders.

        Parameters
        ----------
        lambda_km:
            Distance-decay length (km), > 0 (``model.lambda_km``).
        border_penalty:
            Multiplier in [0, 1] for pairs of regions in different countries (``model.border_penalty``).

        Returns
        -------
        numpy.ndarray
            float64 ``[R, R]``, symmetric, in [0, 1], diagonal exactly 1 (a new writable array).
        """
        lam = float(lambda_km)
        if not np.isfinite(lam) or lam <= 0:
            raise ConfigError("model.lambda_km", lambda_km, "a positive number of km")
        b = float(border_penalty)
        if not 0.0 <= b <= 1.0:
            raise ConfigError("model.border_penalty", border_penalty, "a number in [0, 1]")
        ci = self.regions.country_index
        g = np.exp(-self.regions.distance_km / lam) * np.where(ci[:, None] != ci[None, :], b, 1.0)
        np.fill_diagonal(g, 1.0)
        return g


def priority_mask(regions: Regions, domains: Domains) -> np.ndarray:
    """bool ``[R, D]`` of stated priorities; :class:`ConfigError` if a region names a domain outside the vocabulary."""
    mask = np.zeros((len(regions), len(domains)), dtype=bool)
    for r, prios in enumerate(regions.priorities):
        for name in prios:
            mask[r, domains.index(name)] = True
    return _readonly(mask)


def build_world(cfg: WorldConfig, rng: np.random.Generator) -> World:
    """Build the world described by ``cfg``.

    Parameters
    ----------
    cfg:
        The world section of the configuration.
    rng:
        Source of all randomness of a synthetic world; not used (not even advanced) for ``kind='alpine'``.

    Raises
    ------
    ConfigError
        ``world.kind`` not one of ``alpine``, ``synthetic``, or a value out of bounds.
    """
    kind = cfg.kind
    if kind not in WORLD_KINDS:
        raise ConfigError("world.kind", kind, "one of " + ", ".join(WORLD_KINDS))
    caps = _check_world_value("caps_per_domain", cfg.caps_per_domain, integer=True)
    if kind == "alpine":
        regions, domains = load_alpine_regions(), alpine_domains()
    else:
        domains = synthetic_domains(cfg.n_domains, cfg.k_rel, cfg.p_rewire, rng)
        regions = synthetic_regions(cfg.n_regions, cfg.region_size_exp, cfg.extent_km, domains.names, rng,
                                    relatedness=domains.relatedness)
    return World(regions=regions, domains=domains, priority_mask=priority_mask(regions, domains),
                 caps_per_domain=caps, kind=kind)
