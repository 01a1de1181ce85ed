"""ActivityNet detection mAP: hand-computed cases, invariants, and parity with a plain loop implementation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecm.data.annotations import VideoAnnotation, load_activitynet_json, select_subset
from ecm.errors import InputError
from ecm.evaluation import (
    Detection,
    DetectionMetric,
    DetectionTable,
    drop_overlapping,
    evaluate_detections,
    interpolated_average_precision,
    parse_tious,
    standard_averages,
    tiou_key,
)
from ecm.ops import segment_iou
from ecm.structures import Segment

THUMOS_GT = Path(__file__).resolve().parents[3] / "shared" / "data" / "thumos14" / "gt.json"
needs_thumos = pytest.mark.skipif(
    not THUMOS_GT.exists(), reason=f"real THUMOS14 annotations absent ({THUMOS_GT})"
)


def make_gt(
    spec: dict[str, list[tuple[float, float, str]]], subset: str = "test"
) -> dict[str, VideoAnnotation]:
    return {
        vid: VideoAnnotation(vid, subset, tuple(Segment(s, e, lab) for s, e, lab in segs))
        for vid, segs in spec.items()
    }


def dets(*items: tuple[str, float, float, float]) -> list[Detection]:
    return [Detection(*item) for item in items]


# ---------------------------------------------------------------- an independent, loop-based reference


def loop_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (b[1] - b[0]) + (a[1] - a[0]) - inter
    if union <= 0:
        return 1.0 if a == b else 0.0
    return inter / union


def loop_ap(
    gts: list[tuple[str, float, float]],
    preds: list[tuple[str, float, float, float]],
    tiou: float,
    ties: str = "official",
) -> float:
    """One class, one threshold, one prediction at a time — the protocol as written in SPEC §8.

    ``ties="official"`` follows the ActivityNet evaluator's own loop: predictions in
    ``scores.argsort()[::-1]`` order, and each visits its video's instances in ``tiou.argsort()[::-1]``
    order, taking the first unlocked one until a tIoU falls below the threshold. ``"stable"``: a stable
    sort of −score, and the strictly highest unlocked tIoU (the first instance on equal tIoUs).
    """
    if ties == "official":
        ranked = np.argsort(np.array([p[3] for p in preds], dtype=np.float64))[::-1].tolist()
    else:
        ranked = sorted(range(len(preds)), key=lambda i: -preds[i][3])  # Python's sort is stable
    used = [False] * len(gts)
    flags = []
    for i in ranked:
        vid, start, end, _ = preds[i]
        pick = -1
        if ties == "official":
            mine = [j for j, g in enumerate(gts) if g[0] == vid]
            tiou_arr = np.array([loop_iou((start, end), gts[j][1:]) for j in mine], dtype=np.float64)
            for jdx in tiou_arr.argsort()[::-1].tolist():
                if tiou_arr[jdx] < tiou:
                    break
                if not used[mine[jdx]]:
                    pick = mine[jdx]
                    break
        else:
            best = -1.0
            for j, (gvid, gstart, gend) in enumerate(gts):
                if gvid == vid and not used[j]:
                    overlap = loop_iou((start, end), (gstart, gend))
                    if overlap >= tiou and overlap > best:
                        best, pick = overlap, j
        if pick >= 0:
            used[pick] = True
        flags.append(pick >= 0)
    precision, recall, hits = [], [], 0
    for k, flag in enumerate(flags):
        hits += flag
        precision.append(hits / (k + 1))
        recall.append(hits / len(gts))
    mprec, mrec = [0.0, *precision, 0.0], [0.0, *recall, 1.0]
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    return sum((mrec[i] - mrec[i - 1]) * mprec[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


def loop_evaluate(
    gt: dict[str, VideoAnnotation],
    preds: dict[str, list[Detection]],
    tious: list[float],
    subset: str,
    ties: str = "official",
) -> tuple[list[str], np.ndarray]:
    evaluated = {vid: v for vid, v in gt.items() if v.subset == subset}
    classes = sorted({s.label for v in evaluated.values() for s in v.segments})
    ap = np.zeros((len(classes), len(tious)))
    for k, name in enumerate(classes):
        g = [(vid, s.start, s.end) for vid, v in evaluated.items() for s in v.segments if s.label == name]
        p = [(vid, d.start, d.end, d.score) for vid, items in preds.items() for d in items if d.label == name]
        for t, tiou in enumerate(tious):
            ap[k, t] = 100.0 * loop_ap(g, p, tiou, ties)
    return classes, ap


# ---------------------------------------------------------------- hand-computed cases


def test_duplicate_detection_is_a_false_positive() -> None:
    gt = make_gt({"v1": [(0, 10, "A"), (20, 30, "A")]})
    preds = {"v1": dets(("A", 0.9, 0, 10), ("A", 0.8, 0, 10), ("A", 0.7, 20, 30))}
    result = evaluate_detections(gt, preds, [0.5])
    # TP (p 1, r .5), FP (p .5), TP (p 2/3, r 1): AP = .5·1 + .5·2/3
    assert result.mAP[0] == pytest.approx(100 * (0.5 + 0.5 * 2 / 3))


def test_greedy_takes_highest_iou_and_locks_it() -> None:
    gt = make_gt({"v1": [(0, 10, "A"), (10, 20, "A")]})
    preds = {"v1": dets(("A", 0.9, 2, 12), ("A", 0.8, 0, 10))}  # the first takes (0, 10) at tIoU 2/3
    assert evaluate_detections(gt, preds, [0.5]).mAP[0] == pytest.approx(50.0)
    # greedy, not optimal: at 0.1 the first could take (10, 20) (tIoU .11) and let the second match
    assert evaluate_detections(gt, preds, [0.1]).mAP[0] == pytest.approx(50.0)


def test_score_ties_stable_keep_the_given_order_official_reverse_it() -> None:
    gt = make_gt({"v1": [(0, 10, "A")]})
    hit, miss = ("A", 0.5, 0, 10), ("A", 0.5, 50, 60)

    def ap(truth: dict[str, VideoAnnotation], preds: dict[str, list[Detection]], ties: str) -> float:
        return float(evaluate_detections(truth, preds, [0.5], ties=ties).mAP[0])  # type: ignore[arg-type]

    assert ap(gt, {"v1": dets(hit, miss)}, "stable") == pytest.approx(100.0)
    assert ap(gt, {"v1": dets(miss, hit)}, "stable") == pytest.approx(50.0)
    # the reference's argsort()[::-1]: a short array sorts stably, so reversing puts the later one first
    assert ap(gt, {"v1": dets(hit, miss)}, "official") == pytest.approx(50.0)
    assert ap(gt, {"v1": dets(miss, hit)}, "official") == pytest.approx(100.0)
    # across videos: file (dict) order first
    gt2 = make_gt({"v1": [(0, 10, "A")], "v2": []})
    assert ap(gt2, {"v2": dets(miss), "v1": dets(hit)}, "stable") == pytest.approx(50.0)
    assert ap(gt2, {"v1": dets(hit), "v2": dets(miss)}, "stable") == pytest.approx(100.0)
    assert ap(gt2, {"v2": dets(miss), "v1": dets(hit)}, "official") == pytest.approx(100.0)


def test_equal_tiou_first_instance_when_stable_last_when_official() -> None:
    preds = {"v1": dets(("A", 0.9, 5, 25), ("A", 0.8, 0, 10))}  # tIoU 0.2 with both instances
    first_left = make_gt({"v1": [(0, 10, "A"), (20, 30, "A")]})
    first_right = make_gt({"v1": [(20, 30, "A"), (0, 10, "A")]})
    assert evaluate_detections(first_left, preds, [0.2], ties="stable").mAP[0] == pytest.approx(50.0)
    assert evaluate_detections(first_right, preds, [0.2], ties="stable").mAP[0] == pytest.approx(100.0)
    assert evaluate_detections(first_left, preds, [0.2]).mAP[0] == pytest.approx(100.0)
    assert evaluate_detections(first_right, preds, [0.2]).mAP[0] == pytest.approx(50.0)


def test_the_reported_tie_gives_the_official_100_not_50() -> None:
    """The case of the bug report: both instances at tIoU 1.7 / 5.98 with the first prediction."""
    gt = make_gt({"v": [(128.5, 130.2, "a"), (130.3, 132.0, "a")]})
    preds = {"v": dets(("a", 0.96, 127.05, 133.03), ("a", 0.38, 128.52, 130.28))}
    assert evaluate_detections(gt, preds, [0.1]).mAP[0] == pytest.approx(100.0)
    assert evaluate_detections(gt, preds, [0.1], ties="stable").mAP[0] == pytest.approx(50.0)
    _, expected = loop_evaluate(gt, preds, [0.1], "test")
    assert expected[0, 0] == pytest.approx(100.0)


def test_multi_class_video() -> None:
    gt = make_gt({"v1": [(0, 10, "A"), (5, 15, "B")]})
    preds = {"v1": dets(("B", 0.9, 0, 10), ("A", 0.8, 0, 10), ("B", 0.7, 5, 15))}
    result = evaluate_detections(gt, preds, [0.3, 0.5])
    assert result.class_names == ("A", "B")
    # B at .5: FP (tIoU 1/3) then TP → AP .5; at .3 the first is a TP and the second a duplicate → AP 1
    np.testing.assert_allclose(result.ap, [[100.0, 100.0], [100.0, 50.0]])
    np.testing.assert_allclose(result.mAP, [100.0, 75.0])


def test_class_without_predictions_has_ap_zero() -> None:
    gt = make_gt({"v1": [(0, 10, "A"), (20, 30, "B")]})
    result = evaluate_detections(gt, {"v1": dets(("A", 1.0, 0, 10))}, [0.5])
    np.testing.assert_allclose(result.ap[:, 0], [100.0, 0.0])
    assert result.mAP[0] == pytest.approx(50.0)
    assert evaluate_detections(gt, {}, [0.5, 0.7]).mAP.tolist() == [0.0, 0.0]


def test_predictions_outside_the_subset_are_false_positives() -> None:
    gt = {**make_gt({"v1": [(0, 10, "A")]}), **make_gt({"v2": [(0, 10, "A"), (0, 5, "C")]}, subset="train")}
    preds = {"v2": dets(("A", 0.9, 0, 10)), "v1": dets(("A", 0.8, 0, 10))}
    result = evaluate_detections(gt, preds, [0.5], subset="test")
    assert result.class_names == ("A",)  # C is only in the other subset: not a class of this mAP
    assert result.mAP[0] == pytest.approx(50.0)
    # a label known from the other subset is not an error; it scores nothing
    assert evaluate_detections(gt, {"v1": dets(("C", 1.0, 0, 5))}, [0.5], subset="test").mAP[0] == 0.0
    with pytest.raises(InputError, match="'Z' is not a class"):
        evaluate_detections(gt, {"v1": dets(("Z", 1.0, 0, 5))}, [0.5], subset="test")


def test_ground_truth_against_itself_is_100_everywhere() -> None:
    rng = np.random.default_rng(3)
    spec = {}
    for v in range(12):
        starts = rng.uniform(0, 100, 6)
        spec[f"v{v}"] = [(s, s + rng.uniform(0.5, 20), f"c{rng.integers(4)}") for s in starts]
    spec["v0"].append(spec["v0"][0])  # a duplicated instance
    gt = make_gt(spec)
    preds = {vid: [Detection(s.label, 1.0, s.start, s.end) for s in v.segments] for vid, v in gt.items()}
    result = evaluate_detections(gt, preds, (*parse_tious("0.1:0.9:0.1"), 1.0))
    np.testing.assert_allclose(result.ap, 100.0)


def test_zero_length_segments() -> None:
    assert segment_iou(np.array([[3.0, 3.0]]), np.array([[3.0, 3.0], [4.0, 4.0], [2.0, 5.0]])).tolist() == [
        [1.0, 0.0, 0.0]
    ]
    gt = make_gt({"v1": [(3, 3, "A")]})
    assert evaluate_detections(gt, {"v1": dets(("A", 1, 3, 3), ("A", 0.5, 4, 4))}, [0.5]).mAP[0] == 100.0


def test_segment_iou_and_interpolated_ap() -> None:
    iou = segment_iou(np.array([[0.0, 10.0], [5.0, 6.0]]), np.array([[5.0, 15.0], [20.0, 30.0]]))
    np.testing.assert_allclose(iou, [[5 / 15, 0.0], [0.1, 0.0]])
    # VOC-2011: precision envelope from the right over recall steps
    ap = interpolated_average_precision(np.array([1.0, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0]))
    assert float(ap) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert float(interpolated_average_precision(np.array([]), np.array([]))) == 0.0


# ---------------------------------------------------------------- randomized parity with the loop


def random_case(rng: np.random.Generator) -> tuple[dict[str, VideoAnnotation], dict[str, list[Detection]]]:
    grid = float(rng.choice([0.1, 0.5, 1.0]))  # coarse grids make tIoU ties and threshold hits likely
    classes = [f"c{i}" for i in range(int(rng.integers(1, 5)))]

    def segment() -> tuple[float, float]:
        start = round(rng.uniform(0, 15) / grid) * grid
        return start, start + round(rng.uniform(0, 6) / grid) * grid

    gt: dict[str, VideoAnnotation] = {}
    for v in range(int(rng.integers(1, 6))):
        subset = "test" if v == 0 or rng.random() < 0.8 else "train"
        segs = tuple(
            Segment(*segment(), classes[rng.integers(len(classes))]) for _ in range(rng.integers(0, 10))
        )
        gt[f"v{v}"] = VideoAnnotation(f"v{v}", subset, segs)
    gt["v0"] = VideoAnnotation("v0", "test", (*gt["v0"].segments, Segment(*segment(), classes[0])))
    gt["known"] = VideoAnnotation("known", "train", tuple(Segment(0.0, 1.0, name) for name in classes))
    preds: dict[str, list[Detection]] = {}
    for v in rng.permutation(len(gt) + 1):  # one video without ground truth; random file order
        items = []
        for _ in range(rng.integers(0, 25)):
            score = float(rng.integers(0, 5)) / 4 if rng.random() < 0.5 else float(rng.random())
            items.append(Detection(classes[rng.integers(len(classes))], score, *segment()))
        preds[f"v{v}"] = items
    return gt, preds


@pytest.mark.parametrize("ties", ["official", "stable"])
def test_randomized_parity_with_loop_implementation(ties: str) -> None:
    rng = np.random.default_rng(20240607)
    tious = [0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 1.0]
    for _ in range(300):
        gt, preds = random_case(rng)
        result = evaluate_detections(gt, preds, tious, subset="test", ties=ties)  # type: ignore[arg-type]
        classes, expected = loop_evaluate(gt, preds, tious, "test", ties)
        assert list(result.class_names) == classes
        np.testing.assert_allclose(result.ap, expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(result.mAP, expected.mean(axis=0), rtol=0, atol=1e-9)


def tie_heavy_case(
    rng: np.random.Generator, *, videos: int, per_class: int, predictions: int
) -> tuple[dict[str, VideoAnnotation], dict[str, list[Detection]]]:
    """Grid-aligned segments of a few equal lengths and scores from a small set: ties everywhere,
    including score arrays long enough (> 16) for numpy's sort to be unstable."""
    classes = ["a", "b"]
    lengths = [1.0, 2.0, 3.0]

    def segment() -> tuple[float, float]:
        start = float(rng.integers(0, 40))
        return start, start + lengths[rng.integers(len(lengths))]

    gt = {
        f"v{v}": VideoAnnotation(
            f"v{v}", "test", tuple(Segment(*segment(), c) for c in classes for _ in range(per_class))
        )
        for v in range(videos)
    }
    preds = {
        vid: [
            Detection(classes[rng.integers(2)], float(rng.integers(0, 4)) / 4, *segment())
            for _ in range(predictions)
        ]
        for vid in gt
    }
    return gt, preds


