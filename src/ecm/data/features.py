"""Feature stores: one class per on-disk layout, one interface for the rest of `ecm`.

Layouts:

* :class:`NpyFeatureStore` — the common WTAL layout used by the THUMOS14 feature releases (and what
  ``ecm synth`` writes): ``ROOT/features/<split>/rgb/<vid>.npy`` and ``…/flow/<vid>.npy``, float32
  arrays of shape (T, 1024) each, concatenated on load to (T, 2048) = rgb ++ flow. Files are opened
  memory-mapped, and a video's length is read from the ``.npy`` header alone, so a 20k-video
  ActivityNet folder is indexed without reading its data.
* :class:`NpzFeatureStore` — ECM's per-video ``.npz`` files with ``feat_spa`` (rgb) and ``feat_tem``
  (flow) of shape (1024, T), plus ``cls_label``, and for test videos ``vid_name``, ``frame_num``, ``fps``.
* :class:`WtalcFeatureStore` — W-TALC's single pickled object array of (T, 2048) per-video features, in
  the row order of its ``videoname.npy``. A pickle can execute code, so it needs ``allow_pickle=True``.

Every store returns float32 arrays of shape (T, D) (snippets × channels) and checks them on load: two
streams of different length, wrong width, a non-float dtype, NaN or Inf raise :class:`InputError`
naming the file. No store ever unpickles unless told to.
"""

from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ecm.data.annotations import check_video_id
from ecm.errors import InputError
from ecm.files import check_input_file

#: The two I3D streams of the common layout, in concatenation order.
STREAMS: tuple[str, str] = ("rgb", "flow")


@runtime_checkable
class FeatureStore(Protocol):
    """What the dataset needs from a folder of per-video features."""

    @property
    def video_ids(self) -> list[str]:
        """Ids of every video the store holds, sorted."""
        ...

    @property
    def feature_dim(self) -> int:
        """D, the width of every returned feature row (channels)."""
        ...

    def num_snippets(self, video_id: str) -> int:
        """T, the number of snippets of ``video_id``, read without loading the features."""
        ...

    def load(self, video_id: str) -> np.ndarray:
        """The checked features of ``video_id``, float32 of shape (T, D)."""
        ...


# What reading a corrupt .npy/.npz can raise inside numpy and zipfile (header parsing evaluates a Python
# literal, members are zip entries): each means "not a readable file", never a bug of ours.
_CORRUPT: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    TypeError,
    EOFError,
    OverflowError,
    MemoryError,
    IndexError,
    KeyError,
    NotImplementedError,
    tokenize.TokenError,
    zipfile.BadZipFile,
    zlib.error,
)


def check_features(array: np.ndarray, path: str | os.PathLike[str], width: int | None = None) -> np.ndarray:
    """Validate one stream's array, shape (T, W); returns it as float32.

    Raises :class:`InputError` for a non-2-D array, an empty one, a width other than ``width``, a
    non-floating dtype, or any NaN/Inf.
    """
    if array.ndim != 2:
        raise InputError(path, f"expected a 2-D (snippets, channels) array, got shape {array.shape}")
    if array.shape[0] == 0:
        raise InputError(path, "has no snippets")
    if width is not None and array.shape[1] != width:
        raise InputError(path, f"has {array.shape[1]} channels, expected {width}")
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(path, f"has dtype {array.dtype}, expected floating point")
    out = np.asarray(array, dtype=np.float32)
    if not np.isfinite(out).all():
        raise InputError(path, "contains NaN or Inf")
    return out


