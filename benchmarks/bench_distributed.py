"""One process against several (torchrun, gloo on CPU or NCCL on GPUs): training and localization throughput.

Prints, for 1 and ``--processes`` processes (each with ``cores / processes`` torch threads):

* the time of one training epoch of the THUMOS14 recipe on synthetic thumos14-lite (hidden 256, batch 16,
  no evaluation in the timed epoch), read from the run's ``metrics.jsonl``;
* localization throughput, videos/s, of the whole ``ecm localize`` command on an unlabelled corpus
  (``ecm synth --preset corpus --videos N``, D = 64) with a tiny run, start-up included;

and each ratio (1-process time over N-process time). Usage:
``python benchmarks/bench_distributed.py [--processes 2] [--videos 10000] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ECM = [sys.executable, "-m", "ecm"]
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


def command(args: list[str], processes: int) -> list[str]:
    if processes == 1:
        return [*ECM, *args]
    return [TORCHRUN, "--standalone", "--nproc-per-node", str(processes), "-m", "ecm", *args]


def run(args: list[str], processes: int) -> float:
    """Wall time of ``ecm args`` in ``processes`` processes, each with its share of the cores as threads."""
    threads = max(1, (os.cpu_count() or 1) // processes)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    subprocess.run(command(args, processes), check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--videos", type=int, default=10_000, help="corpus size for localization")
    parser.add_argument("--work", help="working folder (default: a temporary one, removed at the end)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp())
    counts = (1, args.processes)
    print(f"{os.cpu_count()} cores; processes {counts[0]} vs {counts[1]}, each with cores/processes threads")

    lite = work / "lite"
    subprocess.run([*ECM, "synth", str(lite), "--preset", "thumos14-lite", "--quiet"], check=True)
    epochs = {}
    for processes in counts:
        out = work / f"train{processes}"
        shutil.rmtree(out, ignore_errors=True)
        train = ["train", "synthetic-thumos14-lite", "--out", str(out), "--quiet", "--epochs", "2"]
        run([*train, "--set", f"data.root={lite}", "--set", "train.eval_interval=0"], processes)
        first = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
        epochs[processes] = first["seconds"]
        print(f"training epoch, thumos14-lite, {processes} process(es): {first['seconds']:.2f} s")
    print(f"training ratio {epochs[1] / epochs[args.processes]:.2f}×")

    corpus, tiny, run_dir = work / "corpus", work / "tiny", work / "tiny-run"
    subprocess.run(
        [*ECM, "synth", str(corpus), "--preset", "corpus", "--videos", str(args.videos), "--quiet"],
        check=True,
    )
    subprocess.run([*ECM, "synth", str(tiny), "--preset", "tiny", "--quiet"], check=True)
    subprocess.run(
        [
            *ECM,
            "train",
            "synthetic-tiny",
            "--out",
            str(run_dir),
            "--epochs",
            "1",
            "--set",
            f"data.root={tiny}",
            "--quiet",
        ],
        check=True,
    )
    rates = {}
    for processes in counts:
        out = work / f"pred{processes}.json"
        seconds = run(
            [
                "localize",
                str(run_dir),
                "--data",
                str(corpus),
                "--split",
                "test",
                "--out",
                str(out),
                "--quiet",
            ],
            processes,
        )
        rates[processes] = args.videos / seconds
        print(
            f"localization, {args.videos} videos, {processes} process(es): {seconds:.1f} s, {rates[processes]:.0f} videos/s"
        )
    print(f"localization ratio {rates[args.processes] / rates[1]:.2f}×")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
