"""The synthetic benchmark: real structure, determinism, and each documented phenomenon."""

from __future__ import annotations

import dataclasses
import filecmp
import json
from pathlib import Path

import numpy as np
import pytest

from ecm.data.annotations import ClassIndex, VideoAnnotation, load_activitynet_json
from ecm.data.synth_presets import preset_config, preset_structure, write_dataset
from ecm.data.synthetic import SynthConfig, SynthWorld, action_intensity, video_features
from ecm.errors import InputError
from ecm.structures import Segment


def test_thumos14_structure_equals_real_gt(shared_data: Path) -> None:
    structure = preset_structure("thumos14")
    real = load_activitynet_json(shared_data / "thumos14" / "gt.json")
    assert len(structure.videos) == 410
    info = json.loads((shared_data / "thumos14/mmtad_json/TH14_video_info.json").read_text())
    for video in structure.videos:
        assert video.subset == real[video.video_id].subset
        assert video.segments == real[video.video_id].segments
        assert video.duration == info[video.video_id]["duration"]
        assert video.fps == info[video.video_id]["fps"]
    assert len(structure.class_index) == 20
    assert sum(len(v) for v in structure.ambiguous.values()) > 0


def test_written_gt_json_equals_real_structure(tmp_path: Path, shared_data: Path) -> None:
    """The full preset's folder layout, at a tiny width so the test stays fast."""
    root = tmp_path / "th14"
    summary = write_dataset(
        root, preset_structure("thumos14"), preset_config("thumos14", feature_dim=4), preset="thumos14"
    )
    assert summary.videos == 410
    written = load_activitynet_json(root / "gt.json")
    real = load_activitynet_json(shared_data / "thumos14" / "gt.json")
    assert {v: (a.subset, a.segments) for v, a in written.items()} == {
        v: (a.subset, a.segments) for v, a in real.items()
    }
    assert (root / "split_test.txt").read_text().split() == sorted(
        v for v, a in real.items() if a.subset == "test"
    )
    assert len(list((root / "features/test/flow").iterdir())) == 210
    video = written["video_test_0000896"]
    assert video.duration is not None
    assert np.load(root / "features/test/rgb/video_test_0000896.npy").shape == (
        int(video.duration * 25 / 16),
        2,
    )


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    config = preset_config("tiny")
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_dataset(tmp_path / name, preset_structure("tiny", seed=0), config, seed=seed)
    rel = "features/train/flow/video_train_0000003.npy"
    assert filecmp.cmp(tmp_path / "a" / rel, tmp_path / "b" / rel, shallow=False)
    assert not filecmp.cmp(tmp_path / "a" / rel, tmp_path / "c" / rel, shallow=False)


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(InputError, match="--overwrite"):
        write_dataset(out, preset_structure("tiny"), preset_config("tiny"))
    assert (out / "keep.txt").read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left behind


# --- the phenomena, each measured on one generated video -------------------------------------------------

CLASSES = ClassIndex(("A", "B", "C"))


def _video(config: SynthConfig, segments: tuple[Segment, ...], duration: float = 64.0, seed: int = 0):  # type: ignore[no-untyped-def]
    world = SynthWorld.draw(config, 3, [[0, 1]], seed)
    video = VideoAnnotation("v", "train", segments, duration, 30.0)
    return world, video_features(video, 0, duration, CLASSES, world, config, seed)


def _latent(world: SynthWorld, stream: str, features: np.ndarray) -> np.ndarray:
    """Least-squares read-back of the latent vectors from the channels (before the ReLU it is exact)."""
    return features @ np.linalg.pinv(world.projection[stream])


def test_features_are_nonnegative_and_sparse() -> None:
    _, feats = _video(SynthConfig(stream_dim=64, latent_dim=16), (Segment(10, 20, "A"),))
    for array in feats.values():
        assert array.dtype == np.float32 and array.min() >= 0
        assert 0.2 < (array == 0).mean() < 0.8


