"""Lab: optimizers. Gradient descent, momentum (0.9), Adagrad, RMSprop and Adam, each at
learning rates 0.001, 0.01 and 0.1 (they do not share a best rate, so each gets three).

The reference network (784-300-100-10 ReLU, batches of 50, seed 42) on the real
Fashion-MNIST, 10 epochs per trial. Findings: experiments/README.md.

    lowtf sweep lab_optimizers             # or: python experiments/lab_optimizers.py
    lowtf sweep lab_optimizers --parallel 2
"""

import lowtf as lt

experiment = lt.Experiment(name="lab_optimizers", epochs=10, patience=None)

sweep = lt.sweep.Sweep(
    "lab_optimizers", base=experiment,
    grid={"optimizer": ["sgd", "momentum", "adagrad", "rmsprop", "adam"],
          "learning_rate": [0.001, 0.01, 0.1]},
    description="Five optimizers x three learning rates, reference DNN, 10 epochs.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
