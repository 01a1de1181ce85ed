"""What an ablation study trains: variants in the paper's order, seeds, one base config, fusion or not.

**Seeds.** ``--seeds N`` means ``base, base + 1, …, base + N − 1`` with ``base = train.seed`` of the
config (after ``--set``); ``--seeds 16,17,18`` lists them (``16,`` is the single seed 16). Runs go
seed-major (every variant of the first seed, then the next seed), so a study stopped early can already be
tabulated for its first seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecm.config import ExperimentConfig, config_to_dict, load_config
from ecm.errors import InputError
from ecm.model.variants import MODIFIERS, parse_variant
from ecm.studies.fusion import FUSION_STREAMS
from ecm.studies.paper import PAPER_VARIANTS


def canonical_variant(name: str) -> str:
    """One spelling per model: the paper row's name when the spec equals one, else sorted modifiers.

    ``"no_c2c+no_a2c"`` → ``"no_a2c+no_c2c"``; raises :class:`InputError` for an unknown variant.
    """
    spec = parse_variant(name)
    for row in PAPER_VARIANTS:
        if parse_variant(row.key) == spec:
            return row.key
    parts = [part.strip() for part in name.split("+")]
    return "+".join(sorted(parts, key=lambda p: MODIFIERS.index(p) if p in MODIFIERS else -1))


def parse_variants(text: str | None) -> tuple[str, ...]:
    """``--variants a,b,…`` → canonical names, paper rows in the paper's order, then the others as given."""
    if text is None:
        return tuple(row.key for row in PAPER_VARIANTS)
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InputError(None, "--variants names no variant")
    chosen: list[str] = []
    for name in names:
        canonical = canonical_variant(name)
        if canonical in chosen:
            raise InputError(None, f"--variants names the model {canonical!r} twice")
        chosen.append(canonical)
    paper = [row.key for row in PAPER_VARIANTS if row.key in chosen]
    return (*paper, *(name for name in chosen if name not in paper))


def parse_seeds(text: str, base: int) -> tuple[int, ...]:
    """``"3"`` → ``(base, base + 1, base + 2)``; ``"16,17,18"`` → ``(16, 17, 18)``."""
    try:
        if "," in text:
            seeds = tuple(int(part) for part in text.split(",") if part.strip())
        else:
            count = int(text)
            if count < 1:
                raise ValueError
            seeds = tuple(range(base, base + count))
    except ValueError:
        raise InputError(None, f"--seeds {text!r}: give a count (3) or a list of seeds (16,17,18)") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise InputError(None, f"--seeds {text!r}: seeds must be distinct, non-negative integers")
    return seeds


@dataclass(frozen=True)
class StudyPlan:
    """What a study trains: one base config, variants (table order), seeds, and whether to fuse streams."""

    config: ExperimentConfig
    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    fusion: bool
    config_path: str | None = None
    overrides: tuple[str, ...] = ()

    def run_config(self, variant: str, seed: int) -> ExperimentConfig:
        """The base config with ``model.variant`` and ``train.seed`` set."""
        cfg = self.config
        return dataclasses.replace(
            cfg,
            model=dataclasses.replace(cfg.model, variant=variant),
            train=dataclasses.replace(cfg.train, seed=seed),
        )

    def config_dict(self) -> dict[str, Any]:
        """The base config as nested plain dicts (what ``ecm compare`` diffs between studies)."""
        return config_to_dict(self.config)

    def runs(self) -> list[tuple[str, int]]:
        """Every (variant, seed), seed-major: a study stopped early holds every variant of its first seeds."""
        return [(variant, seed) for seed in self.seeds for variant in self.variants]


def plan_study(
    config_path: str | None,
    overrides: Sequence[str] = (),
    *,
    variants: str | None = None,
    seeds: str = "3",
    epochs: int | None = None,
    fusion: bool | None = None,
) -> StudyPlan:
    """Resolve the command line into a :class:`StudyPlan` (all checks before any training).

    ``fusion=None`` fuses when both ``pre_only`` and ``post_only`` are studied; ``True`` demands them.
    """
    if any(text.split("=", 1)[0].strip() == "model.variant" for text in overrides):
        raise InputError(None, "choose variants with --variants, not --set model.variant")
    extra = [f"train.epochs={epochs}"] if epochs is not None else []
    config = load_config(config_path, [*overrides, *extra])
    if config.train.epochs < 1:
        raise InputError(None, f"train.epochs must be ≥ 1, got {config.train.epochs}")
    chosen = parse_variants(variants)
    possible = all(stream in chosen for stream in FUSION_STREAMS)
    if fusion and not possible:
        raise InputError(None, "--fusion needs both pre_only and post_only in --variants")
    return StudyPlan(
        config=config,
        variants=chosen,
        seeds=parse_seeds(seeds, config.train.seed),
        fusion=possible if fusion is None else fusion,
        config_path=config_path,
        overrides=(*overrides, *extra),
    )