def test_action_signal_peaks_inside_instance_and_mostly_in_flow() -> None:
    config = SynthConfig(
        stream_dim=256, latent_dim=16, noise_std=0.2, white_noise=0.05, channel_bias=1.0, gain_std=0.0
    )
    world, feats = _video(config, (Segment(20.0, 40.0, "A"),))
    step = 64.0 / config.num_snippets(64.0)
    t_mid, t_edge, t_out = int(30 / step), int(20.6 / step), int(5 / step)
    score = {s: _latent(world, s, feats[s]) @ world.action[s][0] for s in ("rgb", "flow")}
    flow = score["flow"]
    assert flow[t_mid] > flow[t_edge] > flow[t_out]  # (b) peaked, weaker at the boundary
    assert flow[t_mid] - flow[t_out] > 2 * (score["rgb"][t_mid] - score["rgb"][t_out])  # mostly flow


def test_scene_context_correlates_with_class_in_rgb() -> None:
    config = SynthConfig(
        stream_dim=256, latent_dim=16, noise_std=0.2, white_noise=0.05, channel_bias=1.0, gain_std=0.0
    )
    world, feats = _video(config, (Segment(40.0, 50.0, "C"),))
    background = _latent(world, "rgb", feats["rgb"][:10]).mean(axis=0)  # snippets before the action
    similarity = world.scene["rgb"] @ background
    assert int(np.argmax(similarity)) == CLASSES.index("C")


def test_confusable_classes_have_close_prototypes() -> None:
    config = SynthConfig(latent_dim=64, confusion=0.75)
    world = SynthWorld.draw(config, 3, [[0, 1]], seed=0)
    proto = world.action["flow"]
    assert proto[0] @ proto[1] > 0.6
    assert abs(proto[0] @ proto[2]) < 0.4


def test_ambiguous_span_carries_partial_signal() -> None:
    config = SynthConfig(ambiguous_level=0.5)
    video = VideoAnnotation("v", "test", (Segment(10.0, 20.0, "B"),), 64.0, 30.0)
    rng = np.random.default_rng(0)
    intensity = action_intensity(video, 100, 64.0, CLASSES, config, rng, ambiguous=[(40.0, 50.0)])
    inside_ambiguous = intensity[CLASSES.index("B"), int(45 / 0.64)]
    assert inside_ambiguous == pytest.approx(0.5)
    assert intensity[:, int(30 / 0.64)].sum() == 0


def test_gain_and_offset_vary_between_videos() -> None:
    config = SynthConfig(stream_dim=32, latent_dim=8, gain_std=0.5)
    world = SynthWorld.draw(config, 3, [], 0)
    video = VideoAnnotation("v", "train", (Segment(5, 10, "A"),), 30.0, 30.0)
    means = [video_features(video, i, 30.0, CLASSES, world, config, 0)["rgb"].mean() for i in range(6)]
    assert np.std(means) / np.mean(means) > 0.1


def test_smooth_noise_is_temporally_correlated() -> None:
    config = dataclasses.replace(
        SynthConfig(stream_dim=64, latent_dim=16), white_noise=0.0, channel_noise=0.0
    )
    _, feats = _video(config, (), duration=300.0)
    x = feats["flow"] - feats["flow"].mean(axis=0)
    lag1 = np.mean(np.sum(x[1:] * x[:-1], axis=1)) / np.mean(np.sum(x * x, axis=1))
    assert lag1 > 0.5


def test_written_files_are_not_private(tmp_path: Path) -> None:
    """Atomic writes must not leave mkstemp's 0600 mode on user-facing files."""
    import os

    from ecm.files import write_text

    write_text(tmp_path / "report.md", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o666 & ~umask


def test_corpus_preset_is_features_only(tmp_path: Path) -> None:
    summary = write_dataset(
        tmp_path / "c", preset_structure("corpus", seed=0, videos=5), preset_config("corpus"), preset="corpus"
    )
    assert summary.videos == 5 and summary.feature_dim == 64
    names = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert names == ["features", "synth.json"]  # no gt.json, classes.txt or split files: no labels
    assert len(list((tmp_path / "c" / "features" / "test" / "rgb").glob("*.npy"))) == 5
    with pytest.raises(InputError, match="--videos"):
        preset_structure("corpus", videos=0)
