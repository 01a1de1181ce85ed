"""Results of an ablation study as typed records: per-run scores, rows of mean ± spread over seeds, the study.

Everything here reads files and builds records — no torch, no model — so re-aggregating a study and
``ecm compare`` are cheap. ``ablation.json`` is :meth:`Study.to_json`: a row's ``metrics[protocol][name]``
is a :class:`Spread` with ``values`` aligned with the row's ``seeds`` (``null`` where missing). Protocols:
``last`` (the last-epoch checkpoint, evaluated by the study: every mAP, the averages, ``frame_accuracy``,
``diagnosis/<category>`` shares at tIoU 0.5), ``best`` (best epoch on test, the paper's protocol) and
``val`` (validation-selected), both from the run's summary (mAPs and averages). Metric names:
``mAP@0.5``, ``avg@0.1:0.7``, ``average``, …; percent. std is the sample standard deviation (ddof = 1),
``null`` with fewer than two seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from ecm.errors import InputError
from ecm.evaluation import MapSummary
from ecm.files import read_json
from ecm.studies.fusion import CONCAT, FUSION_WEIGHTS, weighted_sum_name
from ecm.studies.layout import StudyDir
from ecm.studies.paper import PaperRow

FORMAT = "ecm-ablation-1"
Protocol = Literal["last", "best", "val"]
PROTOCOLS: tuple[Protocol, ...] = ("last", "best", "val")
PROTOCOL_TITLES: dict[str, str] = {
    "last": "last epoch",
    "best": "best on test (paper protocol)",
    "val": "validation-selected",
}
DIAGNOSIS_TIOU = 0.5
FUSION_EVALUATION = "evaluation.json"
# Curve dynamics (the slow start): the first evaluated epoch whose selection metric reaches ONSET_LEVEL
# percent, and the change of that metric over the last LATE_FRACTION of the run's epochs.
ONSET_LEVEL = 1.0
LATE_FRACTION = 0.2
_STATISTICS = "mean and sample standard deviation (ddof=1) over seeds; std null with fewer than 2"


class MalformedStudy(Exception):
    """Raised inside parsing; :func:`load_study` turns it into one :class:`InputError`."""


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedStudy(f"{value!r:.40} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise MalformedStudy(f"{value!r:.40}… is beyond any float") from None
    if not math.isfinite(number):
        raise MalformedStudy(f"{value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class Spread:
    """One metric over seeds: mean and sample std (ddof = 1) of the present values, and every value.

    >>> Spread.of([1.0, None, 3.0])
    Spread(mean=2.0, std=1.4142135623730951, n=2, values=(1.0, None, 3.0))
    """

    mean: float | None
    std: float | None
    n: int
    values: tuple[float | None, ...]

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Spread:
        """The spread of ``values`` (``None`` = missing)."""
        present = [float(v) for v in values if v is not None]
        return cls(
            mean=statistics.fmean(present) if present else None,
            std=statistics.stdev(present) if len(present) >= 2 else None,
            n=len(present),
            values=tuple(None if v is None else float(v) for v in values),
        )

    def to_json(self) -> dict[str, Any]:
        """``{"mean", "std", "n", "values"}``."""
        return {"mean": self.mean, "std": self.std, "n": self.n, "values": list(self.values)}

    @classmethod
    def from_json(cls, data: Any) -> Spread:
        """Parse :meth:`to_json`'s form (raises :class:`MalformedStudy`)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("values"), list):
            raise MalformedStudy("a metric is not {mean, std, n, values}")
        values = tuple(_number(v) for v in data["values"])
        return cls(_number(data.get("mean")), _number(data.get("std")), int(data.get("n", 0)), values)


