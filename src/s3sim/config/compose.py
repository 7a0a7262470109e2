"""Hydra composition and validation: :func:`compose` and :func:`validate`.

``compose`` uses Hydra's compose API over the same config tree as the ``s3sim`` CLI, so a list of overrides means
the same thing in a test, a notebook and the shell. Every way an override can be wrong (unknown key, wrong type,
value out of bounds, unknown config-group option) becomes a :class:`~s3sim.errors.ConfigError` whose one-line
message names the field, the value and what is allowed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..errors import ConfigError, first_line
from .parameters import PARAMETERS
from .schema import S3SimConfig, WorldConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
CONFIG_NAME = "config"


@functools.cache
def register_configs() -> None:
    """Register the structured config in Hydra's ConfigStore and the ``s3sim_groups`` resolver of the apps'
    ``--help`` (idempotent)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="s3sim_schema", node=S3SimConfig)
    OmegaConf.register_new_resolver("s3sim_groups", group_lines, replace=True)


def group_lines(*groups: str) -> str:
    """One line per config group with its options, as an app's ``--help`` lists them (conf/hydra/help: each
    app lists only its own groups, though the apps share one config directory)."""
    return "\n".join(f"  {g}: {', '.join(group_options(g))}" for g in groups)


def group_options(group: str) -> list[str]:
    """Options of a config group, e.g. ``group_options("world") == ["alpine", "synthetic"]``."""
    d = CONFIG_DIR / group
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def _schema_node(key: str, schema: type = S3SimConfig) -> Any:
    node: Any = OmegaConf.structured(schema)
    for part in key.split(".") if key else ():
        if not isinstance(node, DictConfig) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def check_overrides(overrides: Sequence[str]) -> None:
    """Reject overrides that name no key or no group option, with a one-line message."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for text in overrides:
        try:
            (ov,) = parser.parse_overrides([text])
        except OverrideParseException as exc:
            raise ConfigError(text.split("=")[0], text, f"an override of the form key=value ({first_line(exc)})")
        key = ov.key_or_group
        if ov.is_delete() and key in _groups() and key != "hydra":
            raise group_deletion_error(key)
        if ov.is_delete() and not key.startswith("hydra") and key not in _groups() and not is_mapping_entry(key) \
                and _schema_node(key) is not _MISSING:
            raise deletion_error(key)
        if key.startswith("hydra") or key.startswith("+") or ov.is_delete():
            continue
        if key in STRESS_GROUPS:
            own = ", ".join(g for g in _groups() if g != "hydra")
            raise ConfigError(key, str(ov.value()) if not ov.is_sweep_override() else text,
                              f"an override of s3sim's config (its groups: {own}); {key} is a config group of "
                              "s3sim-stress")
        if key in _groups():
            opts = group_options(key)
            if ov.is_sweep_override():
                values = [str(v) for v in ov.sweep_iterator()]
            else:
                values = [str(ov.value())]
            for v in values:
                if v not in opts:
                    raise ConfigError(key, v, f"one of {', '.join(opts)}")
            continue
        if is_mapping_entry(key):
            continue  # entries of free-form mappings (policy.regions.<ID>) are checked by validate()
        error = unknown_key_error(key, ov.value() if not ov.is_sweep_override() else text.split("=", 1)[1])
        if error is not None:
            raise error
        check_boolean(ov)


def check_boolean(ov: Any, schema: type = S3SimConfig) -> None:
    """A parsed override of a true/false key: OmegaConf would take any integer (2 as true) and any number; only
    true, false and their spellings yes/no, on/off, 1/0 are accepted."""
    if _kind_of(ov.key_or_group, schema) is not bool:
        return
    values = list(ov.sweep_iterator()) if ov.is_sweep_override() else [ov.value()]
    for v in values:
        if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool) and v not in (0, 1)):
            raise ConfigError(ov.key_or_group, v, "true or false")


def unknown_key_error(key: str, value: Any, schema: type = S3SimConfig) -> ConfigError | None:
    """The one-line error for a key the structured config ``schema`` does not have (listing the keys allowed
    there), or None when it has it, or when it is an entry of a free-form mapping (empty in the schema)."""
    if _schema_node(key, schema) is not _MISSING:
        return None
    parent, _, leaf = key.rpartition(".")
    node = _schema_node(parent, schema)
    if isinstance(node, DictConfig) and not len(node):
        return None
    if isinstance(node, DictConfig):
        allowed = f"a key of {parent or 'the root config'}: {', '.join(sorted(node.keys()))}"
    else:
        allowed = "a key of the config (run with --cfg job to list them)"
    return ConfigError(key, value, allowed)


_DICT_FIELDS = ("policy.regions",)


def is_mapping_entry(key: str) -> bool:
    """Whether ``key`` names an entry of a free-form mapping of the config (``policy.regions.IT_VE``)."""
    return any(key.startswith(f + ".") for f in _DICT_FIELDS)


def normalise_overrides(overrides: Sequence[str]) -> list[str]:
    """``policy.regions.IT_VE=x`` adds a key to a mapping or replaces it (a policy preset may already set it),
    which Hydra spells ``++policy.regions.IT_VE=x``; accept it with one or two ``+``, or none (also the whole
    mapping, ``policy.regions={IT_VE: x, AT_UA: y}``, set on top of the regions a preset gives). A region's regime and its parameters given as separate overrides (``policy.regions.IT_VE=topdown_s3
    policy.regions.IT_VE.subsidy_rate=0.3``) are merged into one mapping, the last value of a key winning."""
    out: list[str] = []
    merged: dict[str, dict[str, str]] = {}
    for o in overrides:
        key, sep, value = o.partition("=")
        bare = key.lstrip("+")
        if sep and bare == "policy.regions" and value.lstrip().startswith("{"):
            out.append(f"++policy.regions={value}")  # several regions at once, set on top of a preset's
            continue
        if not sep or not is_mapping_entry(bare):
            out.append(o)
            continue
        rid, _, param = bare[len("policy.regions."):].partition(".")
        if rid not in merged:
            merged[rid] = {}
            out.append(rid)  # placeholder, keeps the position of the region's first override
        if param:
            merged[rid][param] = value
        elif value.lstrip().startswith("{"):
            merged[rid]["__dict__"] = value
        else:
            merged[rid]["regime"] = value
    result = []
    for o in out:
        if o not in merged:
            result.append(o)
            continue
        spec = merged[o]
        if set(spec) <= {"regime"}:
            result.append(f"++policy.regions.{o}={spec['regime']}")
        elif "__dict__" in spec and len(spec) == 1:
            result.append(f"++policy.regions.{o}={spec['__dict__']}")
        else:
            items = {k: v for k, v in spec.items() if k != "__dict__"}
            if "__dict__" in spec:  # a mapping plus separate keys: keep the mapping's entries, then the keys
                inner = spec["__dict__"].strip()[1:-1].strip()
                pairs = [p.split(":", 1) for p in inner.split(",") if ":" in p]
                items = {k.strip(): v.strip() for k, v in pairs} | items
            body = ", ".join(f"{k}: {v}" for k, v in items.items())
            result.append(f"++policy.regions.{o}={{{body}}}")
    return result


#: the conf/ groups of s3sim-stress (conf/ also holds s3sim's own groups)
STRESS_GROUPS = ("sensitivity", "target", "executor")


@functools.cache
def _groups() -> tuple[str, ...]:
    """s3sim's config groups (and hydra's)."""
    return tuple(sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name not in STRESS_GROUPS))


def group_deletion_error(group: str) -> ConfigError:
    """The one-line error for ``~group``: without a group option the schema's defaults would apply unseen."""
    allowed = f"{group}=<option>, one of {', '.join(group_options(group))}"
    return ConfigError(f"~{group}", None, allowed, message=f"~{group} is not allowed: choose {allowed}")