@pytest.mark.parametrize("ties", ["official", "stable"])
def test_tie_heavy_parity_with_loop_implementation(ties: str) -> None:
    rng = np.random.default_rng(17)
    tious = [0.1, 0.2, 0.3, 0.5, 0.7]
    for size in [(1, 3, 6), (3, 10, 30), (4, 25, 80)]:
        for _ in range(4):
            gt, preds = tie_heavy_case(rng, videos=size[0], per_class=size[1], predictions=size[2])
            got = evaluate_detections(gt, preds, tious, ties=ties)  # type: ignore[arg-type]
            _, expected = loop_evaluate(gt, preds, tious, "test", ties)
            np.testing.assert_allclose(got.ap, expected, rtol=0, atol=1e-9)
    # the two rules do differ on such data (otherwise this test could not tell them apart)
    gt, preds = tie_heavy_case(rng, videos=4, per_class=25, predictions=80)
    official = evaluate_detections(gt, preds, tious).ap
    stable = evaluate_detections(gt, preds, tious, ties="stable").ap
    assert np.abs(official - stable).max() > 1e-6


def test_row_wise_argsort_equals_one_argsort_per_row() -> None:
    """The evaluator sorts equal-length tIoU arrays as rows of one matrix; numpy must order each row
    exactly as it orders that row alone (the reference sorts one array per prediction)."""
    rng = np.random.default_rng(3)
    for size in (2, 3, 16, 17, 40, 130, 300):
        rows = rng.integers(0, 4, size=(50, size)).astype(np.float64) / 4
        together = np.argsort(rows, axis=1)
        for row, order in zip(rows, together, strict=True):
            np.testing.assert_array_equal(order, np.argsort(row.copy()))


