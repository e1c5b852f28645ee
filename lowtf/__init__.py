"""lowtf: a low-level TensorFlow 2 training framework you can read line by line.

    import lowtf as lt
    data = lt.load_dataset("fashion_mnist", raw=True)
    model = lt.dnn(784, (300, 100), 10, activation="relu", seed=42)
    trainer = lt.Trainer(model, optimizer=lt.SGD(0.01), run_dir="logs/my_run")
    trainer.fit(data.train, data.validation, epochs=30, batch_size=50,
                early_stopping=lt.EarlyStopping(patience=5))
    print(trainer.evaluate(data.test))
    restored = lt.restore("logs/my_run")   # in a fresh process: the network alone
"""

import os as _os

# TensorFlow's C++ INFO/WARNING chatter drowns the training log; a user's own setting wins.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lowtf.activations import ACTIVATIONS, get_activation
from lowtf.checkpoints import read_config
from lowtf.datasets import (FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES, DataSplits, Split,
                            find_dataset, load_dataset, load_fashion_mnist, load_mnist)
from lowtf.errors import (CheckpointError, ConfigError, DataError, LowtfError,
                          NonFiniteLossError)
from lowtf.feeds import array_batches, eval_batches
from lowtf.experiment import Experiment, load_experiment, run_experiment
from lowtf.idx import read_idx, write_idx
from lowtf.images import load_image, load_images
from lowtf.inference import Predictor, restore
from lowtf.layers import NeuronLayer, neuron_layer
from lowtf.losses import LOSSES, get_loss
from lowtf.metrics import BinaryAccuracy, Mean, Metric, TopKAccuracy, get_metric
from lowtf.monitor import EarlyStopping, Monitor
from lowtf.network import Network, dnn
from lowtf.optimizers import SGD, Adagrad, Adam, Optimizer, RMSprop, get_optimizer
from lowtf.trainer import Trainer
from lowtf import pictures
from lowtf.export import export_saved_model
from lowtf.plot import plot_runs
from lowtf.sweep import LogUniform, Sweep, SweepResult, Uniform, load_sweep, run_sweep

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "Adagrad", "Adam", "BinaryAccuracy", "CheckpointError", "ConfigError",
    "DataError", "DataSplits", "EarlyStopping", "Experiment", "FASHION_MNIST_CLASS_NAMES", "LOSSES",
    "LowtfError", "MNIST_CLASS_NAMES", "Mean", "Metric", "Monitor", "Network", "NeuronLayer",
    "NonFiniteLossError", "Optimizer", "Predictor", "RMSprop", "SGD", "Split", "TopKAccuracy", "Trainer",
    "array_batches", "dnn", "eval_batches", "find_dataset", "get_activation", "get_loss",
    "get_metric", "get_optimizer", "load_dataset", "load_fashion_mnist", "load_image",
    "load_experiment", "load_images", "load_mnist", "neuron_layer", "read_config", "read_idx",
    "restore", "run_experiment", "write_idx",
    "LogUniform", "Sweep", "SweepResult", "Uniform", "export_saved_model", "load_sweep",
    "pictures", "plot_runs", "run_sweep",
]
