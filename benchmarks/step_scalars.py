#!/usr/bin/env python
"""What do per-step TensorBoard points cost? Epoch time with and without them.

    .venv/bin/python benchmarks/step_scalars.py            # default: 7 rounds, ~3 min on 2 cores
    .venv/bin/python benchmarks/step_scalars.py --quick    # smoke run: 2 rounds on 2,000 examples

The reference MLP 784-300-100-10 (ReLU, SGD(0.01), batch 50) on the first
`--train-examples` real Fashion-MNIST training images (uint8, resident), two variants in
one process, each its own `lt.Trainer` (XLA on, so all run the same compiled loop kind):

- `epoch_only`: `log_every_steps=None`, TensorBoard points once an epoch (the baseline).
- `every_100`: the default, `log_every_steps=100`: the loop keeps the gradients' global
  norm at every 100th step, and a point of the running metrics, the learning rate, that
  norm and examples/s goes to TensorBoard every 100 steps.
- `plain`: the same every 20 steps.
- `logged`: as `plain`, and the model also calls `lt.log_scalar` three times in every step
  (the logits' mean norm, the hidden layers' fraction of zero ReLUs).

`every_100 / epoch_only` is the cost of the default per-step points, `plain / epoch_only`
of five times as many, `logged / plain` of the step's own scalars.

After one warm-up epoch each (tracing, compiling), rounds train one more epoch of each
variant in turn (A B A B ...), so a noisy spell of the machine hits both; a figure is the
median epoch time over rounds (the trainer's own `history["epoch_time"]`). Prints the
ratios above and writes the figures to `logs/benchmarks/step_scalars-<time>.json`.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import lowtf as lt  # noqa: E402  (first: it keeps TensorFlow's start-up lines quiet)
import tensorflow as tf  # noqa: E402


class Logged(tf.Module):
    """The reference network, logging three scalars from inside the training step."""

    def __init__(self):
        super().__init__(name="logged")
        self.net = lt.dnn(784, (300, 100), 10, activation="relu", seed=42)

    def __call__(self, x, training=False):
        x = tf.reshape(x, [-1, 784])
        h1 = self.net.hidden1(x)
        h2 = self.net.hidden2(h1)
        logits = self.net.outputs(h2)
        lt.log_scalar("logit_norm", tf.norm(logits, axis=-1))
        lt.log_scalar("dead_relu_1", tf.cast(h1 <= 0, tf.float32))
        lt.log_scalar("dead_relu_2", tf.cast(h2 <= 0, tf.float32))
        return logits


def plain():
    return lt.dnn(784, (300, 100), 10, activation="relu", seed=42)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--train-examples", type=int, default=11000)
    parser.add_argument("--quick", action="store_true", help="2 rounds on 2,000 examples")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.train_examples = 2, 2000
    data = lt.load_dataset("fashion_mnist", raw=True)
    train = (data.train.images[:args.train_examples], data.train.labels[:args.train_examples])
    work = tempfile.mkdtemp(prefix="step_scalars-")
    settings = {"epoch_only": (plain, None), "every_100": (plain, 100),
                "plain": (plain, 20), "logged": (Logged, 20)}
    trainers = {name: lt.Trainer(model, run_dir=os.path.join(work, name), xla=True, verbose=0,
                                 histograms=False, log_every_steps=every)
                for name, (model, every) in settings.items()}
    times = {name: [] for name in trainers}
    for epoch in range(1, args.rounds + 2):  # the first epoch is the warm-up
        for name, trainer in trainers.items():
            history = trainer.fit(train, epochs=epoch, batch_size=50)
            if epoch > 1:
                times[name].append(history["epoch_time"][-1])
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratios = {"every_100/epoch_only": medians["every_100"] / medians["epoch_only"],
              "plain/epoch_only": medians["plain"] / medians["epoch_only"],
              "logged/plain": medians["logged"] / medians["plain"]}
    steps = len(train[0]) // 50
    cpu = lt.machine.describe()
    print(f"{cpu}; {steps} steps an epoch, median of {args.rounds} rounds")
    for name, median in medians.items():
        print(f"  {name:7s} {1000 * median / steps:7.3f} ms/step  "
              f"(rounds {', '.join(f'{1000 * t / steps:.3f}' for t in times[name])})")
    print("  " + "  ".join(f"{k}: {v:.3f}" for k, v in ratios.items()))
    print("  traces: " + ", ".join(f"{name} {t.train_traces}" for name, t in trainers.items()))
    out = REPO / "logs" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    record = {"cpu": cpu, "load": os.getloadavg(), "steps_per_epoch": steps,
              "epoch_seconds": times, "median_seconds": medians, "ratios": ratios,
              "traces": {name: t.train_traces for name, t in trainers.items()}}
    (out / f"step_scalars-{stamp}.json").write_text(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
