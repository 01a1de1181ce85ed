"""From a model to scored detections: forward every video, post-process, evaluate — in memory.

Three steps, each a plain function, shared by training (per-epoch evaluation), localization, the demo
and ablation studies:

1. :func:`predict_split` — the model in eval mode (dropout off, no post stream) on each video's full
   snippet sequence (or uniform to the training length), batching videos of equal length.
2. :func:`localize_predictions` — the post-processing of :mod:`ecm.postprocess` per video →
   :class:`~ecm.structures.Detection` lists (seconds).
3. :func:`score_detections` / :func:`frame_accuracy_of` — ActivityNet mAP and frame accuracy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ecm.data.folder import SplitData
from ecm.data.sampling import uniform_indices
from ecm.evaluation import DetectionMetric, DetectionResult, frame_accuracy
from ecm.postprocess.config import PostprocessConfig
from ecm.postprocess.localize import localize_video, to_detections
from ecm.postprocess.proposals import Gate, video_probabilities
from ecm.structures import Detection


@dataclass(frozen=True)
class VideoPrediction:
    """The model's output for one video (eval mode).

    Attributes:
        cas: (C, T) class activation sequence, logits, one column per evaluated snippet.
        video_logits: (C,) pre-stream video logits s_pre (top-k mean of the CAS).
    """

    cas: np.ndarray
    video_logits: np.ndarray

    @property
    def probabilities(self) -> np.ndarray:
        """(C,) softmax(s_pre)."""
        return video_probabilities(self.video_logits)


def predict_split(
    model: nn.Module,
    split: SplitData,
    *,
    device: torch.device,
    batch_size: int = 1,
    uniform_length: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> dict[str, VideoPrediction]:
    """Run ``model`` on every video of ``split``; videos of equal length are batched up to ``batch_size``.

    Args:
        uniform_length: sample this many snippets uniformly per video instead of the full sequence.
        progress: called with the number of videos done after each batch.
    """
    was_training = model.training
    model.eval()
    lengths: dict[int, list[int]] = defaultdict(list)
    for i, record in enumerate(split.videos):
        lengths[uniform_length or record.timing.num_snippets].append(i)
    out: dict[str, VideoPrediction] = {}
    try:
        with torch.inference_mode():
            for _, members in sorted(lengths.items()):
                for start in range(0, len(members), max(1, batch_size)):
                    chunk = members[start : start + max(1, batch_size)]
                    arrays = []
                    for i in chunk:
                        features = split.features(i)  # (T, D)
                        if uniform_length is not None:
                            features = features[uniform_indices(features.shape[0], uniform_length)]
                        arrays.append(features)
                    batch = torch.from_numpy(np.stack(arrays)).to(device)  # (B, T, D)
                    output = model(batch)
                    cas = output.cas.float().cpu().numpy()  # (B, C, T)
                    logits = output.video_logits.float().cpu().numpy()  # (B, C)
                    for j, i in enumerate(chunk):
                        out[split.videos[i].video_id] = VideoPrediction(cas[j], logits[j])
                    if progress is not None:
                        progress(len(chunk))
    finally:
        model.train(was_training)
    return {v.video_id: out[v.video_id] for v in split.videos}


def localize_predictions(
    predictions: Mapping[str, VideoPrediction], split: SplitData, cfg: PostprocessConfig
) -> dict[str, list[Detection]]:
    """Post-processing of every predicted video of ``split`` → detections in seconds.

    Every video of ``split`` that has a prediction appears in the result, possibly with an empty list.
    """
    names = split.class_index.names
    detections: dict[str, list[Detection]] = {}
    for record in split.videos:
        if record.video_id not in predictions:
            continue
        pred = predictions[record.video_id]
        timing = record.timing
        raw = localize_video(
            pred.cas,
            pred.probabilities,
            frame_num=timing.frame_num,
            cfg=cfg,
            fps=timing.fps,
            duration=timing.duration,
        )
        detections[record.video_id] = to_detections(raw, names)
    return detections


def score_detections(
    detections: Mapping[str, Sequence[Detection]], split: SplitData, tious: Sequence[float]
) -> DetectionResult:
    """ActivityNet mAP of ``detections`` against the split's ground truth (percent).

    Labels come from the class index, so a class absent from this split's ground truth (possible for a
    small held-out split) is not an error: its detections are false positives of a class outside the
    mAP, and dropping them (``ignore_unknown_labels``) leaves every class's AP unchanged.
    """
    metric = DetectionMetric(split.ground_truth, tious, ignore_unknown_labels=True)
    for video_id, dets in detections.items():
        metric.update(video_id, dets)
    return metric.compute()


def frame_accuracy_of(
    predictions: Mapping[str, VideoPrediction], split: SplitData, tau: float, gate: Gate = "absolute"
) -> float:
    """Frame accuracy (percent, paper Table 10) of the predicted CAS over the split's action snippets."""
    step = {}
    for record in split.videos:
        if record.video_id in predictions:
            columns = predictions[record.video_id].cas.shape[1]
            step[record.video_id] = record.timing.duration / columns
    gt = {v: a for v, a in split.ground_truth.items() if v in predictions}
    return frame_accuracy(
        {v: p.cas for v, p in predictions.items()},
        {v: p.probabilities for v, p in predictions.items()},
        gt,
        split.class_index,
        step,
        tau,
        gate,
    )
