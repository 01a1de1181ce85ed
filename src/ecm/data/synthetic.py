"""Synthetic I3D-like snippet features with the statistics that make WTAL hard.

Real I3D features cannot be downloaded here, so ``ecm synth`` writes features for the *real* THUMOS14
(or ActivityNet) annotation structure — the same videos, lengths, instances and labels — in the same
on-disk layout as the real releases. This module is the feature model; :mod:`ecm.data.synth_presets`
holds the video structures and writes the folder.

The model (per video, T snippets of ``frames_per_snippet / feature_fps`` seconds each)
--------------------------------------------------------------------------------------
Each stream (rgb, flow) is drawn in a small latent space of ``latent_dim`` dimensions and projected to
its ``stream_dim`` channels by a fixed random matrix, so a low-width preset (``thumos14-lite``) is the
same problem as the full-width one, not an easier or harder one. In latent space, snippet t of stream s is

    z_s(t) = Σ_c I_c(t) · α_s · P_s[c]           action signal                      (b, c, f)
           + κ_s · ctx_v                          scene context, whole video          (a)
           + β · bg_v(t)                          drifting background mixture
           + n_s(t)                               temporally smooth noise + white     (d)

and the channels are ``x_s(t) = max(0, g_v · (W_s z_s(t)) + b_s + o_v + ε)``  (e, g): a per-video gain
g_v and offset o_v, a fixed per-channel bias b_s < 0 and a ReLU give non-negative, sparse-ish values
like post-ReLU I3D features; ε is small per-channel white noise.

(a) **Scene context** ``ctx_v`` is a mix (``context_class_share``) of the scene prototypes of the
    video's classes and a video-specific random direction, present in every snippet of the video,
    mostly in the rgb stream (κ_rgb = ``context_strength``, κ_flow = ``context_flow_share`` × that).
    The background of a Billiards video therefore looks like Billiards. This knob sets how hard the
    benchmark is for the paper's network: the stronger the context, the more the CAS stays high over
    whole videos rather than inside instances (calibration: README, "Calibration").
(b) **Action signal** is strongest in the flow stream (α_flow = ``action_strength``,
    α_rgb = ``action_rgb_share`` × that) and peaked inside an instance: the intensity I_c(t) at relative
    position u ∈ [0, 1] of the instance is ``boundary_level + (1 − boundary_level)·sin(πu)^peak_power``,
    times the share of the snippet the instance covers, times a per-instance strength drawn from
    ``[1 − instance_spread, 1 + instance_spread]``. A classifier finds the middle of an action first
    (most-discriminative-part bias).
(c) **Confusable classes** (``confusable``, e.g. CliffDiving/Diving) get action and scene prototypes
    with cosine similarity ``confusion`` inside their group.
(d) **Smooth noise**: Gaussian noise filtered twice by a box of ``noise_smooth`` snippets (norm
    ``noise_std``), plus white noise of norm ``white_noise``.
(e) **Per-video gain and offset**: g_v = exp(N(0, ``gain_std``²)), o_v ~ N(0, ``offset_std``²).
(f) **Ambiguous spans** (THUMOS14 ``Ambiguous_*.txt``) carry ``ambiguous_level`` of an action signal of
    one of the video's classes, flat over the span.
(g) **Non-negative, sparse-ish** values from the ReLU and ``channel_bias``.

Randomness: global prototypes come from ``default_rng([seed, 1])`` and video i's draws from
``default_rng([seed, 2, i])`` (i = the video's position in the sorted id list), so a dataset is a pure
function of (structure, config, seed). Every norm above is a latent-space vector norm.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ecm.data.annotations import ClassIndex, VideoAnnotation
from ecm.errors import InputError


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the synthetic feature model (see the module docstring for the equations)."""

    stream_dim: int = 1024  # channels per stream; D = 2 · stream_dim (rgb ++ flow)
    latent_dim: int = 64  # latent dimensions per stream, projected to stream_dim channels
    frames_per_snippet: int = 16  # frames per snippet; T = floor(duration · feature_fps / frames_per_snippet)
    feature_fps: float = 25.0  # frame rate of feature extraction (frames/s)
    action_strength: float = 1.3  # (b) norm α_flow of a class's action signal at an instance's peak
    action_rgb_share: float = 0.35  # (b) α_rgb / α_flow: the rgb stream sees actions more weakly
    boundary_level: float = 0.25  # (b) intensity at an instance's edges relative to its peak
    peak_power: float = 1.0  # (b) sharpness of the intensity peak (sin(πu)^power)
    instance_spread: float = 0.35  # (b) per-instance strength drawn from 1 ± this
    context_strength: float = 1.0  # (a) norm κ_rgb of the scene context in the rgb stream
    context_flow_share: float = 0.25  # (a) κ_flow / κ_rgb
    context_class_share: float = 0.7  # (a) how much of the context is the classes' scene prototypes
    confusion: float = 0.75  # (c) cosine similarity of prototypes inside a confusable group
    background_strength: float = 0.8  # norm β of the drifting background mixture
    background_patterns: int = 8  # number of shared background prototypes
    noise_std: float = 1.0  # (d) norm of the smooth latent noise per snippet
    noise_smooth: int = 5  # (d) box-filter width in snippets (applied twice)
    white_noise: float = 0.4  # (d) norm of the white latent noise per snippet
    gain_std: float = 0.2  # (e) std of log gain per video
    offset_std: float = 0.05  # (e) std of the per-video offset (channel units)
    ambiguous_level: float = 0.5  # (f) strength of an Ambiguous span relative to an instance's peak
    channel_bias: float = 0.05  # (g) mean per-channel bias before the ReLU (sets sparsity: ≈ 50 % zeros)
    channel_noise: float = 0.03  # (g) per-channel white noise std (channel units)

    def __post_init__(self) -> None:
        counts = ("stream_dim", "latent_dim", "frames_per_snippet", "background_patterns", "noise_smooth")
        for name in counts:
            if getattr(self, name) < 1:
                raise InputError(None, f"synth knob {name} must be ≥ 1, got {getattr(self, name)}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name not in counts and not (math.isfinite(value) and value >= 0.0):
                raise InputError(None, f"synth knob {f.name} must be a finite number ≥ 0, got {value}")
        if self.feature_fps <= 0.0:
            raise InputError(None, f"synth knob feature_fps must be > 0, got {self.feature_fps}")
        if not 0.0 <= self.confusion <= 1.0:
            raise InputError(None, f"synth knob confusion is a cosine in [0, 1], got {self.confusion}")

    @property
    def feature_dim(self) -> int:
        """D = 2 · stream_dim."""
        return 2 * self.stream_dim

    def num_snippets(self, duration: float) -> int:
        """T = ⌊duration · feature_fps / frames_per_snippet⌋, at least 1."""
        return max(1, int(np.floor(duration * self.feature_fps / self.frames_per_snippet)))


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


def _grouped_prototypes(
    rng: np.random.Generator, num_classes: int, dim: int, groups: Sequence[Sequence[int]], cos: float
) -> np.ndarray:
    """(C, dim) unit vectors; classes inside a group share a component so that their cosine ≈ ``cos``."""
    protos = _unit_rows(rng.standard_normal((num_classes, dim)))
    for group in groups:
        shared = _unit_rows(rng.standard_normal((1, dim)))[0]
        for c in group:
            protos[c] = np.sqrt(cos) * shared + np.sqrt(1.0 - cos) * protos[c]
    return _unit_rows(protos)


@dataclass(frozen=True)
class SynthWorld:
    """Everything shared by all videos of a dataset: prototypes and projections (drawn from the seed)."""

    action: dict[str, np.ndarray]  # stream → (C, L) unit action prototypes
    scene: dict[str, np.ndarray]  # stream → (C, L) unit scene prototypes
    background: dict[str, np.ndarray]  # stream → (K, L) unit background prototypes
    projection: dict[str, np.ndarray]  # stream → (L, stream_dim)
    bias: dict[str, np.ndarray]  # stream → (stream_dim,)

    @classmethod
    def draw(
        cls, config: SynthConfig, num_classes: int, groups: Sequence[Sequence[int]], seed: int
    ) -> SynthWorld:
        rng = np.random.default_rng([seed, 1])
        latent, width = config.latent_dim, config.stream_dim
        action, scene, background, projection, bias = {}, {}, {}, {}, {}
        for stream in ("rgb", "flow"):
            action[stream] = _grouped_prototypes(rng, num_classes, latent, groups, config.confusion)
            scene[stream] = _grouped_prototypes(rng, num_classes, latent, groups, config.confusion)
            background[stream] = _unit_rows(rng.standard_normal((config.background_patterns, latent)))
            # Each channel is a random unit-norm read-out of the latent vector (channel std ≈ |z| / √L).
            projection[stream] = rng.standard_normal((latent, width)) / np.sqrt(latent)
            bias[stream] = config.channel_bias * (1.0 + 0.5 * rng.standard_normal(width))
        return cls(action, scene, background, projection, bias)


def _box_smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average over axis 0 with a centred box of ``width`` samples, edges replicated."""
    if width <= 1:
        return x
    left = width // 2
    padded = np.concatenate([np.repeat(x[:1], left, axis=0), x, np.repeat(x[-1:], width - 1 - left, axis=0)])
    csum = np.cumsum(padded, axis=0)
    csum = np.concatenate([np.zeros_like(csum[:1]), csum])
    return (csum[width:] - csum[:-width]) / width


def smooth_noise(rng: np.random.Generator, length: int, dim: int, width: int) -> np.ndarray:
    """(length, dim) Gaussian noise smoothed twice by a box of ``width``; each row has norm ≈ 1."""
    raw = rng.standard_normal((length, dim))
    smooth = _box_smooth(_box_smooth(raw, width), width)
    kernel = np.convolve(np.ones(max(width, 1)), np.ones(max(width, 1))) / max(width, 1) ** 2
    return smooth / np.sqrt(float(np.sum(kernel**2)) * dim)


def action_intensity(
    video: VideoAnnotation,
    num_snippets: int,
    duration: float,
    class_index: ClassIndex,
    config: SynthConfig,
    rng: np.random.Generator,
    ambiguous: Sequence[tuple[float, float]] = (),
) -> np.ndarray:
    """I (C, T): how strongly each class's action signal is present in each snippet (0 = absent).

    Snippet t covers ``[t, t + 1) · duration / T`` seconds. Inside an instance [s, e] the intensity is
    ``coverage · strength · (boundary_level + (1 − boundary_level) · sin(π u)^peak_power)`` with u the
    snippet centre's relative position (clamped to [0, 1]) and ``coverage`` the share of the snippet
    the instance covers. Overlapping instances of one class take the maximum.
    """
    step = duration / num_snippets
    starts = np.arange(num_snippets) * step
    ends = starts + step
    centres = starts + step / 2
    intensity = np.zeros((len(class_index), num_snippets))

    def window(s: float, e: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Snippets touching [s, e]: indices, covered share of each, relative centre position u."""
        first = max(0, int(np.floor(s / step)))
        last = min(num_snippets, int(np.ceil(e / step)) + 1)
        t = np.arange(first, last)
        coverage = np.clip(np.minimum(ends[t], e) - np.maximum(starts[t], s), 0.0, None) / step
        u = np.clip((centres[t] - s) / max(e - s, 1e-6), 0.0, 1.0)
        return t, coverage, u

    for seg in video.segments:
        c = class_index.index(seg.label)
        strength = 1.0 + config.instance_spread * (2.0 * rng.random() - 1.0)
        t, coverage, u = window(seg.start, seg.end)
        shape = config.boundary_level + (1.0 - config.boundary_level) * np.sin(np.pi * u) ** config.peak_power
        intensity[c, t] = np.maximum(intensity[c, t], coverage * strength * shape)
    labels = sorted(video.labels)
    for s, e in ambiguous:
        if not labels:
            break
        c = class_index.index(labels[int(rng.integers(len(labels)))])
        t, coverage, _ = window(s, e)
        intensity[c, t] = np.maximum(intensity[c, t], config.ambiguous_level * coverage)
    return intensity


def video_features(
    video: VideoAnnotation,
    video_number: int,
    duration: float,
    class_index: ClassIndex,
    world: SynthWorld,
    config: SynthConfig,
    seed: int,
    ambiguous: Sequence[tuple[float, float]] = (),
) -> dict[str, np.ndarray]:
    """Features of one video: ``{"rgb": (T, stream_dim), "flow": (T, stream_dim)}`` float32, ≥ 0."""
    rng = np.random.default_rng([seed, 2, video_number])
    length = config.num_snippets(duration)
    intensity = action_intensity(video, length, duration, class_index, config, rng, ambiguous)  # (C, T)
    latent = config.latent_dim
    present = [class_index.index(name) for name in sorted(video.labels)]

    # (a) scene context: the video's classes' scene prototypes mixed with a video-specific direction.
    own = _unit_rows(rng.standard_normal((1, latent)))[0]
    # (d) background drift: smooth random weights over the shared background prototypes.
    drift = smooth_noise(rng, length, config.background_patterns, max(config.noise_smooth * 4, 1))
    drift *= np.sqrt(config.background_patterns)
    gain = float(np.exp(config.gain_std * rng.standard_normal()))
    offset = float(config.offset_std * rng.standard_normal())

    out = {}
    for stream in ("rgb", "flow"):
        alpha = config.action_strength * (config.action_rgb_share if stream == "rgb" else 1.0)
        kappa = config.context_strength * (1.0 if stream == "rgb" else config.context_flow_share)
        if present:
            class_scene = _unit_rows(world.scene[stream][present].mean(axis=0, keepdims=True))[0]
        else:
            class_scene = own
        share = config.context_class_share
        context = _unit_rows((share * class_scene + (1.0 - share) * own)[None])[0]
        z = alpha * intensity.T @ world.action[stream]  # (T, L)
        z += kappa * context
        z += config.background_strength * _unit_rows(drift @ world.background[stream] + 1e-8)
        z += config.noise_std * smooth_noise(rng, length, latent, config.noise_smooth)
        z += config.white_noise * rng.standard_normal((length, latent)) / np.sqrt(latent)
        channels = gain * (z @ world.projection[stream]) + world.bias[stream] + offset
        channels += config.channel_noise * rng.standard_normal(channels.shape)
        out[stream] = np.maximum(channels, 0.0).astype(np.float32)
    return out


def confusable_groups(class_index: ClassIndex, groups: Sequence[Sequence[str]]) -> list[list[int]]:
    """Class-name groups → index groups, keeping only names present in ``class_index``."""
    result = []
    for group in groups:
        members = [class_index.index(n) for n in group if n in class_index]
        if len(members) > 1:
            result.append(members)
    return result


def ambiguous_for(
    video_id: str, spans: Mapping[str, Sequence[tuple[float, float]]] | None
) -> Sequence[tuple[float, float]]:
    """The Ambiguous spans (seconds) of ``video_id``, or none."""
    return () if spans is None else spans.get(video_id, ())
