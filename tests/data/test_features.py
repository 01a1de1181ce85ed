"""Feature stores on files in each real on-disk layout, and every bad-input case."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ecm.data.features import NpyFeatureStore, NpzFeatureStore, WtalcFeatureStore
from ecm.data.folder import DatasetFolder
from ecm.errors import InputError


def _common_layout(tmp_path: Path, lengths: dict[str, int], width: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for stream in ("rgb", "flow"):
        folder = tmp_path / "features" / "test" / stream
        folder.mkdir(parents=True, exist_ok=True)
        for vid, t in lengths.items():
            np.save(folder / f"{vid}.npy", rng.random((t, width), dtype=np.float32))
    return tmp_path


def test_npy_store_concatenates_rgb_then_flow(tmp_path: Path) -> None:
    root = _common_layout(tmp_path, {"v1": 5, "v2": 7})
    store = NpyFeatureStore(root, "test")
    assert store.video_ids == ["v1", "v2"]
    assert store.feature_dim == 8
    assert store.num_snippets("v2") == 7
    features = store.load("v1")
    rgb = np.load(root / "features/test/rgb/v1.npy")
    flow = np.load(root / "features/test/flow/v1.npy")
    assert features.dtype == np.float32 and features.shape == (5, 8)
    np.testing.assert_array_equal(features, np.concatenate([rgb, flow], axis=1))


def test_npy_store_single_stream(tmp_path: Path) -> None:
    root = _common_layout(tmp_path, {"v1": 5})
    store = NpyFeatureStore(root, "test", streams=("flow",))
    np.testing.assert_array_equal(store.load("v1"), np.load(root / "features/test/flow/v1.npy"))


def test_npy_store_reads_lengths_from_headers_lazily(tmp_path: Path) -> None:
    root = _common_layout(tmp_path, {"v1": 5})
    # A huge declared length in a sparse file: the header and the file size alone answer num_snippets.
    path = root / "features/test/rgb/big.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 4)}
        )
        handle.truncate(handle.tell() + 10**6 * 4 * 4)
    shutil.copy(path, root / "features/test/flow/big.npy")
    assert NpyFeatureStore(root, "test").num_snippets("big") == 10**6


def test_truncated_and_float64_files_are_refused_from_the_header(tmp_path: Path) -> None:
    root = _common_layout(tmp_path, {"v1": 5})
    path = root / "features/test/rgb/v1.npy"
    data = path.read_bytes()
    path.write_bytes(data[:-8])  # the last two float32 values lost
    with pytest.raises(InputError, match="is truncated"):
        NpyFeatureStore(root, "test").num_snippets("v1")
    np.save(path, np.zeros((5, 4), np.float64))
    with pytest.raises(InputError, match="dtype float64, the feature layout is float32"):
        NpyFeatureStore(root, "test").num_snippets("v1")
    with pytest.raises(InputError, match="dtype float64"):
        NpyFeatureStore(root, "test").load("v1")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: np.save(p, np.zeros((4, 4), np.float32)), "differ in snippet count"),
        (lambda p: np.save(p, np.zeros((5, 3), np.float32)), "channels, expected 4"),
        (lambda p: np.save(p, np.zeros((5, 4), np.int32)), "dtype int32"),
        (lambda p: np.save(p, np.full((5, 4), np.nan, np.float32)), "NaN or Inf"),
        (lambda p: np.save(p, np.full((5, 4), np.inf, np.float32)), "NaN or Inf"),
        (lambda p: p.write_bytes(b"garbage"), "not a readable"),
        (lambda p: p.unlink(), "file not found"),
    ],
)
def test_npy_store_bad_files(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    root = _common_layout(tmp_path, {"v1": 5, "v2": 5})
    bad = root / "features/test/flow/v2.npy"
    mutate(bad)
    store = NpyFeatureStore(root, "test")
    with pytest.raises(InputError, match=message) as info:
        store.num_snippets("v2")
        store.load("v2")
    assert "v2.npy" in str(info.value)
    store.load("v1")  # the good video still loads


def test_npy_store_never_unpickles(tmp_path: Path) -> None:
    root = _common_layout(tmp_path, {"v1": 5})
    np.save(root / "features/test/rgb/v1.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a readable"):
        NpyFeatureStore(root, "test", stream_dim=4).load("v1")


def _ecm_npz(path: Path, t: int, width: int = 3, **extra: object) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    spa = rng.random((width, t), dtype=np.float32)
    tem = rng.random((width, t), dtype=np.float32)
    np.savez(path, feat_spa=spa, feat_tem=tem, cls_label=np.array([0, 1, 0], np.float32), **extra)  # type: ignore[arg-type]
    return spa, tem


def test_ecm_npz_store(tmp_path: Path) -> None:
    spa, tem = _ecm_npz(
        tmp_path / "video_test_0000004.npz",
        6,
        vid_name=np.array(["video_test_0000004"]),
        frame_num=np.array(999),
        fps=np.array(30.0),
    )
    store = NpzFeatureStore(tmp_path)
    assert store.video_ids == ["video_test_0000004"]
    assert store.feature_dim == 6
    features = store.load("video_test_0000004")
    np.testing.assert_array_equal(features, np.concatenate([spa.T, tem.T], axis=1))
    meta = store.meta("video_test_0000004")
    assert (meta.frame_num, meta.fps) == (999, 30.0)
    np.testing.assert_array_equal(meta.labels, [0, 1, 0])


def test_ecm_npz_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", feat_spa=np.zeros((3, 5), np.float32), feat_tem=np.zeros((3, 4), np.float32))
    np.savez(tmp_path / "b.npz", feat_spa=np.zeros((3, 5), np.float32))
    _ecm_npz(tmp_path / "c.npz", 4, vid_name=np.array(["other"]))
    store = NpzFeatureStore(tmp_path)
    with pytest.raises(InputError, match="feat_spa has 5 snippets, feat_tem 4"):
        store.load("a")
    with pytest.raises(InputError, match="no 'feat_tem'"):
        store.load("b")
    with pytest.raises(InputError, match="does not match"):
        store.meta("c")


def test_wtalc_joint_features_need_opt_in(tmp_path: Path) -> None:
    rows = np.empty(2, dtype=object)
    rows[0] = np.ones((3, 4), np.float32)
    rows[1] = np.zeros((5, 4), np.float32)
    path = tmp_path / "Thumos14reduced-I3D-JOINTFeatures.npy"
    np.save(path, rows, allow_pickle=True)
    with pytest.raises(InputError, match="pickle"):
        WtalcFeatureStore(path, ["a", "b"])
    store = WtalcFeatureStore(path, ["a", "b"], allow_pickle=True)
    assert store.num_snippets("b") == 5 and store.feature_dim == 4
    np.testing.assert_array_equal(store.load("a"), np.ones((3, 4)))
    with pytest.raises(InputError, match="has 2 videos"):
        WtalcFeatureStore(path, ["a"], allow_pickle=True)


def test_dataset_folder_on_tiny(tiny_root: Path) -> None:
    folder = DatasetFolder(tiny_root)
    split = folder.open_split("test", require_labels=True)
    assert len(split) == 8 and split.feature_dim == 64
    record = split.videos[0]
    assert record.labels.sum() >= 1
    assert record.annotation is not None and record.annotation.duration is not None
    assert record.timing.num_snippets == split.features(0).shape[0]
    assert record.timing.num_snippets == int(record.annotation.duration * 25 / 16)
    assert record.timing.frame_num == round(record.annotation.duration * 30.0)


def test_dataset_folder_missing_feature_file(tiny_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(tiny_root, root)
    victim = sorted((root / "features/test/rgb").iterdir())[0]
    victim.unlink()
    with pytest.raises(InputError, match="feature file missing") as info:
        DatasetFolder(root).open_split("test")
    assert victim.name in str(info.value)


def test_unannotated_folder_of_features(tmp_path: Path) -> None:
    """The real-user case: features only, no gt.json — videos come from the files."""
    root = _common_layout(tmp_path, {"clip_a": 5, "clip_b": 9})
    split = DatasetFolder(root).open_split("test")
    assert [v.video_id for v in split.videos] == ["clip_a", "clip_b"]
    assert split.videos[1].timing.duration == pytest.approx(9 * 0.64)
