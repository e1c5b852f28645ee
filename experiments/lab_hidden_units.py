"""Lab: how many hidden units? One hidden layer of 10, 30, 100, 300 or 1000 ReLU units.

Everything else is the reference run (plain gradient descent at 0.01, batches of 50,
seed 42) on the real Fashion-MNIST, 10 epochs each without early stopping, so the trials
differ only in width. Findings: experiments/README.md.

    lowtf sweep lab_hidden_units           # or: python experiments/lab_hidden_units.py
    tensorboard --logdir logs/lab_hidden_units
"""

import lowtf as lt

experiment = lt.Experiment(name="lab_hidden_units", epochs=10, patience=None)

sweep = lt.sweep.Sweep(
    "lab_hidden_units", base=experiment,
    grid={"hidden": [(10,), (30,), (100,), (300,), (1000,)]},
    description="One hidden ReLU layer of 10 to 1000 units, SGD 0.01, batch 50, 10 epochs.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
