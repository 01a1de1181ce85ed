"""Experiment configuration: frozen dataclasses composed from the component-owned ones, YAML in and out.

Each component owns its config (:class:`ecm.model.ModelConfig`, :class:`ecm.losses.LossConfig`,
:class:`ecm.postprocess.PostprocessConfig`); this module adds the data, optimiser, training and
evaluation sections and composes them into :class:`ExperimentConfig`. YAML files (or shipped recipes, by
name) and ``--set a.b=value`` overrides are checked against the field types: an unknown key or a value of
the wrong type is an error, never silently ignored. The ``postprocess`` section may name a ``preset``
(``thumos14``, ``activitynet12``, ``activitynet13``) and override single fields of it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import reprlib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from ecm.config.diff import config_to_dict
from ecm.data.folder import DatasetFolder
from ecm.data.prepare import prepare_dataset
from ecm.data.timing import SnippetTiming
from ecm.errors import InputError
from ecm.files import read_text
from ecm.losses import LossConfig
from ecm.model import ModelConfig
from ecm.postprocess.config import PostprocessConfig
from ecm.student.config import StudentConfig


def _require(condition: bool, problem: str) -> None:
    """Raise the :class:`InputError` ``problem`` unless ``condition`` holds (config checks at load time)."""
    if not condition:
        raise InputError(None, problem)


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0.0


@dataclass(frozen=True)
class DataConfig:
    """Where the features are and how examples are drawn (training length is ``model.train_length``)."""

    root: str = "data/thumos14"  # dataset folder (relative paths are relative to the working directory)
    synthetic: str | None = None  # a synth preset: generate ``root`` with it when the folder does not exist
    synthetic_seed: int = 0  # seed of that generation
    train_split: str = "train"  # split trained on (``training`` for ActivityNet)
    test_split: str = "test"  # split evaluated each epoch (``validation`` for ActivityNet)
    train_sampling: Literal["random", "uniform"] = "random"  # random-perturb (reference) or uniform
    test_sampling: Literal["full", "uniform"] = "full"  # full sequence, or uniform to model.train_length
    frames_per_snippet: int = 16  # default timing for videos without duration/fps
    feature_fps: float = 25.0  # frame rate of feature extraction (frames/s)
    num_workers: int = 0  # DataLoader worker processes (results do not depend on it)
    val_fraction: float = 0.0  # share of the training split held out for validation-selected epochs

    def __post_init__(self) -> None:
        from ecm.data import SYNTH_PRESETS as PRESETS
        from ecm.data.annotations import check_plain_name

        _require(bool(self.root), "data.root must not be empty")
        if self.synthetic is not None:
            _require(
                self.synthetic in PRESETS,
                f"data.synthetic must be one of {', '.join(PRESETS)}, got {self.synthetic!r}",
            )
        _require(self.synthetic_seed >= 0, f"data.synthetic_seed must be ≥ 0, got {self.synthetic_seed}")
        for name in ("train_split", "test_split"):
            check_plain_name(getattr(self, name), f"data.{name}")
        _require(
            self.frames_per_snippet >= 1,
            f"data.frames_per_snippet must be ≥ 1, got {self.frames_per_snippet}",
        )
        _require(_positive(self.feature_fps), f"data.feature_fps must be > 0, got {self.feature_fps}")
        _require(self.num_workers >= 0, f"data.num_workers must be ≥ 0, got {self.num_workers}")
        _require(
            0.0 <= self.val_fraction < 1.0, f"data.val_fraction must lie in [0, 1), got {self.val_fraction}"
        )


@dataclass(frozen=True)
class OptimConfig:
    """Adam with coupled (L2) weight decay and step learning-rate decay."""

    lr: float = 2e-4  # learning rate
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas
    eps: float = 1e-8  # Adam epsilon
    weight_decay: float = 5e-4  # coupled L2 weight decay (torch.optim.Adam's weight_decay)
    lr_steps: tuple[int, ...] = ()  # epochs after which lr is multiplied by lr_gamma (ANet1.3: (26,))
    lr_gamma: float = 0.1  # lr decay factor
    schedule: Literal["step", "cosine"] = "step"  # step: lr_steps (the paper's); cosine: lr → lr_min
    lr_min: float = 0.0  # the cosine schedule's last value
    warmup_epochs: int = 0  # linear warm-up: epoch e ≤ warmup_epochs trains at lr · e / (warmup_epochs + 1)
    optimizer: Literal["adam", "adamw"] = "adam"  # adam: coupled L2 decay (the paper); adamw: decoupled

    def __post_init__(self) -> None:
        _require(_positive(self.lr), f"optim.lr must be > 0, got {self.lr}")
        _require(
            all(0.0 <= b < 1.0 for b in self.betas), f"optim.betas must lie in [0, 1), got {list(self.betas)}"
        )
        _require(_positive(self.eps), f"optim.eps must be > 0, got {self.eps}")
        _require(
            math.isfinite(self.weight_decay) and self.weight_decay >= 0.0,
            f"optim.weight_decay must be ≥ 0, got {self.weight_decay}",
        )
        _require(
            all(s >= 1 for s in self.lr_steps),
            f"optim.lr_steps must be epochs ≥ 1, got {list(self.lr_steps)}",
        )
        _require(_positive(self.lr_gamma), f"optim.lr_gamma must be > 0, got {self.lr_gamma}")
        _require(
            math.isfinite(self.lr_min) and 0.0 <= self.lr_min <= self.lr,
            f"optim.lr_min must lie in [0, optim.lr], got {self.lr_min}",
        )
        _require(
            self.schedule == "step" or not self.lr_steps, "optim.lr_steps apply to the step schedule only"
        )
        _require(self.warmup_epochs >= 0, f"optim.warmup_epochs must be ≥ 0, got {self.warmup_epochs}")


@dataclass(frozen=True)
class TrainConfig:
    """The training loop."""

    epochs: int = 150  # number of epochs
    batch_size: int = 16  # videos per batch; the last partial batch is kept
    seed: int = 16  # seed of parameters, dropout, sampling and shuffling
    eval_interval: int = 1  # evaluate on the test split every N epochs (0: only after the last epoch)
    eval_batch_size: int = 1  # videos per inference batch (equal-length videos are batched together)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    tensorboard: bool = False  # also write TensorBoard events (needs the `tensorboard` extra)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # the forward's autocast; losses, eval in fp32
    compile: bool = False  # torch.compile the training forward (C++ compiler on the CPU, Triton on CUDA)
    ema_decay: float = 0.0  # > 0: evaluate, localize and checkpoint a per-step EMA of the weights
    ema_start: int = 1  # the EMA's first epoch; before it the trained weights are evaluated and saved
    swa_start: int = 0  # ≥ 1: from this epoch's end on, the mean of the epoch-end weights instead (SWA)

    def __post_init__(self) -> None:
        _require(self.epochs >= 1, f"train.epochs must be ≥ 1, got {self.epochs}")
        _require(self.batch_size >= 1, f"train.batch_size must be ≥ 1, got {self.batch_size}")
        _require(self.seed >= 0, f"train.seed must be ≥ 0, got {self.seed}")
        _require(self.eval_interval >= 0, f"train.eval_interval must be ≥ 0, got {self.eval_interval}")
        _require(self.eval_batch_size >= 1, f"train.eval_batch_size must be ≥ 1, got {self.eval_batch_size}")
        _require(bool(self.device), "train.device must not be empty")
        _require(0.0 <= self.ema_decay < 1.0, f"train.ema_decay must lie in [0, 1), got {self.ema_decay}")
        _require(self.ema_start >= 1, f"train.ema_start must be ≥ 1, got {self.ema_start}")
        _require(
            self.ema_start == 1 or self.ema_decay > 0.0,
            f"train.ema_start={self.ema_start} needs train.ema_decay > 0 (to turn the EMA off, set "
            "train.ema_decay=0 and train.ema_start=1)",
        )
        _require(self.swa_start >= 0, f"train.swa_start must be ≥ 0, got {self.swa_start}")
        _require(
            not (self.swa_start and self.ema_decay), "train.swa_start and train.ema_decay exclude each other"
        )

    @property
    def average_start(self) -> int:
        """The first epoch whose weights enter the average (EMA: its steps; SWA: its end); 0 without one."""
        return self.ema_start if self.ema_decay > 0.0 else self.swa_start


@dataclass(frozen=True)
class EvalConfig:
    """How runs are scored."""

    tious: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # tIoU thresholds
    selection: str = "mAP@0.5"  # metric that picks best.pt: "mAP@<tIoU>" or "average"

    def __post_init__(self) -> None:
        from ecm.evaluation.result import check_selection

        _require(bool(self.tious), "eval.tious must hold at least one threshold")
        _require(
            all(0.0 < t <= 1.0 for t in self.tious), f"eval.tious must lie in (0, 1], got {list(self.tious)}"
        )
        _require(
            len(set(self.tious)) == len(self.tious), f"eval.tious repeats a threshold: {list(self.tious)}"
        )
        check_selection(self.selection, self.tious)


def build_dataset(data: DataConfig, *, quiet: bool = True) -> DatasetFolder:
    """The dataset folder ``data`` names, generated first when it is a missing synthetic one."""
    return prepare_dataset(
        data.root,
        train_split=data.train_split,
        timing=SnippetTiming(data.frames_per_snippet, data.feature_fps),
        synthetic=data.synthetic,
        synthetic_seed=data.synthetic_seed,
        quiet=quiet,
    )


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run needs; saved resolved as ``RUN/config.yaml`` and inside every checkpoint."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    postprocess: PostprocessConfig = field(default_factory=lambda: PostprocessConfig.preset("thumos14"))
    eval: EvalConfig = field(default_factory=EvalConfig)
    student: StudentConfig = field(default_factory=StudentConfig)

    @property
    def test_length(self) -> int | None:
        """Snippets per video at evaluation: ``model.train_length`` with uniform test sampling, else None (all)."""
        return self.model.train_length if self.data.test_sampling == "uniform" else None


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = (
    3,
    6,
    6,
    60,
    60,
    40,
)


def _short(value: Any) -> str:
    """A bounded repr for messages: a value built from YAML aliases can be huge (or shared many times)."""
    return _REPR.repr(value)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check/convert one YAML value against a field type (int, float, str, bool, Literal, tuple, Optional)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, where)
            except InputError as exc:
                errors.append(exc.problem)
        raise InputError(None, errors[0] if errors else f"{where}: bad value {_short(value)}")
    if origin is Literal:
        if value not in args:
            raise InputError(
                None, f"{where} must be one of {', '.join(map(repr, args))}, got {_short(value)}"
            )
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(None, f"{where} must be a list, got {_short(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise InputError(None, f"{where} must have {len(args)} items, got {len(value)}")
        return tuple(
            _convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(None, f"{where} must be true or false, got {_short(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(None, f"{where} must be an integer, got {_short(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(None, f"{where} must be a number, got {_short(value)}")
        try:
            return float(value)
        except OverflowError:
            raise InputError(None, f"{where} is beyond any float: {_short(value)}") from None
    if tp is str:
        if not isinstance(value, str):
            raise InputError(None, f"{where} must be a string, got {_short(value)}")
        return value
    raise InputError(None, f"{where}: unsupported field type {_type_name(tp)}")


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Instantiate dataclass ``cls`` from a mapping, checking keys and types."""
    if not isinstance(values, Mapping):
        raise InputError(None, f"{where or 'config'} must be a mapping, got {_short(values)}")
    strange = [key for key in values if not isinstance(key, str)]
    if strange:
        raise InputError(None, f"{where or 'config'} has a key that is not a name: {_short(strange[0])}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - names - ({"preset"} if cls is PostprocessConfig else set()))
    if unknown:
        raise InputError(None, f"unknown config key {where + '.' if where else ''}{unknown[0]}")
    kwargs = {}
    for name, value in values.items():
        if name == "preset":
            continue
        tp = hints[name]
        key = f"{where}.{name}" if where else name
        is_section = isinstance(tp, type) and dataclasses.is_dataclass(tp)
        kwargs[name] = _build(tp, value, key) if is_section else _convert(value, tp, key)
    try:
        if cls is PostprocessConfig:
            base = PostprocessConfig.preset(values.get("preset", "thumos14"))
            return dataclasses.replace(base, **kwargs)
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(None, f"{where or 'config'}: {exc}") from None


def config_from_dict(values: Mapping[str, Any]) -> ExperimentConfig:
    """Build an :class:`ExperimentConfig` from nested dicts (missing keys take defaults)."""
    config: ExperimentConfig = _build(ExperimentConfig, values, "")
    return config


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.epochs=20"`` → (["train", "epochs"], 20); the value is parsed as YAML."""
    if "=" not in text:
        raise InputError(None, f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        value = raw  # not a YAML scalar: the text itself (a string field accepts it, others refuse it)
    return key.strip().split("."), value


def apply_overrides(values: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set a.b=value`` overrides to nested dicts (types are checked when building)."""
    for text in overrides:
        path, value = parse_override(text)
        node = values
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InputError(None, f"--set {text}: {part} is not a section")
            node = child
        node[path[-1]] = value
    return values


def load_config(source: str | os.PathLike[str] | None, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a config, apply ``--set`` overrides, check every key and type.

    Args:
        source: a shipped recipe's name (``thumos14``, see :func:`ecm.config.recipes.recipe_names`), a path
            to a YAML file (it holds a ``/`` or ends in ``.yaml``), or ``None`` for the defaults.
        overrides: ``key.path=value`` strings, values parsed as YAML.
    """
    from ecm.config.recipes import is_recipe_name, recipe_text

    values: dict[str, Any] = {}
    where: str | os.PathLike[str] | None = source
    if source is not None:
        if is_recipe_name(source):
            where = f"recipe {os.fspath(source)}"
            text = recipe_text(os.fspath(source))
        else:
            text = read_text(source, "config file")
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(where, f"cannot read YAML ({' '.join(str(exc).split())})") from None
        except (ValueError, OverflowError) as exc:  # a scalar YAML cannot convert (a bad date, !!int abc)
            raise InputError(where, f"cannot read YAML ({' '.join(str(exc).split())[:200]})") from None
        except RecursionError:
            raise InputError(where, "cannot read YAML (nested too deeply)") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise InputError(where, "config must be a YAML mapping")
        values = loaded
    values = apply_overrides(values, overrides)
    try:
        return config_from_dict(values)
    except InputError as exc:
        raise InputError(where, exc.problem) from None


def dump_config(config: ExperimentConfig) -> str:
    """The resolved config as YAML text (every field, so a run is reproducible from it alone)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
