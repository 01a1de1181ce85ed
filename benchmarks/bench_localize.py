"""Time `ecm localize` on THUMOS14's 210 test videos at their real lengths: model forward vs post-processing.

The features come from the ``thumos14`` synthetic preset, test split only (real durations and fps,
T = ⌊duration · 25/16⌋ snippets, D = 2048: about 0.55 GB, written to a temporary folder and deleted
afterwards unless ``--data`` names a folder to create or reuse). The model is ECM built with the THUMOS14
config (hidden width 2048), untrained (seed 0) unless ``--run`` names a trained run.

Three timings, each over all 210 videos:

* **read** — loading every video's features from disk (page cache warm after this pass);
* **forward** — :func:`ecm.inference.predict_split` (feature loading included, dropout off, equal-length
  videos batched up to ``--batch-size``);
* **post-processing** — :func:`ecm.inference.localize_predictions` (the THUMOS14 post-processing preset).

An untrained model's video probabilities are all near 1/C < τ, so it keeps no class and post-processing
would have nothing to do. By default (``--kept truth``) each video therefore keeps its ground-truth classes
(1–2 per video, as a trained model keeps them) on the model's own CAS; ``--kept model`` uses the model's
probabilities as they are. Target: post-processing ≤ forward.

Usage::

    python benchmarks/bench_localize.py                                  # real shape, ~5 min on 2 cores
    python benchmarks/bench_localize.py --feature-dim 256 --hidden 256   # small: thumos14-lite width
    python benchmarks/bench_localize.py --data /tmp/th14 --run RUN --kept model
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ecm.data.folder import DatasetFolder, SplitData
from ecm.data.synth_presets import preset_config, preset_structure, write_dataset
from ecm.inference import VideoPrediction, localize_predictions, predict_split
from ecm.model import ModelConfig, build_model
from ecm.postprocess.config import PostprocessConfig


def make_test_split(root: Path, feature_dim: int) -> None:
    """Write the thumos14 preset's test videos only (real lengths) at width ``feature_dim`` into ``root``."""
    structure = preset_structure("thumos14")
    test = tuple(v for v in structure.videos if v.subset == "test")
    structure = dataclasses.replace(
        structure,
        videos=test,
        splits=("test",),
        ambiguous_files={k: v for k, v in structure.ambiguous_files.items() if k == "test"},
    )
    started = time.perf_counter()
    summary = write_dataset(
        root, structure, preset_config("thumos14", feature_dim), seed=0, preset="thumos14"
    )
    print(
        f"generated {summary.videos} test videos, {summary.snippets} snippets, D={summary.feature_dim}, "
        f"{summary.bytes / 2**30:.2f} GiB in {time.perf_counter() - started:.0f} s → {root}"
    )


def truth_kept(predictions: dict[str, VideoPrediction], split: SplitData) -> dict[str, VideoPrediction]:
    """The same CAS, with video logits that give each video's ground-truth classes p ≥ τ (0.9 shared)."""
    out = {}
    for record in split.videos:
        pred = predictions[record.video_id]
        present = record.labels > 0  # (C,)
        probs = np.where(present, 0.9 / max(1, present.sum()), 0.1 / max(1, (~present).sum()))
        out[record.video_id] = VideoPrediction(pred.cas, np.log(probs).astype(np.float32))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, help="dataset folder to reuse (or create); default: a temporary one"
    )
    parser.add_argument("--feature-dim", type=int, default=2048, help="D = rgb + flow (default 2048)")
    parser.add_argument("--hidden", type=int, default=None, help="hidden width of the embedding (default D)")
    parser.add_argument("--run", type=Path, help="a trained run folder instead of an untrained model")
    parser.add_argument(
        "--kept", choices=("truth", "model"), default=None, help="classes post-processed (see above)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="videos per forward pass (equal lengths)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    scratch = None
    root = args.data
    if root is None:
        scratch = Path(tempfile.mkdtemp(prefix="bench_localize-"))
        root = scratch / "thumos14"
    try:
        if not root.exists():
            make_test_split(root, args.feature_dim)
        split = DatasetFolder(root).open_split("test")
        device = torch.device("cpu")
        postprocess = PostprocessConfig.preset("thumos14")
        if args.run is not None:
            from ecm.training import load_run

            trained = load_run(args.run, device="cpu")
            model, postprocess = trained.model, trained.config.postprocess
            what = f"trained run {args.run} (epoch {trained.epoch})"
        else:
            torch.manual_seed(0)
            config = ModelConfig(variant="ecm", hidden_dim=args.hidden, train_length=750, topk_ratio=0.125)
            model = build_model(config, len(split.class_index), split.feature_dim).eval()
            what = f"untrained ECM, hidden {args.hidden or split.feature_dim}"
        kept = args.kept or ("model" if args.run is not None else "truth")
        snippets = sum(r.timing.num_snippets for r in split.videos)
        print(
            f"{len(split)} videos, {snippets} snippets (T {min(r.timing.num_snippets for r in split.videos)}–"
            f"{max(r.timing.num_snippets for r in split.videos)}), D={split.feature_dim}, C={len(split.class_index)}; "
            f"{what}; {torch.get_num_threads()} torch threads"
        )

        started = time.perf_counter()
        for i in range(len(split)):
            split.features(i)
        read = time.perf_counter() - started

        started = time.perf_counter()
        predictions = predict_split(model, split, device=device, batch_size=args.batch_size)
        forward = time.perf_counter() - started

        if kept == "truth":
            predictions = truth_kept(predictions, split)
        started = time.perf_counter()
        detections = localize_predictions(predictions, split, postprocess)
        post = time.perf_counter() - started

        kept_classes = sum(int((p.probabilities >= postprocess.tau).sum()) for p in predictions.values())
        count = sum(len(d) for d in detections.values())
        print(f"read features     {read:8.2f} s")
        print(f"model forward     {forward:8.2f} s   (feature loading included)")
        print(
            f"post-processing   {post:8.2f} s   ({kept_classes} kept classes [{kept}], {count} detections, "
            f"{1000 * post / len(split):.1f} ms/video)"
        )
        verdict = "met" if post <= forward else "NOT met"
        print(f"post-processing / forward = {post / forward:.3f}  (target ≤ 1: {verdict})")
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