def _npy_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header, without reading the data."""
    check_input_file(path, "feature file")
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            data_start = handle.tell()
            size = os.fstat(handle.fileno()).st_size
    except _CORRUPT as exc:
        raise InputError(path, f"not a readable .npy file ({type(exc).__name__}: {exc})") from None
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise InputError(path, f"its header declares the shape {shape!r:.80}")
    dtype = np.dtype(dtype)
    expected = data_start + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if not dtype.hasobject and size < expected:
        raise InputError(path, f"is truncated: {size} bytes, its header promises {expected}")
    return tuple(shape), dtype


def _check_float32(dtype: np.dtype, path: Path) -> None:
    """The common layout stores float32 features; anything else is refused rather than silently cast."""
    if dtype != np.float32:
        raise InputError(
            path, f"has dtype {dtype}, the feature layout is float32 (convert with .astype('float32'))"
        )


def _load_npy(path: Path) -> np.ndarray:
    """Memory-map an ``.npy`` file (never unpickling); its header was checked when the split was opened."""
    check_input_file(path, "feature file")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except _CORRUPT as exc:
        raise InputError(path, f"not a readable .npy array ({type(exc).__name__}: {exc})") from None
    if not isinstance(array, np.ndarray):
        raise InputError(path, "is not a .npy array (an .npz archive?)")
    return array


@dataclass(frozen=True)
class NpyFeatureStore:
    """The common layout ``ROOT/features/<split>/{rgb,flow}/<vid>.npy``.

    Args:
        root: dataset folder (the one holding ``gt.json`` and ``features/``).
        split: sub-folder of ``features/``, e.g. ``"train"`` or ``"test"``.
        streams: which streams to concatenate, in order (``("rgb", "flow")``, or one of them).
        stream_dim: expected width of each stream file; ``None`` infers it from the first video.
    """

    root: Path
    split: str
    streams: tuple[str, ...] = STREAMS
    stream_dim: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        if not self.streams or any(s not in STREAMS for s in self.streams):
            raise InputError(None, f"streams must be a non-empty subset of {STREAMS}, got {self.streams}")
        for stream in self.streams:
            folder = self.stream_dir(stream)
            if not folder.is_dir():
                raise InputError(folder, "feature folder not found")
        ids = self._scan(self.streams[0])
        object.__setattr__(self, "_ids", ids)
        if self.stream_dim is None:
            if not ids:
                raise InputError(self.stream_dir(self.streams[0]), "holds no .npy feature files")
            object.__setattr__(self, "stream_dim", self._infer_width(ids))

    def _infer_width(self, ids: list[str], sample: int = 9) -> int:
        """The most common width among the first ``sample`` files' headers (one bad file does not decide)."""
        widths = []
        for vid in ids[:sample]:
            shape, _ = _npy_shape(self.path(vid, self.streams[0]))
            widths.append(shape[1] if len(shape) == 2 else -1)
        return max(set(widths), key=widths.count)

    def stream_dir(self, stream: str) -> Path:
        """Folder of one stream's files."""
        return self.root / "features" / self.split / stream

    def path(self, video_id: str, stream: str) -> Path:
        """File of one video's stream."""
        return self.stream_dir(stream) / f"{check_video_id(video_id)}.npy"

    def _scan(self, stream: str) -> list[str]:
        return sorted(p.name[:-4] for p in self.stream_dir(stream).iterdir() if p.name.endswith(".npy"))

    def missing_and_extra(self) -> dict[str, tuple[list[str], list[str]]]:
        """Per stream beyond the first: (ids missing in it, ids only in it) relative to the first stream."""
        first = set(self.video_ids)
        report = {}
        for stream in self.streams[1:]:
            other = set(self._scan(stream))
            report[stream] = (sorted(first - other), sorted(other - first))
        return report

    @property
    def video_ids(self) -> list[str]:
        return list(self._ids)  # type: ignore[attr-defined]

    @property
    def feature_dim(self) -> int:
        assert self.stream_dim is not None
        return self.stream_dim * len(self.streams)

    def num_snippets(self, video_id: str) -> int:
        """T from the ``.npy`` headers; also checks 2-D shape, width, float dtype and equal stream lengths."""
        lengths = set()
        for stream in self.streams:
            path = self.path(video_id, stream)
            shape, dtype = _npy_shape(path)
            if len(shape) != 2:
                raise InputError(path, f"expected a 2-D (snippets, channels) array, got shape {shape}")
            if shape[1] != self.stream_dim:
                raise InputError(path, f"has {shape[1]} channels, expected {self.stream_dim}")
            _check_float32(dtype, path)
            if shape[0] < 1:
                raise InputError(path, "has no snippets")
            lengths.add(shape[0])
        if len(lengths) != 1:
            raise InputError(self.path(video_id, self.streams[-1]), self._mismatch(video_id))
        return lengths.pop()

    def _mismatch(self, video_id: str) -> str:
        sizes = ", ".join(f"{s} {_npy_shape(self.path(video_id, s))[0][0]}" for s in self.streams)
        return f"streams differ in snippet count ({sizes})"

    def load(self, video_id: str) -> np.ndarray:
        parts = []
        for stream in self.streams:
            path = self.path(video_id, stream)
            array = _load_npy(path)
            _check_float32(array.dtype, path)
            parts.append(check_features(array, path, self.stream_dim))
        if len({p.shape[0] for p in parts}) != 1:
            raise InputError(self.path(video_id, self.streams[-1]), self._mismatch(video_id))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class NpzVideoMeta:
    """What ECM's ``.npz`` files carry beside the features."""

    video_id: str
    labels: np.ndarray  # (C,) multi-hot, as stored in ``cls_label``
    frame_num: int | None
    fps: float | None


