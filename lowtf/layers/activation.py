"""`Activation`: an element-wise function as a layer (`Activation("relu")`), like
`keras.layers.Activation`; Sequential wraps a plain function it is given in one."""

from lowtf.activations import get_activation
from lowtf.layers.base import Layer


class Activation(Layer):
    """Applies an activation (a name from `lowtf.activations` or a callable) element-wise,
    in the compute dtype; the shape is unchanged.

    Args:
        activation: a name or a callable.
        name: the layer's name; by default the activation's.
    """

    min_rank = 1
    expects = "[batch, ...]"

    def __init__(self, activation, name=None):
        activation_name, self._activation = get_activation(activation)
        super().__init__(name=name or (activation_name if activation_name.isidentifier()
                                       else None))
        self.auto_named = name is None
        self.activation_name = activation_name

    def __call__(self, x):
        x = self._inputs(x)
        return x if self._activation is None else self._activation(x)
