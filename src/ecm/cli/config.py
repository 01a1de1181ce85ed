"""``ecm config list`` and ``ecm config show NAME``: the recipes shipped inside the package."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``config`` sub-command group."""
    parser = subparsers.add_parser(
        "config",
        help="the shipped recipes (list, show)",
        description=(
            "The training recipes shipped with ecm: the paper's (thumos14, activitynet12, activitynet13), the "
            "synthetic benchmarks' and the demo's. `ecm train NAME` uses one; `ecm config show NAME > my.yaml` "
            "gives a complete file to edit and pass as `ecm train my.yaml`."
        ),
    )
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the recipe names, one line each with what it is")
    listing.set_defaults(func=run_list)
    show = actions.add_parser(
        "show",
        help="print a recipe (or YAML file) fully resolved, every key, as YAML",
        description=(
            "Print the resolved config — every key, defaults filled in, --set overrides applied — as YAML, after "
            "the recipe's own comment lines."
        ),
    )
    show.add_argument("config", metavar="RECIPE|CONFIG.yaml", help="a recipe name or a YAML file")
    show.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a value (repeatable)"
    )
    show.set_defaults(func=run_show)


def run_list(args: argparse.Namespace) -> int:
    """Print each recipe's name and first comment line."""
    from ecm.config.recipes import recipe_names, recipe_summary

    names = recipe_names()
    width = max(len(name) for name in names)
    for name in names:
        print(f"{name:<{width}}  {recipe_summary(name)}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print the recipe's header comments and the resolved YAML."""
    from ecm.config import dump_config, load_config
    from ecm.config.recipes import is_recipe_name, recipe_header

    config = load_config(args.config, args.set)
    if is_recipe_name(args.config):
        header = recipe_header(args.config)
        if header:
            print(header)
        print(
            f"# resolved: every key of recipe {args.config!r}"
            + (", with --set overrides" if args.set else "")
        )
    print(dump_config(config), end="")
    return 0
