"""The best MLP with the toolkit: `neuron_layer`s (the course's dense layer and its
initialisation) with dropout, AdamW's decoupled weight decay, a warmup into a cosine
decay and a moving average of the weights.

    lowtf train best_mlp_toolkit           # logs/best_mlp_toolkit; test accuracy at the end
    lowtf evaluate logs/best_mlp_toolkit   # the averaged weights of the best epoch

784-1024-1024-10 ReLU with dropout 0.2 on the inputs and 0.4 after each hidden layer;
no early stopping: the cosine schedule ends the run, and the best checkpoint (by
validation accuracy of the averaged weights) is the model. Before the toolkit the best
MLP (`best_mlp.py`: no regularisation, two phases of Adam) reached 0.9019 test accuracy.
`model_args={"augment": True, "dropout": 0.3, "input_dropout": 0.1}` adds random shifts
of up to 2 pixels and mirroring (`RandomShift`, `RandomFlip`); on this MLP that did worse
in 60 epochs (experiments/README.md).
"""

import lowtf as lt

L = lt.layers
S = lt.optimizers.schedules

EPOCHS = 60
BATCH = 128
STEPS = EPOCHS * (55_000 // BATCH)


def mlp(hidden=(1024, 1024), dropout=0.4, input_dropout=0.2, augment=False, seed=42):
    """The model builder the run records: `lt.restore("logs/best_mlp_toolkit")` calls it.
    `Dense` with its default initialiser is the course's `neuron_layer`; with `augment`,
    each training image is shifted by up to 2 pixels and mirrored half of the time."""
    layers = [L.RandomShift(2, seed=seed), L.RandomFlip(seed=seed + 100)] if augment else []
    layers += [L.Flatten(), L.Dropout(input_dropout, seed=seed)]
    for i, units in enumerate(hidden):
        layers += [L.Dense(units, activation="relu", name=f"hidden{i + 1}", seed=seed),
                   L.Dropout(dropout, seed=seed + i + 1, name=f"dropout{i + 1}")]
    layers.append(L.Dense(10, name="outputs", seed=seed))
    return L.Sequential(layers, input_shape=(28, 28), name="mlp")


experiment = lt.Experiment(
    name="best_mlp_toolkit", model=mlp, optimizer="adamw", batch_size=BATCH, epochs=EPOCHS,
    patience=None, metrics=("accuracy",),
    learning_rate=S.Warmup(1000, after=S.CosineDecay(1e-3, STEPS - 1000, alpha=0.01)),
    optimizer_args={"weight_decay": 0.05, "exclude_from_weight_decay": ["bias"]},
    ema=0.999)