# ---------------------------------------------------------------- the in-memory metric


def test_metric_matches_function_and_accepts_arrays() -> None:
    rng = np.random.default_rng(5)
    gt, preds = random_case(rng)
    tious = [0.3, 0.5]
    expected = evaluate_detections(gt, preds, tious, subset="test")
    metric = DetectionMetric(gt, tious, subset="test")
    for step in range(2):  # reset really forgets
        metric.reset()
        for vid, items in preds.items():
            if step == 0:
                metric.update(vid, items)
            else:
                metric.update_arrays(
                    vid,
                    segments=np.array([(d.start, d.end) for d in items]).reshape(-1, 2),
                    scores=np.array([d.score for d in items]),
                    labels=[d.label for d in items],
                )
        result = metric.compute()
        np.testing.assert_array_equal(result.ap, expected.ap)
    assert DetectionMetric(gt, tious, subset="test").compute().mAP.tolist() == [0.0, 0.0]


def test_metric_unknown_labels_and_bad_values() -> None:
    gt = make_gt({"v1": [(0, 10, "A")]})
    metric = DetectionMetric(gt, [0.5])
    with pytest.raises(InputError, match="'B'"):
        metric.update("v1", dets(("B", 1.0, 0, 10)))
    with pytest.raises(ValueError, match="NaN"):
        metric.update("v1", dets(("A", float("nan"), 0, 10)))
    with pytest.raises(ValueError, match="ends before"):
        metric.update("v1", dets(("A", 1.0, 10, 0)))
    lenient = DetectionMetric(gt, [0.5], ignore_unknown_labels=True)
    lenient.update("v1", dets(("B", 1.0, 0, 10), ("A", 0.5, 0, 10)))
    assert lenient.num_ignored == 1
    assert lenient.compute().mAP[0] == 100.0
    with pytest.raises(ValueError):
        DetectionMetric(gt, [0.0])