def deletion_error(key: str) -> ConfigError:
    """The one-line error for ``~key`` on a field of a structured config (fields cannot be deleted)."""
    allowed = f"a new value: fields of the structured config cannot be deleted; set {key}=... instead"
    return ConfigError(key, None, allowed, message=f"~{key} is not allowed: {allowed}")


def compose(overrides: Sequence[str] = (), *, validate_config: bool = True) -> DictConfig:
    """Compose and validate a config, with Hydra's compose semantics.

    >>> cfg = compose(["seed=3", "model.n_agents=500"])
    >>> cfg.model.n_agents
    500
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    overrides = list(overrides)
    register_configs()
    check_overrides(overrides)
    overrides = normalise_overrides(overrides)
    was_initialized = GlobalHydra.instance().is_initialized()
    if was_initialized:  # inside a running Hydra app: compose with the app's own search path
        try:
            cfg = hydra_compose(config_name=CONFIG_NAME, overrides=overrides)
        except Exception as exc:  # noqa: BLE001 - translated into one user-facing line
            raise translate_error(exc, overrides) from None
    else:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            try:
                cfg = hydra_compose(config_name=CONFIG_NAME, overrides=overrides)
            except Exception as exc:  # noqa: BLE001
                raise translate_error(exc, overrides) from None
    if "hydra" in cfg:
        with _open(cfg):
            del cfg["hydra"]
    if validate_config:
        validate(cfg)
    return cfg


class _open:
    def __init__(self, cfg: DictConfig):
        self.cfg = cfg

    def __enter__(self):
        OmegaConf.set_struct(self.cfg, False)

    def __exit__(self, *a):
        OmegaConf.set_struct(self.cfg, True)


def translate_error(exc: Exception, overrides: Sequence[str], schema: type = S3SimConfig) -> ConfigError:
    """Turn a Hydra/OmegaConf composition error into a one-line ConfigError naming the failing override: an
    unknown key (with the keys allowed there), a value of the wrong type (what the field takes), or else Hydra's
    own first line. ``schema`` is the structured config composed (s3sim's, or the stress test's)."""
    from omegaconf.errors import ValidationError

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ValidationError):
        cause = cause.__cause__ or cause.__context__
    text = first_line(exc)
    ov = _failing_override(str(exc), text, overrides)
    if ov is None:
        return ConfigError("config", ", ".join(overrides), text)
    key, _, value = ov.partition("=")
    bare = key.lstrip("+~")
    unknown = unknown_key_error(bare, value, schema)
    kind = _kind_of(bare, schema) if unknown is None else None
    if unknown is not None:
        allowed = unknown.allowed
    elif kind is DictConfig and not value.strip().startswith("{"):  # a section or mapping given something else
        allowed = "a mapping {name: value, ...}"
    elif "is not a ListConfig" in text or (cause is not None and "is not a ListConfig" in first_line(cause)):
        allowed = f"a list [a, b, ...] (in brackets: {bare}=[{value}])"
    elif cause is not None:
        allowed = _WANT.get(kind) or first_line(cause)
    elif key.startswith("+") and not key.startswith("++") and "already" in text:
        allowed = f"{bare}=... without the +, which adds a key that is not there yet ({text})"
    else:  # Hydra's own words (an entry of a mapping that is not there, ...)
        allowed = text
    if key.startswith("~"):
        return ConfigError(key, None, allowed, message=f"{key} is not allowed: {allowed}")
    # the key without ``++`` (which the stress app adds to its free-form mappings itself): the field, as typed
    return ConfigError(bare if key.startswith("++") else key, value, allowed)


def _failing_override(message: str, text: str, overrides: Sequence[str]) -> str | None:
    """The override a Hydra error is about: the one Hydra names ("Error merging override key=value"), else the one
    whose key it quotes, else the one with the longest key it mentions (the last of equals: with repeated keys,
    model.n_agents=300 model.n_agents=abc, the value that failed)."""
    named = [ov for ov in overrides if text.endswith(f" {ov}")]
    if named:
        return named[-1]
    best, score = None, (0, 0)
    for ov in overrides:
        bare = ov.partition("=")[0].lstrip("+~")
        if bare and bare in message:
            s = (2 if f"'{bare}'" in message else 1, len(bare))
            if s >= score:
                best, score = ov, s
    return best


_WANT = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _kind_of(key: str, schema: type = S3SimConfig) -> type | None:
    """Declared type of a config key (``model.a0`` -> float), or None if unknown."""
    parent, _, leaf = key.rpartition(".")
    node = _schema_node(parent, schema)
    if not isinstance(node, DictConfig) or leaf not in node:
        return None
    declared = node._get_node(leaf)._metadata.ref_type  # also for Optional fields whose default is None
    return declared if declared in _WANT else type(node[leaf])


#: world parameters that only a generated world reads (world=synthetic); the alpine world ships its own
SYNTHETIC_ONLY = ("n_regions", "n_domains", "k_rel", "p_rewire", "region_size_exp", "extent_km")


def validate(cfg: DictConfig | S3SimConfig) -> DictConfig:
    """Check every parameter against its bounds and choices, and the cross-field rules.

    Raises :class:`~s3sim.errors.ConfigError` naming the first offending field. Returns the config.
    """
    if not isinstance(cfg, DictConfig):
        from omegaconf.errors import ValidationError

        try:
            cfg = OmegaConf.structured(cfg)
        except ValidationError as exc:  # a dataclass holding a value of the wrong type
            section = {"ModelConfig": "model.", "WorldConfig": "world.", "OutputConfig": "output."}.get(
                getattr(exc, "object_type_str", None) or "", "")
            key = f"{section}{exc.full_key}" if exc.full_key else "config"
            raise ConfigError(key, exc.value, _WANT.get(_kind_of(key), "a value of the declared type")) from None
    seed = cfg.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError("seed", seed, "a non-negative integer")
    replicate = cfg.get("replicate")
    if replicate is not None and (not isinstance(replicate, int) or isinstance(replicate, bool) or replicate < 0):
        raise ConfigError("replicate", replicate, "a non-negative integer or null")
    for p in PARAMETERS.values():
        check_parameter(p, OmegaConf.select(cfg, p.key))
    _validate_policy(cfg)
    check_world_and_horizon(cfg)
    return cfg


def check_parameter(p: Any, value: Any) -> None:
    """One parameter's value against its kind, bounds and choices (a :class:`~s3sim.config.parameters.Parameter`
    of :data:`PARAMETERS`); raises :class:`~s3sim.errors.ConfigError` as :func:`validate` does."""
    if p.kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(p.key, value, "an integer" if p.kind is int else "a number")
    if p.kind is int and not isinstance(value, int):
        raise ConfigError(p.key, value, "an integer")
    if p.kind is bool and not isinstance(value, bool):
        raise ConfigError(p.key, value, "true or false")
    lo, hi = p.bounds
    if (lo is not None and value < lo) or (hi is not None and value > hi) or (
            isinstance(value, float) and not math.isfinite(value)):  # nan passes every comparison
        raise ConfigError(p.key, value, f"a {'finite ' if lo is None or hi is None else ''}value in "
                                        f"[{'-inf' if lo is None else lo}, "
                                        f"{'inf' if hi is None else hi}] ({p.unit}: {p.meaning})")
    if p.choices is not None and value not in p.choices:
        raise ConfigError(p.key, value, f"one of {', '.join(p.choices)}")


def check_world_and_horizon(cfg: Any) -> None:
    """The rules across parameters that :func:`validate` checks after the parameters one by one: generated-world
    parameters keep their defaults under ``world=alpine``; ``burn_in + horizon >= 1``."""
    if cfg.world.kind == "alpine":  # the shipped world has its own regions, domains and relatedness
        defaults = WorldConfig()
        for name in SYNTHETIC_ONLY:
            value = getattr(cfg.world, name)
            if value != getattr(defaults, name):
                raise ConfigError(f"world.{name}", value, f"its default {getattr(defaults, name)} under world=alpine "
                                                          "(it shapes generated worlds only: add world=synthetic)")
    m = cfg.model
    if m.burn_in + m.horizon < 1:
        raise ConfigError("model.horizon", m.horizon, "burn_in + horizon >= 1")


def region_ids(world_cfg) -> tuple[str, ...]:
    """Region ids of the world a config describes (without building it)."""
    if world_cfg.kind == "alpine":
        from ..world import load_alpine_regions

        return load_alpine_regions().ids
    return tuple(f"R{r:02d}" for r in range(world_cfg.n_regions))


#: policy parameters that apply to the whole policy (budgets, the joint pool, the call calendar, pilots), so they
#: cannot be set per region
_GLOBAL_POLICY_KEYS = ("regions", "pilots", "budget_per_firm", "call_period", "transregional_share", "phi_min",
                       "pilot_regime")


def _validate_policy(cfg) -> None:
    pol = cfg.get("policy")
    if pol is None:
        return
    regimes = PARAMETERS["policy_regime"].choices
    ids = None
    for rid, spec in (pol.get("regions") or {}).items():
        if ids is None:
            ids = region_ids(cfg.world)
        if rid not in ids:
            hint = ""
            from ..world import load_alpine_regions

            if cfg.world.kind != "alpine" and rid in load_alpine_regions().ids:
                hint = (f" ({rid} is an Alpine Space region: policy presets and settings naming partner regions "
                        "need world=alpine)")
            raise ConfigError(f"policy.regions.{rid}", spec, f"a region id of this world: {', '.join(ids)}{hint}")
        if isinstance(spec, str) or spec is None:
            if spec not in regimes:
                raise ConfigError(f"policy.regions.{rid}", spec, f"one of {', '.join(regimes)}")
            continue
        for k, v in spec.items():
            name = f"policy_{k}"
            if name not in PARAMETERS or k in _GLOBAL_POLICY_KEYS:
                allowed = ", ".join(p.key.split(".", 1)[1] for p in PARAMETERS.in_group("policy")
                                    if p.key.split(".", 1)[1] not in _GLOBAL_POLICY_KEYS)
                raise ConfigError(f"policy.regions.{rid}.{k}", v, f"a policy parameter: {allowed}")
            p = PARAMETERS[name]
            lo, hi = p.bounds
            if p.choices is not None and v not in p.choices:
                raise ConfigError(f"policy.regions.{rid}.{k}", v, f"one of {', '.join(p.choices)}")
            if p.kind is bool and not isinstance(v, bool):
                raise ConfigError(f"policy.regions.{rid}.{k}", v, "true or false")
            if p.kind is int and (isinstance(v, bool) or not isinstance(v, int)):
                raise ConfigError(f"policy.regions.{rid}.{k}", v, f"an integer in [{lo}, {hi}]")
            if p.kind in (int, float) and (isinstance(v, bool) or not isinstance(v, (int, float))
                                           or (lo is not None and v < lo) or (hi is not None and v > hi)
                                           or (isinstance(v, float) and not math.isfinite(v))):
                raise ConfigError(f"policy.regions.{rid}.{k}", v, f"a number in [{lo}, {hi}]")
    for pilot in pol.get("pilots") or []:
        if pilot == "auto":
            continue
        rid, sep, dom = str(pilot).partition(":")
        if ids is None:
            ids = region_ids(cfg.world)
        if not sep or rid not in ids:
            raise ConfigError("policy.pilots", pilot, f"'auto' or REGION:domain with REGION one of {', '.join(ids)}")


def to_object(cfg: DictConfig | S3SimConfig) -> S3SimConfig:
    """The config as a plain :class:`S3SimConfig` dataclass (fast attribute access in the model)."""
    if isinstance(cfg, S3SimConfig):
        return cfg
    obj = OmegaConf.to_object(cfg)
    if not isinstance(obj, S3SimConfig):  # composed without the schema (should not happen)
        raise ConfigError("config", type(obj).__name__, "a config composed by s3sim.compose()")
    return obj


