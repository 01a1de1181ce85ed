"""Synthetic benchmark presets and the writer of a synthetic dataset folder.

Presets (``ecm synth OUT --preset NAME``):

* ``thumos14`` — the real THUMOS14 structure from the packaged ``gt.json``: 200 validation videos as
  ``train``, 210 test videos as ``test``, real segments and labels, real durations and fps, T =
  ⌊duration · 25/16⌋ snippets, D = 2048 (1024 rgb + 1024 flow), Ambiguous spans with partial signal,
  confusable groups CliffDiving/Diving, CricketBowling/CricketShot, ThrowDiscus/HammerThrow/Shotput.
* ``thumos14-lite`` — the same structure and feature model at D = 2 × 128, for CPU runs.
* ``tiny`` — 24 short made-up videos of 4 THUMOS14 classes, D = 2 × 32; built to be easy (stronger
  action signal, less noise) so that quick tests converge fast.
* ``activitynet13`` — the real ActivityNet v1.3 structure (training → ``training``, validation →
  ``validation``; 200 classes), sub-sampled to ``fraction`` of the videos of each subset (default 5 %).

The folder written is the common WTAL layout (see :mod:`ecm.data.folder`) plus ``classes.txt``,
``Ambiguous_<split>.txt`` where the preset has them, and ``synth.json`` (preset, seed, every knob).
It is written to a temporary sibling folder and renamed into place when complete.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ecm.data import SYNTH_PRESETS
from ecm.data.annotations import (
    ClassIndex,
    VideoAnnotation,
    dump_activitynet_json,
    load_thumos_ambiguous,
    parse_activitynet_database,
)
from ecm.data.synthetic import SynthConfig, SynthWorld, confusable_groups, video_features
from ecm.errors import InputError
from ecm.files import atomic_dir
from ecm.structures import Segment

log = logging.getLogger(__name__)

PRESETS: tuple[str, ...] = SYNTH_PRESETS

THUMOS14_CONFUSABLE: tuple[tuple[str, ...], ...] = (
    ("CliffDiving", "Diving"),
    ("CricketBowling", "CricketShot"),
    ("ThrowDiscus", "HammerThrow", "Shotput"),
)
TINY_CLASSES: tuple[str, ...] = ("BaseballPitch", "CliffDiving", "Diving", "HighJump")


@dataclass(frozen=True)
class SynthStructure:
    """What to generate: the videos (with duration and fps), classes, splits and Ambiguous spans."""

    videos: tuple[VideoAnnotation, ...]
    class_index: ClassIndex
    splits: tuple[str, ...]
    confusable: tuple[tuple[str, ...], ...] = ()
    ambiguous: Mapping[str, Sequence[tuple[float, float]]] = field(default_factory=dict)
    # split → ambiguous file content: the spans of that split's videos, written as Ambiguous_<split>.txt
    ambiguous_files: Mapping[str, str] = field(default_factory=dict)
    labelled: bool = True  # False: features only (no gt.json, classes.txt or split files)


def preset_config(preset: str, feature_dim: int | None = None, knobs: Sequence[str] = ()) -> SynthConfig:
    """The feature-model knobs of ``preset``; ``feature_dim`` (D, even) overrides the width.

    ``knobs`` are ``"name=value"`` overrides of :class:`SynthConfig` fields, applied last
    (e.g. ``"context_strength=1.5"``); an unknown name or a non-numeric value is an :class:`InputError`.
    """
    if preset not in PRESETS:
        raise InputError(None, f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    if preset in ("tiny", "corpus"):
        config = SynthConfig(
            stream_dim=32,
            latent_dim=16,
            action_strength=2.5,
            noise_std=0.6,
            white_noise=0.2,
            context_strength=0.8,
        )
    elif preset == "thumos14-lite":
        config = SynthConfig(stream_dim=128)
    else:
        config = SynthConfig()
    if feature_dim is not None:
        if feature_dim < 2 or feature_dim % 2:
            raise InputError(
                None, f"--feature-dim must be an even number ≥ 2 (rgb + flow), got {feature_dim}"
            )
        config = dataclasses.replace(config, stream_dim=feature_dim // 2)
    values = parse_knobs(knobs)
    if feature_dim is not None and "stream_dim" in values:
        raise InputError(
            None,
            f"--feature-dim {feature_dim} and --set stream_dim={values['stream_dim']} both set the width "
            "(D = 2 · stream_dim): give one",
        )
    return dataclasses.replace(config, **values) if values else config


def parse_knobs(knobs: Sequence[str]) -> dict[str, Any]:
    """``["context_strength=1.5", …]`` → ``{"context_strength": 1.5, …}``, typed like the fields."""
    types = {f.name: f.type for f in dataclasses.fields(SynthConfig)}
    values: dict[str, Any] = {}
    for text in knobs:
        name, sep, raw = text.partition("=")
        name = name.strip()
        if not sep or name not in types:
            known = ", ".join(sorted(types))
            raise InputError(None, f"--set {text!r}: expected KNOB=VALUE with KNOB one of {known}")
        try:
            value = int(raw) if types[name] in (int, "int") else float(raw)
        except ValueError:
            raise InputError(None, f"--set {text!r}: {name} needs a number") from None
        if name in values:
            raise InputError(
                None, f"--set {name} is given twice ({name}={values[name]} and {text.strip()}): give one"
            )
        values[name] = value
    return values


def _resource(*parts: str) -> Any:
    return resources.files("ecm").joinpath("resources", *parts)


def _thumos14_structure() -> SynthStructure:
    gt_file = _resource("thumos14", "gt.json")
    videos = parse_activitynet_database(
        json.loads(gt_file.read_text(encoding="utf-8")), "ecm/resources/thumos14/gt.json"
    )
    info = json.loads(_resource("thumos14", "video_info.json").read_text(encoding="utf-8"))
    ambiguous: dict[str, list[tuple[float, float]]] = {}
    files = {}
    for split, name in (("train", "Ambiguous_val.txt"), ("test", "Ambiguous_test.txt")):
        with resources.as_file(_resource("thumos14", name)) as path:
            spans = load_thumos_ambiguous(path)
        spans = {v: s for v, s in spans.items() if v in videos and videos[v].subset == split}
        ambiguous.update(spans)
        files[split] = "".join(f"{v} {s:.1f} {e:.1f}\n" for v in sorted(spans) for s, e in spans[v])
    full = tuple(
        dataclasses.replace(v, duration=float(info[vid]["duration"]), fps=float(info[vid]["fps"]))
        for vid, v in sorted(videos.items())
    )
    classes = ClassIndex.from_annotations(full, subset="train")
    return SynthStructure(full, classes, ("train", "test"), THUMOS14_CONFUSABLE, ambiguous, files)


def _tiny_structure(seed: int) -> SynthStructure:
    rng = np.random.default_rng([seed, 4])
    videos = []
    for split, count in (("train", 16), ("test", 8)):
        for i in range(count):
            duration = float(np.round(rng.uniform(30.0, 60.0), 1))
            first = TINY_CLASSES[i % len(TINY_CLASSES)]
            labels = [first]
            if rng.random() < 0.2:
                labels.append(TINY_CLASSES[(i + 1 + int(rng.integers(3))) % len(TINY_CLASSES)])
            segments = []
            cursor = float(rng.uniform(1.0, 6.0))
            for _ in range(int(rng.integers(2, 5))):
                length = float(np.round(rng.uniform(3.0, 8.0), 1))
                if cursor + length > duration - 1.0:
                    break
                label = labels[int(rng.integers(len(labels)))]
                segments.append(Segment(round(cursor, 1), round(cursor + length, 1), label))
                cursor += length + float(rng.uniform(3.0, 10.0))
            if not segments:
                segments.append(Segment(1.0, 4.0, first))
            videos.append(VideoAnnotation(f"video_{split}_{i:07d}", split, tuple(segments), duration, 30.0))
    classes = ClassIndex(tuple(sorted(TINY_CLASSES)))
    return SynthStructure(tuple(videos), classes, ("train", "test"), (("CliffDiving", "Diving"),))


def _activitynet13_structure(seed: int, fraction: float) -> SynthStructure:
    if not 0.0 < fraction <= 1.0:
        raise InputError(None, f"--fraction must be in (0, 1], got {fraction}")
    raw = _resource("activitynet13", "activitynet13_trainval.json.gz").read_bytes()
    database = parse_activitynet_database(json.loads(gzip.decompress(raw)), "ecm/resources/activitynet13")
    rng = np.random.default_rng([seed, 5])
    chosen: list[str] = []
    for subset in ("training", "validation"):
        ids = sorted(v for v, a in database.items() if a.subset == subset)
        keep = max(1, round(fraction * len(ids)))
        chosen.extend(ids[i] for i in sorted(rng.choice(len(ids), size=keep, replace=False)))
    classes = ClassIndex.from_annotations(database.values())
    videos = tuple(
        dataclasses.replace(database[v], fps=database[v].fps or 30.0)
        for v in sorted(chosen)
        if database[v].duration
    )
    return SynthStructure(videos, classes, ("training", "validation"))


def _corpus_structure(seed: int, videos: int) -> SynthStructure:
    """``videos`` unlabelled test videos of 20–200 s at 25 fps: a corpus to measure localization at scale."""
    if videos < 1:
        raise InputError(None, f"--videos must be ≥ 1, got {videos}")
    rng = np.random.default_rng([seed, 11])
    durations = np.round(rng.uniform(20.0, 200.0, size=videos), 1)
    entries = tuple(
        VideoAnnotation(f"video_corpus_{i:07d}", "test", (), float(d), 25.0) for i, d in enumerate(durations)
    )
    return SynthStructure(entries, ClassIndex(tuple(sorted(TINY_CLASSES))), ("test",), labelled=False)


def preset_structure(
    preset: str, seed: int = 0, fraction: float = 0.05, videos: int = 1000
) -> SynthStructure:
    """The video structure of ``preset`` (``fraction`` applies to ``activitynet13``, ``videos`` to ``corpus``)."""
    if preset == "corpus":
        return _corpus_structure(seed, videos)
    if preset in ("thumos14", "thumos14-lite"):
        return _thumos14_structure()
    if preset == "tiny":
        return _tiny_structure(seed)
    if preset == "activitynet13":
        return _activitynet13_structure(seed, fraction)
    raise InputError(None, f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`write_dataset` wrote."""

    root: Path
    videos: int
    snippets: int
    feature_dim: int
    bytes: int
    seconds: float


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def write_dataset(
    out: str | os.PathLike[str],
    structure: SynthStructure,
    config: SynthConfig,
    *,
    seed: int = 0,
    preset: str = "custom",
    overwrite: bool = False,
    progress: Callable[[int], object] | None = None,
) -> SynthSummary:
    """Generate features for every video of ``structure`` and write the dataset folder ``out``.

    Everything is written into a temporary sibling folder first and renamed onto ``out`` at the end, so
    an interrupted run leaves nothing half-written. An existing ``out`` is replaced only with
    ``overwrite``. ``progress`` is called with 1 after each video.
    """
    started = time.perf_counter()
    target = Path(out)
    if target.exists() and not overwrite:
        raise InputError(target, "already exists (pass --overwrite to replace it)")
    with atomic_dir(target) as tmp:
        groups = confusable_groups(structure.class_index, structure.confusable)
        world = SynthWorld.draw(config, len(structure.class_index), groups, seed)
        for split in structure.splits:
            for stream in ("rgb", "flow"):
                (tmp / "features" / split / stream).mkdir(parents=True)
        snippets = 0
        ordered = sorted(structure.videos, key=lambda v: v.video_id)
        for number, video in enumerate(ordered):
            assert video.duration is not None
            feats = video_features(
                video,
                number,
                video.duration,
                structure.class_index,
                world,
                config,
                seed,
                structure.ambiguous.get(video.video_id, ()),
            )
            for stream, array in feats.items():
                _save_npy(tmp / "features" / video.subset / stream / f"{video.video_id}.npy", array)
            snippets += feats["rgb"].shape[0]
            if progress is not None:
                progress(1)
        if not structure.labelled:  # features only
            meta = {
                "preset": preset,
                "seed": seed,
                "config": dataclasses.asdict(config),
                "videos": len(ordered),
            }
            (tmp / "synth.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
            return SynthSummary(
                target, len(ordered), snippets, config.feature_dim, size, time.perf_counter() - started
            )
        gt = dump_activitynet_json(ordered, version=f"ecm synth {preset}")
        (tmp / "gt.json").write_text(json.dumps(gt), encoding="utf-8")
        for split in structure.splits:
            ids = [v.video_id for v in ordered if v.subset == split]
            (tmp / f"split_{split}.txt").write_text("".join(f"{v}\n" for v in ids), encoding="utf-8")
        for split, text in structure.ambiguous_files.items():
            (tmp / f"Ambiguous_{split}.txt").write_text(text, encoding="utf-8")
        (tmp / "classes.txt").write_text(
            "".join(f"{c}\n" for c in structure.class_index.names), encoding="utf-8"
        )
        meta = {"preset": preset, "seed": seed, "config": dataclasses.asdict(config), "videos": len(ordered)}
        (tmp / "synth.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
    return SynthSummary(
        target, len(ordered), snippets, config.feature_dim, size, time.perf_counter() - started
    )
