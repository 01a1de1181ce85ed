"""Mixed precision for training: an autocast forward, and a gradient scaler for float16.

``train.precision`` is ``fp32`` (the paper's and the reference code's: on CUDA with TF32 off, which PyTorch
otherwise allows for cuDNN convolutions), ``bf16`` or ``fp16``. Only the model's forward runs under
``torch.autocast``; its outputs are cast back to float32 before the losses, so
the loss sums, the backward of the losses, the optimiser step and the evaluation (which never autocasts)
stay in float32. ``fp16`` scales the loss by a :class:`torch.amp.GradScaler` (its state is saved in the
checkpoint, so a resumed run continues with it); ``bf16`` needs no scaler. Both work on the CPU too.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from ecm.device import full_float32

DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """How one run computes its training step.

    Args:
        name: ``fp32``, ``bf16`` or ``fp16``.
        device: the device the model trains on (its type picks the autocast backend).
    """

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in DTYPES:
            raise ValueError(f"precision must be one of {sorted(DTYPES)}, got {name!r}")
        self.name, self.device = name, device
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context the forward runs in: autocast for ``bf16`` and ``fp16``, nothing for ``fp32``."""
        dtype = DTYPES[self.name]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def session(self) -> contextlib.AbstractContextManager[Any]:
        """The context a whole run (training and evaluation) runs in: on CUDA, TF32 off, so that float32
        is float32 (PyTorch lets cuDNN convolutions use TF32 by default); restored afterwards."""
        return full_float32(self.device)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward of ``loss`` and one optimiser step (scaled, and skipped on overflow, for ``fp16``)."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the scaler's state (empty without one)."""
        return {} if self.scaler is None else dict(self.scaler.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (a checkpoint without it leaves the scaler new)."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
