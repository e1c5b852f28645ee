"""Lab: hidden activation: ReLU, sigmoid, tanh, SELU, GELU.

The reference network otherwise (784-300-100-10, gradient descent at 0.01, batches of 50,
seed 42, the notes' truncated-normal initialisation with stddev 2/sqrt(n_inputs)) on the
real Fashion-MNIST, 10 epochs each. Findings: experiments/README.md.

    lowtf sweep lab_activations            # or: python experiments/lab_activations.py
"""

import lowtf as lt

experiment = lt.Experiment(name="lab_activations", epochs=10, patience=None)

sweep = lt.sweep.Sweep(
    "lab_activations", base=experiment,
    grid={"activation": ["relu", "sigmoid", "tanh", "selu", "gelu"]},
    description="Hidden activations on the reference DNN, SGD 0.01, 10 epochs.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
