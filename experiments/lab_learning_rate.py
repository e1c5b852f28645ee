"""Lab: learning rate of plain gradient descent, from 0.001 to 1.

The reference network (784-300-100-10 ReLU, batches of 50, seed 42) on the real
Fashion-MNIST, 10 epochs each. Too large a rate diverges: that trial stops with a
NaN/Inf loss and is listed as failed. Findings: experiments/README.md.

    lowtf sweep lab_learning_rate          # or: python experiments/lab_learning_rate.py
"""

import lowtf as lt

experiment = lt.Experiment(name="lab_learning_rate", epochs=10, patience=None)

sweep = lt.sweep.Sweep(
    "lab_learning_rate", base=experiment,
    grid={"learning_rate": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]},
    description="SGD learning rates 0.001 to 1 on the reference DNN, 10 epochs.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
