"""Exceptions that the command line turns into one clear line and exit status 2."""

from __future__ import annotations

import os


class EcmError(Exception):
    """Base class of every error `ecm` raises on purpose (bad input, bad configuration)."""


class InputError(EcmError):
    """A user-supplied file or value is unusable.

    Args:
        path: the file (or folder) at fault, or ``None`` when the problem is not tied to a file.
        problem: a short sentence naming the problem, e.g. ``"rgb has 120 snippets, flow 118"``.
    """

    def __init__(self, path: str | os.PathLike[str] | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)

    def __reduce__(self) -> tuple[type[InputError], tuple[str | None, str]]:
        # Picklable (``ecm ablate --jobs`` re-raises a worker's error in the main process).
        return (type(self), (self.path, self.problem))
