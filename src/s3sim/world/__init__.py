"""The world layer: regions (with distances), technology domains (relatedness, complexity) and S3 priorities.

Depends only on :mod:`s3sim.config` and :mod:`s3sim.errors`. The packaged data files and their sources are
described in ``world/data/SOURCES.md``; the constructions are documented in the module docstrings of
:mod:`~s3sim.world.regions`, :mod:`~s3sim.world.domains` and :mod:`~s3sim.world.build`.
"""

from .build import WORLD_KINDS, World, build_world, priority_mask
from .domains import (
                      KNOWLEDGE_BASES,
                      Domains,
                      alpine_domains,
                      co_priority_proximity,
                      load_domain_profiles,
                      synthetic_domains,
)
from .regions import EARTH_RADIUS_KM, Regions, haversine_km, load_alpine_regions, read_regions_csv, synthetic_regions

__all__ = ["EARTH_RADIUS_KM", "KNOWLEDGE_BASES", "WORLD_KINDS", "Domains", "Regions", "World", "alpine_domains",
           "build_world", "co_priority_proximity", "haversine_km", "load_alpine_regions", "load_domain_profiles",
           "priority_mask", "read_regions_csv", "synthetic_domains", "synthetic_regions"]
