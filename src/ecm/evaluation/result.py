"""Detection results and how they are reported: tIoU lists, the quoted averages, tables and JSON.

tIoU thresholds are the doubles nearest the decimals a user writes: ``0.1:0.9:0.1`` is
``(0.1, 0.2, …, 0.9)`` exactly as those literals, not ``np.arange``/``np.linspace`` values (the ActivityNet
reference's ``np.linspace(0.5, 0.95, 10)`` gives ``0.8999999999999999`` for 0.9). A tIoU that equals a
threshold in floating point counts as reaching it (``tIoU >= θ``), so the two conventions can differ only on
such exact ties; pass the reference's array to the library functions for bit parity.

Averages users quote (:data:`STANDARD_AVERAGES`): THUMOS14 ``0.1:0.5``, ``0.3:0.7``, ``0.1:0.7`` and
``0.1:0.9`` (the official THUMOS code's "average") on a 0.1 grid; ActivityNet ``0.5:0.95`` on a 0.05 grid.
A range is reported only when every grid point of it was evaluated, and its value is the mean mAP over those
grid points (extra evaluated tIoUs between grid points do not enter it). ``average`` is the mean over all
evaluated tIoUs.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from ecm.errors import InputError

log = logging.getLogger(__name__)

# (name, first, last, step) — each a grid of tIoUs whose mean mAP people quote.
STANDARD_AVERAGES: tuple[tuple[str, str, str, str], ...] = (
    ("0.1:0.5", "0.1", "0.5", "0.1"),
    ("0.3:0.7", "0.3", "0.7", "0.1"),
    ("0.1:0.7", "0.1", "0.7", "0.1"),
    ("0.1:0.9", "0.1", "0.9", "0.1"),
    ("0.5:0.95", "0.5", "0.95", "0.05"),
)
THUMOS_TIOUS = "0.1:0.9:0.1"
ACTIVITYNET_TIOUS = "0.5:0.95:0.05"
_SAME = 1e-9  # two tIoUs closer than this are the same threshold


def _decimal_range(first: str, last: str, step: str) -> list[float]:
    start, stop, inc = Decimal(first), Decimal(last), Decimal(step)
    values = []
    value = start
    while value <= stop + inc / 1000:
        values.append(float(value))
        value += inc
    return values


def parse_tious(text: str) -> tuple[float, ...]:
    """Parse ``first:last:step`` (last included), ``a,b,c`` or a single value into thresholds in (0, 1].

    Raises :class:`InputError` on anything else, naming the ``--tiou`` value.

    >>> parse_tious("0.1:0.3:0.1"), parse_tious("0.5,0.75")
    ((0.1, 0.2, 0.3), (0.5, 0.75))
    """

    def fail(problem: str) -> InputError:
        return InputError(None, f"--tiou {text!r}: {problem}")

    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise fail("a range is first:last:step, e.g. 0.1:0.7:0.1")
            first, last, step = (Decimal(p.strip()) for p in parts)
            if not (step > 0 and last >= first):
                raise fail("a range needs step > 0 and last >= first")
            if (last - first) / step > 1000:
                raise fail("more than 1000 thresholds")
            values = _decimal_range(str(first), str(last), str(step))
        else:
            values = [float(Decimal(p.strip())) for p in text.split(",")]
    except InvalidOperation:
        raise fail("not a number, range first:last:step or comma-separated list") from None
    if not values or not all(math.isfinite(v) and 0.0 < v <= 1.0 for v in values):
        raise fail("every threshold must lie in (0, 1]")
    if len(set(values)) != len(values):
        raise fail("a threshold is repeated")
    return tuple(values)


def tiou_key(tiou: float) -> str:
    """The shortest decimal naming a threshold (six decimals at most).

    >>> tiou_key(0.1), tiou_key(0.55), tiou_key(0.8999999999999999)
    ('0.1', '0.55', '0.9')
    """
    text = f"{tiou:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def standard_averages(tious: Sequence[float], maps: Sequence[float] | np.ndarray) -> dict[str, float]:
    """The quoted averages (see module docstring) available for ``tious``; ``maps`` is mAP per tIoU."""
    values = np.asarray(maps, dtype=np.float64)
    grid = np.asarray(tious, dtype=np.float64)
    averages: dict[str, float] = {}
    for name, first, last, step in STANDARD_AVERAGES:
        picks = []
        for point in _decimal_range(first, last, step):
            hits = np.flatnonzero(np.abs(grid - point) < _SAME)
            if hits.size == 0:
                break
            picks.append(int(hits[0]))
        else:
            averages[name] = float(values[picks].mean())
    return averages


def _finite_number(value: Any, where: str, path: str | os.PathLike[str] | None) -> float:
    number = _as_float(value)
    if number is None:
        raise InputError(path, f"{where} is {value!r:.40}, not a finite number")
    return number


def _as_float(value: Any) -> float | None:
    """``value`` as a finite float when it is a real number (not a bool, not beyond the float range)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class MapSummary:
    """What a run's history and a study keep of a :class:`DetectionResult`: mAP per tIoU and averages.

    Attributes:
        mAP: tIoU key (:func:`tiou_key`) → mAP in percent, in evaluation order.
        average: mean mAP over the evaluated tIoUs, percent.
        averages: the standard averages available (``"0.1:0.7"`` → percent).

    >>> s = MapSummary({"0.3": 40.0, "0.5": 20.0}, 30.0, {})
    >>> s.value("mAP@0.5"), s.value("average"), s.metrics()["mAP@0.3"]
    (20.0, 30.0, 40.0)
    """

    mAP: dict[str, float]
    average: float
    averages: dict[str, float] = field(default_factory=dict)

    def value(self, metric: str) -> float:
        """The selection metric ``average`` or ``mAP@<an evaluated tIoU>``; :class:`InputError` otherwise."""
        if metric == "average":
            return self.average
        if metric.startswith("mAP@"):
            try:
                return self.mAP[tiou_key(float(metric[4:]))]
            except (KeyError, ValueError):
                pass
        evaluated = ", ".join(f"mAP@{k}" for k in self.mAP)
        raise InputError(None, f"selection metric {metric!r} is not 'average' or one of {evaluated}")

    def metrics(self) -> dict[str, float]:
        """Flat names → percent: ``mAP@0.5``, ``avg@0.1:0.7``, …, ``average``."""
        out = {f"mAP@{k}": v for k, v in self.mAP.items()}
        out.update({f"avg@{k}": v for k, v in self.averages.items()})
        out["average"] = self.average
        return out

    def to_json(self) -> dict[str, Any]:
        """``{"mAP": {"0.1": …}, "average": …, "averages": {…}}``."""
        return {"mAP": dict(self.mAP), "average": self.average, "averages": dict(self.averages)}

    @classmethod
    def from_json(cls, data: Any, path: str | os.PathLike[str] | None = None) -> MapSummary:
        """Parse :meth:`to_json`'s form; :class:`InputError` naming ``path`` when it is malformed."""
        if not isinstance(data, Mapping) or not isinstance(data.get("mAP"), Mapping):
            raise InputError(path, f"expected an object with an 'mAP' object, got {data!r:.80}")
        averages = data.get("averages", {})
        if not isinstance(averages, Mapping):
            raise InputError(path, "'averages' is not an object")
        return cls(
            mAP={str(k): _finite_number(v, f"mAP {k}", path) for k, v in data["mAP"].items()},
            average=_finite_number(data.get("average"), "average", path),
            averages={str(k): _finite_number(v, f"average {k}", path) for k, v in averages.items()},
        )