@dataclass(frozen=True)
class Measurement:
    """The scores of one detection set on the test split: mAP, frame accuracy, error diagnosis at 0.5.

    Attributes:
        test: mAP per tIoU and averages, percent.
        frame_accuracy: percent, or ``None`` without a CAS (concatenation fusion) or action snippets.
        diagnosis: :meth:`ecm.evaluation.DiagnosisResult.to_json` at tIoU :data:`DIAGNOSIS_TIOU`.
    """

    test: MapSummary
    frame_accuracy: float | None
    diagnosis: dict[str, Any]

    def metrics(self) -> dict[str, float | None]:
        """Flat metric names → percent: mAPs, averages, ``frame_accuracy``, ``diagnosis/<category>``."""
        out: dict[str, float | None] = dict(self.test.metrics())
        out["frame_accuracy"] = self.frame_accuracy
        out.update({f"diagnosis/{k}": float(v) for k, v in self.diagnosis.get("shares", {}).items()})
        return out

    def to_json(self) -> dict[str, Any]:
        """``{"test", "frame_accuracy", "diagnosis"}``."""
        return {
            "test": self.test.to_json(),
            "frame_accuracy": self.frame_accuracy,
            "diagnosis": self.diagnosis,
        }

    @classmethod
    def from_json(cls, data: Any, path: Path | None = None) -> Measurement:
        """Parse :meth:`to_json`'s form; :class:`InputError` naming ``path`` when malformed."""
        if not isinstance(data, Mapping) or not isinstance(data.get("diagnosis"), Mapping):
            raise InputError(path, "not a study evaluation (no 'test' and 'diagnosis')")
        try:
            frame = _number(data.get("frame_accuracy"))
        except MalformedStudy as exc:
            raise InputError(path, f"frame_accuracy: {exc}") from None
        return cls(MapSummary.from_json(data.get("test"), path), frame, dict(data["diagnosis"]))


@dataclass(frozen=True)
class RunEvaluation:
    """``RUN/evaluation_last.json``: the study's scores of a run's last checkpoint, and what they came from.

    Attributes:
        epoch: the checkpoint's epoch.
        stamp: ``"<bytes>:<mtime ns>"`` of the ``last.pt`` it was computed from (the cache key).
        measurement: the scores.
    """

    epoch: int
    stamp: str
    measurement: Measurement

    def to_json(self) -> dict[str, Any]:
        """``{"epoch", "checkpoint": "last", "stamp", "test", "frame_accuracy", "diagnosis"}``."""
        return {"epoch": self.epoch, "checkpoint": "last", "stamp": self.stamp, **self.measurement.to_json()}

    @classmethod
    def read(cls, path: Path) -> RunEvaluation | None:
        """The cached evaluation at ``path``, ``None`` when there is none."""
        data = read_json(path, missing_ok=True)
        if data is None:
            return None
        if not isinstance(data, Mapping) or not isinstance(data.get("epoch"), int):
            raise InputError(path, "not a study evaluation (no 'epoch')")
        return cls(data["epoch"], str(data.get("stamp", "")), Measurement.from_json(data, path))


@dataclass(frozen=True)
class FusionEvaluation:
    """``DIR/fusion/seed<k>/evaluation.json``: the fusion baselines' scores and the stream checkpoints' stamps."""

    epoch: int
    stamps: dict[str, str]
    methods: dict[str, Measurement]

    def to_json(self) -> dict[str, Any]:
        """``{"epoch", "stamps", "methods": {name: measurement}}``."""
        methods = {name: m.to_json() for name, m in self.methods.items()}
        return {"epoch": self.epoch, "stamps": dict(self.stamps), "methods": methods}

    @classmethod
    def read(cls, path: Path) -> FusionEvaluation | None:
        """The cached fusion evaluation at ``path``, ``None`` when there is none."""
        data = read_json(path, missing_ok=True)
        if data is None:
            return None
        if not isinstance(data, Mapping) or not isinstance(data.get("methods"), Mapping):
            raise InputError(path, "not a fusion evaluation (no 'methods')")
        methods = {str(k): Measurement.from_json(v, path) for k, v in data["methods"].items()}
        epoch, stamps = data.get("epoch", 0), data.get("stamps", {})
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not isinstance(stamps, Mapping):
            raise InputError(path, "not a fusion evaluation (epoch or stamps malformed)")
        return cls(epoch, {str(k): str(v) for k, v in stamps.items()}, methods)


def fusion_methods() -> tuple[str, ...]:
    """The fusion baselines a study evaluates: concatenation, then one weighted sum per λ."""
    return (CONCAT, *(weighted_sum_name(w) for w in FUSION_WEIGHTS))


class CurveDynamics(NamedTuple):
    """Onset and late gain of one run's curve (see :func:`curve_dynamics`)."""

    onset: int | None
    late_gain: float | None


