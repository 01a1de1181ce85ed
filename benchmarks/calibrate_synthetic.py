"""Calibrate the synthetic benchmark: a supervised ceiling and a top-k MIL floor on thumos14-lite.

Two reference models, independent of ECM, are trained on the synthetic features and localized with the
same post-processing as ECM (THUMOS14 preset) from a CAS and video logits:

* **ceiling** — fully supervised: a per-snippet MLP trained with *snippet* labels (cross-entropy over the
  C classes + background; a snippet belongs to a class when its centre lies inside an instance of it).
  Its CAS is each class's log-odds against background; video logits are the top-k mean of the CAS (k = T/8).
* **floor** — weakly supervised top-k multiple-instance learning: the same MLP, trained with *video*
  labels only through the top-k mean of its snippet logits (k = 93 of 750 sampled snippets, softmax
  cross-entropy on L1-normalised labels) — the pre-classification stream of ECM without the shared
  temporal embedding.

The detections are written as ActivityNet JSON and scored by ``ecm evaluate`` (run as a subprocess).
The synthetic presets must be neither trivial nor hopeless: the ceiling clearly above the floor, the
floor's mAP@0.5 between 10 and 45.

Usage::

    python benchmarks/calibrate_synthetic.py [--data DIR] [--preset thumos14-lite] [--seed 0] [--epochs 60]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecm.data.folder import DatasetFolder, SplitData
from ecm.data.sampling import random_perturb_indices
from ecm.data.synth_presets import preset_config, preset_structure, write_dataset
from ecm.evaluation.io import write_predictions
from ecm.inference import VideoPrediction, localize_predictions
from ecm.postprocess.config import PostprocessConfig

TRAIN_LENGTH = 750
TOPK = TRAIN_LENGTH // 8


def snippet_mlp(dim: int, classes: int, hidden: int = 256) -> nn.Module:
    """Per-snippet MLP: (N, D) → (N, C) logits."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.5), nn.Linear(hidden, classes))


def snippet_targets(split: SplitData, index: int, length: int) -> np.ndarray:
    """(T, C) multi-hot snippet labels: class c where the snippet centre is inside an instance of c."""
    record = split.videos[index]
    step = record.timing.seconds_per_snippet
    centres = (np.arange(length) + 0.5) * step
    target = np.zeros((length, len(split.class_index)), dtype=np.float32)
    assert record.annotation is not None
    for seg in record.annotation.segments:
        inside = (centres >= seg.start) & (centres <= seg.end)
        target[inside, split.class_index.index(seg.label)] = 1.0
    return target


def train_ceiling(split: SplitData, epochs: int, seed: int) -> nn.Module:
    """Snippet classifier over C + 1 classes (background last), soft targets, cross-entropy."""
    torch.manual_seed(seed)
    feats = [split.features(i) for i in range(len(split))]
    x = torch.from_numpy(np.concatenate(feats))
    y = torch.from_numpy(np.concatenate([snippet_targets(split, i, f.shape[0]) for i, f in enumerate(feats)]))
    background = (y.sum(dim=1, keepdim=True) == 0).float()
    target = torch.cat([y, background], dim=1)
    target = target / target.sum(dim=1, keepdim=True)
    model = snippet_mlp(x.shape[1], y.shape[1] + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(512):
            loss = -(target[batch] * model(x[batch]).log_softmax(dim=1)).sum(dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def train_floor(split: SplitData, epochs: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    labels = torch.from_numpy(np.stack([v.labels for v in split.videos]))
    model = snippet_mlp(split.feature_dim, labels.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4, weight_decay=5e-4)
    feats = [split.features(i) for i in range(len(split))]
    for _ in range(epochs):
        order = rng.permutation(len(split))
        for start in range(0, len(order), 16):
            idx = order[start : start + 16]
            batch = np.stack(
                [feats[i][random_perturb_indices(feats[i].shape[0], TRAIN_LENGTH, rng)] for i in idx]
            )
            logits = model(torch.from_numpy(batch))  # (B, T, C)
            video = logits.topk(TOPK, dim=1).values.mean(dim=1)  # (B, C)
            target = labels[idx] / (labels[idx].sum(dim=1, keepdim=True) + 1e-10)
            loss = -(target * video.log_softmax(dim=1)).sum(dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def predict(model: nn.Module, split: SplitData, supervised: bool) -> dict[str, VideoPrediction]:
    """CAS (C, T) and video logits (C,) = top-k mean of the CAS (k = T/8).

    MIL: the CAS is the snippet logits. Supervised: the CAS is each class's log-odds against background,
    log P(c) − log P(background), positive where the class is more likely than background.
    """
    model.eval()
    out = {}
    with torch.inference_mode():
        for i, record in enumerate(split.videos):
            logits = model(torch.from_numpy(split.features(i)))  # (T, C) or (T, C + 1)
            if supervised:
                log_p = logits.log_softmax(dim=1)
                logits = log_p[:, :-1] - log_p[:, -1:]
            cas = logits.T  # (C, T)
            k = max(1, min(cas.shape[1], cas.shape[1] // 8))
            video = cas.topk(k, dim=1).values.mean(dim=1).numpy()
            out[record.video_id] = VideoPrediction(cas.numpy(), video)
    return out


def evaluate(root: Path, detections: dict, name: str, workdir: Path) -> dict:
    pred = workdir / f"{name}.json"
    write_predictions(pred, detections)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecm",
            "evaluate",
            "--gt",
            str(root / "gt.json"),
            "--pred",
            str(pred),
            "--subset",
            "test",
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="existing dataset folder (else generated)")
    parser.add_argument("--preset", default="thumos14-lite")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--epochs", type=int, default=60, help="MIL epochs (the ceiling uses a sixth)")
    parser.add_argument("--only", choices=("ceiling", "floor"), default=None, help="run one reference only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        root = args.data
        if root is None:
            root = workdir / args.preset
            started = time.perf_counter()
            write_dataset(
                root,
                preset_structure(args.preset, seed=args.seed),
                preset_config(args.preset),
                seed=args.seed,
            )
            print(f"generated {args.preset} (seed {args.seed}) in {time.perf_counter() - started:.1f} s")
        folder = DatasetFolder(root)
        train, test = folder.open_split("train"), folder.open_split("test")
        post = PostprocessConfig.preset("thumos14")
        rows = {}
        references = {
            "ceiling": lambda: train_ceiling(train, max(1, args.epochs // 6), 0),
            "floor": lambda: train_floor(train, args.epochs, 0),
        }
        for name, fit in references.items():
            if args.only not in (None, name):
                continue
            started = time.perf_counter()
            model = fit()
            detections = localize_predictions(predict(model, test, name == "ceiling"), test, post)
            rows[name] = evaluate(root, detections, name, workdir)
            print(f"{name}: trained + localized in {time.perf_counter() - started:.1f} s")
        keys = ["0.1", "0.3", "0.5", "0.7"]
        print(f"{'model':10s} " + " ".join(f"mAP@{k:4s}" for k in keys) + "  avg0.1:0.7")
        for name, res in rows.items():
            print(
                f"{name:10s} "
                + " ".join(f"{res['mAP'][k]:8.2f}" for k in keys)
                + f"  {res['averages']['0.1:0.7']:10.2f}"
            )


if __name__ == "__main__":
    main()
