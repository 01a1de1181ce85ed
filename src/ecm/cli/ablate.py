"""``ecm ablate CONFIG.yaml --out DIR`` (multi-seed ablation study) and ``ecm compare DIR_A DIR_B``.

``ablate`` trains every variant × seed under ``DIR/runs/`` (finished runs are skipped, interrupted ones
resumed), evaluates the last checkpoint of each, adds the fusion baselines when both ``pre_only`` and
``post_only`` are studied, and writes ``DIR/ablation.md``, ``DIR/ablation.json`` and ``DIR/curves.png``
(see :mod:`ecm.studies`). ``compare`` pairs two studies' runs by (row, seed) and reports B − A; it reads
only the two ``ablation.json`` files.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ecm.errors import InputError


def register(subparsers: Any) -> None:
    """Add the ``ablate`` and ``compare`` sub-commands."""
    ablate = subparsers.add_parser(
        "ablate",
        help="multi-seed ablation study of model variants → tables (mean ± std) and curves",
        description=(
            "Train every variant × seed from one config (as `ecm train` runs under DIR/runs/<variant>/seed<k>), "
            "evaluate each run's last checkpoint, and write DIR/ablation.md, DIR/ablation.json (per-seed values "
            "too) and DIR/curves.png. Finished runs are skipped and interrupted ones resumed, so re-running the "
            "same command continues a study. Numbers are mean ± sample std (ddof=1) over seeds."
        ),
    )
    ablate.add_argument(
        "config", metavar="RECIPE|CONFIG.yaml", help="a shipped recipe (see `ecm config list`) or a YAML file"
    )
    ablate.add_argument("--out", required=True, metavar="DIR", help="study folder")
    ablate.add_argument(
        "--variants",
        metavar="V,V,…",
        help=(
            "model variants, comma-separated; '+' combines modifiers (no_a2c+no_c2c). Default: every row of "
            "the paper's ablation (pre_only, post_only, no_transition+no_a2c+no_c2c, no_a2c+no_c2c, no_c2c, "
            "separate_classifiers, class_agnostic_weights, ecm)"
        ),
    )
    ablate.add_argument(
        "--seeds",
        default="3",
        metavar="N|S,S,…",
        help="a count N (seeds train.seed … train.seed+N-1; default 3) or a list of seeds (16,17,18; '16,' for one)",
    )
    ablate.add_argument("--epochs", type=int, default=None, help="shorthand for --set train.epochs=N")
    ablate.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value for every run, e.g. data.val_fraction=0.2 (repeatable)",
    )
    ablate.add_argument(
        "--fusion",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add the fusion baselines of pre_only + post_only (default: on when both are studied)",
    )
    ablate.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: train.device)")
    ablate.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="train N runs at once in worker processes, each with cpu_count/N torch threads; same runs and "
        "numbers as one at a time (default: 1)",
    )
    ablate.add_argument("--quiet", action="store_true", help="no progress bars")
    ablate.set_defaults(func=run_ablate)

    compare = subparsers.add_parser(
        "compare",
        help="paired comparison of two ablation studies (B − A per seed)",
        description=(
            "Pair the runs of two studies by (row, seed) and report, per row, the mean of B − A, its sample "
            "std over seeds, the per-seed differences and a paired t-test. Reads DIR/ablation.json only."
        ),
    )
    compare.add_argument("first", metavar="DIR_A", help="study folder A (the baseline)")
    compare.add_argument("second", metavar="DIR_B", help="study folder B (the change)")
    compare.add_argument(
        "--metric", default="mAP@0.5", help="e.g. mAP@0.5, avg@0.1:0.7, frame_accuracy (default mAP@0.5)"
    )
    compare.add_argument(
        "--protocol",
        choices=("last", "best", "val"),
        default="last",
        help="checkpoint: last epoch (default), best on test, or validation-selected",
    )
    compare.add_argument(
        "--pair",
        action="append",
        default=[],
        metavar="ROW_A:ROW_B",
        help="also pair two differently named rows, e.g. pre_only:ecm (A's pre_only against B's ecm; repeatable)",
    )
    compare.add_argument(
        "--plot",
        metavar="PNG",
        help="also draw both studies' per-epoch curves into one figure, labelled by folder name",
    )
    compare.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    compare.set_defaults(func=run_compare)


def run_ablate(args: argparse.Namespace) -> int:
    """Plan, run and report the study; print ablation.md."""
    from pathlib import Path

    from ecm.studies.layout import StudyDir
    from ecm.studies.plan import plan_study
    from ecm.studies.runner import run_study

    plan = plan_study(
        args.config,
        args.set,
        variants=args.variants,
        seeds=args.seeds,
        epochs=args.epochs,
        fusion=args.fusion,
    )
    if args.jobs < 1:
        raise InputError(None, f"--jobs must be ≥ 1, got {args.jobs}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "--out is not a folder: a study is a folder of runs and tables")
    run_study(plan, out, quiet=args.quiet, device=args.device, jobs=args.jobs)
    study = StudyDir.at(out)
    print(study.results_markdown.read_text(encoding="utf-8"))
    print(
        json.dumps({"study": str(out), "table": str(study.results_markdown), "json": str(study.results_json)})
    )
    return 0


def _number(value: float | None, spec: str = ".2f") -> str:
    """``value`` formatted with ``spec``, or "—" when missing."""
    return "—" if value is None else format(value, spec)


def run_compare(args: argparse.Namespace) -> int:
    """Print the paired comparison of two studies."""
    from pathlib import Path
    from statistics import fmean

    from ecm.studies.compare import compare_studies, parse_pair, study_config_differences
    from ecm.studies.results import PROTOCOL_TITLES, load_study

    extra = [parse_pair(text) for text in args.pair]
    if args.plot is not None:
        from ecm.viz import figure_format

        figure_format(args.plot, "--plot")  # a format matplotlib can write, before reading anything
    first, second = load_study(args.first), load_study(args.second)
    pairs = compare_studies(first, second, metric=args.metric, protocol=args.protocol, pairs=extra)
    if args.plot is not None:
        from ecm.studies.plot import plot_comparison

        labels = (Path(args.first).name or "A", Path(args.second).name or "B")
        if not plot_comparison(first, second, labels, args.plot):
            print(f"{args.plot}: not written, neither study has per-epoch curves", file=sys.stderr)
    changed = study_config_differences(first, second)
    if args.json:
        print(
            json.dumps(
                {
                    "A": args.first,
                    "B": args.second,
                    "metric": args.metric,
                    "protocol": args.protocol,
                    "config_differences": [{"key": k, "A": a, "B": b} for k, a, b in changed],
                    "rows": [p.to_json() for p in pairs],
                }
            )
        )
        return 0
    print(
        f"{args.metric}, {PROTOCOL_TITLES[args.protocol]}: B − A, paired by seed (A = {args.first}, B = {args.second})"
    )
    if changed:
        print("config differences: " + "; ".join(f"{k}: {a!r} → {b!r}" for k, a, b in changed))
    if not pairs:
        print("no row is present in both studies", file=sys.stderr)
        return 0
    width = max(len("row"), *(len(p.key) for p in pairs))
    header = ("pairs", "A mean", "B mean", "B−A", "std", "t", "p")
    print(f"{'row':<{width}}" + "".join(f"  {h:>7}" for h in header) + "  per seed")
    few = False
    for p in pairs:
        cells = (
            str(len(p.seeds)),
            _number(fmean(p.first) if p.first else None),
            _number(fmean(p.second) if p.second else None),
            _number(p.mean, "+.2f"),
            _number(p.std),
            _number(p.t, "+.2f"),
            _number(p.p_value, ".3f"),
        )
        per_seed = ", ".join(f"{s}: {d:+.2f}" for s, d in zip(p.seeds, p.differences, strict=True)) or "—"
        print(f"{p.key:<{width}}" + "".join(f"  {c:>7}" for c in cells) + f"  {per_seed}")
        few = few or len(p.seeds) < 2
    if few:
        print(
            "note: rows with fewer than 2 paired seeds have no spread — their difference cannot be told "
            "from seed noise (run more seeds: --seeds)"
        )
    return 0
