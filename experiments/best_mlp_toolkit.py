"""The best MLP with the toolkit: `neuron_layer`s (the course's dense layer and its
initialisation) with mirrored and shifted training images, dropout, AdamW's decoupled
weight decay, a warmup into a cosine decay and a moving average of the weights.

    lowtf train best_mlp_toolkit           # logs/best_mlp_toolkit; test accuracy at the end
    lowtf evaluate logs/best_mlp_toolkit   # the averaged weights of the best epoch

784-1024-1024-10 ReLU; each training image is mirrored half of the time and shifted by up
to 1 pixel, then dropout 0.1 after each hidden layer. No early stopping: the cosine
schedule ends the run after 100 epochs, and the best checkpoint (by validation accuracy
of the averaged weights) is the model. These settings won a sweep ranked by validation
accuracy (experiments/README.md):

    lowtf sweep best_mlp_toolkit --name best_mlp_aug_sweep --parallel 2 \
        --grid model_args.augment=true --grid model_args.shift=0,1 \
        --grid model_args.dropout=0.1,0.2,0.4 --grid model_args.input_dropout=0

Before the toolkit the best MLP (`best_mlp.py`: no regularisation, two phases of Adam)
reached 0.9019 test accuracy; without augmentation (`model_args={"augment": False,
"dropout": 0.4, "input_dropout": 0.2}`, 60 epochs) the toolkit's MLP reached 0.9008.
"""

import lowtf as lt

L = lt.layers
S = lt.optimizers.schedules

EPOCHS = 100
BATCH = 128
STEPS = EPOCHS * (55_000 // BATCH)


def mlp(hidden=(1024, 1024), dropout=0.1, input_dropout=0.0, augment=True, shift=1, seed=42):
    """The model builder the run records: `lt.restore("logs/best_mlp_toolkit")` calls it.
    `Dense` with its default initialiser is the course's `neuron_layer`; with `augment`,
    each training image is mirrored half of the time and shifted by up to `shift` pixels
    (0: not shifted)."""
    layers = []
    if augment:
        layers += [L.RandomShift(shift, seed=seed)] if shift else []
        layers.append(L.RandomFlip(seed=seed + 100))
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
