"""The bad-input contract, command by command: exit status 2, exactly one stderr line ``ecm: error: …``
naming the file or value at fault, no traceback, and no file created, changed or left behind.

Each case builds its bad input inside its own folder, then runs one command line. The file trees of that
folder, of the shared tiny dataset and of the shared tiny run are compared before and after.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from ecm.cli import main

TINY = "synthetic-tiny"


@dataclass(frozen=True)
class Context:
    """What a case may use: its own folder, and the shared (read-only) tiny dataset, run and predictions."""

    tmp: Path
    root: Path
    run: Path
    pred: Path

    @property
    def gt(self) -> Path:
        return self.root / "gt.json"

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def fifo(self, name: str) -> Path:
        path = self.tmp / name
        os.mkfifo(path)
        return path

    def folder(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True)
        return path

    def copy_root(self, name: str = "data") -> Path:
        target = self.tmp / name
        shutil.copytree(self.root, target)
        return target

    def checkpoint(self, name: str, change: Callable[[dict[str, object]], None]) -> Path:
        state = torch.load(self.run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
        change(state)
        path = self.tmp / name
        torch.save(state, path)
        return path

    def pred_with(self, entry: object, video: str = "video_test_0000000") -> Path:
        return self.write("pred.json", json.dumps({"results": {video: [entry]}}))

    def gt_with(self, annotation: object) -> Path:
        database = {"video_test_0000000": {"subset": "test", "annotations": [annotation]}}
        return self.write("gt.json", json.dumps({"database": database}))

    def study(self, content: object) -> Path:
        folder = self.folder("study")
        (folder / "ablation.json").write_text(
            content if isinstance(content, str) else json.dumps(content), encoding="utf-8"
        )
        return folder


# A case: (argv, text the error line must contain), built from the context.
Case = Callable[[Context], tuple[list[str], str]]
GOOD = {"label": "BaseballPitch", "score": 0.9, "segment": [2.9, 8.9]}
DEEP = "[" * 200_000 + "]" * 200_000


def _train(c: Context, *sets: str, extra: tuple[str, ...] = ()) -> list[str]:
    args = ["train", TINY, "--out", str(c.tmp / "run"), "--quiet", "--set", f"data.root={c.root}"]
    for text in sets:
        args += ["--set", text]
    return [*args, *extra]


def _student(c: Context, teacher: Path, *sets: str, root: Path | None = None) -> list[str]:
    args = _train(
        c,
        f"student.teacher={teacher}",
        "student.window=64",
        "student.levels=3",
        *sets,
        extra=("--epochs", "1"),
    )
    if root is not None:
        args[args.index(f"data.root={c.root}")] = f"data.root={root}"
    return args


def _unfinished_teacher(c: Context) -> Path:
    copy = c.tmp / "teacher"
    shutil.copytree(c.run, copy)
    (copy / "summary.json").unlink()
    return copy


def _student_teacher(c: Context) -> Path:
    """A finished student run (of the shared teacher), to be named as a teacher."""
    student = c.tmp / "student"
    argv = _student(c, c.run)
    argv[argv.index(str(c.tmp / "run"))] = str(student)
    assert main(argv) == 0
    return student


def _renamed_class(c: Context) -> Path:
    root = c.copy_root()
    for name in ("classes.txt", "gt.json"):
        text = (root / name).read_text()
        (root / name).write_text(text.replace("BaseballPitch", "Bowling"))
    return root


def _narrow_data(c: Context) -> Path:
    root = c.tmp / "narrow"
    assert main(["synth", str(root), "--preset", "tiny", "--feature-dim", "32", "--quiet"]) == 0
    return root


def _pseudo(c: Context, *extra: str, run: Path | None = None) -> list[str]:
    return ["pseudo-label", str(run or c.run), "--out", str(c.tmp / "pseudo.json"), *extra]


def _evaluate(gt: Path, pred: Path, *extra: str) -> list[str]:
    return ["evaluate", "--gt", str(gt), "--pred", str(pred), *extra]


def _localize(c: Context, *extra: str, run: Path | None = None) -> list[str]:
    return ["localize", str(run or c.run), "--out", str(c.tmp / "p.json"), "--quiet", *extra]


def _report(c: Context, *extra: str) -> list[str]:
    return ["report", str(c.run), "--out", str(c.tmp / "r.html"), "--quiet", *extra]


_DETECTION = {"label": "Diving", "score": 0.5, "segment": [1.0, 2.0]}


def _without_checkpoints(c: Context) -> Path:
    folder = c.folder("run")
    shutil.copy(c.run / "config.yaml", folder / "config.yaml")
    return folder


def _features_only(c: Context) -> Path:
    folder = c.tmp / "features_only"
    shutil.copytree(c.root / "features" / "test", folder / "features" / "test")
    return folder


def _nan_weights(state: dict[str, object]) -> None:
    weights = state["model"]
    assert isinstance(weights, dict)
    first = next(iter(weights))
    weights[first] = torch.full_like(weights[first], float("nan"))


def _drop(key: str) -> Callable[[dict[str, object]], None]:
    return lambda state: state.pop(key)


def _set(key: str, value: object) -> Callable[[dict[str, object]], None]:
    return lambda state: state.__setitem__(key, value)


def _with_classes(c: Context, names: str) -> Path:
    root = c.copy_root()
    (root / "classes.txt").write_text(names)
    return root


def _with_split_file(c: Context, text: str) -> Path:
    root = c.copy_root()
    (root / "split_test.txt").write_text(text)
    return root


def _with_features(c: Context, array: np.ndarray) -> Path:
    root = c.copy_root()
    video = (root / "split_test.txt").read_text().split()[0]
    np.save(root / "features" / "test" / "rgb" / f"{video}.npy", array)
    return root


def _with_gt(c: Context, text: str | bytes) -> Path:
    root = c.copy_root()
    target = root / "gt.json"
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)
    return root


CASES: dict[str, Case] = {
    # ---------------------------------------------------------------- evaluate: the prediction file
    "evaluate/pred missing": lambda c: (_evaluate(c.gt, c.tmp / "none.json"), "none.json"),
    "evaluate/pred is a folder": lambda c: (_evaluate(c.gt, c.folder("p.json")), "p.json"),
    "evaluate/pred is a FIFO": lambda c: (_evaluate(c.gt, c.fifo("p.json")), "p.json"),
    "evaluate/pred not JSON": lambda c: (_evaluate(c.gt, c.write("p.json", "{nope")), "p.json"),
    "evaluate/pred empty": lambda c: (_evaluate(c.gt, c.write("p.json", "")), "p.json"),
    "evaluate/pred not UTF-8": lambda c: (_evaluate(c.gt, c.write("p.json", b'{"r\xff": 1}')), "p.json"),
    "evaluate/pred nested 200k deep": lambda c: (_evaluate(c.gt, c.write("p.json", DEEP)), "p.json"),
    "evaluate/pred 5000-digit integer": lambda c: (
        _evaluate(c.gt, c.write("p.json", '{"results": {}, "x": ' + "9" * 5000 + "}")),
        "p.json",
    ),
    "evaluate/pred top level is a list": lambda c: (_evaluate(c.gt, c.write("p.json", "[]")), "p.json"),
    "evaluate/pred without results": lambda c: (
        _evaluate(c.gt, c.write("p.json", '{"version": 1}')),
        "p.json",
    ),
    "evaluate/pred results is a list": lambda c: (
        _evaluate(c.gt, c.write("p.json", '{"results": []}')),
        "p.json",
    ),
    "evaluate/pred entry without label": lambda c: (
        _evaluate(c.gt, c.pred_with({"score": 0.5, "segment": [1, 2]})),
        "pred.json",
    ),
    "evaluate/pred score NaN": lambda c: (
        _evaluate(c.gt, c.pred_with({**GOOD, "score": float("nan")})),
        "pred.json",
    ),
    "evaluate/pred score a string": lambda c: (
        _evaluate(c.gt, c.pred_with({**GOOD, "score": "high"})),
        "pred.json",
    ),
    "evaluate/pred score a bool": lambda c: (
        _evaluate(c.gt, c.pred_with({**GOOD, "score": True})),
        "pred.json",
    ),
    "evaluate/pred segment of 3": lambda c: (
        _evaluate(c.gt, c.pred_with({**GOOD, "segment": [1, 2, 3]})),
        "pred.json",
    ),
    "evaluate/pred segment end before start": lambda c: (
        _evaluate(c.gt, c.pred_with({**GOOD, "segment": [5, 2]})),
        "pred.json",
    ),
    "evaluate/pred segment infinite": lambda c: (
        _evaluate(c.gt, c.pred_with({**GOOD, "segment": [1, float("inf")]})),
        "pred.json",
    ),
    "evaluate/pred video id with a slash": lambda c: (
        _evaluate(c.gt, c.pred_with(GOOD, video="../x")),
        "pred.json",
    ),
    "evaluate/pred unknown label": lambda c: (
        _evaluate(c.gt, c.pred_with({**GOOD, "label": "Nope"})),
        "Nope",
    ),
    # --------------------------------------------------------------- evaluate: the ground truth, options
    "evaluate/gt missing": lambda c: (_evaluate(c.tmp / "gt.json", c.pred), "gt.json"),
    "evaluate/gt is a FIFO": lambda c: (_evaluate(c.fifo("gt.json"), c.pred), "gt.json"),
    "evaluate/gt not JSON": lambda c: (_evaluate(c.write("gt.json", "nope"), c.pred), "gt.json"),
    "evaluate/gt not UTF-8": lambda c: (_evaluate(c.write("gt.json", b"\xfe\xff"), c.pred), "gt.json"),
    "evaluate/gt nested 200k deep": lambda c: (_evaluate(c.write("gt.json", DEEP), c.pred), "gt.json"),
    "evaluate/gt without database": lambda c: (_evaluate(c.write("gt.json", '{"x": {}}'), c.pred), "gt.json"),
    "evaluate/gt segment not a number": lambda c: (
        _evaluate(c.gt_with({"segment": ["a", 2], "label": "HighJump"}), c.pred),
        "gt.json",
    ),
    "evaluate/gt negative start": lambda c: (
        _evaluate(c.gt_with({"segment": [-1, 2], "label": "HighJump"}), c.pred),
        "gt.json",
    ),
    "evaluate/gt end before start": lambda c: (
        _evaluate(c.gt_with({"segment": [3, 2], "label": "HighJump"}), c.pred),
        "gt.json",
    ),
    "evaluate/gt label not a string": lambda c: (
        _evaluate(c.gt_with({"segment": [1, 2], "label": 7}), c.pred),
        "gt.json",
    ),
    "evaluate/--tiou not a number": lambda c: (_evaluate(c.gt, c.pred, "--tiou", "abc"), "--tiou"),
    "evaluate/--tiou zero": lambda c: (_evaluate(c.gt, c.pred, "--tiou", "0"), "--tiou"),
    "evaluate/--tiou above one": lambda c: (_evaluate(c.gt, c.pred, "--tiou", "0.5,1.5"), "--tiou"),
    "evaluate/--tiou backwards range": lambda c: (_evaluate(c.gt, c.pred, "--tiou", "0.7:0.1:0.1"), "--tiou"),
    "evaluate/--subset unknown": lambda c: (_evaluate(c.gt, c.pred, "--subset", "valid"), "valid"),
    "evaluate/--ambiguous missing": lambda c: (
        _evaluate(c.gt, c.pred, "--ambiguous", str(c.tmp / "amb.txt")),
        "amb.txt",
    ),
    "evaluate/--ambiguous malformed line": lambda c: (
        _evaluate(c.gt, c.pred, "--ambiguous", str(c.write("amb.txt", "video 1\n"))),
        "amb.txt",
    ),
    "evaluate/no --pred": lambda c: (["evaluate", "--gt", str(c.gt)], "--pred"),
    # --------------------------------------------------------------------------------------- diagnose
    "diagnose/two thresholds": lambda c: (
        ["diagnose", "--gt", str(c.gt), "--pred", str(c.pred), "--tiou", "0.3,0.5"],
        "--tiou",
    ),
    "diagnose/threshold not a number": lambda c: (
        ["diagnose", "--gt", str(c.gt), "--pred", str(c.pred), "--tiou", "x"],
        "--tiou",
    ),
    "diagnose/pred not JSON": lambda c: (
        ["diagnose", "--gt", str(c.gt), "--pred", str(c.write("p.json", "]"))],
        "p.json",
    ),
    "diagnose/gt missing": lambda c: (
        ["diagnose", "--gt", str(c.tmp / "g.json"), "--pred", str(c.pred)],
        "g.json",
    ),
    # ------------------------------------------------------------------------------------- data check
    "data check/folder missing": lambda c: (["data", "check", str(c.tmp / "none")], "none"),
    "data check/gt.json not JSON": lambda c: (["data", "check", str(_with_gt(c, "{"))], "gt.json"),
    "data check/gt.json not UTF-8": lambda c: (["data", "check", str(_with_gt(c, b"\xff\xfe{"))], "gt.json"),
    "data check/gt.json a FIFO": lambda c: (
        ["data", "check", str(_fifo_gt(c))],
        "gt.json",
    ),
    "data check/classes.txt not UTF-8": lambda c: (
        ["data", "check", str(_with_classes_bytes(c, b"\xffA\n"))],
        "classes.txt",
    ),
    "data check/classes.txt repeats a name": lambda c: (
        ["data", "check", str(_with_classes(c, "A\nA\n"))],
        "classes.txt",
    ),
    "data check/split file names ../x": lambda c: (
        ["data", "check", str(_with_split_file(c, "../x\n"))],
        "split_test.txt",
    ),
    "data check/float64 features": lambda c: (
        ["data", "check", str(_with_features(c, np.zeros((10, 32))))],
        ".npy",
    ),
    "data check/NaN features": lambda c: (
        ["data", "check", str(_with_features(c, np.full((10, 32), np.nan, np.float32)))],
        ".npy",
    ),
    "data check/3-D features": lambda c: (
        ["data", "check", str(_with_features(c, np.zeros((2, 10, 32), np.float32)))],
        ".npy",
    ),
    "data check --quick/truncated .npy": lambda c: (["data", "check", "--quick", str(_truncated(c))], ".npy"),
    "data check/object array (never unpickled)": lambda c: (
        ["data", "check", str(_with_features(c, np.array([None, 1], dtype=object)))],
        ".npy",
    ),
    # ------------------------------------------------------------------------------------------ synth
    "synth/out under a regular file": lambda c: (
        ["synth", str(c.write("file", "x") / "out"), "--preset", "tiny", "--quiet"],
        "file",
    ),
    "synth/out exists": lambda c: (["synth", str(c.folder("out")), "--preset", "tiny", "--quiet"], "out"),
    "synth/unknown preset": lambda c: (["synth", str(c.tmp / "o"), "--preset", "bogus"], "--preset"),
    "synth/negative seed": lambda c: (
        ["synth", str(c.tmp / "o"), "--preset", "tiny", "--seed", "-1"],
        "--seed",
    ),
    "synth/seed not a number": lambda c: (["synth", str(c.tmp / "o"), "--seed", "x"], "--seed"),
    "synth/fraction zero": lambda c: (["synth", str(c.tmp / "o"), "--fraction", "0"], "--fraction"),
    "synth/odd feature dim": lambda c: (["synth", str(c.tmp / "o"), "--feature-dim", "3"], "--feature-dim"),
    "synth/negative noise": lambda c: (["synth", str(c.tmp / "o"), "--set", "noise_std=-1"], "noise_std"),
    "synth/NaN knob": lambda c: (
        ["synth", str(c.tmp / "o"), "--set", "context_strength=nan"],
        "context_strength",
    ),
    "synth/unknown knob": lambda c: (["synth", str(c.tmp / "o"), "--set", "loudness=1"], "loudness"),
    "synth/knob not a number": lambda c: (
        ["synth", str(c.tmp / "o"), "--set", "noise_std=lots"],
        "noise_std",
    ),
    "synth/zero latent dim": lambda c: (["synth", str(c.tmp / "o"), "--set", "latent_dim=0"], "latent_dim"),
    # ----------------------------------------------------------------------------------------- config
    "config show/unknown recipe": lambda c: (["config", "show", "thumos15"], "thumos15"),
    "config show/missing file": lambda c: (["config", "show", str(c.tmp / "x.yaml")], "x.yaml"),
    "config show/folder": lambda c: (["config", "show", str(c.folder("d.yaml"))], "d.yaml"),
    "config show/FIFO": lambda c: (["config", "show", str(c.fifo("f.yaml"))], "f.yaml"),
    "config show/not UTF-8": lambda c: (["config", "show", str(c.write("c.yaml", b"train: \xff"))], "c.yaml"),
    "config show/not YAML": lambda c: (["config", "show", str(c.write("c.yaml", "a: [b"))], "c.yaml"),
    "config show/a list": lambda c: (["config", "show", str(c.write("c.yaml", "- 1\n"))], "c.yaml"),
    "config show/python tag": lambda c: (
        ["config", "show", str(c.write("c.yaml", "train: !!python/object/apply:os.system ['true']\n"))],
        "c.yaml",
    ),
    "config show/nested deeply": lambda c: (
        ["config", "show", str(c.write("c.yaml", "[" * 20000))],
        "c.yaml",
    ),
    "config show/unknown key": lambda c: (
        ["config", "show", "thumos14", "--set", "train.speed=2"],
        "train.speed",
    ),
    "config show/--set without =": lambda c: (
        ["config", "show", "thumos14", "--set", "train.epochs"],
        "--set",
    ),
    # ------------------------------------------------------------------------------------------ train
    # ---------------------------------------------------------------- train: a student's teacher
    "train/student teacher missing": lambda c: (_student(c, c.tmp / "none"), "none"),
    "train/student teacher unfinished": lambda c: (_student(c, _unfinished_teacher(c)), "teacher"),
    "train/student teacher is a student": lambda c: (_student(c, _student_teacher(c)), "student run"),
    "train/student teacher of other classes": lambda c: (
        _student(c, c.run, root=_renamed_class(c)),
        "other classes",
    ),
    "train/student teacher of other features": lambda c: (
        _student(c, c.run, root=_narrow_data(c)),
        "64-wide features",
    ),
    "train/student teacher found nothing": lambda c: (
        _student(c, c.run, "student.pseudo_density=1000"),
        "found nothing",
    ),
    "train/student window not a multiple": lambda c: (
        _student(c, c.run, "student.window=63"),
        "student.window",
    ),
    # ---------------------------------------------------------------- pseudo-label
    "pseudo-label/run missing": lambda c: (_pseudo(c, run=c.tmp / "none"), "none"),
    "pseudo-label/relative above 1": lambda c: (_pseudo(c, "--relative", "2"), "--relative"),
    "pseudo-label/found nothing": lambda c: (_pseudo(c, "--density", "1000"), "found nothing"),
    "pseudo-label/out under a file": lambda c: (
        ["pseudo-label", str(c.run), "--out", str(c.write("f", "x") / "p.json")],
        "--out",
    ),
    "pseudo-label/checkpoint path": lambda c: (_pseudo(c, "--checkpoint", "x.pt"), "--checkpoint"),
    "train/epochs 0": lambda c: (_train(c, extra=("--epochs", "0")), "train.epochs"),
    "train/epochs -3": lambda c: (_train(c, extra=("--epochs", "-3")), "train.epochs"),
    "train/lr negative": lambda c: (_train(c, "optim.lr=-1"), "optim.lr"),
    "train/lr NaN": lambda c: (_train(c, "optim.lr=.nan"), "optim.lr"),
    "train/batch 0": lambda c: (_train(c, "train.batch_size=0"), "train.batch_size"),
    "train/betas 1": lambda c: (_train(c, "optim.betas=[0.9, 1.0]"), "optim.betas"),
    "train/workers -1": lambda c: (_train(c, "data.num_workers=-1"), "data.num_workers"),
    "train/val fraction 1.5": lambda c: (_train(c, "data.val_fraction=1.5"), "data.val_fraction"),
    "train/no tIoUs": lambda c: (_train(c, "eval.tious=[]"), "eval.tious"),
    "train/feature fps 0": lambda c: (_train(c, "data.feature_fps=0"), "data.feature_fps"),
    "train/selection not evaluated": lambda c: (_train(c, "eval.selection=mAP@0.33"), "mAP@0.33"),
    "train/dropout 1.5": lambda c: (_train(c, "model.dropout=1.5"), "model.dropout"),
    "train/tau 2": lambda c: (_train(c, "postprocess.tau=2"), "postprocess.tau"),
    "train/beta negative": lambda c: (_train(c, "loss.beta=-1"), "loss.beta"),
    "train/unknown variant": lambda c: (_train(c, "model.variant=bogus"), "bogus"),
    "train/unknown synthetic preset": lambda c: (_train(c, "data.synthetic=bogus"), "data.synthetic"),
    "train/split ../../x": lambda c: (_train(c, "data.test_split=../../x"), "data.test_split"),
    "train/epochs not a number": lambda c: (_train(c, "train.epochs=ten"), "train.epochs"),
    "train/data root missing": lambda c: (
        _train(c, f"data.root={c.tmp / 'none'}", "data.synthetic=null"),
        "none",
    ),
    "train/out under a file": lambda c: (
        ["train", TINY, "--out", str(c.write("f", "x") / "run"), "--set", f"data.root={c.root}", "--quiet"],
        "f",
    ),
    "train/out not empty": lambda c: (
        [
            "train",
            TINY,
            "--out",
            str(c.write("run/notes.txt", "mine").parent),
            "--set",
            f"data.root={c.root}",
        ],
        "run",
    ),
    "train/resume nothing": lambda c: (_train(c, extra=("--resume",)), "last.pt"),
    "train/unknown device": lambda c: (_train(c, extra=("--device", "tpu")), "tpu"),
    "train/cuda without CUDA": lambda c: (_train(c, extra=("--device", "cuda")), "cuda"),
    "train/unknown recipe": lambda c: (["train", "thumos15", "--out", str(c.tmp / "r")], "thumos15"),
    "train/missing config file": lambda c: (
        ["train", str(c.tmp / "c.yaml"), "--out", str(c.tmp / "r")],
        "c.yaml",
    ),
    "train/gt.json a FIFO": lambda c: (_train(c, f"data.root={_fifo_gt(c)}"), "gt.json"),
    "train/float64 features": lambda c: (
        _train(c, f"data.root={_with_features(c, np.zeros((10, 32)))}"),
        ".npy",
    ),
    # --------------------------------------------------------------------------------------- localize
    "localize/run missing": lambda c: (_localize(c, run=c.tmp / "none"), "none"),
    "localize/run without checkpoints": lambda c: (_localize(c, run=c.folder("empty")), "empty"),
    "localize/checkpoint missing": lambda c: (_localize(c, "--checkpoint", str(c.tmp / "x.pt")), "x.pt"),
    "localize/checkpoint is text": lambda c: (
        _localize(c, "--checkpoint", str(c.write("x.pt", "hello"))),
        "x.pt",
    ),
    "localize/checkpoint is a FIFO": lambda c: (_localize(c, "--checkpoint", str(c.fifo("x.pt"))), "x.pt"),
    "localize/checkpoint without model": lambda c: (
        _localize(c, "--checkpoint", str(c.checkpoint("x.pt", _drop("model")))),
        "x.pt",
    ),
    "localize/checkpoint width a string": lambda c: (
        _localize(c, "--checkpoint", str(c.checkpoint("x.pt", _set("feature_dim", "64")))),
        "x.pt",
    ),
    "localize/checkpoint NaN weights": lambda c: (
        _localize(c, "--checkpoint", str(c.checkpoint("x.pt", _nan_weights))),
        "x.pt",
    ),
    "localize/checkpoint class list longer than weights": lambda c: (
        _localize(
            c, "--checkpoint", str(c.checkpoint("x.pt", _set("class_names", ["a", "b", "c", "d", "e"])))
        ),
        "5",
    ),
    "localize/checkpoint config broken": lambda c: (
        _localize(c, "--checkpoint", str(c.checkpoint("x.pt", _set("config", {"train": {"epochs": "x"}})))),
        "x.pt",
    ),
    "localize/other classes": lambda c: (
        _localize(c, "--data", str(_with_classes(c, "A\nB\nC\nD\n"))),
        "classes",
    ),
    "localize/split ../../x": lambda c: (_localize(c, "--split", "../../x"), "../../x"),
    "localize/unknown split": lambda c: (_localize(c, "--split", "validation"), "validation"),
    "localize/data folder missing": lambda c: (_localize(c, "--data", str(c.tmp / "none")), "none"),
    "localize/--out is a folder": lambda c: (
        ["localize", str(c.run), "--out", str(c.folder("out.json")), "--quiet"],
        "out.json",
    ),
    "localize/--csv equals --out": lambda c: (_localize(c, "--csv", str(c.tmp / "p.json")), "--csv"),
    "localize/--save-cas is a file": lambda c: (_localize(c, "--save-cas", str(c.write("cas", "x"))), "cas"),
    "localize/--batch-size 0": lambda c: (_localize(c, "--batch-size", "0"), "--batch-size"),
    "localize/unknown device": lambda c: (_localize(c, "--device", "tpu"), "tpu"),
    "localize/float64 features": lambda c: (
        _localize(c, "--data", str(_with_features(c, np.zeros((10, 32))))),
        ".npy",
    ),
    "localize/--out under a file": lambda c: (
        ["localize", str(c.run), "--out", str(c.write("f", "x") / "p.json"), "--quiet"],
        "f",
    ),
    # ------------------------------------------------------------------------------------------- plot
    "plot/video ../evil": lambda c: (
        ["plot", str(c.run), "--video", "../evil", "--out", str(c.tmp / "v.png")],
        "../evil",
    ),
    "plot/unknown video": lambda c: (
        ["plot", str(c.run), "--video", "nope", "--out", str(c.tmp / "v.png")],
        "nope",
    ),
    "plot/--top negative": lambda c: (["plot", str(c.run), "--video", "v", "--top", "-1"], "--top"),
    "plot/--out is a folder": lambda c: (
        ["plot", str(c.run), "--video", "v", "--out", str(c.folder("v.png"))],
        "v.png",
    ),
    "plot/run missing": lambda c: (
        ["plot", str(c.tmp / "none"), "--video", "v", "--out", str(c.tmp / "v.png")],
        "none",
    ),
    # ----------------------------------------------------------------------------------------- report
    "report/run without checkpoints": lambda c: (
        ["report", str(_without_checkpoints(c)), "--out", str(c.tmp / "r.html"), "--quiet"],
        "checkpoint",
    ),
    "report/predictions of another dataset": lambda c: (
        _report(c, "--pred", str(c.pred_with(_DETECTION, video="video_validation_0000051"))),
        "none of its 1 videos",
    ),
    "report/predicted label not the run's": lambda c: (
        _report(c, "--pred", str(c.pred_with({**_DETECTION, "label": "Skiing"}))),
        "Skiing",
    ),
    "report/--out under a file": lambda c: (
        ["report", str(c.run), "--out", str(c.write("f", "x") / "r.html"), "--quiet"],
        "which is a file",
    ),
    "report/--out is a folder": lambda c: (
        ["report", str(c.run), "--out", str(c.folder("r.html")), "--quiet"],
        "r.html",
    ),
    "report/data without ground truth": lambda c: (
        _report(c, "--data", str(_features_only(c))),
        "no annotated",
    ),
    "report/--tiou 0": lambda c: (_report(c, "--tiou", "0"), "--tiou"),
    "report/malformed predictions": lambda c: (_report(c, "--pred", str(c.write("p.json", "{"))), "p.json"),
    # ----------------------------------------------------------------------------------------- ablate
    "ablate/jobs 0": lambda c: (["ablate", TINY, "--out", str(c.tmp / "s"), "--jobs", "0"], "--jobs"),
    "ablate/unknown variant": lambda c: (
        ["ablate", TINY, "--out", str(c.tmp / "s"), "--variants", "ecm,bogus"],
        "bogus",
    ),
    "ablate/seeds not a number": lambda c: (
        ["ablate", TINY, "--out", str(c.tmp / "s"), "--seeds", "x"],
        "--seeds",
    ),
    "ablate/seed repeated": lambda c: (
        ["ablate", TINY, "--out", str(c.tmp / "s"), "--seeds", "1,1"],
        "--seeds",
    ),
    "ablate/fusion without streams": lambda c: (
        ["ablate", TINY, "--out", str(c.tmp / "s"), "--variants", "ecm", "--fusion"],
        "post_only",
    ),
    "ablate/variant through --set": lambda c: (
        ["ablate", TINY, "--out", str(c.tmp / "s"), "--set", "model.variant=ecm"],
        "--variants",
    ),
    "ablate/epochs 0": lambda c: (
        ["ablate", TINY, "--out", str(c.tmp / "s"), "--epochs", "0"],
        "train.epochs",
    ),
    "ablate/missing config": lambda c: (
        ["ablate", str(c.tmp / "c.yaml"), "--out", str(c.tmp / "s")],
        "c.yaml",
    ),
    # ---------------------------------------------------------------------------------------- compare
    "compare/study missing": lambda c: (["compare", str(c.tmp / "a"), str(c.tmp / "b")], "ablation.json"),
    "compare/ablation.json not JSON": lambda c: (["compare", str(c.study("{")), str(c.tmp)], "ablation.json"),
    "compare/foreign format": lambda c: (
        ["compare", str(c.study({"format": "x", "rows": []})), str(c.tmp)],
        "ablation.json",
    ),
    "compare/row without seeds": lambda c: (
        [
            "compare",
            str(c.study({"format": "ecm-ablation-1", "rows": [{"key": "ecm", "metrics": {}}]})),
            str(c.tmp),
        ],
        "ablation.json",
    ),
    "compare/values do not match seeds": lambda c: (
        [
            "compare",
            str(
                c.study(
                    {
                        "format": "ecm-ablation-1",
                        "rows": [
                            {
                                "key": "ecm",
                                "seeds": [0, 1],
                                "metrics": {
                                    "last": {"mAP@0.5": {"mean": 1, "std": None, "n": 1, "values": [1]}}
                                },
                            }
                        ],
                    }
                )
            ),
            str(c.tmp),
        ],
        "ablation.json",
    ),
    "compare/unknown protocol": lambda c: (
        ["compare", str(c.tmp), str(c.tmp), "--protocol", "first"],
        "--protocol",
    ),
    # ------------------------------------------------------------------------------------------- demo
    "demo/out is a file": lambda c: (["demo", "--out", str(c.write("out", "x")), "--preset", "tiny"], "out"),
    "demo/out is someone's folder": lambda c: (
        ["demo", "--out", str(c.write("d/notes.txt", "mine").parent), "--preset", "tiny"],
        "d",
    ),
    "demo/epochs 0": lambda c: (
        ["demo", "--out", str(c.tmp / "d"), "--preset", "tiny", "--epochs", "0"],
        "--epochs",
    ),
    "demo/unknown preset": lambda c: (["demo", "--out", str(c.tmp / "d"), "--preset", "huge"], "--preset"),
    "demo/config missing": lambda c: (
        ["demo", "--out", str(c.tmp / "d"), "--preset", "tiny", "--config", str(c.tmp / "c.yaml")],
        "c.yaml",
    ),
    "demo/config of another preset": lambda c: (
        ["demo", "--out", str(c.tmp / "d"), "--preset", "tiny", "--config", "thumos14"],
        "thumos14",
    ),
    # ---------------------------------------------------------------------------------------- extract
    "extract/no video": lambda c: (["extract", "--out", str(c.tmp / "r")], "no video"),
    "extract/--list missing": lambda c: (
        ["extract", "--list", str(c.tmp / "l.txt"), "--out", str(c.tmp / "r")],
        "l.txt",
    ),
    "extract/split ../x": lambda c: (
        ["extract", "v.mp4", "--out", str(c.tmp / "r"), "--split", "../x"],
        "../x",
    ),
    "extract/crop 8": lambda c: (["extract", "v.mp4", "--out", str(c.tmp / "r"), "--crop", "8"], "--crop"),
    "extract/no weights": lambda c: (
        ["extract", str(c.write("v.mp4", "x")), "--out", str(c.tmp / "r")],
        "--rgb-weights",
    ),
    "extract/weights not a torch file": lambda c: (
        [
            "extract",
            str(c.write("v.mp4", "x")),
            "--out",
            str(c.tmp / "r"),
            "--rgb-weights",
            str(c.write("w.pt", "x")),
            "--flow",
            "none",
        ],
        "w.pt",
    ),
    "extract/unknown flow backend": lambda c: (
        ["extract", "v.mp4", "--out", str(c.tmp / "r"), "--flow-backend", "cuda"],
        "cuda",
    ),
    "extract/torch backend for Farnebäck": lambda c: (
        ["extract", "v.mp4", "--out", str(c.tmp / "r"), "--flow", "farneback", "--flow-backend", "torch"],
        "TV-L1 only",
    ),
    "extract/same video id twice": lambda c: (
        ["extract", str(c.write("a/v.mp4", "x")), str(c.write("b/v.mp4", "x")), "--out", str(c.tmp / "r")],
        "v.mp4",
    ),
    "localize/--video with --split": lambda c: (
        _localize(c, "--split", "test", "--video", "v.mp4"),
        "--video",
    ),
    **(
        {}
        if torch.cuda.is_available()
        else {
            "demo/--device cuda without CUDA": lambda c: (
                ["demo", "--out", str(c.tmp / "d"), "--preset", "tiny", "--device", "cuda", "--quiet"],
                "CUDA is not available",
            )
        }
    ),
    "synth/--feature-dim and --set stream_dim": lambda c: (
        ["synth", str(c.tmp / "s"), "--preset", "tiny", "--feature-dim", "64", "--set", "stream_dim=16"],
        "--feature-dim 64 and --set stream_dim=16",
    ),
    "synth/one knob set twice": lambda c: (
        ["synth", str(c.tmp / "s"), "--preset", "tiny", "--set", "noise_std=1", "--set", "noise_std=2"],
        "noise_std=1.0 and noise_std=2",
    ),
    "localize/checkpoint a plain pickle (protocol 4)": lambda c: (
        _localize(c, run=_run_with_checkpoint(c, pickle.dumps(_Evil(), protocol=4))),
        "not a readable ecm checkpoint",
    ),
    "plot/--out .txt": lambda c: (
        ["plot", str(c.run), "--video", _first_test_video(c), "--out", str(c.tmp / "v.txt")],
        "matplotlib cannot write '.txt' files; use one of",
    ),
    "plot/--out without extension": lambda c: (
        ["plot", str(c.run), "--video", _first_test_video(c), "--out", str(c.tmp / "v")],
        "without an extension",
    ),
    "compare/--plot .txt": lambda c: (
        ["compare", str(c.tmp / "a"), str(c.tmp / "b"), "--plot", str(c.tmp / "c.txt")],
        "--plot: matplotlib cannot write '.txt'",
    ),
    "ablate/--out is a file": lambda c: (
        ["ablate", TINY, "--out", str(c.write("study", "")), "--set", f"data.root={c.root}", "--quiet"],
        "--out is not a folder",
    ),
    "data check/duration -10": lambda c: (
        ["data", "check", str(_gt_edit(c, duration=-10))],
        "duration is -10, not > 0",
    ),
    "data check/fps 0": lambda c: (["data", "check", str(_gt_edit(c, fps=0))], "fps is 0, not > 0"),
    "ecm/unknown command": lambda c: (["fly"], "fly"),
}


class _Evil:
    """Unpickling it would run code: the test's evidence is that nothing runs and nothing prints."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled!",))


