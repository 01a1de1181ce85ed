"""ecm.postprocess (SPEC §7): hand-made CAS, quirks on and off, NMS variants, parity with a loop oracle."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ecm.ops import interval_iou
from ecm.postprocess import (
    PostprocessConfig,
    RawDetection,
    activitynet12,
    activitynet13,
    arange_thresholds,
    batched_nms,
    find_runs,
    frames_to_seconds,
    gate_bar,
    generate_proposals,
    kept_classes,
    localize_video,
    nms,
    normalize_cas,
    outer_inner_contrast,
    thumos14,
    to_detections,
    upsample_linear,
    video_probabilities,
)

# ---------------------------------------------------------------------------------------------- config


def test_presets_match_the_reference_configs() -> None:
    th = PostprocessConfig.preset("thumos14")
    assert th == thumos14()
    assert (th.tau, th.outer_ratio, th.class_weight, th.nms_threshold) == (0.25, 0.4, 0.15, 0.6)
    assert th.thresholds == tuple(np.arange(0.01, 0.2, 0.025).tolist())
    assert len(th.thresholds) == 8 and th.time_mode == "fps"
    assert th.legacy_nms and th.index0_quirk
    for cfg, tau in ((activitynet12(), 0.12), (activitynet13(), 0.05)):
        assert cfg.tau == tau
        assert (cfg.outer_ratio, cfg.class_weight, cfg.nms_threshold) == (0.5, 0.45, 0.7)
        assert cfg.thresholds == tuple(np.arange(0, 0.175, 0.025).tolist())
        assert len(cfg.thresholds) == 7 and cfg.time_mode == "duration"


def test_config_overrides_and_validation() -> None:
    cfg = PostprocessConfig.preset("thumos14", legacy_nms=False, thresholds=[0.1, 0.2])
    assert cfg.legacy_nms is False and cfg.thresholds == (0.1, 0.2)
    with pytest.raises(ValueError, match="unknown post-processing preset"):
        PostprocessConfig.preset("thumos15")
    with pytest.raises(ValueError, match="unknown post-processing field"):
        PostprocessConfig.preset("thumos14", lam=0.3)
    with pytest.raises(ValueError, match="tau"):
        PostprocessConfig.preset("thumos14", tau=1.5)
    with pytest.raises(ValueError, match="thresholds"):
        PostprocessConfig.preset("thumos14", thresholds=())
    with pytest.raises(ValueError, match="time_mode"):
        PostprocessConfig.preset("thumos14", time_mode="frames")
    assert PostprocessConfig.preset("thumos14").gate == "absolute"  # the paper's
    with pytest.raises(ValueError, match="gate must be one of absolute, relative"):
        PostprocessConfig.preset("thumos14", gate="softmax")
    assert arange_thresholds(0.01, 0.2, 0.025)[2] == 0.060000000000000005


# ------------------------------------------------------------------------------ probabilities, normalisation


def test_video_probabilities_is_a_stable_softmax() -> None:
    logits = np.array([[1000.0, 1000.0, 999.0], [0.0, 0.0, 0.0]])
    probs = video_probabilities(logits)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    np.testing.assert_allclose(probs[1], 1 / 3)
    np.testing.assert_allclose(probs[0, 0] / probs[0, 2], np.e)


def test_the_gate_keeps_the_classes_at_or_above_tau_in_ascending_order() -> None:
    probs = np.array([0.5, 0.1, 0.25, 0.15])
    assert kept_classes(probs, 0.25).tolist() == [0, 2]  # p = τ is kept
    assert kept_classes(probs, 0.6).tolist() == []
    assert kept_classes(probs, 0.0).tolist() == [0, 1, 2, 3]


def test_the_relative_gate_scales_tau_by_the_highest_probability() -> None:
    # two classes sharing a video's target: 0.6 and 0.16 → bar 0.25 · 0.6 = 0.15 keeps both
    probs = np.array([0.6, 0.16, 0.14, 0.1])
    assert kept_classes(probs, 0.25).tolist() == [0]
    assert gate_bar(probs, 0.25, "relative") == pytest.approx(0.15)
    assert kept_classes(probs, 0.25, "relative").tolist() == [0, 1]
    # p = τ · max p is kept (0.2 · 0.5 is exactly 0.1 in binary floating point)
    assert kept_classes(np.array([0.4, 0.1, 0.5]), 0.2, "relative").tolist() == [0, 1, 2]
    # the top class always passes (τ ≤ 1): a video is never left without a class
    flat = np.full(8, 1 / 8)
    assert kept_classes(flat, 0.25).tolist() == [] and kept_classes(flat, 1.0, "relative").tolist() == list(
        range(8)
    )
    assert gate_bar(probs, 0.25) == 0.25


def test_normalize_cas_keeps_the_reference_clamping() -> None:
    cas = np.array(
        [
            [1.0, 2.0, 5.0],  # min > 0: (S − m)/(M − m)
            [-2.0, 0.0, 4.0],  # min < 0: m = 0, so S / M and negatives stay negative
            [-3.0, -1.0, -2.0],  # max < 0: M = m = 0, δ = 1, unchanged
            [2.0, 2.0, 2.0],  # constant positive: δ = 0 → 1, so S − m = 0
        ]
    )
    out = normalize_cas(cas)
    np.testing.assert_allclose(out[0], [0.0, 0.25, 1.0])
    np.testing.assert_allclose(out[1], [-0.5, 0.0, 1.0])
    np.testing.assert_allclose(out[2], cas[2])
    np.testing.assert_allclose(out[3], [0.0, 0.0, 0.0])


# ------------------------------------------------------------------------------------------- up-sampling


@pytest.mark.parametrize(("size", "length"), [(1, 7), (5, 5), (7, 16), (13, 200), (375, 6001), (40, 17)])
def test_upsampling_equals_torch_interpolate(size: int, length: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(size * 1000 + length)
    values = rng.normal(size=(3, size))
    ours = upsample_linear(values, length)
    x = torch.from_numpy(values)[None]  # (1, 3, T) float64
    theirs = torch.nn.functional.interpolate(x, size=length, mode="linear", align_corners=False)[0].numpy()
    assert ours.shape == (3, length)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    # float32, as a model produces it: torch then locates samples in float32 (position error ≈ T·2⁻²⁴),
    # so agreement is only to that precision; ours stays float64 throughout.
    x32 = torch.from_numpy(values.astype(np.float32))[None]
    theirs32 = torch.nn.functional.interpolate(x32, size=length, mode="linear", align_corners=False)[0]
    np.testing.assert_allclose(
        upsample_linear(values.astype(np.float32), length), theirs32.numpy(), atol=1e-3
    )


def test_upsampling_clamps_edges_and_uses_half_pixel_centres() -> None:
    out = upsample_linear(np.array([[0.0, 1.0]]), 4)
    # centres of 4 outputs on 2 inputs: −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the last)
    np.testing.assert_allclose(out[0], [0.0, 0.25, 0.75, 1.0])


# ----------------------------------------------------------------------------------- grouping and scoring


def test_find_runs_per_row() -> None:
    mask = np.array([[1, 1, 0, 0, 1], [0, 0, 0, 0, 0], [0, 1, 0, 1, 0]], dtype=bool)
    rows, starts, ends = find_runs(mask)
    assert rows.tolist() == [0, 0, 2, 2]
    assert starts.tolist() == [0, 4, 1, 3]
    assert ends.tolist() == [1, 4, 1, 3]


def test_outer_window_is_asymmetric_as_in_the_reference() -> None:
    # run [8, 12], L = 5, λ = 1 → λL = 5: left part [3, 8) (5 frames), right part [13, int(12 + 5)) = [13, 17)
    # (4 frames: frame 17 is *not* in it, although a symmetric window would reach it).
    values = np.zeros((1, 30))
    values[0, 8:13] = 1.0
    values[0, 3:8] = 0.2
    values[0, 13:17] = 0.4
    values[0, 17] = 100.0  # outside the reference window
    values[0, 2] = 100.0  # outside too
    contrast = outer_inner_contrast(values, [0], [8], [12], outer_ratio=1.0)
    expected_outer = (5 * 0.2 + 4 * 0.4) / 9
    np.testing.assert_allclose(contrast, [1.0 - expected_outer])


def test_outer_window_right_part_is_empty_for_short_runs() -> None:
    # λ = 0.4, L = 3 → λL = 1.2: left [int(s − 1.2), s) = 2 frames, right [e + 1, int(e + 1.2)) = empty.
    values = np.zeros((1, 20))
    values[0, 10:13] = 0.9
    values[0, 8:10] = 0.3
    values[0, 13:16] = 50.0  # right neighbours: never read
    contrast = outer_inner_contrast(values, [0], [10], [12], outer_ratio=0.4)
    np.testing.assert_allclose(contrast, [0.9 - 0.3])
    # clamped at 0 on the left and frame_num on the right; both parts empty → outer = 0
    contrast = outer_inner_contrast(np.full((1, 3), 0.5), [0], [0], [2], outer_ratio=0.4)
    np.testing.assert_allclose(contrast, [0.5])
    # left part truncates toward zero: s = 1, L = 4, λ = 0.5 → int(1 − 2) = −1 → 0, so one frame
    values = np.array([[0.7, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    contrast = outer_inner_contrast(values, [0], [1], [4], outer_ratio=0.5)
    np.testing.assert_allclose(contrast, [1.0 - (0.7 + 0.0) / 2])  # right: [5, int(4 + 2)) = {5}


def test_index0_quirk_on_and_off() -> None:
    # Only frame 0 above every threshold: the reference's `any(position)` sees [0] and yields nothing.
    row = np.zeros((1, 12))
    row[0, 0] = 1.0
    on = generate_proposals(row, [0.05, 0.1], outer_ratio=0.4, index0_quirk=True)
    off = generate_proposals(row, [0.05, 0.1], outer_ratio=0.4, index0_quirk=False)
    assert len(on) == 0
    assert off.starts.tolist() == [0, 0] and off.ends.tolist() == [0, 0]
    # Frame 0 alone *at one threshold only*: dropped there, kept where the run is [0, 1].
    row = np.zeros((1, 12))
    row[0, :2] = [1.0, 0.07]
    on = generate_proposals(row, [0.05, 0.1], outer_ratio=0.4, index0_quirk=True)
    assert list(zip(on.threshold_index.tolist(), on.starts.tolist(), on.ends.tolist(), strict=True)) == [
        (0, 0, 1)
    ]
    # A run [0, 0] next to another run at the same threshold is kept even with the quirk on.
    row = np.zeros((1, 12))
    row[0, 0] = 1.0
    row[0, 5:8] = 0.9
    on = generate_proposals(row, [0.05], outer_ratio=0.4, index0_quirk=True)
    assert on.starts.tolist() == [0, 5] and on.ends.tolist() == [0, 7]


def test_index0_quirk_through_localize_video() -> None:
    cas = np.full((1, 10), -1.0)
    cas[0, 0] = 5.0
    quirk_off = PostprocessConfig.preset("thumos14", index0_quirk=False)
    assert localize_video(cas, np.array([1.0]), frame_num=10, fps=2.0, cfg=thumos14()) == []
    dets = localize_video(cas, np.array([1.0]), frame_num=10, fps=2.0, cfg=quirk_off)
    assert len(dets) == 1
    assert dets[0].start == 0.0 and dets[0].end == 0.5


# ---------------------------------------------------------------------------------------------- detection


def test_single_clean_bump_gives_one_detection_in_seconds() -> None:
    cas = np.full((2, 10), -1.0)  # (C, T), frame_num == T: no interpolation
    cas[0, 4:7] = 5.0
    cas[1, 1:3] = 5.0  # class 1 is rejected by τ
    probs = np.array([0.9, 0.1])
    dets = localize_video(cas, probs, frame_num=10, fps=2.0, cfg=thumos14())
    # frames 4..6 at 2 fps → [2.0 s, 3.5 s); inner 1, outer 0 (negatives are zeroed by every θ > 0)
    assert dets == [RawDetection(0, 1.0 + 0.15 * 0.9, 2.0, 3.5)]


def test_the_relative_gate_localizes_a_class_sharing_its_video() -> None:
    cas = np.full((2, 10), -1.0)
    cas[0, 4:7] = 5.0
    cas[1, 1:3] = 5.0
    probs = np.array([0.8, 0.2])  # class 1 below τ = 0.25, above 0.25 · 0.8 = 0.2 (inclusive)
    relative = PostprocessConfig.preset("thumos14", gate="relative")
    assert [d.class_index for d in localize_video(cas, probs, frame_num=10, fps=2.0, cfg=thumos14())] == [0]
    dets = localize_video(cas, probs, frame_num=10, fps=2.0, cfg=relative)
    # frames 1..2 at 2 fps → [0.5 s, 1.5 s), scored 1 + γ · 0.2 like any kept class
    assert dets == [RawDetection(0, 1.0 + 0.15 * 0.8, 2.0, 3.5), RawDetection(1, 1.0 + 0.15 * 0.2, 0.5, 1.5)]


def test_single_bump_upsampled_to_frames() -> None:
    # 20 snippets of 16 frames at 25 fps (12.8 s); action on snippets 5..9 = [3.2 s, 6.4 s).
    cas = np.full((3, 20), -4.0)
    cas[2, 5:10] = 4.0
    probs = np.array([0.05, 0.15, 0.8])
    dets = localize_video(cas, probs, frame_num=320, fps=25.0, cfg=thumos14())
    assert len(dets) == 1
    det = dets[0]
    assert det.class_index == 2
    assert abs(det.start - 3.2) < 0.64 / 2 and abs(det.end - 6.4) < 0.64 / 2
    assert det.score > 0.9 + 0.15 * 0.8
    # ActivityNet time mode: index / frame_num · duration
    anet = localize_video(cas, probs, frame_num=320, duration=12.8, cfg=activitynet13())
    assert any(abs(d.start - 3.2) < 0.32 and abs(d.end - 6.4) < 0.32 for d in anet)


def test_to_detections_attaches_class_names() -> None:
    detection = pytest.importorskip("ecm.evaluation.detection")
    raw = [RawDetection(1, 0.7, 2.0, 3.5), RawDetection(0, 0.2, 0.0, 1.0)]
    dets = to_detections(raw, ["Diving", "HighJump"])
    assert dets == [
        detection.Detection("HighJump", 0.7, 2.0, 3.5),
        detection.Detection("Diving", 0.2, 0.0, 1.0),
    ]
    with pytest.raises(ValueError, match="class index"):
        to_detections([RawDetection(2, 0.1, 0.0, 1.0)], ["Diving", "HighJump"])


def test_class_rejection_has_no_fallback() -> None:
    cas = np.zeros((4, 8))
    cas[:, 2:4] = 3.0
    assert localize_video(cas, np.full(4, 0.25 - 1e-9), frame_num=16, fps=30.0, cfg=thumos14()) == []
    dets = localize_video(cas, np.array([0.25, 0.25, 0.25, 0.25]), frame_num=16, fps=30.0, cfg=thumos14())
    assert sorted({d.class_index for d in dets}) == [0, 1, 2, 3]  # p_c ≥ τ keeps, inclusive


def test_frames_to_seconds_modes() -> None:
    start, end = frames_to_seconds([0, 30], [29, 59], frame_num=60, time_mode="fps", fps=30.0)
    np.testing.assert_allclose(start, [0.0, 1.0])
    np.testing.assert_allclose(end, [1.0, 2.0])
    start, end = frames_to_seconds([0, 30], [29, 59], frame_num=60, time_mode="duration", duration=10.0)
    np.testing.assert_allclose(start, [0.0, 5.0])
    np.testing.assert_allclose(end, [5.0, 10.0])
    with pytest.raises(ValueError, match="fps"):
        frames_to_seconds([0], [1], frame_num=60, time_mode="fps")
    with pytest.raises(ValueError, match="duration"):
        localize_video(np.zeros((1, 4)), np.zeros(1), frame_num=8, cfg=activitynet12())


def test_localize_video_checks_shapes() -> None:
    with pytest.raises(ValueError, match="video_probs"):
        localize_video(np.zeros((3, 4)), np.zeros(2), frame_num=8, fps=1.0, cfg=thumos14())
    with pytest.raises(ValueError, match="cas"):
        localize_video(np.zeros(4), np.zeros(1), frame_num=8, fps=1.0, cfg=thumos14())
    with pytest.raises(ValueError, match="finite"):
        localize_video(np.full((1, 4), np.nan), np.ones(1), frame_num=8, fps=1.0, cfg=thumos14())
    with pytest.raises(ValueError, match="frame_num"):
        localize_video(np.zeros((1, 4)), np.ones(1), frame_num=0, fps=1.0, cfg=thumos14())


# -------------------------------------------------------------------------------------------------- NMS


def test_legacy_and_continuous_iou_values() -> None:
    starts, ends = np.array([0.5, 10.5, 3.0]), np.array([1.5, 10.7, 4.0])
    np.testing.assert_allclose(interval_iou(0.0, 1.0, starts, ends, legacy=False), [0.5 / 1.5, 0.0, 0.0])
    # "+1": [0, 1] vs [0.5, 1.5]: inter 1.5, areas 2 and 2 → 0.6; vs [10.5, 10.7]: no "+1" overlap;
    # vs [3, 4]: gap 2 s > 1 s → 0
    np.testing.assert_allclose(interval_iou(0.0, 1.0, starts, ends, legacy=True), [1.5 / 2.5, 0.0, 0.0])
    # disjoint segments 0.3 s apart overlap under "+1": inter 0.7, areas 1.2 → 0.7 / 1.7
    np.testing.assert_allclose(interval_iou(10.0, 10.2, [10.5], [10.7], legacy=True), [0.7 / 1.7])


def test_legacy_and_continuous_nms_differ_exactly_where_expected() -> None:
    starts = np.array([0.0, 0.5, 10.0, 10.5, 20.0, 20.1])
    ends = np.array([1.0, 1.5, 10.2, 10.7, 30.0, 30.0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    # continuous IoUs: 0.33 (pair 0/1), 0 (pair 2/3), 0.99 (pair 4/5)
    # legacy IoUs:     0.60,               0.41,        0.99
    continuous = nms(starts, ends, scores, threshold=0.4, legacy=False)
    legacy = nms(starts, ends, scores, threshold=0.4, legacy=True)
    assert continuous.tolist() == [0, 1, 2, 3, 4]
    assert legacy.tolist() == [0, 2, 4]
    assert nms(starts, ends, scores, threshold=0.5, legacy=True).tolist() == [0, 2, 3, 4]
    # long segments: "+1" barely matters, both suppress 5
    assert nms(starts[4:], ends[4:], scores[4:], threshold=0.9, legacy=False).tolist() == [0]


def test_nms_suppresses_at_equality_and_breaks_ties_in_reverse_input_order() -> None:
    # continuous IoU of [0, 2] and [0, 1] is exactly 0.5: "≥ threshold" suppresses
    assert nms([0.0, 0.0], [2.0, 1.0], [1.0, 0.5], threshold=0.5, legacy=False).tolist() == [0]
    # equal scores: the later proposal is visited first (reference argsort()[::-1] with a stable sort)
    keep = nms([0.0, 0.0, 5.0], [1.0, 1.0, 6.0], [0.5, 0.5, 0.5], threshold=0.5, legacy=False)
    assert keep.tolist() == [2, 1]
    assert nms([], [], [], threshold=0.5).tolist() == []


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_vectorised_nms_equals_the_greedy_loop(seed: int, legacy: bool) -> None:
    rng = np.random.default_rng(seed)
    count = 400
    starts = rng.uniform(0, 60, size=count).round(1)  # rounded: many equal bounds
    ends = starts + rng.exponential(3.0, size=count).round(1) + 0.1
    scores = rng.integers(0, 30, size=count) / 10.0  # many exact ties
    for threshold in (0.3, 0.6, 1.0):
        fast = nms(starts, ends, scores, threshold=threshold, legacy=legacy)
        loop = nms(starts, ends, scores, threshold=threshold, legacy=legacy, max_pairs=0)
        assert fast.tolist() == loop.tolist()
    # a chain a > b > c > … where each overlaps the next only: every other one survives
    chain_starts = np.arange(50, dtype=np.float64)
    chain = nms(chain_starts, chain_starts + 1.5, -chain_starts, threshold=0.2, legacy=False)
    assert chain.tolist() == list(range(0, 50, 2))


def test_nms_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="threshold"):
        nms([0.0], [1.0], [1.0], threshold=0.0)
    with pytest.raises(ValueError, match="finite"):
        nms([0.0], [np.inf], [1.0], threshold=0.5)
    with pytest.raises(ValueError, match="arrays"):
        nms([0.0, 1.0], [1.0], [1.0], threshold=0.5)


def test_batched_nms_is_per_group() -> None:
    starts = np.array([0.0, 0.0, 0.1])
    ends = np.array([1.0, 1.0, 1.0])
    keep = batched_nms(starts, ends, [0.2, 0.9, 0.5], [1, 0, 1], threshold=0.5, legacy=False)
    assert keep.tolist() == [1, 2]  # group 0 first, then group 1's best; 0 is suppressed by 2


# ---------------------------------------------------------------------------------- parity with a loop oracle


def _oracle(
    cas: np.ndarray,
    probs: np.ndarray,
    frame_num: int,
    cfg: PostprocessConfig,
    fps: float | None,
    duration: float | None,
) -> list[tuple[int, float, float, float]]:
    """SPEC §7 written as plainly as possible: torch for the maths, Python loops over runs."""
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(cas)[None]
    top = torch.relu(x.max(dim=2, keepdim=True).values)
    bottom = torch.relu(x.min(dim=2, keepdim=True).values)
    delta = top - bottom
    delta[delta <= 0] = 1
    normed = (x - bottom) / delta
    out = []
    for c in range(cas.shape[0]):
        if probs[c] < cfg.tau:
            continue
        u = torch.nn.functional.interpolate(normed[:, c : c + 1], size=frame_num, mode="linear")[0, 0].numpy()
        props = []
        for theta in cfg.thresholds:
            v = u.copy()
            v[v < theta] = 0
            idx = [i for i in range(frame_num) if v[i] > 0]
            if not idx or (cfg.index0_quirk and idx == [0]):
                continue
            runs: list[list[int]] = [[idx[0]]]
            for i in idx[1:]:
                if i == runs[-1][-1] + 1:
                    runs[-1].append(i)
                else:
                    runs.append([i])
            for run in runs:
                s, e, n = run[0], run[-1], len(run)
                inner = sum(v[i] for i in run) / n
                lo = max(0, int(s - cfg.outer_ratio * n))
                hi = min(frame_num, int(e + cfg.outer_ratio * n))
                window = list(range(lo, s)) + list(range(e + 1, hi))
                outer = sum(v[i] for i in window) / len(window) if window else 0.0
                if cfg.time_mode == "fps":
                    assert fps is not None
                    t0, t1 = s / fps, (e + 1) / fps
                else:
                    assert duration is not None
                    t0, t1 = s / frame_num * duration, (e + 1) / frame_num * duration
                props.append((inner - outer + cfg.class_weight * probs[c], t0, t1))
        remaining = sorted(range(len(props)), key=lambda i: props[i][0], reverse=True)
        while remaining:
            best = remaining.pop(0)
            out.append((c, *props[best]))
            survivors = []
            for j in remaining:
                extra = 1.0 if cfg.legacy_nms else 0.0
                (_, s0, e0), (_, s1, e1) = props[best], props[j]
                inter = max(0.0, min(e0, e1) - max(s0, s1) + extra)
                union = (e0 - s0 + extra) + (e1 - s1 + extra) - inter
                if inter / union < cfg.nms_threshold:
                    survivors.append(j)
            remaining = survivors
    return out


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_pipeline_matches_loop_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    num_classes, num_snippets = 5, int(rng.integers(3, 40))
    # smooth random logits with bumps, negatives included
    walk = rng.normal(size=(num_classes, num_snippets)).cumsum(axis=1)
    cas = walk * 0.7 + rng.normal(size=(num_classes, 1))
    probs = video_probabilities(rng.normal(size=num_classes) * 2)
    preset = ("thumos14", "activitynet12", "activitynet13")[seed % 3]
    cfg = PostprocessConfig.preset(
        preset, tau=0.1 if preset == "thumos14" else 0.0, legacy_nms=seed % 2 == 0, index0_quirk=seed % 4 < 2
    )
    frame_num = int(num_snippets * rng.choice([1, 3, 16]) + rng.integers(0, 5))
    fps, duration = (29.97, None) if cfg.time_mode == "fps" else (None, frame_num / 24.0)
    ours = localize_video(cas, probs, frame_num=frame_num, cfg=cfg, fps=fps, duration=duration)
    theirs = _oracle(cas, probs, frame_num, cfg, fps, duration)
    assert len(ours) == len(theirs) > 0
    ours_sorted = sorted(ours, key=lambda d: (d[0], d[2], d[3]))
    theirs_sorted = sorted(theirs, key=lambda d: (d[0], d[2], d[3]))
    for a, b in zip(ours_sorted, theirs_sorted, strict=True):
        assert a[0] == b[0]
        np.testing.assert_allclose(a[1:], b[1:], rtol=0, atol=1e-9)


def test_postprocess_does_not_import_torch() -> None:
    code = "import sys, ecm.postprocess; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
