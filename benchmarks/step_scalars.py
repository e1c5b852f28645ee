#!/usr/bin/env python
"""What does `lt.log_scalar` inside the training step cost? Epoch time with and without it.

    .venv/bin/python benchmarks/step_scalars.py            # default: 7 rounds, ~3 min on 2 cores
    .venv/bin/python benchmarks/step_scalars.py --quick    # smoke run: 2 rounds on 2,000 examples

The reference MLP 784-300-100-10 (ReLU, SGD(0.01), batch 50) on the first
`--train-examples` real Fashion-MNIST training images (uint8, resident), two variants in
one process, each its own `lt.Trainer` (XLA on, so both run the same compiled loop kind):

- `plain`: the model as it is.
- `logged`: the same model, which also calls `lt.log_scalar` three times in every step
  (the logits' mean norm, the hidden layers' fraction of zero ReLUs).

Both use `log_every_steps=20`: each call of the loop ends every 20 steps and the running
metrics and the learning rate (and, for `logged`, its three values) go to TensorBoard, so
the ratio is the cost of the scalars themselves, not of the interval.

After one warm-up epoch each (tracing, compiling), rounds train one more epoch of each
variant in turn (A B A B ...), so a noisy spell of the machine hits both; a figure is the
median epoch time over rounds (the trainer's own `history["epoch_time"]`). Prints the
ratio logged / plain and writes the figures to `logs/benchmarks/step_scalars-<time>.json`.
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
    trainers = {
        "plain": lt.Trainer(plain, run_dir=os.path.join(work, "plain"), xla=True, verbose=0,
                            histograms=False, log_every_steps=20),
        "logged": lt.Trainer(Logged, run_dir=os.path.join(work, "logged"), xla=True,
                             verbose=0, histograms=False, log_every_steps=20),
    }
    times = {name: [] for name in trainers}
    for epoch in range(1, args.rounds + 2):  # the first epoch is the warm-up
        for name, trainer in trainers.items():
            history = trainer.fit(train, epochs=epoch, batch_size=50)
            if epoch > 1:
                times[name].append(history["epoch_time"][-1])
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratio = medians["logged"] / medians["plain"]
    steps = len(train[0]) // 50
    cpu = lt.machine.describe()
    print(f"{cpu}; {steps} steps an epoch, median of {args.rounds} rounds")
    for name, median in medians.items():
        print(f"  {name:7s} {1000 * median / steps:7.3f} ms/step  "
              f"(rounds {', '.join(f'{1000 * t / steps:.3f}' for t in times[name])})")
    print(f"  logged / plain: {ratio:.3f}  traces: plain "
          f"{trainers['plain'].train_traces}, logged {trainers['logged'].train_traces}")
    out = REPO / "logs" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    record = {"cpu": cpu, "load": os.getloadavg(), "steps_per_epoch": steps,
              "epoch_seconds": times, "median_seconds": medians, "ratio": ratio,
              "traces": {name: t.train_traces for name, t in trainers.items()}}
    (out / f"step_scalars-{stamp}.json").write_text(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