def test_table_round_trip_and_ambiguous_filter() -> None:
    preds = {"v1": dets(("A", 0.9, 0, 10), ("B", 0.8, 12, 14)), "v2": [], "v3": dets(("A", 0.1, 1, 2))}
    table = DetectionTable.from_detections(preds)
    assert table.to_detections() == preds
    kept, dropped = drop_overlapping(table, {"v1": [(9.0, 11.0)], "v3": [(2.0, 3.0)], "v9": [(0.0, 1.0)]})
    assert dropped == 1  # (0, 10) overlaps (9, 11); touching at 2 s is not overlap
    assert kept.to_detections() == {"v1": [preds["v1"][1]], "v2": [], "v3": preds["v3"]}


# ---------------------------------------------------------------- reporting


def test_tiou_parsing_keys_and_averages() -> None:
    assert parse_tious("0.1:0.9:0.1") == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    assert parse_tious("0.5:0.95:0.05")[-2:] == (0.9, 0.95)
    assert parse_tious("0.5, 0.75,0.95") == (0.5, 0.75, 0.95)
    for bad in ("0:1:0.1", "0.5:0.1:0.1", "a", "0.5,0.5", "1.5", "0.1:0.5"):
        with pytest.raises(InputError):
            parse_tious(bad)
    assert [tiou_key(t) for t in (0.1, 0.55, 0.8999999999999999, 1.0)] == ["0.1", "0.55", "0.9", "1"]
    tious = parse_tious("0.1:0.9:0.1")
    averages = standard_averages(tious, np.arange(9.0))
    assert averages == {"0.1:0.5": 2.0, "0.3:0.7": 4.0, "0.1:0.7": 3.0, "0.1:0.9": 4.0}
    assert list(standard_averages(parse_tious("0.5:0.95:0.05"), np.ones(10))) == ["0.5:0.95"]
    assert standard_averages((0.1, 0.3, 0.5), np.ones(3)) == {}


