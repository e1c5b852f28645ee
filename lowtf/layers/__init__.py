"""Layers built from `tf.Variable`s, each a `tf.Module` matching its Keras counterpart.

    Dense, NeuronLayer, neuron_layer   fully connected (NeuronLayer: the course's layer)
    Conv2D                             2-D convolution over NHWC images
    MaxPool2D, AvgPool2D               pooling windows
    Flatten                            examples to vectors
    Reshape                            examples to another shape ([28, 28] -> [28, 28, 1])
    Activation                         an element-wise function
    Dropout                            random dropping while training
    RandomFlip, RandomShift            image augmentation while training
    BatchNorm                          batch normalisation
    Sequential                         layers in order; a lowtf model
    Layer                              the base class (build once, shape checks)

Variables are created once, eagerly: at construction when a layer knows its input size,
by `Sequential(..., input_shape=...)`, or on a layer's first eager call. Under a
mixed-precision policy (`lowtf.precision`) layers compute in the compute dtype while
their variables stay float32.
"""

from lowtf.layers.activation import Activation
from lowtf.layers.augment import RandomFlip, RandomShift
from lowtf.layers.base import Layer
from lowtf.layers.batch_norm import BatchNorm
from lowtf.layers.conv import Conv2D
from lowtf.layers.dense import Dense, NeuronLayer, neuron_layer
from lowtf.layers.dropout import Dropout
from lowtf.layers.flatten import Flatten
from lowtf.layers.pooling import AvgPool2D, MaxPool2D
from lowtf.layers.reshape import Reshape
from lowtf.layers.sequential import Sequential

__all__ = ["Activation", "AvgPool2D", "BatchNorm", "Conv2D", "Dense", "Dropout", "Flatten",
           "Layer", "MaxPool2D", "NeuronLayer", "RandomFlip", "RandomShift", "Reshape",
           "Sequential", "neuron_layer"]