def check_selection(metric: str, tious: Sequence[float]) -> None:
    """Raise :class:`InputError` unless ``metric`` can be read from results at ``tious`` (``eval.selection``)."""
    MapSummary({tiou_key(t): 0.0 for t in tious}, 0.0).value(metric)


@dataclass(frozen=True, eq=False)
class DetectionResult:
    """Average precision of a prediction set, in percent.

    Attributes:
        tious: the T thresholds evaluated.
        class_names: the K classes present in the evaluated ground truth (sorted); mAP is their mean.
        ap: ``(K, T)`` average precision in percent; a class without predictions has 0.
        num_ground_truth: ``(K,)`` ground-truth instances per class.
        num_predictions: predictions scored (after any filtering).
    """

    tious: tuple[float, ...]
    class_names: tuple[str, ...]
    ap: np.ndarray
    num_ground_truth: np.ndarray
    num_predictions: int

    @property
    def mAP(self) -> np.ndarray:
        """``(T,)`` mean AP over classes, percent (0 when there are no classes)."""
        if self.ap.shape[0] == 0:
            return np.zeros(len(self.tious))
        return self.ap.mean(axis=0)

    @property
    def average(self) -> float:
        """Mean mAP over all evaluated tIoUs, percent."""
        return float(self.mAP.mean()) if self.tious else 0.0

    @property
    def averages(self) -> dict[str, float]:
        """The standard averages available for these tIoUs, e.g. ``{"0.1:0.5": 46.3, …}``."""
        return standard_averages(self.tious, self.mAP)

    def map_at(self, tiou: float) -> float:
        """mAP (percent) at one evaluated threshold; ``KeyError`` if it was not evaluated."""
        for i, t in enumerate(self.tious):
            if abs(t - tiou) < _SAME:
                return float(self.mAP[i])
        raise KeyError(tiou)

    def summary(self) -> MapSummary:
        """mAP per tIoU and the averages, without the per-class table."""
        keys = [tiou_key(t) for t in self.tious]
        return MapSummary(
            mAP={k: float(v) for k, v in zip(keys, self.mAP, strict=True)},
            average=self.average,
            averages=self.averages,
        )

    def to_json(self, per_class: bool = False) -> dict[str, Any]:
        """``{"mAP": {"0.1": …}, "average": …, "averages": {"0.1:0.5": …}}`` (+ ``"per_class"``)."""
        keys = [tiou_key(t) for t in self.tious]
        out = self.summary().to_json()
        if per_class:
            out["per_class"] = {
                name: {k: float(v) for k, v in zip(keys, row, strict=True)}
                for name, row in zip(self.class_names, self.ap, strict=True)
            }
        return out


def format_table(result: DetectionResult, per_class: bool = False) -> str:
    """A table for people: one tIoU row, one mAP row, the averages; optionally one row per class."""
    keys = [tiou_key(t) for t in result.tious]
    width = max(6, *(len(k) + 1 for k in keys))
    label_width = 8
    if per_class and result.class_names:
        label_width = max(label_width, *(len(n) for n in result.class_names))
    lines = [
        "tIoU".ljust(label_width) + "".join(k.rjust(width) for k in keys),
        "mAP".ljust(label_width) + "".join(f"{v:{width}.2f}" for v in result.mAP),
    ]
    averages = ", ".join(f"{name} {value:.2f}" for name, value in result.averages.items())
    lines.append(
        f"average mAP: {result.average:.2f} over all {len(keys)} tIoUs"
        + (f"; {averages}" if averages else "")
    )
    if per_class:
        lines.append("")
        lines.append(
            "AP per class".ljust(label_width) + "".join(k.rjust(width) for k in keys) + "  instances"
        )
        for name, row, count in zip(result.class_names, result.ap, result.num_ground_truth, strict=True):
            lines.append(
                name.ljust(label_width) + "".join(f"{v:{width}.2f}" for v in row) + f"  {int(count):9d}"
            )
    return "\n".join(lines)