def curve_dynamics(points: Sequence[tuple[int, float]]) -> CurveDynamics:
    """Onset and late gain of one run's (epoch, metric in percent) curve, for reading a fixed-budget table.

    ``onset`` is the first evaluated epoch whose value is ≥ :data:`ONSET_LEVEL`; ``late_gain`` is the last
    value minus the value at the latest evaluated epoch ≤ ``last − max(1, round(LATE_FRACTION · last))``
    (``None`` without such an epoch). A large late gain means the run was still improving when it stopped.

    >>> curve_dynamics([(10, 0.5), (20, 2.0), (30, 2.5)])
    CurveDynamics(onset=20, late_gain=0.5)
    """
    ordered = sorted(points)
    if not ordered:
        return CurveDynamics(None, None)
    onset = next((e for e, v in ordered if v >= ONSET_LEVEL), None)
    last_epoch, last_value = ordered[-1]
    cutoff = last_epoch - max(1, round(LATE_FRACTION * last_epoch))
    earlier = [v for e, v in ordered if e <= cutoff]
    return CurveDynamics(onset, last_value - earlier[-1] if earlier else None)


@dataclass(frozen=True)
class Curve:
    """Selection metric per evaluated epoch: the epochs every seed evaluated, one value list per seed."""

    epochs: tuple[int, ...] = ()
    values: tuple[tuple[float, ...], ...] = ()

    @classmethod
    def of(cls, curves: Sequence[Sequence[tuple[int, float]]]) -> Curve:
        """Per-seed (epoch, value) lists → the common epochs and each seed's values at them."""
        common = sorted(set.intersection(*(set(e for e, _ in c) for c in curves))) if curves else []
        lookup = [dict(c) for c in curves]
        return cls(tuple(common), tuple(tuple(seed[e] for e in common) for seed in lookup))


