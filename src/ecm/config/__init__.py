"""Configuration: typed, frozen experiment configs, YAML in and out, and the recipes shipped by name.

* :mod:`ecm.config.experiment` — :class:`ExperimentConfig` and its sections, loading, ``--set`` overrides;
* :mod:`ecm.config.recipes` — the paper's recipes and the synthetic presets, package resources by name;
* :mod:`ecm.config.diff` — configs as nested dicts and the differences between two.

The sections of :class:`ExperimentConfig` belong to the model, the losses and the post-processing, so
:mod:`ecm.config.experiment` imports torch; it is loaded on first use of one of its names, and reading
recipes or comparing stored configs does not need it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ecm.config.diff import CONTINUABLE_KEYS, config_differences, config_to_dict, flat_config
from ecm.config.recipes import recipe_names

if TYPE_CHECKING:
    from ecm.config.experiment import (
        DataConfig,
        EvalConfig,
        ExperimentConfig,
        OptimConfig,
        TrainConfig,
        apply_overrides,
        build_dataset,
        config_from_dict,
        dump_config,
        load_config,
        parse_override,
    )

__all__ = [
    "CONTINUABLE_KEYS",
    "DataConfig",
    "EvalConfig",
    "ExperimentConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "build_dataset",
    "config_differences",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "flat_config",
    "load_config",
    "parse_override",
    "recipe_names",
]


# The names of ecm.config.experiment, loaded with it on first use.
_EXPERIMENT = frozenset(__all__) - {
    "CONTINUABLE_KEYS",
    "config_differences",
    "config_to_dict",
    "flat_config",
    "recipe_names",
}


def __getattr__(name: str) -> Any:
    """The names of :mod:`ecm.config.experiment`, imported on first use."""
    if name in _EXPERIMENT:
        return getattr(importlib.import_module("ecm.config.experiment"), name)
    raise AttributeError(f"module 'ecm.config' has no attribute {name!r}")
