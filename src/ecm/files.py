"""Files in and out: checked reads of user input, and writes that are never seen half-done.

Reading: inputs are read only from regular files (:func:`check_input_file`): a folder, FIFO, device or
socket where a file is expected is one clear error rather than a hang. A file that cannot be read or
decoded ends as :class:`ecm.errors.InputError` naming it.

Writing: every output is written to a staging name beside its target (``.NAME.<pid>.<random>.tmp`` for
a file, ``.NAME.partial-<pid>-<random>`` for a folder) and renamed into place when complete, so a reader
never sees a half-written output and a failure leaves the old one intact. :class:`Staging` publishes
several outputs together. A process killed with ``kill -9`` leaves its staging behind; the next write
into the same folder removes it (when that process is gone) and says so on stderr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from ecm.errors import InputError

_orjson: Any
try:  # a faster JSON reader, used where it gives the standard library's result (see parse_json_bytes)
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the standard library is the fallback
    _orjson = None

log = logging.getLogger(__name__)

_NOT_AN_INTEGER_BEFORE = np.frombuffer(b".eE+-", np.uint8)  # a digit run after these is a fraction/exponent
_NOT_AN_INTEGER_AFTER = np.frombuffer(b".eE", np.uint8)


def _has_long_integer(data: bytes) -> bool:
    """Whether ``data`` may hold an integer of 19 or more digits (orjson reads those past 64 bits as
    floats, the standard library as ints). Runs of digits in fractions and exponents do not count; runs
    inside strings do (a false alarm costs only speed). Vectorised: about 15 ms for a 6 MB file (a regular
    expression takes 70 ms to scan one for runs of 19 digits)."""
    text = np.frombuffer(data, np.uint8)
    digit = (text - np.uint8(ord("0")) < 10).view(np.int8)  # uint8 wraps: one comparison
    edges = np.diff(digit, prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # runs [start, end)
    long = ends - starts >= 19
    starts, ends = starts[long], ends[long]
    space = np.uint8(ord(" "))  # what lies outside the document

    def at(index: np.ndarray) -> np.ndarray:
        return np.where((index >= 0) & (index < len(text)), text[np.clip(index, 0, len(text) - 1)], space)

    before = at(starts - 1)  # the character before the run; before a minus sign, the one before that
    before = np.where(before == ord("-"), at(starts - 2), before)
    after = at(ends)
    integer = ~np.isin(before, _NOT_AN_INTEGER_BEFORE) & ~np.isin(after, _NOT_AN_INTEGER_AFTER)
    return bool(integer.any())


_STAGING = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)\.[0-9a-f]+\.tmp|partial-(?P<dpid>\d+)-[0-9a-f]+)$")


def check_input_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """``path`` as a :class:`Path` when it is a regular file (symlinks followed), else :class:`InputError`."""
    target = Path(path)
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        raise InputError(target, f"{what} not found") from None
    except OSError as exc:
        raise InputError(target, f"cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise InputError(target, f"is a folder, expected a {what}")
    if not stat.S_ISREG(mode):
        raise InputError(target, f"is not a regular file (a FIFO, device or socket), expected a {what}")
    return target


def read_text(path: str | os.PathLike[str], what: str = "file") -> str:
    """The UTF-8 text of a regular file; :class:`InputError` when it is missing, unreadable or not UTF-8."""
    target = check_input_file(path, what)
    try:
        return target.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(target, f"is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(target, f"cannot read ({exc.strerror})") from None


def parse_json(text: str, path: str | os.PathLike[str] | None) -> Any:
    """Parse JSON text; malformed, too deeply nested or out-of-range input is :class:`InputError`."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(path, "malformed JSON (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, and integers over the interpreter's digit limit
        raise InputError(path, f"malformed JSON ({str(exc).splitlines()[0]})") from None


def parse_json_bytes(data: bytes, path: str | os.PathLike[str] | None) -> Any:
    """Parse a UTF-8 JSON document: with orjson when it is installed (several times faster), else the
    standard library, with the same result either way.

    Whatever orjson refuses or might read otherwise goes to the standard library, which then gives its
    value or its error: non-finite literals (``NaN``, ``1e400``), integers of 19 digits or more (orjson
    reads those past 64 bits as floats), invalid UTF-8 (the error names the byte), nesting past orjson's
    limit (the error says so).
    """
    if _orjson is not None and not _has_long_integer(data):
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"is not UTF-8 text (byte {exc.start})") from None
    return parse_json(text, path)


