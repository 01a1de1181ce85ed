"""Configuration: typed, frozen experiment configs, YAML in and out, and the recipes shipped by name.

* :mod:`ecm.config.experiment` — :class:`ExperimentConfig` and its sections, loading, ``--set`` overrides,
  differences between two configs;
* :mod:`ecm.config.recipes` — the paper's recipes and the synthetic presets, package resources by name.
"""

from ecm.config.experiment import (
    DataConfig,
    EvalConfig,
    ExperimentConfig,
    OptimConfig,
    TrainConfig,
    apply_overrides,
    config_differences,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    parse_override,
)
from ecm.config.recipes import recipe_names

__all__ = [
    "DataConfig",
    "EvalConfig",
    "ExperimentConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "config_differences",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "load_config",
    "parse_override",
    "recipe_names",
]
