"""Video files → two-stream I3D features in the common layout, one video at a time, resumable.

Per video: frames at ``fps`` (resized, centre-cropped; :mod:`ecm.video.decode`), optical flow between
consecutive frames (:mod:`ecm.video.flow`), cut into ``T = ⌊frames / snippet⌋`` complete snippets of
``snippet`` frames (the tail shorter than a snippet is left out), each snippet through the RGB and the flow
I3D (:mod:`ecm.video.i3d`) → one 1024-d feature per stream. Written to
``ROOT/features/SPLIT/{rgb,flow}/VID.npy`` float32 ``(T, 1024)``, both staged and published together,
and ``ROOT/video_info/VID.json``: the extraction fps and the seconds its T snippets cover (which
:class:`ecm.data.folder.DatasetFolder` reads when ``gt.json`` does not give them), the options, and the
source file's size and modification time. A video is done when that file matches the source and the
options; otherwise it is extracted again. Each video's files are its own, so processes extracting
different videos into one folder never write the same file.

Decoding runs in worker processes (a torch ``DataLoader`` over the videos), and so does the flow of the
``opencv`` backend; the ``torch`` flow backend and both networks run in the main process, batched, on the
GPU when there is one, the frames copied to it from pinned memory while it computes. Frames stream
through in chunks of ``batch`` snippets, so memory does not grow with a video's length. Finished videos
are skipped, so a re-run after an interruption continues; a file that cannot be read is reported and
the others go on.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ecm.data.annotations import check_video_id
from ecm.data.folder import VIDEO_INFO
from ecm.distributed import balanced_shards
from ecm.errors import InputError
from ecm.files import read_json, staged
from ecm.video.decode import import_av, probe, read_frames
from ecm.video.flow import ChunkFlow, FlowBackend, FlowMethod, import_cv2, resolve_backend

log = logging.getLogger(__name__)

VIDEO_SPLIT = "video"  # the split `ecm localize --video` extracts into


@dataclass(frozen=True)
class ExtractOptions:
    """How features are extracted (the defaults are those of the released THUMOS14 I3D features).

    Attributes:
        fps: frames per second the video is resampled to.
        snippet: frames per snippet (one feature per snippet).
        short_side, crop: the shorter side is resized to ``short_side`` pixels, the centre ``crop²`` kept.
        flow: ``tvl1``, ``farneback`` or ``none`` (RGB only).
        flow_backend: ``opencv`` or ``torch`` (TV-L1 only), or ``auto`` (see
            :func:`ecm.video.flow.resolve_backend`); resolved before extraction and recorded.
        batch: snippets per network forward (and per chunk of frames in memory).
        workers: decoding processes, which also compute the ``opencv`` backend's flow (0: in the main
            process; None: 2 when the networks run on CUDA, else 0).
    """

    fps: float = 25.0
    snippet: int = 16
    short_side: int = 256
    crop: int = 224
    flow: FlowMethod = "tvl1"
    flow_backend: FlowBackend = "auto"
    batch: int = 8
    workers: int | None = None

    def __post_init__(self) -> None:
        if not (self.fps > 0 and self.snippet >= 1 and self.batch >= 1 and (self.workers or 0) >= 0):
            raise InputError(None, "--fps must be > 0, --snippet and --batch ≥ 1, --workers ≥ 0")
        if not 16 <= self.crop <= self.short_side:
            raise InputError(None, f"--crop must lie in [16, --short-side], got {self.crop}")
        if self.flow_backend == "torch" and self.flow != "tvl1":
            raise InputError(None, f"--flow-backend torch computes TV-L1 only, not --flow {self.flow}")

    @property
    def streams(self) -> tuple[str, ...]:
        """The streams written: ``("rgb", "flow")``, or ``("rgb",)`` without flow."""
        return ("rgb",) if self.flow == "none" else ("rgb", "flow")


@dataclass
class Snippets:
    """A chunk of one video's snippets, as a worker hands it to the networks.

    Attributes:
        video: index of the video in the job's list.
        rgb: ``(n, snippet, crop, crop, 3)`` uint8 frames, or None on failure.
        flow: ``(n, snippet, crop, crop, 2)`` float32 flow in [-1, 1] when a worker computed it (the
            ``opencv`` backend), else None.
        successor: ``(crop, crop, 3)`` uint8, the frame after the chunk (None at the video's end): the
            ``torch`` backend computes the chunk's flow from the frames and it.
        last: the video's final chunk.
        error: the problem, when the video could not be read.
        seconds: the video's duration (from the container), filled on the last chunk.
        rotation: the display rotation applied to its frames (degrees), filled on the last chunk.
    """

    video: int
    rgb: torch.Tensor | None = None
    flow: torch.Tensor | None = None
    successor: torch.Tensor | None = None
    last: bool = False
    error: str | None = None
    seconds: float = 0.0
    rotation: int = 0

    def pin_memory(self) -> Snippets:
        """The same chunk in page-locked memory (the ``DataLoader`` calls it), so copies to the GPU overlap."""

        def pin(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor.pin_memory()

        return replace(self, rgb=pin(self.rgb), flow=pin(self.flow), successor=pin(self.successor))


def frame_chunks(path: Path, options: ExtractOptions) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Chunks of at most ``batch`` complete snippets of ``path``: ``(frames, successor)``.

    ``frames`` is ``(n, snippet, crop, crop, 3)`` uint8; ``successor`` the frame after them, None when
    they end the video. Frames after the last complete snippet are left out (but may be a successor).
    """
    size, per_chunk = options.snippet, options.snippet * options.batch
    pending: list[np.ndarray] = []  # frames read and not yet emitted
    for chunk in read_frames(
        path, fps=options.fps, short_side=options.short_side, crop=options.crop, chunk=per_chunk
    ):
        pending.extend(chunk)
        while len(pending) > per_chunk:  # a whole chunk and its successor
            yield (
                np.stack(pending[:per_chunk]).reshape(options.batch, size, *pending[0].shape),
                pending[per_chunk],
            )
            del pending[:per_chunk]
    ready = len(pending) // size * size
    for start in range(0, ready, per_chunk):
        count = min(per_chunk, ready - start)
        successor = pending[start + count] if start + count < len(pending) else None
        yield (
            np.stack(pending[start : start + count]).reshape(count // size, size, *pending[0].shape),
            successor,
        )


def video_snippets(path: Path, options: ExtractOptions) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """``(rgb, flow)`` chunks of ``path`` (:class:`Snippets` shapes), the flow by OpenCV (None without flow)."""
    flow = ChunkFlow(options.flow, "opencv") if options.flow != "none" else None
    for frames, successor in frame_chunks(path, options):
        if flow is None:
            yield frames, None
        else:
            fields = flow(frames.reshape(-1, *frames.shape[2:]), successor)
            yield frames, fields.reshape(*frames.shape[:-1], 2)


class _Videos(IterableDataset[Snippets]):
    """The job's videos, each worker taking every ``num_workers``-th one, as :class:`Snippets` chunks."""

    def __init__(self, paths: Sequence[Path], options: ExtractOptions) -> None:
        self.paths, self.options = list(paths), options

    def __iter__(self) -> Iterator[Snippets]:
        info = get_worker_info()
        start, step = (info.id, info.num_workers) if info is not None else (0, 1)
        for index in range(start, len(self.paths), step):
            path = self.paths[index]
            try:
                about = probe(path)
                previous: Snippets | None = None
                for rgb, flow, successor in self._chunks(path):
                    if previous is not None:
                        yield previous
                    previous = Snippets(index, rgb, flow, successor)
                if previous is None:
                    raise InputError(path, f"is shorter than one snippet ({self.options.snippet} frames)")
                previous.last, previous.seconds, previous.rotation = True, about.duration, about.rotation
                yield previous
            except InputError as exc:
                yield Snippets(index, last=True, error=str(exc))

    def _chunks(self, path: Path) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]:
        """``(rgb, flow, successor)`` of each chunk of ``path``: OpenCV's flow is computed here, in the
        worker; for the torch backend the chunk carries its successor frame instead."""
        if self.options.flow == "none" or self.options.flow_backend == "torch":
            for frames, successor in frame_chunks(path, self.options):
                after = None if successor is None else torch.from_numpy(successor)
                yield torch.from_numpy(frames), None, after
        else:
            for frames, fields in video_snippets(path, self.options):
                assert fields is not None
                yield torch.from_numpy(frames), torch.from_numpy(fields), None


def _single(batch: list[Snippets]) -> Snippets:
    return batch[0]


@dataclass
class ExtractReport:
    """What a job did: videos written, skipped (already there) and failed (with the one-line problem)."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def resolve_options(options: ExtractOptions, device: torch.device) -> ExtractOptions:
    """``options`` with the flow backend and the worker count decided for ``device``."""
    backend = resolve_backend(options.flow_backend, options.flow, device)
    workers = options.workers if options.workers is not None else (2 if device.type == "cuda" else 0)
    return replace(options, flow_backend=backend, workers=workers)


def video_ids(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Each file's video id (its name without the extension); two files with one id is an error."""
    ids = [check_video_id(Path(p).stem, p) for p in paths]
    seen: dict[str, str] = {}
    for vid, path in zip(ids, paths, strict=True):
        if vid in seen:
            raise InputError(path, f"has the same video id {vid!r} as {seen[vid]}")
        seen[vid] = os.fspath(path)
    return ids


def feature_path(root: Path, split: str, stream: str, video_id: str) -> Path:
    """``ROOT/features/SPLIT/STREAM/VID.npy``."""
    return root / "features" / split / stream / f"{video_id}.npy"


def extract_videos(
    paths: Sequence[str | os.PathLike[str]],
    root: str | os.PathLike[str],
    *,
    split: str,
    networks: dict[str, torch.nn.Module],
    options: ExtractOptions,
    device: torch.device,
    progress: Callable[[int, int], object] | None = None,
) -> ExtractReport:
    """Extract every video not yet in ``root``; returns what was written, skipped and failed.

    Args:
        networks: ``{"rgb": I3D, "flow": I3D}`` (``rgb`` only when ``options.flow == "none"``), in eval mode
            on ``device``.
        progress: called with (videos finished, frames processed) increments.
    """
    base = Path(root)
    ids = video_ids(paths)
    if options.flow_backend == "auto" or options.workers is None:
        options = resolve_options(options, device)
    report = ExtractReport()
    todo: list[tuple[Path, str]] = []
    for path, vid in zip(paths, ids, strict=True):
        if is_extracted(base, split, vid, Path(path), options):
            report.skipped.append(vid)
        else:
            todo.append((Path(path), vid))
    if not todo:
        return report
    loader = DataLoader(
        _Videos([path for path, _ in todo], options),
        batch_size=1,
        collate_fn=_single,
        num_workers=options.workers or 0,
        multiprocessing_context="spawn" if options.workers else None,
        pin_memory=device.type == "cuda",
    )
    features: dict[int, dict[str, list[np.ndarray]]] = {}
    flows: dict[int, ChunkFlow] = {}  # the torch backend's flow state of each video under way
    for chunk in loader:
        vid = todo[chunk.video][1]
        if chunk.error is not None:
            report.failed.append(chunk.error)
            features.pop(chunk.video, None)
            flows.pop(chunk.video, None)
            if progress is not None:
                progress(1, 0)
            continue
        parts = features.setdefault(chunk.video, {s: [] for s in options.streams})
        assert chunk.rgb is not None
        rgb = chunk.rgb.to(device, non_blocking=True)  # (n, S, H, W, 3) uint8
        parts["rgb"].append(_forward(networks["rgb"], _rgb_input(rgb)))
        flow = chunk.flow
        if flow is None and options.flow != "none":  # the torch backend: flow here, on the device
            estimator = flows.setdefault(chunk.video, ChunkFlow(options.flow, "torch", device))
            successor = None if chunk.successor is None else chunk.successor.to(device, non_blocking=True)
            flow = estimator(rgb.reshape(-1, *rgb.shape[2:]), successor).reshape(*rgb.shape[:-1], 2)
        if flow is not None:
            parts["flow"].append(_forward(networks["flow"], _flow_input(flow.to(device, non_blocking=True))))
        if progress is not None:
            progress(0, rgb.shape[0] * rgb.shape[1])
        if chunk.last:
            arrays = {s: np.concatenate(parts[s]) for s in options.streams}
            source = todo[chunk.video][0]
            _write_video(base, split, vid, arrays, options, chunk.seconds, source, chunk.rotation)
            features.pop(chunk.video)
            flows.pop(chunk.video, None)
            report.written.append(vid)
            if progress is not None:
                progress(1, 0)
    return report


def _rgb_input(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``(n, S, H, W, 3)`` uint8 → ``(n, 3, S, H, W)`` float32 in [-1, 1], on the frames' device."""
    tensor = torch.as_tensor(frames).permute(0, 4, 1, 2, 3).float()
    return tensor / 127.5 - 1.0


def _flow_input(flow: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``(n, S, H, W, 2)`` float32 in [-1, 1] → ``(n, 2, S, H, W)``, on the flow's device."""
    return torch.as_tensor(flow).permute(0, 4, 1, 2, 3).contiguous()


def _forward(network: torch.nn.Module, clips: torch.Tensor) -> np.ndarray:
    """``(n, C, S, H, W)`` clips (on the network's device) → ``(n, 1024)`` float32 features."""
    with torch.inference_mode():
        return network(clips).float().cpu().numpy()


def _source_stamp(path: Path) -> dict[str, Any]:
    """What identifies the source file's content cheaply: its size and modification time."""
    info = path.stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


def info_path(root: Path, video_id: str) -> Path:
    """``ROOT/video_info/VID.json``."""
    return root / VIDEO_INFO / f"{video_id}.json"


def is_extracted(root: Path, split: str, video_id: str, source: Path, options: ExtractOptions) -> bool:
    """Whether ``video_id``'s features are there, from this very ``source`` file, with these options."""
    if not all(feature_path(root, split, s, video_id).is_file() for s in options.streams):
        return False
    try:
        recorded = read_json(info_path(root, video_id), missing_ok=True)
        stamp = _source_stamp(source)
    except (InputError, OSError):
        return False
    if not (
        isinstance(recorded, dict)
        and recorded.get("source") == stamp
        and isinstance(recorded.get("options"), dict)
        and {"flow_backend": "opencv", **recorded["options"]}
        == {"flow_backend": "opencv", **_options_record(options)}
        and recorded.get("split") == split
    ):
        return False
    if "rotation" in recorded:
        return True
    # Written before frames were decoded as displayed (and before the torch backend, so by OpenCV):
    # still right unless the video is turned for display.
    try:
        return probe(source).rotation == 0
    except InputError:
        return False


def _options_record(options: ExtractOptions) -> dict[str, Any]:
    """The options that shape the features (not ``batch`` or ``workers``); the TV-L1 backend is one."""
    record: dict[str, Any] = {
        "fps": options.fps,
        "snippet": options.snippet,
        "short_side": options.short_side,
        "crop": options.crop,
        "flow": options.flow,
    }
    if options.flow == "tvl1":
        record["flow_backend"] = options.flow_backend
    return record


def _write_video(
    root: Path,
    split: str,
    video_id: str,
    arrays: dict[str, np.ndarray],
    options: ExtractOptions,
    seconds: float,
    source: Path,
    rotation: int = 0,
) -> None:
    """The video's feature files and its ``video_info/VID.json``, all published together."""
    snippets = int(next(iter(arrays.values())).shape[0])
    entry = {
        "fps": options.fps,
        "duration": snippets * options.snippet / options.fps,  # the seconds the T snippets cover
        "snippets": snippets,
        "source_duration": seconds,
        "rotation": rotation,  # degrees counter-clockwise the frames were turned for display
        "split": split,
        "options": _options_record(options),
        "source": _source_stamp(source),
    }
    with staged() as staging:
        for stream, array in arrays.items():
            with open(staging.file(feature_path(root, split, stream, video_id)), "wb") as handle:
                np.save(handle, array.astype(np.float32), allow_pickle=False)
        staging.file(info_path(root, video_id)).write_text(
            json.dumps(entry, indent=1) + "\n", encoding="utf-8"
        )


def load_networks(
    options: ExtractOptions, rgb_weights: str | None, flow_weights: str | None, device: torch.device
) -> dict[str, torch.nn.Module]:
    """The I3D network of each stream ``options`` writes, from the user's weight files, on ``device``."""
    from ecm.video.i3d import load_i3d

    files = {"rgb": (rgb_weights, "--rgb-weights", 3), "flow": (flow_weights, "--flow-weights", 2)}
    networks: dict[str, torch.nn.Module] = {}
    for stream in options.streams:
        path, flag, channels = files[stream]
        if path is None:
            raise InputError(None, f"{flag} is needed (a converted Kinetics I3D file; nothing is downloaded)")
        networks[stream] = load_i3d(path, channels).to(device).eval()
    return networks


def shard_videos(
    paths: Sequence[str | os.PathLike[str]], shard: tuple[int, int]
) -> list[str | os.PathLike[str]]:
    """The files of shard ``(i, N)``, the videos balanced by duration (longest first); all for ``(0, 1)``."""
    index, count = shard
    if count == 1:
        return list(paths)

    def seconds(path: str | os.PathLike[str]) -> float:
        try:
            return probe(path).duration
        except InputError:
            return 0.0  # reported when its shard reads it

    shards = balanced_shards([seconds(p) for p in paths], count)
    return [paths[i] for i in shards[index]]


def extract_files(
    paths: Sequence[str | os.PathLike[str]],
    root: Path,
    *,
    split: str,
    options: ExtractOptions,
    rgb_weights: str | None,
    flow_weights: str | None,
    device: str = "auto",
    quiet: bool = False,
    shard: str | None = None,
) -> ExtractReport:
    """Check the files and weights, then extract this process's share with progress bars.

    Under torchrun each rank extracts its shard of the videos (balanced by duration) and every rank
    returns the report of all; ``shard`` (``"i/N"``) does the same for independently started processes,
    which report their own share.
    """
    from ecm.device import resolve_device
    from ecm.distributed import all_gather, choose_shard, init_from_environment, process_device
    from ecm.progress import progress_bar

    video_ids(paths)  # refuses duplicate ids before any work
    import_av()  # the video extra, first: its absence is the likeliest problem
    if options.flow != "none":
        import_cv2()
    group = init_from_environment(device)
    mine = shard_videos(paths, choose_shard(group, shard))
    target = resolve_device(process_device(group, device))
    options = resolve_options(options, target)  # says once when the torch backend runs without CUDA
    networks = load_networks(options, rgb_weights, flow_weights, target)
    with (
        progress_bar(len(mine), "extract", quiet=quiet or not group.is_main) as videos,
        progress_bar(None, "frames", quiet=quiet or not group.is_main, unit="frame") as frames,
    ):

        def advance(done: int, count: int) -> None:
            videos.update(done)
            frames.update(count)

        report = extract_videos(
            mine, root, split=split, networks=networks, options=options, device=target, progress=advance
        )
    parts = all_gather(group, report)
    return ExtractReport(
        written=[v for part in parts for v in part.written],
        skipped=[v for part in parts for v in part.skipped],
        failed=[v for part in parts for v in part.failed],
    )
