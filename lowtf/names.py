"""The names of built-in activations and optimizers, without importing TensorFlow.

The command line offers them as choices, and `lowtf --help` must answer at once;
`lowtf.activations` and `lowtf.optimizers` check that they implement exactly these.
"""

ACTIVATION_NAMES = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu",
                    "softplus", "gelu", "softmax")
OPTIMIZER_NAMES = ("sgd", "gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
                   "adamw", "sgdw")