@dataclass(frozen=True)
class NpzFeatureStore:
    """ECM's per-video ``.npz`` layout: ``FOLDER/<vid>.npz`` with ``feat_spa``/``feat_tem`` (1024, T).

    The video id is the file name without ``.npz`` (``vid_name`` inside the file, when present, must
    agree). Arrays are read lazily, one video at a time; ``.npz`` members are never unpickled.
    """

    folder: Path
    stream_dim: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder))
        if not self.folder.is_dir():
            raise InputError(self.folder, "feature folder not found")
        ids = sorted(p.name[:-4] for p in self.folder.iterdir() if p.name.endswith(".npz"))
        object.__setattr__(self, "_ids", ids)
        if self.stream_dim is None:
            if not ids:
                raise InputError(self.folder, "holds no .npz feature files")
            object.__setattr__(self, "stream_dim", self._shape(ids[0], "feat_spa")[0])

    def path(self, video_id: str) -> Path:
        return self.folder / f"{check_video_id(video_id)}.npz"

    def _open(self, video_id: str) -> np.lib.npyio.NpzFile:
        path = self.path(video_id)
        check_input_file(path, "feature file")
        try:
            archive = np.load(path, allow_pickle=False)
        except _CORRUPT as exc:
            raise InputError(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise InputError(path, "is not an .npz archive")
        return archive

    def _member(self, archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
        if key not in archive.files:
            raise InputError(path, f"has no {key!r} array (keys: {', '.join(archive.files)})")
        try:
            return np.asarray(archive[key])
        except _CORRUPT as exc:  # also object arrays, which refuse to load without pickle
            raise InputError(path, f"array {key!r} is not readable ({type(exc).__name__}: {exc})") from None

    def _shape(self, video_id: str, key: str) -> tuple[int, ...]:
        path = self.path(video_id)
        with self._open(video_id) as archive:
            shape = tuple(self._member(archive, key, path).shape)
        if len(shape) != 2:
            raise InputError(path, f"{key} must be 2-D (channels, snippets), got shape {shape}")
        return shape

    @property
    def video_ids(self) -> list[str]:
        return list(self._ids)  # type: ignore[attr-defined]

    @property
    def feature_dim(self) -> int:
        assert self.stream_dim is not None
        return 2 * self.stream_dim

    def num_snippets(self, video_id: str) -> int:
        return int(self.load(video_id).shape[0])

    def load(self, video_id: str) -> np.ndarray:
        path = self.path(video_id)
        with self._open(video_id) as archive:
            spa = self._member(archive, "feat_spa", path)
            tem = self._member(archive, "feat_tem", path)
        if spa.ndim != 2 or tem.ndim != 2:
            raise InputError(
                path, f"feat_spa/feat_tem must be 2-D (channels, snippets): {spa.shape}, {tem.shape}"
            )
        if spa.shape[1] != tem.shape[1]:
            raise InputError(path, f"feat_spa has {spa.shape[1]} snippets, feat_tem {tem.shape[1]}")
        rgb = check_features(spa.T, path, self.stream_dim)
        flow = check_features(tem.T, path, self.stream_dim)
        return np.concatenate([rgb, flow], axis=1)

    def meta(self, video_id: str) -> NpzVideoMeta:
        """Labels and timing stored in the file (``cls_label``, ``frame_num``, ``fps``)."""
        path = self.path(video_id)
        with self._open(video_id) as archive:
            labels = self._member(archive, "cls_label", path)
            if not np.issubdtype(labels.dtype, np.number):
                raise InputError(path, f"cls_label has dtype {labels.dtype}, expected numbers")
            frame_num = self._scalar(archive, "frame_num", path)
            fps = self._scalar(archive, "fps", path)
            if "vid_name" in archive.files:
                names = self._member(archive, "vid_name", path).reshape(-1)
                stored = str(names[0]) if names.size == 1 else None
                if stored != video_id:
                    raise InputError(path, f"vid_name {stored!r} does not match the file name")
        return NpzVideoMeta(
            video_id,
            labels.astype(np.float32).reshape(-1),
            None if frame_num is None else int(frame_num),
            fps,
        )

    def _scalar(self, archive: np.lib.npyio.NpzFile, key: str, path: Path) -> float | None:
        """A finite positive number stored as a one-element array, or None when the key is absent."""
        if key not in archive.files:
            return None
        value = self._member(archive, key, path)
        if value.size != 1 or not np.issubdtype(value.dtype, np.number):
            raise InputError(path, f"{key} is not one number (shape {value.shape}, dtype {value.dtype})")
        number = float(value.reshape(-1)[0])
        if not (math.isfinite(number) and number > 0):
            raise InputError(path, f"{key} is {number}, not a positive number")
        return number


class WtalcFeatureStore:
    """W-TALC's joint features: one pickled object array, row i = video ``video_names[i]``, (T, 2048).

    Reading a pickle can execute code from the file; the constructor refuses unless
    ``allow_pickle=True``. The whole array is loaded at construction (the format cannot be memory-mapped).
    """

    def __init__(
        self, path: str | os.PathLike[str], video_names: Sequence[str], *, allow_pickle: bool = False
    ) -> None:
        self.path = Path(path)
        if not allow_pickle:
            raise InputError(
                self.path,
                "W-TALC features are a pickled object array; loading it can run code from the file — "
                "pass allow_pickle=True (--allow-pickle) if you trust it",
            )
        check_input_file(self.path, "feature file")
        try:
            rows = np.load(self.path, allow_pickle=True, encoding="bytes")
        except FileNotFoundError:
            raise InputError(self.path, "file not found") from None
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(self.path, f"cannot read numpy array ({exc})") from None
        if len(rows) != len(video_names):
            raise InputError(self.path, f"has {len(rows)} videos, the annotations name {len(video_names)}")
        self._rows = {check_video_id(v, self.path): rows[i] for i, v in enumerate(video_names)}
        first = np.asarray(self._rows[video_names[0]]) if video_names else np.zeros((1, 0))
        self._dim = int(first.shape[1]) if first.ndim == 2 else -1

    @property
    def video_ids(self) -> list[str]:
        return sorted(self._rows)

    @property
    def feature_dim(self) -> int:
        return self._dim

    def num_snippets(self, video_id: str) -> int:
        return int(np.asarray(self._rows[video_id]).shape[0])

    def load(self, video_id: str) -> np.ndarray:
        if video_id not in self._rows:
            raise InputError(self.path, f"has no video {video_id!r}")
        return check_features(np.asarray(self._rows[video_id]), self.path, self._dim)
