"""`Sequential`: layers called in order, usable directly as a lowtf model."""

import tensorflow as tf

from lowtf.errors import ConfigError
from lowtf.layers.activation import Activation
from lowtf.models import accepts_training


class Sequential(tf.Module):
    """`x -> layer_1 -> ... -> layer_n`, passing `training` to the layers that take it
    (`Dropout`, `BatchNorm`).

    Each layer is an attribute named after it, so checkpoint keys read `model/conv2d_1/kernel`:
    a layer built without a name is numbered by kind (`dense_1`, `dense_2`, `conv2d_1`),
    a named one keeps its name; two layers with one name are refused.

    With `input_shape` (one example's shape: `(28, 28, 1)`, `(784,)`) every layer is built
    now, shapes propagated layer to layer, so all variables exist before the first step (the
    trainer builds the optimizer's slots first). Without it, layers not given their input
    size build on the first eager call; a first call inside a `tf.function` is refused.

    Args:
        layers: the layers: lt.layers, any `tf.Module` callable as `layer(x)` or
            `layer(x, training=...)` (with `build` and `output_shape` for `input_shape`),
            or a plain element-wise function such as `tf.nn.relu` (made an `Activation`).
        input_shape: one example's shape, or None.
        name: the model's name (its variable scope).
    """

    def __init__(self, layers, input_shape=None, name=None):
        super().__init__(name=name)
        layers = list(layers)
        if not layers:
            raise ConfigError("Sequential needs at least one layer")
        for layer in layers:
            if not callable(layer):
                raise ConfigError(f"Sequential takes callable layers, got {layer!r}")
        layers = [layer if isinstance(layer, tf.Module) else Activation(layer)
                  for layer in layers]
        self._takes_training = [accepts_training(layer) for layer in layers]
        self._layer_names = []
        names = _names(layers)
        for name in names:
            if name.startswith("_") or hasattr(type(self), name) or name in vars(self):
                raise ConfigError(f"layer name {name!r} is taken by Sequential itself; "
                                  "name the layer otherwise")
        for layer, name in zip(layers, names):
            if name != layer.name:
                layer.rename(name)
            setattr(self, name, layer)
            self._layer_names.append(name)
        self.input_shape = None if input_shape is None else tuple(input_shape)
        if input_shape is not None:
            self.build(input_shape)

    @property
    def layers(self):
        return [getattr(self, n) for n in self._layer_names]

    def build(self, input_shape):
        """Builds every layer for examples of shape `input_shape`; returns the output shape."""
        shape = tf.TensorShape([None, *input_shape])
        with self.name_scope:
            for layer in self.layers:
                if not (hasattr(layer, "build") and hasattr(layer, "output_shape")):
                    raise ConfigError(
                        f"layer {layer.name!r} has no build(input_shape) and "
                        "output_shape(input_shape), so Sequential cannot build it from "
                        "input_shape; build it yourself or leave input_shape out")
                layer.build(shape)
                shape = layer.output_shape(shape)
        return shape

    @property
    def n_outputs(self):
        """The class count when the last layer is a Dense (the trainer reads it), else None."""
        return getattr(self.layers[-1], "units", None)

    @property
    def n_inputs(self):
        """The feature count for a flat `input_shape` (`(784,)`): the model takes
        `[batch, n_inputs]` and the trainer checks widths; None otherwise."""
        shape = self.input_shape
        return shape[0] if shape is not None and len(shape) == 1 else None

    @property
    def n_params(self):
        return sum(int(tf.size(v)) for v in self.trainable_variables)

    def __call__(self, x, training=False):
        for layer, takes_training in zip(self.layers, self._takes_training):
            x = layer(x, training=training) if takes_training else layer(x)
        return x


def _names(layers):
    """Each layer's attribute name: its own, or its kind numbered (`dense_1`) if auto-named."""
    given = [layer.name for layer in layers if not getattr(layer, "auto_named", False)]
    duplicates = sorted({n for n in given if given.count(n) > 1})
    if duplicates:
        raise ConfigError(f"two layers are named {duplicates[0]!r}; give each layer a "
                          "unique name (its checkpoint key)")
    taken, counts, names = set(given), {}, []
    for layer in layers:
        name = layer.name
        if getattr(layer, "auto_named", False):
            while True:
                counts[layer.name] = counts.get(layer.name, 0) + 1
                name = f"{layer.name}_{counts[layer.name]}"
                if name not in taken:
                    break
            taken.add(name)
        names.append(name)
    return names
