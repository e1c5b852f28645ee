#!/usr/bin/env python
"""Does memory grow run after run in one process (a sweep's trials, a notebook retraining)?

    .venv/bin/python benchmarks/memory_growth.py               # 20 runs per XLA setting
    .venv/bin/python benchmarks/memory_growth.py --runs 8 --xla on

Each XLA setting gets its own process, which trains `--runs` fresh reference MLPs
(784-300-100-10, SGD 0.01, batch 50) one after the other, each for one epoch on the first
`--examples` images of the real Fashion-MNIST training split, each with its own run
directory, and records the process's RSS after each run (after dropping the trainer and
collecting garbage). The figure that matters is the growth after the first run: the first
one pays for TensorFlow's one-time allocations. Results also go to
`logs/benchmarks/memory_growth-<timestamp>.json`.
"""

import argparse
import datetime
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def runs_in_one_process(runs, examples, xla):
    """RSS (MiB) after each of `runs` one-epoch trainings in this process."""
    import tensorflow as tf

    import lowtf as lt

    tf.get_logger().setLevel(logging.ERROR)  # the retracing warnings of new trainers
    data = lt.load_dataset("fashion_mnist", raw=True)
    x, y = data.train.images[:examples], data.train.labels[:examples]
    validation = (data.validation.images[:1000], data.validation.labels[:1000])
    xla = {"on": True, "off": False, "auto": None}[xla]
    rss = []
    with tempfile.TemporaryDirectory(prefix="lowtf-memory-") as base:
        for i in range(runs):
            trainer = lt.Trainer(lt.dnn(784, (300, 100), 10, seed=i),
                                 optimizer=lt.optimizers.SGD(0.01), xla=xla, verbose=0,
                                 run_dir=os.path.join(base, f"run{i}"))
            trainer.fit((x, y), validation, epochs=1, batch_size=50)
            del trainer
            gc.collect()
            rss.append(rss_mib())
    return rss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--xla", default="on,off,auto",
                        help="comma-separated settings, each in its own process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(runs_in_one_process(args.runs, args.examples, args.xla)))
        return 0
    from lowtf.machine import cpu_model, onednn_enabled

    results = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
               "cpu": cpu_model()[0], "onednn": onednn_enabled(), "runs": args.runs,
               "examples": args.examples, "rss_mib": {}}
    print(f"{args.runs} one-epoch runs of the reference MLP on {args.examples:,} images, "
          f"one process per setting; {results['cpu']}, oneDNN {results['onednn']}")
    for xla in args.xla.split(","):
        proc = subprocess.run([sys.executable, __file__, "--child", "--xla", xla,
                               "--runs", str(args.runs), "--examples", str(args.examples)],
                              capture_output=True, text=True, cwd=REPO)
        if proc.returncode:
            print(f"xla={xla}: failed\n{proc.stderr[-2000:]}")
            continue
        rss = json.loads(proc.stdout.strip().splitlines()[-1])
        results["rss_mib"][xla] = rss
        print(f"  xla={xla:<4}  after run 1: {rss[0]:7.1f} MiB   after run {len(rss)}: "
              f"{rss[-1]:7.1f} MiB   growth after the first: {rss[-1] - rss[0]:+7.1f} MiB")
    out = REPO / "logs" / "benchmarks" / f"memory_growth-{results['date'].replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
