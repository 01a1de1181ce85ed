"""Configs as plain nested dicts, and the differences between two of them — no torch needed.

Checkpoints, run folders and studies store configs as nested dicts; these functions compare them with
each other or with a live config (any dataclass), so that ``ecm compare`` reads two studies without
importing the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

# Keys a run may change when resumed, and the runs of one study may differ in: the schedule's length, and
# settings that change how, not what, is computed (memory bound, loader processes).
CONTINUABLE_KEYS: tuple[str, ...] = ("train.epochs", "model.post_memory_mib", "data.num_workers")


def config_to_dict(config: Any) -> dict[str, Any]:
    """Nested plain dicts/lists of a config (tuples become lists), ready for YAML or JSON."""
    result: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            result[f.name] = config_to_dict(value)
        elif isinstance(value, tuple):
            result[f.name] = list(value)
        else:
            result[f.name] = value
    return result


def flat_config(config: Any) -> dict[str, Any]:
    """``{"section.key": value}`` of a config or of its nested-dict form (tuples as lists)."""
    values = config if isinstance(config, Mapping) else config_to_dict(config)
    return {
        f"{section}.{key}": value
        for section, block in values.items()
        if isinstance(block, Mapping)
        for key, value in block.items()
    }


def config_differences(
    first: Any,
    second: Any,
    *,
    ignore: Sequence[str] = (),
) -> list[tuple[str, Any, Any]]:
    """``(section.key, value in first, value in second)`` for every entry that differs, in field order.

    Either side may be a config or its nested-dict form (as stored in checkpoints and studies); keys in
    ``ignore`` (e.g. ``train.epochs``) are left out.

    >>> from ecm.config import ExperimentConfig
    >>> a = ExperimentConfig()
    >>> b = dataclasses.replace(a, train=dataclasses.replace(a.train, seed=3, epochs=9))
    >>> config_differences(a, b, ignore=["train.epochs"])
    [('train.seed', 16, 3)]
    """
    a, b = flat_config(first), flat_config(second)
    keys = [key for key in dict.fromkeys([*a, *b]) if key not in ignore]
    return [(key, a.get(key), b.get(key)) for key in keys if a.get(key) != b.get(key)]
