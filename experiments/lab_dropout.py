"""Lab: dropout on a wide MLP that overfits: rates 0, 0.1, 0.3 and 0.5.

784-512-512-10 ReLU (`toolkit_mlp.mlp`, the course's initialisation), Adam at 1e-3,
batches of 100, seed 42, 10 epochs with no early stopping, on the real Fashion-MNIST. A
Dropout follows each hidden layer's activation. Findings: experiments/README.md.

    lowtf sweep lab_dropout                # or: python experiments/lab_dropout.py
"""

import lowtf as lt

experiment = lt.Experiment(name="lab_dropout", model="toolkit_mlp:mlp", model_args={"hidden": [512, 512]},
                           optimizer="adam", learning_rate=1e-3, batch_size=100, epochs=10,
                           patience=None)

sweep = lt.sweep.Sweep(
    "lab_dropout", base=experiment,
    grid={"model_args.dropout": [0.0, 0.1, 0.3, 0.5]},
    description="Dropout rates on 784-512-512-10 ReLU, Adam 1e-3, 10 epochs.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
