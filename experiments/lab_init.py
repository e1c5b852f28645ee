"""Lab: weight initialisation x activation on a deeper MLP.

Five hidden layers of 100 units (`toolkit_mlp.mlp`; init applies to every kernel, the
output layer's too), plain gradient descent at 0.01, batches of 50, seed 42, 5 epochs
with no early stopping, on the real Fashion-MNIST. Initialisers: the course's truncated
normal (stddev 2/sqrt(fan_in)), He (normal, sqrt(2/fan_in)) and Glorot (uniform); for each
of ReLU, SELU and tanh; and LeCun normal with SELU (the pairing SELU was designed for).
Findings: experiments/README.md.

    lowtf sweep lab_init                   # or: python experiments/lab_init.py
"""

import lowtf as lt

experiment = lt.Experiment(name="lab_init", model="toolkit_mlp:mlp",
                           model_args={"hidden": [100] * 5}, optimizer="sgd",
                           learning_rate=0.01, batch_size=50, epochs=5, patience=None)

sweep = lt.sweep.Sweep(
    "lab_init", base=experiment,
    configs=[{"model_args.activation": act, "model_args.init": init}
             for act in ("relu", "selu", "tanh") for init in ("course", "he", "glorot")]
    + [{"model_args.activation": "selu", "model_args.init": "lecun"}],
    description="Initialisers x activations on 784-5x100-10, SGD 0.01, 5 epochs.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
