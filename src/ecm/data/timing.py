"""Snippet ↔ seconds ↔ frames: how a video's T feature snippets map onto its timeline.

A feature snippet covers ``frames_per_snippet`` frames sampled at ``feature_fps`` (I3D features for
THUMOS14 and ActivityNet: 16 frames at 25 fps, 0.64 s). When a video's true ``duration`` (seconds)
and source ``fps`` are known (``gt.json`` fields, ECM's ``.npz`` ``frame_num``/``fps``) they take
precedence: the T snippets are taken to span the whole video, which is how the reference
post-processing maps them (it stretches the CAS to the video's frame count).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecm.data.annotations import VideoAnnotation


@dataclass(frozen=True)
class SnippetTiming:
    """Default timing for videos whose duration and fps are unknown."""

    frames_per_snippet: int = 16  # frames per feature snippet
    feature_fps: float = 25.0  # frame rate the features were extracted at (frames/s)

    @property
    def seconds_per_snippet(self) -> float:
        """Length of one snippet in seconds (0.64 s by default)."""
        return self.frames_per_snippet / self.feature_fps


@dataclass(frozen=True)
class VideoTiming:
    """One video's timeline.

    Attributes:
        num_snippets: T, the number of feature snippets.
        duration: length of the video in seconds.
        fps: frames per second of the source video (post-processing works at this frame rate).
    """

    num_snippets: int
    duration: float
    fps: float

    @property
    def frame_num(self) -> int:
        """Number of source frames, ``round(duration · fps)`` (at least 1)."""
        return max(1, round(self.duration * self.fps))

    @property
    def seconds_per_snippet(self) -> float:
        """Seconds covered by one snippet, ``duration / T``."""
        return self.duration / self.num_snippets

    def snippet_starts(self) -> list[float]:
        """Start time (seconds) of every snippet, length T."""
        step = self.seconds_per_snippet
        return [t * step for t in range(self.num_snippets)]


def resolve_timing(
    num_snippets: int,
    annotation: VideoAnnotation | None = None,
    default: SnippetTiming | None = None,
    *,
    duration: float | None = None,
    fps: float | None = None,
) -> VideoTiming:
    """A video's timing: explicit ``duration``/``fps`` first, then the annotation's, then ``default``.

    With no known duration, ``duration = T · frames_per_snippet / feature_fps``; with no known fps,
    ``fps = feature_fps``.
    """
    default = default or SnippetTiming()
    if duration is None and annotation is not None:
        duration = annotation.duration
    if fps is None and annotation is not None:
        fps = annotation.fps
    if duration is None or duration <= 0:
        duration = num_snippets * default.seconds_per_snippet
    if fps is None or fps <= 0:
        fps = default.feature_fps
    return VideoTiming(num_snippets=num_snippets, duration=float(duration), fps=float(fps))
