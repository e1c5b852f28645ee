"""lowtf: a low-level TensorFlow 2 training framework you can read line by line.

    import lowtf as lt
    data = lt.load_dataset("fashion_mnist", raw=True)
    model = lt.dnn(784, (300, 100), 10, activation="relu", seed=42)
    trainer = lt.Trainer(model, optimizer=lt.SGD(0.01), run_dir="logs/my_run")
    trainer.fit(data.train, data.validation, epochs=30, batch_size=50,
                early_stopping=lt.EarlyStopping(patience=5))
    print(trainer.evaluate(data.test))
    restored = lt.restore("logs/my_run")   # in a fresh process: the network alone

The names below are imported on first use, so `import lowtf` (and `lowtf --help`)
does not pay for TensorFlow until something needs it.
"""

import importlib as _importlib
import importlib.util as _importlib_util

from lowtf import tf_chatter as _tf_chatter

__version__ = "0.1.0"

# TensorFlow's start-up log lines drown the training log; a user's own setting wins.
_tf_chatter.arm()

# The public API: module -> the names it exports.
_API = {
    "lowtf.activations": ("ACTIVATIONS", "get_activation"),
    "lowtf.checkpoints": ("read_config",),
    "lowtf.datasets": ("FASHION_MNIST_CLASS_NAMES", "MNIST_CLASS_NAMES", "DataSplits", "Split",
                       "find_dataset", "load_dataset", "load_fashion_mnist", "load_mnist"),
    "lowtf.errors": ("CheckpointError", "ConfigError", "DataError", "LowtfError",
                     "NonFiniteLossError"),
    "lowtf.feeds": ("array_batches", "eval_batches"),
    "lowtf.experiment": ("Experiment", "load_experiment", "run_experiment"),
    "lowtf.idx": ("read_idx", "write_idx"),
    "lowtf.images": ("load_image", "load_images"),
    "lowtf.inputs": ("InputScaleWarning",),
    "lowtf.inference": ("Predictor", "restore"),
    "lowtf.layers": ("NeuronLayer", "neuron_layer"),
    "lowtf.losses": ("LOSSES", "get_loss"),
    "lowtf.metrics": ("BinaryAccuracy", "Mean", "Metric", "TopKAccuracy", "get_metric"),
    "lowtf.monitor": ("Monitor",),
    "lowtf.actions.early_stopping": ("EarlyStopping",),
    "lowtf.network": ("Network", "dnn"),
    "lowtf.optimizers": ("SGD", "Adagrad", "Adam", "Optimizer", "RMSprop", "get_optimizer"),
    "lowtf.trainer": ("Trainer",),
    "lowtf.export": ("export_saved_model",),
    "lowtf.plot": ("plot_runs",),
    "lowtf.sweep": ("LogUniform", "Sweep", "SweepResult", "Uniform", "load_sweep", "run_sweep"),
}
_MODULE_OF = {name: module for module, names in _API.items() for name in names}

__all__ = sorted(_MODULE_OF) + ["pictures"]


def __getattr__(name):
    """Imports a public name (or a submodule such as `lt.pictures`) on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        if name.startswith("_") or _importlib_util.find_spec(f"lowtf.{name}") is None:
            raise AttributeError(f"module 'lowtf' has no attribute {name!r}")
        return _importlib.import_module(f"lowtf.{name}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
