"""The shipped recipes: YAML configs inside the package (``ecm/recipes/NAME.yaml``), found by name.

A recipe is addressed by its name (``thumos14``, ``synthetic-tiny``, …) wherever ``ecm`` is installed;
anything that looks like a path (it holds a ``/`` or ends in ``.yaml``/``.yml``) is read as a file instead.
The files are package resources read with :mod:`importlib.resources`, so they work from a wheel too.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import TYPE_CHECKING

from ecm.errors import InputError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

SUFFIXES: tuple[str, ...] = (".yaml", ".yml")


def _folder() -> Traversable:
    return resources.files("ecm").joinpath("recipes")


def recipe_names() -> tuple[str, ...]:
    """The names of the shipped recipes, sorted."""
    return tuple(sorted(p.name[: -len(".yaml")] for p in _folder().iterdir() if p.name.endswith(".yaml")))


def is_recipe_name(source: str | os.PathLike[str]) -> bool:
    """True when ``source`` is a name (no path separator, no YAML suffix) rather than a path."""
    text = os.fspath(source)
    return not (os.sep in text or "/" in text or text.endswith(SUFFIXES))


def recipe_text(name: str) -> str:
    """The YAML text of recipe ``name``; :class:`InputError` naming the shipped ones when unknown."""
    if name not in recipe_names():
        raise InputError(
            None,
            f"no recipe named {name!r} (shipped: {', '.join(recipe_names())}; "
            "a config file path ends in .yaml or .yml)",
        )
    return _folder().joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def recipe_summary(name: str) -> str:
    """The first comment line of recipe ``name``, without the ``#``."""
    for line in recipe_text(name).splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def recipe_header(name: str) -> str:
    """The leading comment block of recipe ``name`` (what it is and how it departs from the paper)."""
    lines = []
    for line in recipe_text(name).splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)
