"""Annotation readers on the real files in ../shared/data, and their error handling."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ecm.data.annotations import (
    ClassIndex,
    check_video_id,
    load_activitynet_json,
    load_thumos_ambiguous,
    load_thumos_txt,
    load_wtalc_annotations,
    select_subset,
)
from ecm.errors import InputError

EXCLUDED_TEST_VIDEOS = {"video_test_0000270", "video_test_0001292", "video_test_0001496"}


def _instances(videos: dict) -> int:
    return sum(len(v.segments) for v in videos.values())


def _as_sets(videos: dict) -> dict[str, list[tuple[float, float, str]]]:
    return {vid: sorted((s.start, s.end, s.label) for s in v.segments) for vid, v in videos.items()}


def test_thumos14_gt_json_agrees_with_official_txt(shared_data: Path) -> None:
    gt = load_activitynet_json(shared_data / "thumos14" / "gt.json")
    official = shared_data / "thumos14" / "official_annotations"
    train = select_subset(gt, "train")
    val_txt = load_thumos_txt(official / "annotations_val", "val", subset="train")
    assert (len(train), _instances(train)) == (200, 3007)
    assert _as_sets(train) == _as_sets(val_txt)

    test = select_subset(gt, "test")
    test_txt = load_thumos_txt(official / "annotations_test", "test")
    kept = {v: a for v, a in test_txt.items() if v not in EXCLUDED_TEST_VIDEOS}
    assert (len(test), _instances(test)) == (210, 3311)
    assert _as_sets(test) == _as_sets(kept)
    # Ambiguous is not a class: no segment carries it.
    assert all(s.label != "Ambiguous" for v in test_txt.values() for s in v.segments)


def test_thumos14_segments_given_as_strings_are_parsed(shared_data: Path) -> None:
    raw = json.loads((shared_data / "thumos14" / "gt.json").read_text())
    first_id, first = next(iter(raw["database"].items()))
    assert isinstance(first["annotations"][0]["segment"][0], str)
    gt = load_activitynet_json(shared_data / "thumos14" / "gt.json")
    assert gt[first_id].segments[0].start == float(first["annotations"][0]["segment"][0])


def test_thumos14_ambiguous_spans(shared_data: Path) -> None:
    spans = load_thumos_ambiguous(
        shared_data / "thumos14/official_annotations/annotations_test/Ambiguous_test.txt"
    )
    assert spans["video_test_0000278"][:2] == [(0.0, 1.4), (95.7, 97.2)]
    assert all(e >= s for v in spans.values() for s, e in v)


def test_class_index_is_sorted_training_labels(shared_data: Path) -> None:
    gt = load_activitynet_json(shared_data / "thumos14" / "gt.json")
    classes = ClassIndex.from_annotations(gt.values(), subset="train")
    assert len(classes) == 20
    assert list(classes.names) == sorted(classes.names)
    assert classes.index("BaseballPitch") == 0
    target = classes.multi_hot(gt["video_test_0000896"].labels)
    assert target.dtype == np.float32 and target.sum() == 1 and target[classes.index("HighJump")] == 1


def test_multi_label_target(shared_data: Path) -> None:
    gt = load_activitynet_json(shared_data / "thumos14" / "gt.json")
    classes = ClassIndex.from_annotations(gt.values(), subset="train")
    multi = [v for v in gt.values() if len(v.labels) > 1]
    assert multi, "THUMOS14 has multi-label videos (e.g. CliffDiving + Diving)"
    target = classes.multi_hot(multi[0].labels)
    assert target.sum() == len(multi[0].labels)


@pytest.mark.parametrize(
    ("name", "training", "validation", "classes"),
    [
        ("activitynet12/activity_net.v1-2.trainval.reconstructed.json", 4819, 2383, 100),
        ("activitynet13/activity_net.v1-3.reconstructed.json", 9649, 4728, 200),
    ],
)
def test_activitynet_json(shared_data: Path, name: str, training: int, validation: int, classes: int) -> None:
    videos = load_activitynet_json(shared_data / name)
    assert len(select_subset(videos, "training")) == training
    assert len(select_subset(videos, "validation")) == validation
    assert len(ClassIndex.from_annotations(videos.values(), subset="training")) == classes


def test_activitynet12_class_order_file(shared_data: Path) -> None:
    classes = ClassIndex.from_file(shared_data / "activitynet12" / "classlist.txt")
    assert len(classes) == 100


def test_wtalc_annotations_need_opt_in_and_agree_with_gt(shared_data: Path) -> None:
    folder = shared_data / "thumos14" / "wtalc" / "Thumos14reduced-Annotations"
    with pytest.raises(InputError, match="pickle"):
        load_wtalc_annotations(folder)
    videos = load_wtalc_annotations(folder, allow_pickle=True)
    assert len(videos) == 412
    gt = load_activitynet_json(shared_data / "thumos14" / "gt.json")
    vid = "video_test_0000896"
    assert _as_sets({vid: videos[vid]}) == _as_sets({vid: gt[vid]})
    assert videos[vid].fps == 30.0 and videos[vid].duration is not None


@pytest.mark.parametrize("bad", ["", ".", "..", "../etc", "a/b", "a\\b", "..hidden"])
def test_video_id_must_be_plain_file_name(bad: str) -> None:
    with pytest.raises(InputError):
        check_video_id(bad)


def _write(tmp_path: Path, obj: object) -> Path:
    path = tmp_path / "gt.json"
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "malformed JSON"),
        ({"videos": {}}, "database"),
        ({"database": {"v1": {"annotations": []}}}, "subset"),
        (
            {"database": {"v1": {"subset": "test", "annotations": [{"segment": [3, 2], "label": "A"}]}}},
            "before",
        ),
        (
            {"database": {"v1": {"subset": "test", "annotations": [{"segment": ["x", 2], "label": "A"}]}}},
            "not a number",
        ),
        ({"database": {"v1": {"subset": "test", "annotations": [{"segment": [1, 2]}]}}}, "label"),
        ({"database": {"../v1": {"subset": "test", "annotations": []}}}, "plain file name"),
    ],
)
def test_malformed_annotations(tmp_path: Path, content: object, message: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(InputError, match=message) as info:
        load_activitynet_json(path)
    assert str(path) in str(info.value)


def test_unknown_label_is_named() -> None:
    classes = ClassIndex(("A", "B"))
    with pytest.raises(InputError, match="'C'"):
        classes.multi_hot(["A", "C"], "gt.json")


@pytest.mark.parametrize(
    "name",
    [
        "thumos14/gt.json",
        "activitynet12/activity_net.v1-2.trainval.reconstructed.json",
        "activitynet13/activity_net.v1-3.reconstructed.json",
    ],
)
def test_the_fast_path_reads_each_instance_as_the_checked_one_does(shared_data: Path, name: str) -> None:
    """The reader's unchecked fast path (plain numbers or numeric strings) against the checks alone."""
    from ecm.data.annotations import _annotation

    raw = json.loads((shared_data / name).read_text())["database"]
    videos = load_activitynet_json(shared_data / name)
    for vid, entry in raw.items():
        checked = tuple(_annotation(a, vid, name) for a in entry.get("annotations", []))
        assert videos[vid].segments == checked


@pytest.mark.parametrize(
    ("segment", "problem"),
    [
        ([10**400, 10**401], "beyond any float"),
        (["nan", "2"], "not a finite number"),
        (["1e400", "1e401"], "not a finite number"),
        ([True, 2], "True, not a number"),
        (["-1", "2"], "is negative"),
        ([3, 2], "before its start"),
        ("ab", "must be [start, end]"),
        ([1, 2, 3], "must be [start, end]"),
    ],
)
def test_what_the_fast_path_declines_is_named(tmp_path: Path, segment: object, problem: str) -> None:
    path = tmp_path / "gt.json"
    ann = {"segment": segment, "label": "A"}
    path.write_text(json.dumps({"database": {"v": {"subset": "test", "annotations": [ann]}}}))
    with pytest.raises(InputError, match=re.escape(problem)):
        load_activitynet_json(path)
