"""Checkpoints: atomic save, safe load (``torch.load(weights_only=True)``), and what they hold.

A checkpoint is a dict of plain types and tensors only, so it loads with ``weights_only=True`` (no
pickle of arbitrary objects): ``format``, ``epoch`` (1-based, last finished), ``model`` and
``optimizer`` state dicts, ``config`` (the resolved experiment config as nested dicts), ``metrics``
(every epoch's metrics so far), ``class_names``, ``feature_dim``, and ``rng`` (torch CPU and CUDA
generator states, for exact resumption).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ecm.atomic import atomic_path
from ecm.errors import InputError

FORMAT = "ecm-checkpoint-1"


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus the format tag) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint safely onto the CPU; a missing or foreign file raises :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or non-weights-only file
        raise InputError(path, f"not a readable ecm checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(path, "not an ecm checkpoint")
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
