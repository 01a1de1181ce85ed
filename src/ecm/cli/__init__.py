"""The ``ecm`` command line. The only place in the package that reads ``sys.argv``.

Each sub-command lives in its own module of this package and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (a callable taking the
parsed namespace and returning an exit status). A command module only parses, calls the library and
prints; no command module imports another (shared printing lives in :mod:`ecm.cli.common`). Command
modules import the library inside the functions that need it, so ``ecm evaluate``, ``ecm diagnose``,
``ecm data check`` and ``ecm synth`` never import torch.

The error boundary: every :class:`ecm.errors.EcmError` (bad input, bad configuration) and every
:class:`OSError` (the environment: a missing, unreadable, read-only or full path) ends as one line
``ecm: error: PATH: problem`` on stderr and exit status 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ecm import __version__
from ecm.errors import EcmError, one_line

# Sub-command modules, in the order ``ecm --help`` lists them.
_COMMAND_MODULES: tuple[str, ...] = (
    "ecm.cli.synth",
    "ecm.cli.data",
    "ecm.cli.extract",
    "ecm.cli.config",
    "ecm.cli.train",
    "ecm.cli.localize",
    "ecm.cli.pseudo_label",
    "ecm.cli.evaluate",
    "ecm.cli.plot",
    "ecm.cli.report",
    "ecm.cli.ablate",
    "ecm.cli.demo",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line too (sub-command parsers share the class)."""

    def error(self, message: str) -> NoReturn:
        """Print ``ecm: error: …`` and where to find help, then exit with status 2."""
        print(f"ecm: error: {one_line(message)} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available sub-command registered."""
    parser = _Parser(
        prog="ecm",
        description=(
            "Weakly supervised temporal action localization with Equivalent Classification Mapping: "
            "make or check a dataset, train, localize, evaluate."
        ),
    )
    parser.add_argument("--version", action="version", version=f"ecm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # sub-command not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def os_error_text(exc: OSError) -> str:
    """``PATH: problem`` of an operating-system error (ENOENT, EACCES, ENOSPC, ENOTDIR, EROFS, …)."""
    problem = exc.strerror or type(exc).__name__
    names = [name for name in (exc.filename, exc.filename2) if name is not None]
    if names:
        return one_line(
            f"{os.fsdecode(names[0])}: {problem}"
            + (f" (→ {os.fsdecode(names[1])})" if len(names) > 1 else "")
        )
    return one_line(problem)


def _leave_process_group(*, wait: bool) -> None:
    """Under torchrun, leave the process group before exiting (torch is imported only if a command did)."""
    if "torch.distributed" in sys.modules:
        from ecm.distributed import shutdown

        shutdown(wait=wait)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input or usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = args.func(args)
        _leave_process_group(wait=True)
    except EcmError as exc:
        print(f"ecm: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # the environment: missing, unreadable, read-only or full paths
        print(f"ecm: error: {os_error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ecm: interrupted", file=sys.stderr)
        return 130
    return status
