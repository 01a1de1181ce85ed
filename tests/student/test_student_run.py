"""A student run end to end: pseudo labels in the run folder, checkpoints holding the teacher, `ecm localize`
scoring what training scored, exact resumption; and the student's ceiling on true labels."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ecm.cli import main
from ecm.config import OptimConfig
from ecm.data.folder import DatasetFolder
from ecm.inference import score_detections
from ecm.postprocess.localize import to_detections
from ecm.structures import Detection
from ecm.student import (
    StudentConfig,
    StudentCriterion,
    WindowDataset,
    build_student,
    collate_windows,
    decode_video,
    point_layout,
    read_pseudo_labels,
)
from ecm.training.loop import learning_rate, train_one_epoch


def _student_args(root: Path, teacher: Path, out: Path, epochs: int) -> list[str]:
    sets = [
        f"data.root={root}",
        f"student.teacher={teacher}",
        "student.window=64",
        "student.levels=3",
        "student.hidden_dim=32",
        "optim.optimizer=adamw",
        "train.eval_interval=2",
        "train.ema_decay=0.9",
    ]
    args = ["train", "synthetic-tiny", "--out", str(out), "--quiet", "--epochs", str(epochs)]
    for text in sets:
        args += ["--set", text]
    return args


def _weights(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert isinstance(state["teacher_config"], dict)
    return {**state["model"], **{f"train.{k}": v for k, v in state["train_model"].items()}}


def test_a_student_run_localizes_as_it_scored_and_resumes_exactly(
    tiny_root: Path, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = tmp_path / "whole"
    assert main(_student_args(tiny_root, tiny_run, whole, 4)) == 0
    pseudo = read_pseudo_labels(whole / "pseudo_labels.json")
    assert sum(map(len, pseudo.values())) > 0
    gt = json.loads((tiny_root / "gt.json").read_text())["database"]
    for video_id, found in pseudo.items():  # only the video's own labels
        assert {d.label for d in found} <= {a["label"] for a in gt[video_id]["annotations"]}

    # `ecm localize` on the student run scores what the last evaluation scored
    pred = tmp_path / "pred.json"
    assert main(["localize", str(whole), "--checkpoint", "last", "--out", str(pred), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--gt", str(tiny_root / "gt.json"), "--pred", str(pred), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)["mAP"]["0.5"]
    last = json.loads((whole / "summary.json").read_text())["last"]["mAP@0.5"]
    assert scored == pytest.approx(last, abs=1e-6)

    # stopped after epoch 2 and resumed: the same weights, average and trained, as the whole run
    part = tmp_path / "part"
    assert main(_student_args(tiny_root, tiny_run, part, 2)) == 0
    assert main([*_student_args(tiny_root, tiny_run, part, 4), "--resume"]) == 0
    resumed, uninterrupted = _weights(part), _weights(whole)
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)


def test_the_student_trained_on_true_labels_localizes_well(tiny_root: Path) -> None:
    """The sanity ceiling: given the true segments as labels and the true video labels at inference, the
    student finds the tiny set's test instances (chance is near 0; ECM reaches about 58 there)."""
    torch.manual_seed(0)
    folder = DatasetFolder(tiny_root)
    train, test = folder.open_split("train"), folder.open_split("test")
    truth = {
        v.video_id: [Detection(s.label, 1.0, s.start, s.end) for s in v.annotation.segments]
        for v in train.videos
        if v.annotation is not None
    }
    cfg = StudentConfig(hidden_dim=64, levels=4, window=64)
    classes = len(train.class_index)
    dataset = WindowDataset(train, truth, window=cfg.window)
    collate = functools.partial(
        collate_windows, levels=cfg.levels, num_classes=classes, radius=cfg.center_radius
    )
    model = build_student(cfg, classes, train.feature_dim)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    schedule = OptimConfig(lr=1e-3, schedule="cosine", warmup_epochs=5)
    generator = torch.Generator().manual_seed(0)
    for epoch in range(1, 151):
        dataset.set_epoch(epoch)
        loader = DataLoader(dataset, batch_size=2, shuffle=True, collate_fn=collate, generator=generator)
        train_one_epoch(
            model,
            StudentCriterion(),
            optimizer,
            loader,
            lr=learning_rate(schedule, epoch, 150),
            device=torch.device("cpu"),
        )
    model.eval()
    detections = {}
    with torch.inference_mode():
        for i, video in enumerate(test.videos):
            features = test.features(i)
            length = features.shape[0]
            padded = -(-length // 8) * 8
            batch = torch.zeros(1, padded, features.shape[1])
            batch[0, :length] = torch.from_numpy(features)
            output = model(batch)
            raw = decode_video(
                output.logits[0].numpy(),
                output.offsets[0].numpy(),
                point_layout(padded, cfg.levels),
                video.labels.astype(np.float64),
                num_snippets=length,
                seconds_per_snippet=video.timing.seconds_per_snippet,
                tau=0.5,
                cfg=cfg,
            )
            detections[video.video_id] = to_detections(raw, test.class_index.names)
    result = score_detections(detections, test, (0.5,))
    assert result.map_at(0.5) >= 70.0, result.map_at(0.5)


def test_a_second_round_learns_from_the_first_students_detections(
    tiny_root: Path, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "two-rounds"
    assert main([*_student_args(tiny_root, tiny_run, run, 8), "--set", "student.rounds=2"]) == 0
    first = run / "round1"
    assert json.loads((first / "summary.json").read_text())["last"]["epoch"] == 8
    labels, earlier = (
        read_pseudo_labels(run / "pseudo_labels.json"),
        read_pseudo_labels(first / "pseudo_labels.json"),
    )
    assert labels.keys() == earlier.keys() and labels != earlier
    assert json.loads((run / "pseudo_labels.json").read_text())["teacher"] == str(first)
    gt = json.loads((tiny_root / "gt.json").read_text())["database"]
    for video_id, found in labels.items():
        assert {d.label for d in found} <= {a["label"] for a in gt[video_id]["annotations"]}
    # the second student keeps the first one's ECM teacher for its classes: localizing works as for one round
    assert main(["localize", str(run), "--out", str(tmp_path / "p.json"), "--quiet"]) == 0
    assert "mAP@0.5" in capsys.readouterr().out
