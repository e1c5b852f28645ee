"""A network of `NeuronLayer`s, its summary, weights and architecture config."""

import keyword

import numpy as np
import tensorflow as tf

from lowtf.errors import ConfigError
from lowtf.layers import NeuronLayer

_RESERVED = frozenset(dir(tf.Module)) | {"layers", "config", "summary"}


class Network(tf.Module):
    """Layers applied in order: `x -> layer_1 -> ... -> layer_n` (logits by default).

    Each layer is an attribute named after it, so checkpoint keys read
    `model/hidden1/kernel` and a mismatch can be reported by layer name.

    Args:
        n_inputs: input features (784 for 28x28 images).
        layers: sequence of `(name, units, activation)`.
        name: the variable scope (`dnn` gives `dnn/hidden1/kernel`).
        seed: int for reproducible initial weights, or None.
    """

    def __init__(self, n_inputs, layers, name="dnn", seed=None):
        super().__init__(name=name)
        if not layers:
            raise ConfigError("a network needs at least one layer")
        self.n_inputs = n_inputs
        self._layer_names = []
        width = n_inputs
        with self.name_scope:
            for spec in layers:
                layer_name, units, activation = spec
                if (not isinstance(layer_name, str) or not layer_name.isidentifier()
                        or keyword.iskeyword(layer_name) or layer_name.startswith("_")
                        or layer_name in _RESERVED or layer_name in self._layer_names):
                    raise ConfigError(
                        f"invalid or duplicate layer name {layer_name!r}: use unique identifiers "
                        "such as 'hidden1' that are not tf.Module attributes")
                layer = NeuronLayer(width, units, layer_name, activation=activation, seed=seed)
                setattr(self, layer_name, layer)
                self._layer_names.append(layer_name)
                width = units
        self.n_outputs = width

    @property
    def layers(self):
        return [getattr(self, n) for n in self._layer_names]

    @property
    def config(self):
        """JSON-serialisable architecture; `Network.from_config` rebuilds it."""
        return {"name": self.name, "n_inputs": self.n_inputs,
                "layers": [[l.name, l.n_neurons, l.activation_name] for l in self.layers]}

    @classmethod
    def from_config(cls, config, seed=None):
        try:
            return cls(config["n_inputs"], [tuple(l) for l in config["layers"]],
                       name=config["name"], seed=seed)
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"invalid network config {config!r}: {e}") from None

    @property
    def n_params(self):
        return sum(l.n_params for l in self.layers)

    def __call__(self, x, training=None):
        """The outputs (logits) for `x`, flattened to `[batch, n_inputs]` first (images of
        any shape with `n_inputs` values each). `training` is accepted for the loop's
        contract (`lowtf.models`); dense `NeuronLayer`s behave the same either way."""
        x = tf.reshape(x, [-1, self.n_inputs])
        for layer in self.layers:
            x = layer(x)
        return x

    def summary(self):
        """A table of layers, output shapes, activations and parameter counts."""
        rows = [("Layer", "Output shape", "Activation", "Params")]
        for l in self.layers:
            rows.append((f"{self.name}/{l.name}", f"(None, {l.n_neurons})",
                         l.activation_name, f"{l.n_params:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        line = lambda r: "  ".join(
            (c.rjust(w) if i == 3 else c.ljust(w)) for i, (c, w) in enumerate(zip(r, widths)))
        rule = "-" * len(line(rows[0]))
        body = [line(r) for r in rows[1:]]
        return "\n".join([f'Network "{self.name}": {self.n_inputs} inputs', line(rows[0]), rule,
                          *body, rule, f"Total params: {self.n_params:,}"])

    def get_weights(self):
        """`{"dnn/hidden1/kernel": array, ...}` in layer order."""
        return {f"{self.name}/{l.name}/{attr}": getattr(l, attr).numpy()
                for l in self.layers for attr in ("kernel", "bias")}

    def set_weights(self, weights):
        """Assigns arrays keyed like `get_weights()`; every key must be present."""
        current = self.get_weights()
        missing = set(current) - set(weights)
        extra = set(weights) - set(current)
        if missing or extra:
            raise ConfigError(f"set_weights: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for l in self.layers:
            for attr in ("kernel", "bias"):
                key = f"{self.name}/{l.name}/{attr}"
                value = np.asarray(weights[key])
                var = getattr(l, attr)
                if value.shape != tuple(var.shape):
                    raise ConfigError(f"set_weights: {key} has shape {tuple(var.shape)}, "
                                      f"got {value.shape}")
                var.assign(value.astype(np.float32))


def dnn(n_inputs=784, hidden=(300, 100), n_outputs=10, activation="relu",
        output_activation=None, name="dnn", seed=None):
    """The reference DNN of the notes: 784-300-100-10, ReLU hidden layers, logits out.

    Hidden layers are named `hidden1`, `hidden2`, ... and the last `outputs`.
    """
    layers = [(f"hidden{i + 1}", int(u), activation) for i, u in enumerate(hidden)]
    layers.append(("outputs", int(n_outputs), output_activation))
    return Network(n_inputs, layers, name=name, seed=seed)