def _run_with_checkpoint(c: Context, data: bytes) -> Path:
    """A copy of the tiny run whose checkpoints hold ``data``."""
    run = c.tmp / "run"
    shutil.copytree(c.run, run)
    for checkpoint in (run / "checkpoints").iterdir():
        checkpoint.write_bytes(data)
    return run


def _gt_edit(c: Context, **fields: object) -> Path:
    """A copy of the dataset whose first video's gt.json entry has ``fields`` changed."""
    root = c.copy_root()
    gt = json.loads((root / "gt.json").read_text())
    first = next(iter(gt["database"]))
    gt["database"][first].update(fields)
    (root / "gt.json").write_text(json.dumps(gt))
    return root


def _first_test_video(c: Context) -> str:
    return (c.root / "split_test.txt").read_text().split()[0]


def _fifo_gt(c: Context) -> Path:
    root = c.copy_root()
    (root / "gt.json").unlink()
    os.mkfifo(root / "gt.json")
    return root


def _with_classes_bytes(c: Context, data: bytes) -> Path:
    root = c.copy_root()
    (root / "classes.txt").write_bytes(data)
    return root


def _truncated(c: Context) -> Path:
    root = c.copy_root()
    video = (root / "split_test.txt").read_text().split()[0]
    path = root / "features" / "test" / "flow" / f"{video}.npy"
    path.write_bytes(path.read_bytes()[:-16])
    return root


