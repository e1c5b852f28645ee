"""Bring your own model: a small CNN written as a plain `tf.Module` of `tf.Variable`s.

    lowtf train custom_cnn                 # or: lowtf train experiments/custom_cnn.py
    lowtf evaluate logs/custom_cnn         # restored without the model: the run recorded `cnn`

Nothing here is lowtf's: two 3x3 convolutions with ReLU and 2x2 max pooling, dropout
(only when `training`), a dense ReLU layer and a dense output layer of logits. It takes
images as `[batch, 28, 28, 1]` or `[batch, 28, 28]` (float32; lowtf hands uint8 images
over scaled to [0, 1]). The dropout masks come from a `tf.random.Generator` held by the
model, so the checkpoint saves its state and a resumed run draws the same masks.
"""

import tensorflow as tf

import lowtf as lt


class CNN(tf.Module):
    def __init__(self, filters=(8, 16), units=64, n_classes=10, dropout=0.25, seed=0):
        super().__init__(name="cnn")
        init = tf.random.Generator.from_seed(seed)

        def weights(*shape):  # He initialisation: truncated normal, stddev sqrt(2 / fan-in)
            fan_in = shape[0] * shape[1] * shape[2] if len(shape) == 4 else shape[0]
            return tf.Variable(init.truncated_normal(shape) * (2.0 / fan_in) ** 0.5)

        f1, f2 = filters
        self.conv1, self.bias1 = weights(3, 3, 1, f1), tf.Variable(tf.zeros([f1]))
        self.conv2, self.bias2 = weights(3, 3, f1, f2), tf.Variable(tf.zeros([f2]))
        self.dense, self.dense_bias = weights(7 * 7 * f2, units), tf.Variable(tf.zeros([units]))
        self.out, self.out_bias = weights(units, n_classes), tf.Variable(tf.zeros([n_classes]))
        self.dropout = float(dropout)
        self.noise = tf.random.Generator.from_seed(seed + 1)  # checkpointed with the model

    def __call__(self, x, training=False):
        if len(x.shape) == 3:  # [batch, 28, 28]: one channel
            x = x[..., None]
        x = tf.nn.relu(tf.nn.conv2d(x, self.conv1, 1, "SAME") + self.bias1)
        x = tf.nn.max_pool2d(x, 2, 2, "VALID")
        x = tf.nn.relu(tf.nn.conv2d(x, self.conv2, 1, "SAME") + self.bias2)
        x = tf.nn.max_pool2d(x, 2, 2, "VALID")
        x = tf.reshape(x, [-1, self.dense.shape[0]])
        x = tf.nn.relu(x @ self.dense + self.dense_bias)
        if training and self.dropout:
            keep = self.noise.uniform(tf.shape(x)) >= self.dropout
            x = tf.where(keep, x / (1.0 - self.dropout), 0.0)
        return x @ self.out + self.out_bias


def cnn(filters=(8, 16), units=64, dropout=0.25, seed=0):
    """The model builder the run records: `lt.restore("logs/custom_cnn")` calls it again."""
    return CNN(tuple(filters), units, dropout=dropout, seed=seed)


experiment = lt.Experiment(name="custom_cnn", model=cnn, model_args={"units": 64},
                           optimizer="adam", learning_rate=0.001, batch_size=64,
                           epochs=3, patience=None)
