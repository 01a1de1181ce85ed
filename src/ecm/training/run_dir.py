"""A run folder: every path in it, its per-epoch history and its summary, as typed records.

Layout::

    RUN/config.yaml                 the fully resolved config
    RUN/metrics.jsonl               one JSON line per epoch (:class:`EpochRecord`)
    RUN/checkpoints/last.pt         after every epoch (atomic)
    RUN/checkpoints/best.pt         best test-split selection metric so far (the paper's protocol)
    RUN/summary.json                best-on-test, last-epoch and validation-selected results (:class:`RunSummary`)
    RUN/tensorboard/                optional
    RUN/evaluation_last.json        an ablation study's scores of the last checkpoint (cached)
    RUN/detections_last.json        and its detections (ActivityNet format)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ecm.config import ExperimentConfig, dump_config, load_config
from ecm.errors import InputError
from ecm.evaluation import MapSummary
from ecm.files import parse_json, read_json, read_text, write_json, write_text

RunStatus = Literal["finished", "resume", "fresh"]


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a run's history (a line of ``metrics.jsonl``).

    Attributes:
        epoch: 1-based epoch number.
        lr: learning rate used.
        loss: mean of each loss term over the epoch's batches (``pre``, ``post``, …, ``total``).
        seconds: wall time of the epoch, evaluation included.
        test, val: scores on the test split and the held-out validation share, when evaluated.
        selection: ``eval.selection`` on the test split, when evaluated.
    """

    epoch: int
    lr: float
    loss: dict[str, float]
    seconds: float = 0.0
    test: MapSummary | None = None
    val: MapSummary | None = None
    selection: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain types only (it is stored in checkpoints, which load with ``weights_only=True``)."""
        out: dict[str, Any] = {"epoch": self.epoch, "lr": self.lr, "loss": dict(self.loss)}
        if self.test is not None:
            out["test"] = self.test.to_json()
            out["selection"] = self.selection
        if self.val is not None:
            out["val"] = self.val.to_json()
        out["seconds"] = self.seconds
        return out

    @classmethod
    def from_json(cls, data: Any, path: str | os.PathLike[str] | None = None) -> EpochRecord:
        """Parse :meth:`to_json`'s form; :class:`InputError` naming ``path`` when it is malformed."""
        if not isinstance(data, Mapping):
            raise InputError(path, f"an epoch record is not an object: {data!r:.60}")
        epoch, loss = data.get("epoch"), data.get("loss")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
            raise InputError(path, f"an epoch record's epoch is {epoch!r:.40}, not a number ≥ 1")
        if not isinstance(loss, Mapping):
            raise InputError(path, f"epoch {epoch}: loss is not an object")
        selection = data.get("selection")
        return cls(
            epoch=epoch,
            lr=_real(data.get("lr"), f"epoch {epoch}: lr", path),
            loss={str(k): _real(v, f"epoch {epoch}: loss {k}", path) for k, v in loss.items()},
            seconds=_real(data.get("seconds", 0.0), f"epoch {epoch}: seconds", path),
            test=MapSummary.from_json(data["test"], path) if "test" in data else None,
            val=MapSummary.from_json(data["val"], path) if "val" in data else None,
            selection=None if selection is None else _real(selection, f"epoch {epoch}: selection", path),
        )


def _real(value: Any, what: str, path: str | os.PathLike[str] | None) -> float:
    """A finite float from a JSON number; :class:`InputError` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise InputError(path, f"{what} is {value!r:.40}, not a finite number")


@dataclass(frozen=True)
class SelectedEpoch:
    """One epoch picked by a protocol: its number, the selection metric's value and its test scores."""

    epoch: int
    value: float
    test: MapSummary


@dataclass(frozen=True)
class RunSummary:
    """Headline results of a run (percent), each ``None`` where not available.

    Attributes:
        metric: the selection metric (``eval.selection``).
        best_on_test: the epoch with the best test value (the paper's protocol; optimistic).
        last: the last evaluated epoch.
        val_selected: the epoch with the best held-out validation value (``data.val_fraction > 0``).
    """

    metric: str
    best_on_test: SelectedEpoch | None = None
    last: SelectedEpoch | None = None
    val_selected: SelectedEpoch | None = None

    @property
    def decline(self) -> float | None:
        """Best on test minus last epoch (points, ≥ 0): what a run lost after its peak; None unevaluated."""
        if self.best_on_test is None or self.last is None:
            return None
        return self.best_on_test.value - self.last.value

    def to_json(self) -> dict[str, Any]:
        """``{"metric", "best_on_test", "last", "val_selected", "best_minus_last"}``, the first three each
        ``{"epoch", <metric>, "test"}``."""

        def entry(chosen: SelectedEpoch | None) -> dict[str, Any] | None:
            if chosen is None:
                return None
            return {"epoch": chosen.epoch, self.metric: chosen.value, "test": chosen.test.to_json()}

        return {
            "metric": self.metric,
            "best_on_test": entry(self.best_on_test),
            "last": entry(self.last),
            "val_selected": entry(self.val_selected),
            "best_minus_last": self.decline,
        }

    @classmethod
    def from_json(cls, data: Any, path: str | os.PathLike[str] | None = None) -> RunSummary:
        """Parse :meth:`to_json`'s form; :class:`InputError` naming ``path`` when it is malformed."""
        if not isinstance(data, Mapping) or not isinstance(data.get("metric"), str):
            raise InputError(path, "not a run summary (no 'metric')")
        metric = data["metric"]

        def entry(name: str) -> SelectedEpoch | None:
            block = data.get(name)
            if block is None:
                return None
            if not isinstance(block, Mapping) or not isinstance(block.get("epoch"), int):
                raise InputError(path, f"malformed {name!r} entry")
            value = _real(block.get(metric), f"{name} {metric}", path)
            return SelectedEpoch(block["epoch"], value, MapSummary.from_json(block.get("test"), path))

        return cls(metric, entry("best_on_test"), entry("last"), entry("val_selected"))


