"""XOR: a single layer cannot learn it, a 2-2-1 sigmoid network with MSE can.

The four XOR points are not linearly separable, so one sigmoid unit stays at best
3/4 right; one hidden layer of two sigmoid units bends the boundary and gets 4/4.
Each "epoch" here is 2,000 full-batch steps from a repeated tf.data pipeline.
"""

import numpy as np
import tensorflow as tf

import lowtf as lt

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def train_xor(hidden_units=2, steps=2000, epochs=3, learning_rate=1.0, seed=1):
    """Trains `2-hidden_units-1` (or `2-1` with hidden_units=0) and returns `(trainer, accuracy)`."""
    layers = [("hidden1", hidden_units, "sigmoid")] if hidden_units else []
    model = lt.Network(2, layers + [("outputs", 1, "sigmoid")], name="xor", seed=seed)
    trainer = lt.Trainer(model, loss="mse", optimizer=lt.optimizers.SGD(learning_rate, momentum=0.9),
                         metrics=("binary_accuracy",), verbose=0)
    batches = tf.data.Dataset.from_tensors((X, Y)).repeat(steps)
    trainer.fit(batches, epochs=epochs)
    return trainer, trainer.evaluate((X, Y))["accuracy"]


if __name__ == "__main__":
    for units, label in ((0, "single layer 2-1"), (2, "hidden layer 2-2-1")):
        trainer, accuracy = train_xor(units)
        outputs = trainer.predict(X).ravel()
        print(f"{label}: accuracy {accuracy:.2f}, outputs {np.round(outputs, 3).tolist()}")
