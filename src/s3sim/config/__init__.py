"""Configuration layer: structured config, parameter registry, composition and validation."""

from .compose import compose, group_options, register_configs, to_object, validate
from .parameters import PARAMETERS, Parameter, ParameterRegistry
from .schema import ModelConfig, OutputConfig, S3SimConfig, WorldConfig

__all__ = ["PARAMETERS", "Parameter", "ParameterRegistry", "compose", "group_options", "register_configs",
           "to_object", "validate", "ModelConfig", "OutputConfig", "S3SimConfig", "WorldConfig"]
