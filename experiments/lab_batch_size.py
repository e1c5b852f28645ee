"""Lab: batch size. 1, 10, 50, 200, 1000 examples per step, and the full batch (55,000).

The reference network and learning rate (784-300-100-10 ReLU, gradient descent at 0.01,
seed 42) on the real Fashion-MNIST, the same 5 epochs for every batch size: an epoch is
55,000 steps at batch 1 and a single step with the full batch. The table also shows the
time each trial took. Findings: experiments/README.md.

    lowtf sweep lab_batch_size             # or: python experiments/lab_batch_size.py
"""

import lowtf as lt

experiment = lt.Experiment(name="lab_batch_size", epochs=5, patience=None)

sweep = lt.sweep.Sweep(
    "lab_batch_size", base=experiment,
    grid={"batch_size": [1, 10, 50, 200, 1000, 55_000]},
    description="Batch sizes 1 to 55,000 (full batch), SGD 0.01, 5 epochs each.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
