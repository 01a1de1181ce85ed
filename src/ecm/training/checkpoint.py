"""Checkpoints: atomic save, safe load (``torch.load(weights_only=True)``), checked contents, restoring a run.

A checkpoint is a dict of plain types and tensors only, so it loads with ``weights_only=True`` (no
pickle of arbitrary objects): ``format``, ``epoch`` (1-based, last finished), ``model`` and
``optimizer`` state dicts (with ``train.ema_decay`` or ``train.swa_start``, ``model`` holds the average of
the weights once it has begun (``train.ema_start``, ``train.swa_start``), which is what is evaluated and
localized, and ``train_model`` and ``ema_count`` the trained weights and how many weights the average holds), ``scaler`` (the float16 gradient scaler's state; empty for other precisions),
``config`` (the resolved experiment config as nested dicts), ``metrics``
(every epoch's :class:`~ecm.training.run_dir.EpochRecord` so far), ``class_names``, ``feature_dim``, and
``rng`` (torch CPU and CUDA generator states, for exact resumption).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch

from ecm.config import ExperimentConfig, config_from_dict
from ecm.device import resolve_device
from ecm.errors import InputError
from ecm.files import atomic_path, check_input_file, load_untrusted_torch_file
from ecm.inference import TrainedRun
from ecm.model import build_model
from ecm.student import TwoStageModel, build_student
from ecm.training.run_dir import RunDir

FORMAT = "ecm-checkpoint-1"
# key → the type its value must have: what inference needs, and what resuming training needs besides
INFERENCE_FIELDS: dict[str, type] = {
    "epoch": int,
    "model": dict,
    "config": dict,
    "class_names": list,
    "feature_dim": int,
}
TRAINING_FIELDS: dict[str, type] = {**INFERENCE_FIELDS, "optimizer": dict, "metrics": list, "rng": dict}


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus the format tag) to ``path`` atomically.

    The checkpoint is serialised in memory first and written as plain bytes, so that a full or failing
    disk is an ``OSError`` naming ``path`` (torch's own writer reports it as an opaque RuntimeError).
    """
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getbuffer())
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from None


def load_checkpoint(
    path: str | os.PathLike[str], required: Mapping[str, type] = TRAINING_FIELDS
) -> dict[str, Any]:
    """Load a checkpoint safely onto the CPU and check that it has the ``required`` keys and their types.

    Inference needs :data:`INFERENCE_FIELDS` only, so a checkpoint stripped of its training state still
    localizes; resuming needs :data:`TRAINING_FIELDS`.

    Raises:
        InputError: the file is missing, not a weights-only torch file, not an ecm checkpoint, or lacks a
            key (or holds one of the wrong type).
    """
    path = check_input_file(path, "checkpoint")
    try:
        payload = load_untrusted_torch_file(path)
    except Exception as exc:  # torch raises many types for a corrupt or non-weights-only file
        raise InputError(path, f"not a readable ecm checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(path, "not an ecm checkpoint")
    for key, kind in required.items():
        if key not in payload:
            raise InputError(path, f"checkpoint has no {key!r}")
        if not isinstance(payload[key], kind) or isinstance(payload[key], bool):
            raise InputError(path, f"checkpoint's {key!r} is a {type(payload[key]).__name__}")
    return payload


def rng_state() -> dict[str, Any]:
    """Current torch generator states (CPU, and every CUDA device when available)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_weights(
    weights: Mapping[str, Any], expected: Mapping[str, torch.Tensor], path: Path, *, num_classes: int
) -> None:
    """Every tensor the model needs, of its shape, finite; :class:`InputError` naming the first that is not."""
    missing = [key for key in expected if key not in weights]
    if missing:
        raise InputError(path, f"weights lack {missing[0]!r} (the model its config describes needs it)")
    unexpected = [key for key in weights if key not in expected]
    if unexpected:
        raise InputError(
            path, f"weights hold {unexpected[0]!r}, which the model its config describes has not"
        )
    for key, want in expected.items():
        value = weights[key]
        if not isinstance(value, torch.Tensor):
            raise InputError(path, f"weight {key!r} is a {type(value).__name__}, not a tensor")
        if value.shape != want.shape:
            note = ""
            if key.startswith("classifier.") and value.shape[0] != want.shape[0]:
                note = f" (trained for {value.shape[0]} classes, its class list has {num_classes})"
            raise InputError(
                path,
                f"weight {key!r} has shape {tuple(value.shape)}, the model needs {tuple(want.shape)}{note}",
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise InputError(path, f"weight {key!r} holds NaN or infinite values")


def build_run_model(
    config: ExperimentConfig, state: Mapping[str, Any], path: Path, num_classes: int, feature_dim: int
) -> torch.nn.Module:
    """The untrained network a checkpoint's weights go into: ECM, or a student beside its teacher (whose
    config the checkpoint holds as ``teacher_config``)."""
    if not config.student.enabled:
        return build_model(config.model, num_classes, feature_dim)
    if not isinstance(state.get("teacher_config"), dict):
        raise InputError(path, "a student checkpoint without its teacher's config ('teacher_config')")
    try:
        teacher = config_from_dict(state["teacher_config"])
    except InputError as exc:
        raise InputError(path, f"its teacher's config does not load ({exc.problem})") from None
    return TwoStageModel(
        build_model(teacher.model, num_classes, feature_dim),
        build_student(config.student, num_classes, feature_dim),
        teacher.test_length,
    )


def load_run(
    run_dir: str | os.PathLike[str], checkpoint: Literal["best", "last"] | str = "best", device: str = "auto"
) -> TrainedRun:
    """Restore a run's model from ``checkpoint`` (``best``, ``last`` or a path to a ``.pt`` file).

    ``best`` falls back to ``last`` when the run never evaluated. Raises :class:`InputError` for a folder
    without checkpoints or a checkpoint that does not load or does not fit its own config.
    """
    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise InputError(run.path, "run folder not found")
    named_best = None  # the best epoch the run's summary names, when it has finished once
    if checkpoint in ("best", "last"):
        path = run.checkpoint("best" if checkpoint == "best" else "last")
        if checkpoint == "best":
            summary = run.read_summary()
            named_best = summary.best_on_test.epoch if summary and summary.best_on_test else None
            if not path.exists() and named_best is not None:
                raise InputError(path, f"missing, but summary.json names epoch {named_best} the best")
            if not path.exists():
                path = run.last_checkpoint  # never evaluated: the last is all there is
        if not path.exists():
            raise InputError(run.path, "no checkpoint found (expected checkpoints/best.pt or last.pt)")
    else:
        path = Path(checkpoint)
    state = load_checkpoint(path, INFERENCE_FIELDS)
    if named_best is not None and state["epoch"] < named_best:
        raise InputError(
            path,
            f"is from epoch {state['epoch']}, older than the best epoch {named_best} that summary.json names "
            "(an interrupted write?); use --checkpoint last, or resume the run",
        )
    try:
        config = config_from_dict(state["config"])
    except InputError as exc:
        raise InputError(path, f"its config does not load ({exc.problem})") from None
    class_names = tuple(str(name) for name in state["class_names"])
    feature_dim = int(state["feature_dim"])
    target = resolve_device(device)
    model = build_run_model(config, state, path, len(class_names), feature_dim)
    check_weights(state["model"], model.state_dict(), path, num_classes=len(class_names))
    model.load_state_dict(state["model"])
    model.to(target).eval()
    return TrainedRun(run.path, path, config, model, class_names, feature_dim, int(state["epoch"]), target)
