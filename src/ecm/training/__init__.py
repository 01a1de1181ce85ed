"""Training: the recipe (:class:`Trainer`), one epoch and one evaluation, run folders and checkpoints.

* :mod:`ecm.training.trainer` — :class:`Trainer`, seeded and resumable;
* :mod:`ecm.training.loop` — :func:`train_one_epoch`, :func:`evaluate_split`, the learning-rate schedule;
* :mod:`ecm.training.run_dir` — :class:`RunDir` (every path of a run folder), typed history and summary;
* :mod:`ecm.training.checkpoint` — save, load and check checkpoints; :func:`load_run` for inference.
"""

from ecm.training.checkpoint import load_checkpoint, load_run, save_checkpoint
from ecm.training.loop import evaluate_split, learning_rate, train_one_epoch
from ecm.training.run_dir import EpochRecord, RunDir, RunSummary, SelectedEpoch, summarize
from ecm.training.trainer import Trainer, open_training_data

__all__ = [
    "EpochRecord",
    "RunDir",
    "RunSummary",
    "SelectedEpoch",
    "Trainer",
    "evaluate_split",
    "learning_rate",
    "load_checkpoint",
    "load_run",
    "open_training_data",
    "save_checkpoint",
    "summarize",
    "train_one_epoch",
]
