"""Decoding a video file into frames at a fixed rate, resized and centre-cropped, in bounded chunks.

Frames are resampled to ``fps`` by their timestamps, not by counting them: the frame shown at time
``k / fps`` is the last decoded frame whose presentation time is ≤ ``k / fps``, so a 30-fps or
variable-rate file gives the frames a viewer would see at 25 fps. Frames are decoded as displayed: a
stream whose display matrix turns it (a phone's portrait video, stored landscape) is turned the way
players such as ffplay turn it, before anything else looks at its size. The shorter side of the
displayed frame is resized to ``short_side`` pixels and the centre ``crop × crop`` is kept. Frames
stream out in chunks, so a long video never sits in memory whole. PyAV (the ``video`` extra) is
imported on first use.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecm.errors import InputError
from ecm.files import check_input_file

VIDEO_EXTRA = "pip install 'ecm-tal[video]'"
_EPSILON = 1e-6  # seconds: timestamps closer than this are the same instant


def import_av() -> Any:
    """PyAV, or one :class:`InputError` line saying what to install."""
    try:
        import av
    except ImportError:
        raise InputError(None, f"reading video files needs PyAV: {VIDEO_EXTRA}") from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video file.

    Attributes:
        duration: seconds, from the stream or container (or the last frame's time when neither says).
        fps: the stream's average frame rate (frames/s).
        width, height: pixels of the frame as displayed, i.e. after ``rotation`` (the stored frame's
            sides swapped for 90 and 270); the size :func:`read_frames` resizes and crops.
        rotation: degrees counter-clockwise, 0, 90, 180 or 270, that turn a stored frame into the
            displayed one: the display matrix's angle (FFmpeg's and ``VideoFrame.rotation``'s
            convention) modulo 360, to the nearest quarter turn. A portrait phone video stored
            landscape, which ffprobe says has "rotation of -90.00 degrees" (the old ``rotate`` tag: 90),
            has 270: a quarter turn clockwise.
    """

    duration: float
    fps: float
    width: int
    height: int
    rotation: int = 0


def _open(path: Path) -> Any:
    av = import_av()
    check_input_file(path, "video file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable video file ({type(exc).__name__}: {exc})") from None
    if not container.streams.video:
        container.close()
        raise InputError(path, "has no video stream")
    return container


def quarter_turns(rotation: float) -> int:
    """Counter-clockwise quarter turns (0–3) for a display-matrix angle in degrees counter-clockwise.

    The angle is FFmpeg's ``av_display_rotation_get`` (PyAV's ``VideoFrame.rotation``, in [-180, 180]);
    ffmpeg and ffplay turn the frame by it (their ``transpose=clock`` for -90, ``cclock`` for 90), and
    ``np.rot90(image, k=quarter_turns(rotation))`` turns an ``(H, W, C)`` image the same way. Angles
    between quarter turns go to the nearest one; mirroring in the matrix is not applied.

    >>> quarter_turns(-90), quarter_turns(90), quarter_turns(180), quarter_turns(0)
    (3, 1, 2, 0)
    """
    return round(rotation / 90) % 4


def displayed_size(width: int, height: int, turns: int) -> tuple[int, int]:
    """(width, height) of a ``width × height`` frame after ``turns`` counter-clockwise quarter turns."""
    return (height, width) if turns % 2 else (width, height)


def _first_frame_turns(target: Path, container: Any, stream: Any) -> int:
    """The first frame's quarter turns (0 without frames): PyAV reads the display matrix on frames only."""
    av = import_av()
    try:
        frame = next(iter(container.decode(stream)), None)
    except av.error.FFmpegError as exc:
        raise InputError(target, f"cannot decode ({type(exc).__name__}: {exc})") from None
    return 0 if frame is None else quarter_turns(frame.rotation)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Duration, frame rate, displayed size and rotation of ``path``.

    The first frame is decoded, for its display matrix. Raises :class:`InputError` for an unreadable
    file, one with no video stream, or a first frame that cannot be decoded.
    """
    target = Path(path)
    with _open(target) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        turns = _first_frame_turns(target, container, stream)
        stored = int(stream.codec_context.width), int(stream.codec_context.height)
        width, height = displayed_size(*stored, turns)
        return VideoInfo(duration, rate, width, height, rotation=90 * turns)


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to ``short_side``, aspect kept (even numbers).

    >>> resized_size(320, 240, 256)
    (342, 256)
    """
    scale = short_side / min(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def centre_crop(frame: np.ndarray, crop: int) -> np.ndarray:
    """The centre ``crop × crop`` of a ``(H, W, C)`` frame (the whole frame on a side shorter than ``crop``)."""
    height, width = frame.shape[:2]
    top, left = max(0, (height - crop) // 2), max(0, (width - crop) // 2)
    return frame[top : top + crop, left : left + crop]


def read_frames(
    path: str | os.PathLike[str],
    *,
    fps: float = 25.0,
    short_side: int = 256,
    crop: int = 224,
    chunk: int = 128,
) -> Iterator[np.ndarray]:
    """The frames of ``path`` at ``fps``, resized and centre-cropped: chunks of ``(n ≤ chunk, crop, crop, 3)`` uint8.

    Frames are as displayed: the first frame's display matrix turns every frame (see
    :func:`quarter_turns`), and the shorter side of the turned frame becomes ``short_side``. Raises
    :class:`InputError` for an unreadable file, one with no video stream, or a decoding error.
    """
    av = import_av()
    target = Path(path)
    buffer: list[np.ndarray] = []
    emitted = 0  # output frames so far: the next one is shown at time emitted / fps
    shown: np.ndarray | None = None  # the last decoded frame (cropped), with its time
    shown_time = -math.inf
    with _open(target) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frame_step = 1.0 / float(stream.average_rate) if stream.average_rate else 1.0 / fps
        origin: float | None = None  # the first frame's time: output time 0 (containers may start later)
        turns: int | None = None  # counter-clockwise quarter turns from stored to displayed, set by frame 1
        size = (0, 0)  # (width, height) a stored frame is resized to: the displayed resized size, unturned
        try:
            for frame in container.decode(stream):
                if turns is None:
                    turns = quarter_turns(frame.rotation)
                    stored = stream.codec_context.width, stream.codec_context.height
                    resized = resized_size(*displayed_size(*stored, turns), short_side)
                    size = displayed_size(*resized, turns)
                if frame.time is None:  # no timestamp (a raw stream): one frame step after the previous
                    time = 0.0 if shown is None else shown_time + frame_step
                else:
                    origin = frame.time if origin is None else origin
                    time = frame.time - origin
                # Resize to the unturned size, then turn: the same as turning the full frame first, up to
                # swscale's chroma rounding, which is no larger than for an unturned video (see the tests).
                pixels = frame.to_ndarray(width=size[0], height=size[1], format="rgb24")  # (h, w, 3) stored
                image = centre_crop(np.rot90(pixels, k=turns), crop)  # (H, W, 3) as displayed
                # Every output time before this frame's shows the previous frame (times compared to 1 µs).
                while shown is not None and emitted / fps < time - _EPSILON:
                    buffer.append(shown)
                    emitted += 1
                    if len(buffer) == chunk:
                        yield np.stack(buffer)
                        buffer.clear()
                shown, shown_time = image, time
        except av.error.FFmpegError as exc:
            raise InputError(target, f"cannot decode ({type(exc).__name__}: {exc})") from None
    if shown is not None:  # the last frame is shown for one frame duration
        while emitted / fps < shown_time + frame_step - _EPSILON:
            buffer.append(shown)
            emitted += 1
    if buffer:
        yield np.stack(buffer)
