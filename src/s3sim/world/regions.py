"""Regions: identities, calibration figures, priorities and great-circle distances.

Two sources of regions exist:

* :func:`load_alpine_regions` reads ``world/data/alpine_partner_regions.csv``, the eleven regions of the
  S3-4AlpClusters partners (see ``world/data/SOURCES.md``). The file is shipped unchanged, with its ``*_conf``
  confidence flags, and parsed by :func:`read_regions_csv`.
* :func:`synthetic_regions` generates any number of regions from a :class:`numpy.random.Generator`.

Fallbacks for empty or unparsable cells of the alpine file (documented defaults, flagged ``unknown``):

============== ======================================================================
field          fallback
============== ======================================================================
population_m   median of the regions whose population is known (1.0 if none is)
gdp_pps        100 (the EU average, i.e. no income advantage or handicap)
gerd_pct       median of the known regions (2.0 if none is known)
berd_share     median of the known regions (0.7 if none is known)
cluster_count  -1: the model uses its own default (``model.co_default``)
s3_priorities  no stated priority (an all-False row of the priority mask)
country        the part of ``region_id`` before the first ``_`` (``CH_FR`` -> ``CH``)
============== ======================================================================

Coordinates and ids have no fallback: a row without them raises :class:`~s3sim.errors.ConfigError`, because a
made-up location would silently distort every distance.

Distances are great-circle distances between the capital cities (haversine formula, mean Earth radius
6371.0088 km). All arrays are read-only, so cached objects can be shared safely; copy before modifying.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from s3sim.config.schema import WorldConfig
from s3sim.errors import ConfigError

__all__ = ["EARTH_RADIUS_KM", "Regions", "haversine_km", "load_alpine_regions", "read_regions_csv",
           "synthetic_regions"]

#: Mean Earth radius (IUGG), km.
EARTH_RADIUS_KM = 6371.0088

#: Packaged data file with the eleven S3-4AlpClusters partner regions.
ALPINE_CSV = "alpine_partner_regions.csv"

#: Regions fields that carry a confidence flag, mapped to the ``*_conf`` column of the alpine file.
CONF_COLUMNS = {
    "population_m": "population_conf",
    "gdp_pps": "gdp_conf",
    "gerd_pct": "gerd_conf",
    "berd_share": "berd_conf",
    "cluster_count": "cluster_conf",
    "priorities": "priorities_conf",
}

#: Centre of synthetic worlds (degrees): roughly the middle of the Alpine Space.
SYNTHETIC_CENTRE = (46.5, 10.5)
#: Total population of a synthetic world, millions.
SYNTHETIC_POPULATION_M = 50.0


# ----------------------------------------------------------------------------------------------------------------
# Small helpers shared with the other world modules
# ----------------------------------------------------------------------------------------------------------------
def _readonly(a: np.ndarray) -> np.ndarray:
    """Return ``a`` with the write flag cleared (arrays of frozen world objects are immutable)."""
    a.setflags(write=False)
    return a


def _one_of(names: Sequence[str], limit: int = 30) -> str:
    """Plain-language list of allowed names for a :class:`ConfigError` message."""
    names = list(names)
    if len(names) <= limit:
        return "one of " + ", ".join(names)
    return "one of " + ", ".join(names[:10]) + f", ... ({len(names)} in all, last {names[-1]})"


def _data_text(filename: str) -> str:
    """Text of a file in the packaged ``s3sim/world/data`` folder."""
    return resources.files("s3sim.world").joinpath("data", filename).read_text(encoding="utf-8")


def _check_world_value(name: str, value, *, integer: bool = False):
    """Check ``value`` against the hard bounds of ``WorldConfig.<name>``; return it as int or float.

    The bounds live in the structured config's field metadata, so direct calls of the generators and
    validated configs accept exactly the same values.
    """
    lo, hi = next(f for f in dataclasses.fields(WorldConfig) if f.name == name).metadata["s3sim"]["bounds"]
    kind = "an integer" if integer else "a number"
    allowed = f"{kind} in [{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"world.{name}", value, allowed) from None
    if isinstance(value, bool) or not math.isfinite(v) or (integer and v != int(v)):
        raise ConfigError(f"world.{name}", value, allowed)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"world.{name}", value, allowed)
    return int(v) if integer else v


def haversine_km(lat: np.ndarray, lon: np.ndarray, radius_km: float = EARTH_RADIUS_KM) -> np.ndarray:
    """Great-circle distance matrix.

    Parameters
    ----------
    lat, lon:
        Coordinates in degrees, shape ``[R]``.
    radius_km:
        Sphere radius; the default is the IUGG mean Earth radius.

    Returns
    -------
    numpy.ndarray
        float64 ``[R, R]``, symmetric, exactly zero on the diagonal.
    """
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    dphi = phi[:, None] - phi[None, :]
    dlam = lam[:, None] - lam[None, :]
    h = np.sin(dphi / 2) ** 2 + np.cos(phi)[:, None] * np.cos(phi)[None, :] * np.sin(dlam / 2) ** 2
    d = 2.0 * radius_km * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    d = 0.5 * (d + d.T)  # exact symmetry despite rounding
    np.fill_diagonal(d, 0.0)
    return d


# ----------------------------------------------------------------------------------------------------------------
# Regions
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Regions:
    """The regions of a world (struct of arrays, one entry per region).

    Attributes
    ----------
    ids, names:
        Region ids (``"AT_UA"``, ``"R07"``) and display names.
    countries:
        ISO-2 country code per region (``"C0"``, ``"C1"``, ... in synthetic worlds).
    country_index:
        int16 ``[R]``: index of the region's country in the sorted unique country codes.
    lat, lon:
        float64 ``[R]``, degrees (capital city of the region).
    population_m:
        float64 ``[R]``, millions of inhabitants.
    gdp_pps:
        float64 ``[R]``, GDP per head in PPS, EU = 100 (100 where unknown).
    gerd_pct:
        float64 ``[R]``, gross domestic expenditure on R&D, % of regional GDP.
    berd_share:
        float64 ``[R]``, business enterprise R&D as a share of GERD, in [0, 1].
    cluster_count:
        int64 ``[R]``, cluster initiatives or platforms run by the region; -1 where unknown.
    priorities:
        Stated S3 priority domains per region (domain names).
    confidence:
        Field name (``population_m``, ``gdp_pps``, ``gerd_pct``, ``berd_share``, ``cluster_count``,
        ``priorities``) -> per-region confidence text, copied from the ``*_conf`` columns of the data file
        (``"synthetic"`` for generated regions).
    distance_km:
        float64 ``[R, R]``, great-circle distances, symmetric, zero diagonal.
    """

    ids: tuple[str, ...]
    names: tuple[str, ...]
    countries: tuple[str, ...]
    country_index: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    population_m: np.ndarray
    gdp_pps: np.ndarray
    gerd_pct: np.ndarray
    berd_share: np.ndarray
    cluster_count: np.ndarray
    priorities: tuple[tuple[str, ...], ...]
    confidence: dict[str, tuple[str, ...]]
    distance_km: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ids)
        if len(set(self.ids)) != n:
            raise ConfigError("regions.ids", self.ids, "unique region ids")
        for name in ("names", "countries", "priorities"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Regions.{name} has {len(getattr(self, name))} entries, expected {n}")
        for name in ("country_index", "lat", "lon", "population_m", "gdp_pps", "gerd_pct", "berd_share",
                     "cluster_count"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"Regions.{name} has shape {getattr(self, name).shape}, expected ({n},)")
        if self.distance_km.shape != (n, n):
            raise ValueError(f"Regions.distance_km has shape {self.distance_km.shape}, expected ({n}, {n})")
        for key, flags in self.confidence.items():
            if len(flags) != n:
                raise ValueError(f"Regions.confidence[{key!r}] has {len(flags)} entries, expected {n}")

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, region_id: str) -> int:
        """Position of ``region_id``; :class:`ConfigError` naming the allowed ids if unknown."""
        try:
            return self.ids.index(region_id)
        except ValueError:
            raise ConfigError("region_id", region_id, _one_of(self.ids)) from None

    @property
    def economic_mass(self) -> np.ndarray:
        """Population (millions) x GDP per head relative to the EU average; used to split agents over regions."""
        return self.population_m * self.gdp_pps / 100.0

    def to_frame(self) -> pd.DataFrame:
        """One row per region (index ``region_id``); priorities joined by ``;``, flags in ``<field>_conf``."""
        df = pd.DataFrame({
            "name": self.names, "country": self.countries, "country_index": self.country_index,
            "lat": self.lat, "lon": self.lon, "population_m": self.population_m, "gdp_pps": self.gdp_pps,
            "gerd_pct": self.gerd_pct, "berd_share": self.berd_share, "cluster_count": self.cluster_count,
            "economic_mass": self.economic_mass, "priorities": [";".join(p) for p in self.priorities],
        }, index=pd.Index(self.ids, name="region_id"))
        for key, flags in self.confidence.items():
            df[f"{key}_conf"] = list(flags)
        return df


def _make_regions(*, ids, names, countries, lat, lon, population_m, gdp_pps, gerd_pct, berd_share, cluster_count,
                  priorities, confidence) -> Regions:
    """Build a :class:`Regions` from plain sequences: derives country_index and distances, freezes arrays."""
    countries = tuple(str(c) for c in countries)
    _, inverse = np.unique(np.asarray(countries, dtype=object), return_inverse=True)
    f64 = lambda x: _readonly(np.array(x, dtype=np.float64))  # noqa: E731
    lat, lon = f64(lat), f64(lon)
    return Regions(
        ids=tuple(ids), names=tuple(names), countries=countries,
        country_index=_readonly(inverse.astype(np.int16).reshape(-1)), lat=lat, lon=lon,
        population_m=f64(population_m), gdp_pps=f64(gdp_pps), gerd_pct=f64(gerd_pct),
        berd_share=f64(berd_share), cluster_count=_readonly(np.array(cluster_count, dtype=np.int64)),
        priorities=tuple(tuple(p) for p in priorities),
        confidence={k: tuple(v) for k, v in confidence.items()},
        distance_km=_readonly(haversine_km(lat, lon)),
    )


# ----------------------------------------------------------------------------------------------------------------
# Alpine regions (packaged CSV)
# ----------------------------------------------------------------------------------------------------------------
def _split_rows(text: str, source: str) -> list[dict[str, str]]:
    """Parse CSV text into dicts, tolerating unquoted commas inside parentheses.

    The shipped file is kept byte-identical to the shared calibration file, which contains free-text flags
    such as ``verified (2,200 partner firms)`` without quotes. A field whose parentheses are still open
    absorbs the following comma-separated pieces until they close.
    """
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise ConfigError(source, "empty file", "a CSV file with a header row")
    header = [h.strip() for h in rows[0]]
    out = []
    for lineno, raw in enumerate(rows[1:], start=2):
        fields: list[str] = []
        for piece in raw:
            if fields and fields[-1].count("(") > fields[-1].count(")"):
                fields[-1] += "," + piece
            else:
                fields.append(piece)
        if len(fields) > len(header):
            raise ConfigError(source, f"line {lineno} with {len(fields)} fields",
                              f"{len(header)} comma-separated fields (quote fields that contain commas)")
        fields += [""] * (len(header) - len(fields))
        out.append({h: f.strip() for h, f in zip(header, fields)})
    return out


def _number(cell: str) -> float | None:
    """Cell as a finite float, or None when empty or unparsable."""
    try:
        v = float(cell)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fill(values: list[float | None], fallback: float) -> list[float]:
    return [fallback if v is None else v for v in values]


def _median_or(values: list[float | None], default: float) -> float:
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else default


def read_regions_csv(source: str | Path | None = None) -> Regions:
    """Parse a regions file in the format of ``alpine_partner_regions.csv``.

    Parameters
    ----------
    source:
        Path of a CSV file; ``None`` reads the packaged alpine file.

    Returns
    -------
    Regions
        With the documented fallbacks (module docstring) for empty or unparsable figures.

    Raises
    ------
    ConfigError
        If a required column is missing, a row has an empty id or coordinates, or a row cannot be split.
    """
    if source is None:
        text, label = _data_text(ALPINE_CSV), f"s3sim/world/data/{ALPINE_CSV}"
    else:
        try:
            text, label = Path(source).read_text(encoding="utf-8"), str(source)
        except OSError as exc:
            raise ConfigError("world.regions_file", str(source), f"a readable CSV file ({exc.strerror})") from None
    rows = _split_rows(text, label)
    required = ("region_id", "lat", "lon")
    for col in required:
        if rows and col not in rows[0]:
            raise ConfigError(label, f"no column {col!r}", "a header with columns " + ", ".join(required))

    ids, lat, lon = [], [], []
    for i, r in enumerate(rows, start=2):
        la, lo = _number(r.get("lat", "")), _number(r.get("lon", ""))
        if not r["region_id"] or la is None or lo is None:
            raise ConfigError(label, f"line {i}", "every region needs a region_id, lat and lon")
        ids.append(r["region_id"])
        lat.append(la)
        lon.append(lo)

    col = lambda name: [_number(r.get(name, "")) for r in rows]  # noqa: E731
    pop, gdp, gerd, berd, clusters = (col("population_m"), col("gdp_per_capita_pps_eu100"), col("gerd_pct_gdp"),
                                      col("berd_share"), col("cluster_count"))
    values = {"population_m": pop, "gdp_pps": gdp, "gerd_pct": gerd, "berd_share": berd, "cluster_count": clusters}
    prio = [tuple(p.strip() for p in r.get("s3_priorities", "").split(";") if p.strip()) for r in rows]

    confidence: dict[str, tuple[str, ...]] = {}
    for key, conf_col in CONF_COLUMNS.items():
        flags = []
        for j, r in enumerate(rows):
            flag = r.get(conf_col, "") or "unknown"
            missing = (not prio[j]) if key == "priorities" else values[key][j] is None
            if missing and not flag.startswith("unknown"):
                flag = f"unknown (empty or unreadable cell; file flag: {flag})"
            flags.append(flag)
        confidence[key] = tuple(flags)

    return _make_regions(
        ids=ids, names=[r.get("name", "") or r["region_id"] for r in rows],
        countries=[r.get("country", "") or r["region_id"].split("_")[0] for r in rows],
        lat=lat, lon=lon,
        population_m=_fill(pop, _median_or(pop, 1.0)),
        gdp_pps=_fill(gdp, 100.0),
        gerd_pct=_fill(gerd, _median_or(gerd, 2.0)),
        berd_share=np.clip(_fill(berd, _median_or(berd, 0.7)), 0.0, 1.0),
        cluster_count=[-1 if c is None else int(round(c)) for c in clusters],
        priorities=prio, confidence=confidence,
    )


@lru_cache(maxsize=1)
def load_alpine_regions() -> Regions:
    """The eleven S3-4AlpClusters partner regions shipped with the package (parsed once, then cached).

    Deterministic; arrays are read-only. See ``world/data/SOURCES.md`` for the figures and their flags.
    """
    return read_regions_csv(None)


# ----------------------------------------------------------------------------------------------------------------
# Synthetic regions
# ----------------------------------------------------------------------------------------------------------------
def _label(prefix: str, i: int, n: int) -> str:
    """Zero-padded label: ``R00`` .. ``R99``, ``R000`` .. when n > 100."""
    return f"{prefix}{i:0{max(2, len(str(n - 1)))}d}"


def _group_countries(x: np.ndarray, y: np.ndarray, n_countries: int) -> np.ndarray:
    """Assign spatially contiguous groups of about equal size.

    Regions are ordered along a boustrophedon path (vertical strips by x, alternately up and down by y) and
    the path is cut into ``n_countries`` nearly equal pieces, so a country is a compact patch of neighbours.
    """
    n = len(x)
    n_strips = max(1, int(round(math.sqrt(n_countries))))
    order = []
    for s, strip in enumerate(np.array_split(np.argsort(x, kind="stable"), n_strips)):
        strip = strip[np.argsort(y[strip], kind="stable")]
        order.extend(strip if s % 2 == 0 else strip[::-1])
    country = np.empty(n, dtype=np.int64)
    for c, members in enumerate(np.array_split(np.asarray(order, dtype=np.int64), n_countries)):
        country[members] = c
    return country


def synthetic_regions(n_regions: int, region_size_exp: float, extent_km: float, domain_names: Sequence[str],
                      rng: np.random.Generator, *, relatedness: np.ndarray | None = None) -> Regions:
    """Generate a world's regions.

    Construction (all randomness from ``rng``, drawn in this order):

    1. **Coordinates**: x, y ~ U[-extent_km/2, extent_km/2] km around (46.5 N, 10.5 E), converted to degrees
       with a local equirectangular projection (111.195 km per degree of latitude, scaled by cos 46.5 deg for
       longitude); latitude is clipped to +-89.9 and longitude wrapped, which matters only for huge extents.
    2. **Countries**: ``ceil(R/3)`` countries ``C0``, ``C1``, ... of about three spatially adjacent regions.
    3. **Population**: Zipf, the region of size rank k gets k^(-region_size_exp), scaled to 50 M in total;
       ranks are a random permutation of the regions.
    4. **GDP per head** ~ N(110, 20) clipped to [50, 200] (EU = 100); **GERD** ~ LogNormal(ln 2, 0.4) % of GDP;
       **BERD share** ~ U(0.5, 0.9); **cluster count** ~ U{2..10}.
    5. **Priorities**: each region draws 1-2 seed domains and a specialisation profile
       h = e_seed + 0.5 * Phi_offdiag @ e_seed (model-spec 5.5), mixed with a uniform profile at weight 0.05;
       it states its seeds plus further domains drawn from h without replacement, 3-6 in all (at most D).

    Parameters
    ----------
    n_regions, region_size_exp, extent_km:
        As in :class:`~s3sim.config.schema.WorldConfig` (same bounds).
    domain_names:
        The domain vocabulary priorities are drawn from.
    rng:
        Source of all randomness.
    relatedness:
        Optional ``[D, D]`` relatedness matrix used to spread the seed profile; without it the profile is the
        seeds plus the uniform mix.

    Returns
    -------
    Regions
        Ids ``R00``, ``R01``, ...; names equal to the ids; every confidence flag ``"synthetic"``.
    """
    n = _check_world_value("n_regions", n_regions, integer=True)
    a = _check_world_value("region_size_exp", region_size_exp)
    extent = _check_world_value("extent_km", extent_km)
    names = tuple(domain_names)
    d = len(names)
    if d < 1:
        raise ConfigError("domain_names", names, "at least one domain name")
    if relatedness is not None and np.shape(relatedness) != (d, d):
        raise ConfigError("relatedness", np.shape(relatedness), f"a {d} x {d} matrix matching domain_names")

    # 1. coordinates
    x = rng.uniform(-extent / 2, extent / 2, n)
    y = rng.uniform(-extent / 2, extent / 2, n)
    lat0, lon0 = SYNTHETIC_CENTRE
    km_per_deg = EARTH_RADIUS_KM * math.pi / 180.0
    lat = np.clip(lat0 + y / km_per_deg, -89.9, 89.9)
    lon = (lon0 + x / (km_per_deg * math.cos(math.radians(lat0))) + 180.0) % 360.0 - 180.0

    # 2. countries
    n_countries = max(1, math.ceil(n / 3))
    country = _group_countries(x, y, n_countries)

    # 3. population
    ranks = rng.permutation(n) + 1
    size = ranks.astype(np.float64) ** (-a)
    population = SYNTHETIC_POPULATION_M * size / size.sum()

    # 4. economy
    gdp = np.clip(rng.normal(110.0, 20.0, n), 50.0, 200.0)
    gerd = rng.lognormal(math.log(2.0), 0.4, n)
    berd = rng.uniform(0.5, 0.9, n)
    clusters = rng.integers(2, 11, n)

    # 5. priorities
    phi = np.zeros((d, d)) if relatedness is None else np.array(relatedness, dtype=np.float64)
    np.fill_diagonal(phi, 0.0)
    priorities = []
    for _ in range(n):
        n_seed = min(int(rng.integers(1, 3)), d)
        seeds = rng.choice(d, size=n_seed, replace=False)
        e = np.zeros(d)
        e[seeds] = 1.0
        h = e + 0.5 * phi @ e
        h = 0.95 * h / h.sum() + 0.05 / d
        k = min(int(rng.integers(3, 7)), d)
        rest = np.setdiff1d(np.arange(d), seeds)
        p = h[rest] / h[rest].sum() if len(rest) else h[rest]
        extra = rng.choice(rest, size=k - n_seed, replace=False, p=p) if k > n_seed else np.array([], int)
        priorities.append(tuple(names[j] for j in sorted(np.concatenate([seeds, extra]).tolist())))

    ids = [_label("R", i, n) for i in range(n)]
    flags = ("synthetic",) * n
    return _make_regions(
        ids=ids, names=ids, countries=[f"C{c}" for c in country], lat=lat, lon=lon, population_m=population,
        gdp_pps=gdp, gerd_pct=gerd, berd_share=berd, cluster_count=clusters, priorities=priorities,
        confidence={key: flags for key in CONF_COLUMNS},
    )