def _run(argv: list[str]) -> int:
    """``main(argv)``'s exit status, also when argparse exits on a usage error."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def _snapshot(*roots: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path below ``roots`` → (is a folder, size, mtime ns); FIFOs are listed, never opened."""
    out = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            info = path.lstat()
            out[str(path)] = (path.is_dir(), info.st_size, info.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def predictions(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid prediction file: every test instance of the tiny ground truth, as detections."""
    database = json.loads((tiny_root / "gt.json").read_text())["database"]
    results = {
        vid: [{"label": a["label"], "score": 0.5, "segment": a["segment"]} for a in video["annotations"]]
        for vid, video in database.items()
        if video["subset"] == "test"
    }
    path = tmp_path_factory.mktemp("pred") / "pred.json"
    path.write_text(json.dumps({"results": results}))
    return path


def test_there_are_at_least_100_cases() -> None:
    assert len(CASES) >= 100, len(CASES)
    commands = {name.split("/")[0].split()[0] for name in CASES}
    assert commands >= {
        "evaluate",
        "diagnose",
        "data",
        "synth",
        "config",
        "train",
        "localize",
        "plot",
        "report",
        "ablate",
        "compare",
        "demo",
    }


@pytest.fixture()
def alarm() -> Iterator[None]:
    """Fail instead of hanging for ever (a FIFO read as a file would block)."""

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("the command hung")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_leaves_nothing(
    name: str,
    tiny_root: Path,
    tiny_run: Path,
    predictions: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    alarm: None,
) -> None:
    context = Context(tmp_path / "case", tiny_root, tiny_run, predictions)
    context.tmp.mkdir()
    argv, needle = CASES[name](context)
    before = _snapshot(context.tmp, tiny_root, tiny_run)
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as escaped:  # outside pytest they print lines of their own
        warnings.simplefilter("always")
        status = _run(argv)
    captured = capsys.readouterr()
    assert not escaped, (name, [str(w.message) for w in escaped])
    assert status == 2, (name, status, captured.err)
    lines = captured.err.splitlines()
    assert len(lines) == 1, (name, captured.err)
    assert lines[0].startswith("ecm: error: ") and "Traceback" not in captured.err, (name, captured.err)
    assert needle in lines[0], (name, needle, lines[0])
    assert _snapshot(context.tmp, tiny_root, tiny_run) == before, name


def test_a_full_disk_during_a_checkpoint_write_is_one_line(
    tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--out` on a 64 KiB file system: the run fills it at its first checkpoint. One line naming the file
    and the cause, exit 2, and the half-made run folder is gone."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        capsys.readouterr()
        status = _run(_train_args(tiny_root, disk / "run"))
        err = capsys.readouterr().err.splitlines()
        assert status == 2 and len(err) == 1, err
        assert (
            err[0].startswith("ecm: error: ")
            and "checkpoints/" in err[0]
            and "No space left on device" in err[0]
        )
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def _train_args(root: Path, out: Path) -> list[str]:
    return ["train", TINY, "--out", str(out), "--quiet", "--set", f"data.root={root}", "--epochs", "1"]