@dataclass(frozen=True)
class StudyRow:
    """One table row: a variant's runs (``kind == "variant"``) or a fusion baseline of two streams.

    Attributes:
        key: the variant (``ecm.model.variants``) or ``fusion:<method>``.
        title: the paper's description, else the key.
        paper: the published numbers (``None`` where there are none).
        seeds: the seeds, in the study's order.
        metrics: protocol → metric name → :class:`Spread` over seeds.
        runs: each seed's run folder or detection file, relative to the study folder.
        epochs: protocol → each seed's chosen epoch (variants only).
        curve, onsets, late_gain: the selection metric per epoch and its dynamics (variants only).
        decline: per seed, the selection metric's best-on-test value minus its last epoch's (variants only).
        streams: the two fused variants (fusions only).
    """

    key: str
    title: str
    kind: Literal["variant", "fusion"]
    paper: PaperRow | None
    seeds: tuple[int, ...]
    metrics: dict[str, dict[str, Spread]]
    runs: tuple[str, ...]
    epochs: dict[str, tuple[int | None, ...]] = field(default_factory=dict)
    curve: Curve = field(default_factory=Curve)
    onsets: tuple[int | None, ...] = ()
    late_gain: Spread | None = None
    decline: Spread | None = None
    streams: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``"title (`key`)"``, or the key alone when it has no title of its own."""
        return self.title if self.title == self.key else f"{self.title} (`{self.key}`)"

    def metric(self, protocol: str, name: str) -> Spread | None:
        """The spread of ``name`` under ``protocol``, ``None`` when absent."""
        return self.metrics.get(protocol, {}).get(name)

    def seed_values(self, protocol: str, name: str) -> dict[int, float]:
        """seed → value of ``name`` under ``protocol``, for the seeds that have one."""
        spread = self.metric(protocol, name)
        if spread is None:
            return {}
        return {s: v for s, v in zip(self.seeds, spread.values, strict=True) if v is not None}

    def to_json(self) -> dict[str, Any]:
        """The row of ``ablation.json``."""
        out: dict[str, Any] = {
            "key": self.key,
            "title": self.title,
            "paper": {
                "mAP@0.5": self.paper.map50 if self.paper else None,
                "frame_accuracy": self.paper.frame_accuracy if self.paper else None,
            },
            "seeds": list(self.seeds),
            "metrics": {p: {n: s.to_json() for n, s in block.items()} for p, block in self.metrics.items()},
            "kind": self.kind,
        }
        if self.kind == "fusion":
            out["streams"] = list(self.streams)
            out["runs"] = list(self.runs)
            return out
        out["runs"] = list(self.runs)
        out["epochs"] = {p: list(e) for p, e in self.epochs.items()}
        out["curve"] = {"epochs": list(self.curve.epochs), "values": [list(v) for v in self.curve.values]}
        late = self.late_gain or Spread.of([])
        decline = self.decline or Spread.of([])
        out["dynamics"] = {
            "onset": list(self.onsets),
            "late_gain": late.to_json(),
            "decline": decline.to_json(),
        }
        return out

    @classmethod
    def from_json(cls, data: Any) -> StudyRow:
        """Parse :meth:`to_json`'s form (raises :class:`MalformedStudy`)."""
        if not isinstance(data, Mapping):
            raise MalformedStudy("a row is not an object")
        try:
            key, seeds, metrics = str(data["key"]), [int(s) for s in data["seeds"]], data["metrics"]
            paper = data.get("paper") or {}
            parsed = {
                str(p): {str(n): Spread.from_json(s) for n, s in block.items()}
                for p, block in metrics.items()
            }
            curve = data.get("curve") or {}
            dynamics = data.get("dynamics") or {}
            late, decline = dynamics.get("late_gain"), dynamics.get("decline")
            row = cls(
                key=key,
                title=str(data.get("title", key)),
                kind="fusion" if data.get("kind") == "fusion" else "variant",
                paper=PaperRow(
                    key,
                    str(data.get("title", key)),
                    _number(paper.get("mAP@0.5")),
                    _number(paper.get("frame_accuracy")),
                ),
                seeds=tuple(seeds),
                metrics=parsed,
                runs=tuple(str(r) for r in data.get("runs", ())),
                epochs={str(p): tuple(e) for p, e in (data.get("epochs") or {}).items()},
                curve=Curve(
                    tuple(int(e) for e in curve.get("epochs", ())),
                    tuple(tuple(float(v) for v in seed) for seed in curve.get("values", ())),
                ),
                onsets=tuple(dynamics.get("onset", ())),
                late_gain=Spread.from_json(late) if late is not None else None,
                decline=Spread.from_json(decline) if decline is not None else None,
                streams=tuple(data.get("streams", ())),
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise MalformedStudy(f"row {data.get('key')!r}: {type(exc).__name__} {exc}") from None
        for block in row.metrics.values():
            for name, spread in block.items():
                if len(spread.values) != len(row.seeds):
                    raise MalformedStudy(
                        f"row {key!r}: {name} has {len(spread.values)} values for {len(row.seeds)} seeds"
                    )
        return row


@dataclass(frozen=True)
class Study:
    """A whole study (``ablation.json``): how it was made and its rows in table order."""

    config: str | None
    overrides: tuple[str, ...]
    resolved_config: dict[str, Any]
    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int
    selection: str
    tious: tuple[float, ...]
    rows: tuple[StudyRow, ...]

    def to_json(self) -> dict[str, Any]:
        """The content of ``ablation.json``."""
        return {
            "format": FORMAT,
            "config": self.config,
            "overrides": list(self.overrides),
            "resolved_config": self.resolved_config,
            "variants": list(self.variants),
            "seeds": list(self.seeds),
            "epochs": self.epochs,
            "selection": self.selection,
            "tious": list(self.tious),
            "protocols": dict(PROTOCOL_TITLES),
            "statistics": _STATISTICS,
            "rows": [row.to_json() for row in self.rows],
        }

    @classmethod
    def from_json(cls, data: Any, path: Path | None = None) -> Study:
        """Parse ``ablation.json``; :class:`InputError` naming ``path`` when it is not a study or malformed."""
        if (
            not isinstance(data, Mapping)
            or data.get("format") != FORMAT
            or not isinstance(data.get("rows"), list)
        ):
            raise InputError(path, f"not an ecm ablation study (expected format {FORMAT!r})")
        try:
            return cls(
                config=data.get("config"),
                overrides=tuple(data.get("overrides", ())),
                resolved_config=dict(data.get("resolved_config") or {}),
                variants=tuple(data.get("variants", ())),
                seeds=tuple(int(s) for s in data.get("seeds", ())),
                epochs=int(data.get("epochs", 0)),
                selection=str(data.get("selection", "mAP@0.5")),
                tious=tuple(float(t) for t in data.get("tious", ())),
                rows=tuple(StudyRow.from_json(row) for row in data["rows"]),
            )
        except MalformedStudy as exc:
            raise InputError(path, f"malformed study: {exc}") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise InputError(path, f"malformed study: {exc}") from None


def load_study(study_dir: str | Path) -> Study:
    """Read ``DIR/ablation.json`` (written by ``ecm ablate``); :class:`InputError` if missing or malformed."""
    path = StudyDir.at(study_dir).results_json
    if not path.exists():
        raise InputError(path, "no ablation.json (run `ecm ablate` on this folder first)")
    return Study.from_json(read_json(path), path)
