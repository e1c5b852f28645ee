"""An MLP of `lt.layers` for the toolkit labs: the course's network with the knobs the
labs turn (initialiser, activation, dropout, batch normalisation), all JSON arguments so
a sweep varies them as `model_args.<key>` and `lt.restore` rebuilds a run without a model.

    lowtf train toolkit_mlp                    # 784-300-100-10, the course's init, Adam
    lowtf sweep toolkit_mlp --grid model_args.dropout=0,0.2,0.5 --epochs 5

Each hidden layer is Dense(units, kernel_initializer=init) [-> BatchNorm] -> Activation
[-> Dropout]; the output layer is Dense(10) logits. With batch norm the activation comes
after the normalisation (as in Ioffe & Szegedy), and the Dense keeps its bias (BatchNorm's
own offset makes it redundant but harmless).
"""

import lowtf as lt


def mlp(hidden=(300, 100), activation="relu", init="course", dropout=0.0, batch_norm=False,
        seed=42):
    """A `Sequential` over 28x28 images: Flatten, the hidden layers, then 10 logits.

    Args:
        hidden: the hidden layer widths.
        activation: the hidden layers' activation (a name from `lt.activations`).
        init: the hidden and output kernels' initialiser: "course" (the notes'
            truncated normal, stddev 2/sqrt(n_inputs)), "he", "glorot", "lecun", ...
        dropout: the rate of a Dropout after each hidden layer (0: none).
        batch_norm: a BatchNorm between each hidden Dense and its activation.
        seed: seeds the kernels (layer i gets seed + i) and the dropout masks.
    """
    layers = [lt.layers.Flatten()]
    for i, units in enumerate(hidden):
        layers.append(lt.layers.Dense(units, kernel_initializer=init, seed=seed + i))
        if batch_norm:
            layers.append(lt.layers.BatchNorm())
        layers.append(lt.layers.Activation(activation))
        if dropout:
            layers.append(lt.layers.Dropout(dropout, seed=seed + 100 + i))
    layers.append(lt.layers.Dense(10, kernel_initializer=init, seed=seed + len(hidden)))
    return lt.layers.Sequential(layers, input_shape=(28, 28))


experiment = lt.Experiment(name="toolkit_mlp", model=mlp, model_args={"hidden": [300, 100]},
                           optimizer="adam", learning_rate=1e-3, batch_size=100, epochs=10,
                           patience=None)

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["train", __file__, *sys.argv[1:]]))
