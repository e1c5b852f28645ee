"""Throughput of the reference DNN on 1 device, mirrored over 2 logical CPUs, and 2 local
MultiWorkerMirroredStrategy workers, measured in the same run.

    .venv/bin/python benchmarks/distribute_speed.py [--epochs 3] [--rounds 2]

Each variant trains the reference network (real Fashion-MNIST, SGD 0.01, global batch 50)
for `--epochs` epochs in a fresh process; the figure is the median examples/second of the
epochs after the first (which includes tracing). On one 2-core machine the distributed
variants are expected to be slower: the point is correctness and the path to real hardware.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOWTF = [sys.executable, "-m", "lowtf.cli"]


def run_variant(name, epochs, workdir):
    run_dir = os.path.join(workdir, name.replace(",", "").replace(" ", "_"))
    common = ["train", "--epochs", str(epochs), "--no-early-stopping", "--run-dir", run_dir,
              "--quiet"]
    if name == "1 device":
        cmd = [*LOWTF, *common]
    elif name == "mirrored, 2 logical CPUs":
        cmd = [*LOWTF, *common, "--strategy", "mirrored", "--devices", "2"]
    else:
        cmd = [*LOWTF, "launch", "2", *common, "--strategy", "multiworker"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{name} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    with open(os.path.join(run_dir, "history.json")) as f:
        rates = json.load(f)["examples_per_second"][1:]
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    variants = ["1 device", "mirrored, 2 logical CPUs", "2 local workers"]
    figures = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as workdir:
        for r in range(args.rounds):
            for v in variants:
                figures[v].append(run_variant(v, args.epochs, os.path.join(workdir, str(r))))
                print(f"round {r + 1}: {v}: {figures[v][-1]:,.0f} examples/s", flush=True)
    base = statistics.median(figures["1 device"])
    print("\nvariant                     median examples/s   ratio to 1 device")
    for v in variants:
        m = statistics.median(figures[v])
        print(f"{v:<27} {m:>17,.0f}   {m / base:>6.2f}")


if __name__ == "__main__":
    main()