def summarize(history: Sequence[EpochRecord], metric: str) -> RunSummary:
    """Best-on-test (paper protocol), last evaluated epoch, and validation-selected epoch.

    Ties go to the earlier epoch.
    """
    evaluated = [h for h in history if h.test is not None]
    if not evaluated:
        return RunSummary(metric)

    def chosen(record: EpochRecord) -> SelectedEpoch:
        assert record.test is not None
        return SelectedEpoch(record.epoch, record.test.value(metric), record.test)

    best = max(evaluated, key=lambda h: (chosen(h).value, -h.epoch))
    with_val = [h for h in evaluated if h.val is not None]
    val_best = max(
        with_val, key=lambda h: (h.val.value(metric) if h.val else -math.inf, -h.epoch), default=None
    )
    return RunSummary(metric, chosen(best), chosen(evaluated[-1]), chosen(val_best) if val_best else None)


class RunDir:
    """The paths of one run folder and the reading and writing of its files (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.config_file = self.path / "config.yaml"
        self.metrics_file = self.path / "metrics.jsonl"
        self.summary_file = self.path / "summary.json"
        self.checkpoints = self.path / "checkpoints"
        self.tensorboard = self.path / "tensorboard"
        self.evaluation_file = self.path / "evaluation_last.json"  # an ablation study's cache
        self.detections_file = self.path / "detections_last.json"

    def checkpoint(self, which: Literal["best", "last"]) -> Path:
        """``RUN/checkpoints/{best,last}.pt``."""
        return self.checkpoints / f"{which}.pt"

    @property
    def last_checkpoint(self) -> Path:
        """``RUN/checkpoints/last.pt``, written after every epoch."""
        return self.checkpoint("last")

    def is_empty(self) -> bool:
        """True when the folder does not exist or holds nothing."""
        return not self.path.exists() or not any(self.path.iterdir())

    def read_history(self) -> list[EpochRecord]:
        """Every line of ``metrics.jsonl`` (``[]`` when there is none)."""
        if not self.metrics_file.exists():
            return []
        text = read_text(self.metrics_file)
        lines = [parse_json(line, self.metrics_file) for line in text.splitlines() if line.strip()]
        return [EpochRecord.from_json(line, self.metrics_file) for line in lines]

    def write_history(self, history: Sequence[EpochRecord]) -> None:
        """Rewrite ``metrics.jsonl`` atomically, one line per epoch."""
        write_text(self.metrics_file, "".join(json.dumps(h.to_json()) + "\n" for h in history))

    def read_summary(self) -> RunSummary | None:
        """``summary.json``, or ``None`` when the run has not finished once."""
        data = read_json(self.summary_file, missing_ok=True)
        return None if data is None else RunSummary.from_json(data, self.summary_file)

    def write_summary(self, summary: RunSummary) -> None:
        """Write ``summary.json`` atomically."""
        write_json(self.summary_file, summary.to_json(), indent=2)

    def read_config(self) -> ExperimentConfig:
        """The run's resolved ``config.yaml``."""
        return load_config(self.config_file)

    def write_config(self, config: ExperimentConfig) -> None:
        """Write ``config.yaml`` (every field, so the run is reproducible from it alone)."""
        write_text(self.config_file, dump_config(config))

    def status(self, epochs: int) -> RunStatus:
        """``finished`` (a summary of epoch ``epochs`` and that many history lines), ``resume`` or ``fresh``.

        Raises :class:`InputError` when the history is longer than ``epochs``.
        """
        lines = len(self.read_history())
        if lines > epochs:
            raise InputError(self.path, f"run has {lines} epochs, more than the {epochs} planned")
        summary = self.read_summary() if self.summary_file.exists() else None
        if (
            lines == epochs
            and summary is not None
            and summary.last is not None
            and summary.last.epoch == epochs
        ):
            return "finished"
        return "resume" if self.last_checkpoint.exists() else "fresh"


def replace_epochs(config: ExperimentConfig, epochs: int) -> ExperimentConfig:
    """``config`` with ``train.epochs`` set."""
    return dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))
