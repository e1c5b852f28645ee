"""lowtf: a low-level TensorFlow 2 training framework you can read line by line.

    import lowtf as lt
    data = lt.load_dataset("fashion_mnist", raw=True)
    model = lt.dnn(784, (300, 100), 10, activation="relu", seed=42)
    trainer = lt.Trainer(model, optimizer=lt.optimizers.SGD(0.01), run_dir="logs/my_run")
    trainer.fit(data.train, data.validation, epochs=30, batch_size=50,
                early_stopping=lt.actions.EarlyStopping(patience=5))
    print(trainer.evaluate(data.test))
    restored = lt.restore("logs/my_run")   # in a fresh process: the network alone

Families are namespaces: `lt.actions`, `lt.activations`, `lt.data`, `lt.initializers`,
`lt.layers`, `lt.losses`, `lt.metrics`, `lt.optimizers`, `lt.sweep`; any other module
is reachable the same way (`lt.precision`, `lt.lr_finder`). Everything is imported on first
use, so `import lowtf` (and `lowtf --help`) does not pay for TensorFlow until something
needs it.
"""

import importlib as _importlib
import importlib.util as _importlib_util

from lowtf import tf_chatter as _tf_chatter

__version__ = "0.1.0"

# TensorFlow's start-up log lines drown the training log; a user's own setting wins.
_tf_chatter.arm()

# The top level: the trainer, the experiment, the network, restoring and exporting, data
# loading and the errors. Families live in namespaces (NAMESPACES), imported on first use.
_API = {
    "lowtf.trainer": ("Trainer",),
    "lowtf.experiment": ("Experiment", "load_experiment", "run_experiment"),
    "lowtf.network": ("Network", "dnn"),
    "lowtf.inference": ("Predictor", "restore"),
    "lowtf.export": ("export_saved_model",),
    "lowtf.datasets": ("load_dataset",),
    "lowtf.step_scalars": ("log_scalar",),
    "lowtf.errors": ("CheckpointError", "ConfigError", "DataError", "LowtfError",
                     "NonFiniteLossError"),
}
NAMESPACES = ("actions", "activations", "data", "initializers", "layers", "losses", "metrics",
              "optimizers", "sweep")
_MODULE_OF = {name: module for module, names in _API.items() for name in names}
# Where names of the old flat API went, for a helpful AttributeError.
_MOVED = {
    **dict.fromkeys(("SGD", "Adam", "Adagrad", "RMSprop", "Optimizer", "get_optimizer"),
                    "optimizers"),
    **dict.fromkeys(("EarlyStopping", "Monitor"), "actions"),
    **dict.fromkeys(("TopKAccuracy", "Mean", "Metric", "BinaryAccuracy", "get_metric"),
                    "metrics"),
    **dict.fromkeys(("LOSSES", "get_loss"), "losses"),
    **dict.fromkeys(("ACTIVATIONS", "get_activation"), "activations"),
    **dict.fromkeys(("NeuronLayer", "neuron_layer"), "layers"),
    **dict.fromkeys(("read_idx", "write_idx", "load_image", "load_images", "array_batches",
                     "eval_batches", "FASHION_MNIST_CLASS_NAMES", "MNIST_CLASS_NAMES",
                     "DataSplits", "Split", "find_dataset", "load_fashion_mnist",
                     "load_mnist", "InputScaleWarning"), "data"),
    **dict.fromkeys(("Sweep", "SweepResult", "LogUniform", "Uniform", "load_sweep",
                     "run_sweep"), "sweep"),
    "read_config": "checkpoints", "plot_runs": "plot",
}

__all__ = sorted(_MODULE_OF) + list(NAMESPACES)


def __getattr__(name):
    """Imports a public name or a namespace (`lt.optimizers`, any `lowtf.<module>`) on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        if name in _MOVED:
            raise AttributeError(f"lowtf.{name} is now lowtf.{_MOVED[name]}.{name} "
                                 f"(lt.{_MOVED[name]}.{name})")
        if name.startswith("_") or _importlib_util.find_spec(f"lowtf.{name}") is None:
            raise AttributeError(f"module 'lowtf' has no attribute {name!r}")
        return _importlib.import_module(f"lowtf.{name}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