def read_json(path: str | os.PathLike[str], *, missing_ok: bool = False) -> Any:
    """The parsed JSON file (:func:`parse_json_bytes`); :class:`InputError` when it is unreadable or malformed.

    A missing file is an error too, unless ``missing_ok``: then the result is ``None``.
    """
    if missing_ok and not os.path.lexists(path):
        return None
    target = check_input_file(path)
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise InputError(target, f"cannot read ({exc.strerror})") from None
    return parse_json_bytes(data, target)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(folder: Path, name: str) -> list[Path]:
    """Remove staging of ``folder/name`` left by processes that no longer run; returns what was removed."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _STAGING.match(entry.name)
        if not match or match["name"] != name:
            continue
        if _process_alive(int(match["pid"] or match["dpid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        log.warning("ecm: removed %s, left by an interrupted run", entry)
        removed.append(entry)
    return removed


def _staging_file(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target.parent, target.name)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    # Created like an ordinary open() would (umask applied), exclusively.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return tmp


def _staging_dir(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target.parent, target.name)
    tmp = target.parent / f".{target.name}.partial-{os.getpid()}-{os.urandom(4).hex()}"
    tmp.mkdir()
    return tmp


def _publish(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` onto ``target``; a folder replaces a previous folder there."""
    if tmp.is_dir() and target.is_dir():
        old = target.parent / f".{target.name}.partial-{os.getpid()}-{os.urandom(4).hex()}"
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _discard(tmp: Path) -> None:
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


class Staging:
    """Several outputs staged beside their targets and published together (see :func:`staged`)."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def file(self, path: str | os.PathLike[str]) -> Path:
        """A staging file for ``path``: write it, it is renamed onto ``path`` when all succeed."""
        target = Path(path)
        tmp = _staging_file(target)
        self._pending.append((tmp, target))
        return tmp

    def folder(self, path: str | os.PathLike[str]) -> Path:
        """A new empty staging folder for ``path``; it replaces ``path`` (and what was there) when all succeed."""
        target = Path(path)
        tmp = _staging_dir(target)
        self._pending.append((tmp, target))
        return tmp


@contextlib.contextmanager
def staged() -> Iterator[Staging]:
    """Stage outputs, then publish them all when the block succeeds; on an exception none is written."""
    staging = Staging()
    try:
        yield staging
        for tmp, target in staging._pending:
            _publish(tmp, target)
    finally:
        for tmp, _ in staging._pending:
            if tmp.exists() or tmp.is_symlink():
                _discard(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a staging path beside ``path``; on success it is renamed onto ``path``.

    On an exception the staging file is removed and ``path`` is left untouched.
    """
    with staged() as staging:
        yield staging.file(path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new empty folder beside ``path``; on success it replaces ``path`` (and whatever was there).

    On an exception the staging folder is removed and ``path`` is left untouched.
    """
    with staged() as staging:
        yield staging.folder(path)


def check_writable_target(path: str | os.PathLike[str], flag: str) -> None:
    """Refuse, before any work, an output file that could not be written: a folder, a path under a file, or
    one whose nearest existing folder is not writable (a read-only disk, no permission)."""
    target = Path(path)
    if target.is_dir():
        raise InputError(path, f"{flag} names a folder; give a file name")
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(path, f"{flag} is under {parent}, which is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(path, f"{flag} cannot be written: {parent} is not writable")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = None) -> None:
    """Serialise ``obj`` as JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=indent) + "\n")


def write_with(path: str | os.PathLike[str], writer: Callable[[IO[bytes]], None]) -> None:
    """Call ``writer`` on a binary handle of a staging file, then rename it onto ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        writer(handle)


def load_untrusted_torch_file(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU, with its warnings kept from the terminal.

    Never unpickles arbitrary objects; a plain pickle or another protocol raises, and torch's warning
    about the protocol would print two lines before the caller's one-line error.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)