# ---------------------------------------------------------------- real THUMOS14 ground truth


@needs_thumos
def test_real_thumos14_ground_truth() -> None:
    videos = load_activitynet_json(THUMOS_GT)
    test = select_subset(videos, "test")
    perfect = {vid: [Detection(s.label, 1.0, s.start, s.end) for s in v.segments] for vid, v in test.items()}
    result = evaluate_detections(videos, perfect, parse_tious("0.1:0.9:0.1"), subset="test")
    assert len(result.class_names) == 20 and int(result.num_ground_truth.sum()) == 3311
    np.testing.assert_allclose(result.mAP, 100.0)

    # jittered predictions on a slice of the real videos, against the loop implementation
    rng = np.random.default_rng(14)
    some = dict(list(test.items())[:25])
    classes = sorted({s.label for v in some.values() for s in v.segments})
    preds: dict[str, list[Detection]] = {}
    for vid, v in some.items():
        items = []
        for s in v.segments:
            for _ in range(2):
                length = s.end - s.start
                start = max(0.0, s.start + rng.normal(0, 0.3) * length)
                end = max(start, s.end + rng.normal(0, 0.3) * length)
                label = s.label if rng.random() < 0.85 else classes[rng.integers(len(classes))]
                items.append(Detection(label, round(float(rng.random()), 2), start, end))
        preds[vid] = items
    tious = [0.1, 0.5, 0.7]
    subset_gt = {vid: test[vid] for vid in some}
    for ties in ("official", "stable"):
        got = evaluate_detections(subset_gt, preds, tious, ties=ties)  # type: ignore[arg-type]
        classes_seen, expected = loop_evaluate(subset_gt, preds, tious, "test", ties)
        assert list(got.class_names) == classes_seen
        np.testing.assert_allclose(got.ap, expected, rtol=0, atol=1e-9)

    # every test video, predictions on a 0.1 s grid with two-decimal scores (how result files are
    # written): equal-length instances and tied scores are common
    preds = {}
    for vid, v in test.items():
        items = []
        for s in v.segments:
            for _ in range(3):
                start = round(max(0.0, s.start + float(rng.normal(0, 1.0))), 1)
                end = round(max(start, s.end + float(rng.normal(0, 1.0))), 1)
                items.append(Detection(s.label, round(float(rng.random()), 2), start, end))
        preds[vid] = items
    got = evaluate_detections(test, preds, tious)
    _, expected = loop_evaluate(test, preds, tious, "test")
    np.testing.assert_allclose(got.ap, expected, rtol=0, atol=1e-9)
