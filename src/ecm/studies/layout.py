"""A study folder: where each run, fusion baseline and result file lives.

Layout::

    DIR/runs/<variant>/seed<k>/         an `ecm train` run folder (:class:`~ecm.training.RunDir`), plus the
                                        study's cached evaluation of its last checkpoint
    DIR/fusion/seed<k>/<method>.json    detections of a fusion baseline; evaluation.json holds their scores
    DIR/ablation.json                   every row, every metric, per-seed values
    DIR/ablation.md                     the tables for people
    DIR/curves.png                      selection metric per evaluated epoch
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StudyDir:
    """The paths of one study folder (see the module docstring)."""

    path: Path

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> StudyDir:
        """The study folder at ``path``."""
        return cls(Path(path))

    def run(self, variant: str, seed: int) -> Path:
        """``DIR/runs/<variant>/seed<k>``."""
        return self.path / "runs" / variant / f"seed{seed}"

    def fusion(self, seed: int) -> Path:
        """``DIR/fusion/seed<k>``: the fusion baselines of the two stream runs of one seed."""
        return self.path / "fusion" / f"seed{seed}"

    @property
    def results_json(self) -> Path:
        """``DIR/ablation.json``."""
        return self.path / "ablation.json"

    @property
    def results_markdown(self) -> Path:
        """``DIR/ablation.md``."""
        return self.path / "ablation.md"

    @property
    def curves(self) -> Path:
        """``DIR/curves.png``."""
        return self.path / "curves.png"
