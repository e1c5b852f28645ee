"""Lab: batch normalisation, with and without, at two learning rates.

The course's 784-300-100-10 ReLU MLP (`toolkit_mlp.mlp`, the notes' initialisation),
with a BatchNorm between each hidden layer and its ReLU or without, trained by plain
gradient descent at 0.01 (the reference), 0.1 and 0.5; batches of 50, seed 42, 10 epochs
with no early stopping, on the real Fashion-MNIST. Findings: experiments/README.md.

    lowtf sweep lab_batch_norm             # or: python experiments/lab_batch_norm.py
"""

import lowtf as lt

experiment = lt.Experiment(name="lab_batch_norm", model="toolkit_mlp:mlp",
                           model_args={"hidden": [300, 100]}, optimizer="sgd",
                           learning_rate=0.01, batch_size=50, epochs=10, patience=None)

sweep = lt.sweep.Sweep(
    "lab_batch_norm", base=experiment,
    grid={"model_args.batch_norm": [False, True], "learning_rate": [0.01, 0.1, 0.5]},
    description="Batch norm or not on 784-300-100-10 ReLU, SGD 0.01, 0.1, 0.5, 10 epochs.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
