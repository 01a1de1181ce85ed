"""Exceptions that the command line turns into one clear line and exit status 2."""

from __future__ import annotations

import os

MAX_MESSAGE = 2000  # characters: a message quoting a huge value is cut here


def one_line(text: str) -> str:
    r"""``text`` as one line of at most :data:`MAX_MESSAGE` characters: line breaks become spaces.

    >>> one_line("video a\nb: bad")
    'video a b: bad'
    """
    folded = text.replace("\r", " ").replace("\n", " ")
    return folded if len(folded) <= MAX_MESSAGE else folded[: MAX_MESSAGE - 1] + "…"


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
        self.problem = one_line(problem)
        super().__init__(f"{one_line(self.path)}: {self.problem}" if self.path else self.problem)

    def __reduce__(self) -> tuple[type[InputError], tuple[str | None, str]]:
        # Picklable (``ecm ablate --jobs`` re-raises a worker's error in the main process).
        return (type(self), (self.path, self.problem))
