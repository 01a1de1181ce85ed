"""Choosing the torch device a command runs on, and float32 meaning float32 on it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ecm.errors import InputError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise ``torch.device(name)``, checked to exist."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(None, f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(None, "device cuda requested but CUDA is not available")
    return device


@contextlib.contextmanager
def tf32(device: torch.device, allowed: bool) -> Iterator[None]:
    """On CUDA, TF32 for matmuls and cuDNN convolutions allowed or not while inside; restored afterwards.
    Nothing elsewhere."""
    import torch

    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def full_float32(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """On CUDA, TF32 off while inside (PyTorch lets cuDNN convolutions use TF32 by default, which is not
    float32); restored afterwards. Nothing elsewhere."""
    return tf32(device, False)
