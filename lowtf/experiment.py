"""An experiment: data set, network, optimizer and schedule in one frozen config.

`Experiment()` is the reference run of the course notes: the 784-300-100-10 ReLU DNN
on Fashion-MNIST, gradient descent at 0.01, batches of 50, with early stopping on
validation accuracy. The notes train 30 epochs (on MNIST); on Fashion-MNIST that leaves
the network short of converged (test accuracy 0.873-0.880 over five seeds), so the
reference allows up to 60 epochs with a patience of 10. `run_experiment` trains it,
reports test accuracy and returns where the logs and checkpoints went.
"""

import copy
import dataclasses
import functools
import importlib
import importlib.util
import json
import numbers
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lowtf.datasets import load_dataset
from lowtf.determinism import check_seed, enable_determinism
from lowtf.distribute import check_devices, is_chief, make_strategy
from lowtf.errors import ConfigError, check_count
from lowtf.models import EXPERIMENT_MODULE_PREFIX, builder_record, summary
from lowtf.actions import Action, EarlyStopping, Monitor
from lowtf.network import dnn
from lowtf.optimizers import check_learning_rate, get_optimizer, schedules
from lowtf.run_dir import RunDir
from lowtf.storage import ensure_writable
from lowtf.techniques import Techniques
from lowtf.trainer import Trainer


# Networks larger than this are taken for a typo (1 GiB of float32 weights).
MAX_PARAMETERS = 2**28


def count_params(hidden, n_inputs=784, n_outputs=10):
    """Weights and biases of a dense network with these hidden layer sizes."""
    sizes = [n_inputs, *hidden, n_outputs]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


@dataclass(frozen=True)
class Experiment:
    """Everything that defines a training run; validated when created.

    `patience=None` disables early stopping; `run_dir=None` means `logs/<name>`.
    `deterministic=True` seeds everything and turns on TensorFlow's op determinism
    (`lowtf.determinism`): two runs give the same weights bit for bit, and so does a
    run that was killed and resumed. `save_every_steps` also checkpoints within epochs;
    `skip_nonfinite` skips (and counts) steps with a NaN/Inf loss, gradient or new weight
    instead of stopping.

    `model` brings your own model (`lowtf.models`): a function that builds it, or its
    name as `"module:function"` or `"path/to/file.py:function"`, called with the JSON
    keyword arguments `model_args`; `hidden` and `activation` then do not apply. None
    is the course's DNN. `actions` are the run's own actions (`lowtf.actions`): each run
    gets a fresh copy of an `Action`, so a sweep's trials never share their state.

    The research toolkit: `learning_rate` may be a schedule
    (`lt.optimizers.schedules`); `optimizer_args` are the optimizer's other JSON
    arguments (`{"global_clipnorm": 1.0}`, `{"weight_decay": 1e-4}` for adamw/sgdw);
    `l2`, `accumulate`, `ema` and `precision` are the loop's techniques
    (`lowtf.techniques`); `eval_every_steps` evaluates within epochs and
    `log_every_steps` writes running scalars to TensorBoard.
    """

    name: str = "fashion_mnist_dnn"
    dataset: str = "fashion_mnist"
    hidden: tuple = (300, 100)
    activation: str = "relu"
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    batch_size: int = 50
    epochs: int = 60
    patience: int = 10
    monitor: str = "val_accuracy"
    metrics: tuple = ("accuracy", "top3_accuracy")
    seed: int = 42
    xla: bool = None
    resident: bool = None
    data_dir: str = None
    run_dir: str = None
    strategy: str = "default"
    devices: int = None
    save_every_steps: int = None
    image_summaries: bool = True
    deterministic: bool = False
    skip_nonfinite: bool = False
    model: object = None
    model_args: dict = None
    actions: tuple = ()
    optimizer_args: dict = None
    l2: float = 0.0
    accumulate: int = 1
    ema: float = None
    precision: str = "float32"
    eval_every_steps: int = None
    log_every_steps: int = 100

    def __post_init__(self):
        try:
            hidden = tuple(self.hidden)
        except TypeError:
            hidden = None
        if hidden is None or not all(isinstance(u, numbers.Integral) and not isinstance(u, bool)
                                     for u in hidden):
            raise ConfigError(f"hidden must be a sequence of layer sizes (ints), "
                              f"got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(int(u) for u in hidden))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        check_count("batch_size", self.batch_size)
        check_count("epochs", self.epochs)
        if any(u < 1 for u in self.hidden):
            raise ConfigError(f"hidden layer sizes must be >= 1, got {self.hidden}")
        rate = self.learning_rate
        if isinstance(rate, dict):  # a schedule's config, as results.json records it
            rate = schedules.from_config(rate)
        if not isinstance(rate, schedules.Schedule):
            rate = check_learning_rate(rate, "Experiment")
        object.__setattr__(self, "learning_rate", rate)
        self._check_json("optimizer_args")
        Techniques(l2=self.l2, accumulate=self.accumulate, ema=self.ema,
                   precision=self.precision)
        check_count("eval_every_steps", self.eval_every_steps, optional=True)
        check_count("log_every_steps", self.log_every_steps, optional=True)
        check_seed(self.seed)
        self._check_model()
        actions = tuple(self.actions or ())
        if not all(isinstance(a, Action) or callable(a) for a in actions):
            raise ConfigError(f"actions must be lowtf.actions.Action objects or functions "
                              f"fn(run, logs), got {self.actions!r}")
        object.__setattr__(self, "actions", actions)
        params = count_params(self.hidden)
        if self.model is None and params > MAX_PARAMETERS:
            raise ConfigError(
                f"hidden layers {self.hidden} make {params:,} parameters "
                f"({params * 4 / 2**30:.1f} GiB of float32 weights, more with optimizer "
                f"slots); the limit is {MAX_PARAMETERS:,} — check the sizes for a typo")
        check_count("save_every_steps", self.save_every_steps, optional=True)
        check_devices(self.devices, self.batch_size)
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ConfigError(f"patience must be an int >= 1 or None, got {self.patience!r}")
        if not self.name or "/" in self.name:
            raise ConfigError(f"name must be a non-empty folder name, got {self.name!r}")

    def _check_model(self):
        if self.model is not None and not callable(self.model) and not (
                isinstance(self.model, str) and ":" in self.model):
            raise ConfigError(f"model must be a function building the model, or "
                              f"'module:function' / 'file.py:function', got {self.model!r}")
        dnn_fields = {f.name: f.default for f in dataclasses.fields(self)
                      if f.name in ("hidden", "activation")}
        changed = sorted(k for k, v in dnn_fields.items() if getattr(self, k) != v)
        if self.model is not None and changed:
            raise ConfigError(f"{', '.join(changed)} shape(s) the course's DNN, not a model of "
                              f"your own ({self.model!r}); set them in model_args instead")
        self._check_json("model_args")

    def _check_json(self, field):
        value = getattr(self, field)
        try:
            args = json.loads(json.dumps(value or {}))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{field} must be JSON keyword arguments: {e}") from None
        if not isinstance(args, dict):
            raise ConfigError(f"{field} must be a dict, got {value!r}")

    @property
    def model_builder(self):
        """A zero-argument function building the experiment's own model (None: the DNN)."""
        if self.model is None:
            return None
        if isinstance(self.model, str):
            where, name = self.model.rsplit(":", 1)
            build = load_module(where, prefix=EXPERIMENT_MODULE_PREFIX)
            for part in name.split("."):
                build = getattr(build, part, None)
            if not callable(build):
                raise ConfigError(f"experiment model {self.model!r}: {where} has no function "
                                  f"{name!r}")
        else:
            build = self.model
        return functools.partial(build, **(self.model_args or {}))

    def model_factory(self, n_outputs=10):
        """A zero-argument function building the experiment's model: its own, or the
        course's DNN with `n_outputs` classes."""
        if self.model is not None:
            return self.model_builder
        return functools.partial(dnn, 784, self.hidden, n_outputs, activation=self.activation,
                                 seed=self.seed)

    def build_model(self):
        """The experiment's own model, built (for summaries; the trainer builds its own)."""
        return self.model_builder()

    def as_record(self):
        """The experiment as JSON values (a model function by its name)."""
        record = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)}
        record["learning_rate"] = self.learning_rate.get_config() \
            if hasattr(self.learning_rate, "get_config") else self.learning_rate
        record["actions"] = [getattr(a, "name", None) or getattr(a, "__name__", repr(a))
                             for a in self.actions]
        if callable(self.model):
            found = builder_record(self.model)
            record["model"] = found["function"] if found else \
                f"{getattr(self.model, '__module__', '?')}.{getattr(self.model, '__qualname__', '?')}"
        return record

    def replace(self, **overrides):
        """A copy with some fields changed (None values are ignored)."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = set(overrides) - fields
        if unknown:
            raise ConfigError(f"unknown experiment fields {sorted(unknown)}; valid: {sorted(fields)}")
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def log_dir(self):
        return self.run_dir or os.path.join("logs", self.name)


def build_trainer(experiment, class_names=None, verbose=1, strategy=None):
    """The network and trainer an experiment describes (no data loaded)."""
    model = experiment.model_factory(len(class_names) if class_names else 10)

    strategy = strategy or make_strategy(experiment.strategy, experiment.devices)
    with strategy.scope():
        optimizer = get_optimizer(experiment.optimizer, learning_rate=experiment.learning_rate,
                                  **(experiment.optimizer_args or {}))
    return Trainer(model, optimizer=optimizer, metrics=experiment.metrics, strategy=strategy,
                   run_dir=experiment.log_dir, seed=experiment.seed, xla=experiment.xla,
                   verbose=verbose, image_summaries=experiment.image_summaries,
                   l2=experiment.l2, accumulate=experiment.accumulate, ema=experiment.ema,
                   precision=experiment.precision, log_every_steps=experiment.log_every_steps,
                   metadata={"dataset": experiment.dataset,
                             "class_names": list(class_names or [])})


def run_experiment(experiment, verbose=1, hparams=None, trial_id=None, show_test=True):
    """Trains `experiment`, evaluates it on the test set, and returns a results dict.

    The results (test metrics, epochs, time, examples/second, checkpoint) are also
    written to `<run_dir>/results.json`, and with `show_test` the test metrics and
    figures (samples, confident mistakes, confusion matrix) to TensorBoard under
    `<run_dir>/test`. `hparams` and `trial_id` go to the HParams dashboard. A sweep
    passes its trial's, and `show_test=False`: TensorBoard's HParams table would show
    every trial's test figures next to their validation ones, an invitation to choose
    on the test set.
    """
    # The strategy first: logical CPU devices can only be set up before TensorFlow starts.
    strategy = make_strategy(experiment.strategy, experiment.devices)
    if experiment.deterministic:
        enable_determinism(experiment.seed)
    if is_chief(strategy):  # fail on an unwritable run directory before loading any data
        ensure_writable(experiment.log_dir, "logs")
    data = load_dataset(experiment.dataset, data_dir=experiment.data_dir, raw=True)
    trainer = build_trainer(experiment, data.class_names, verbose, strategy)
    verbose = verbose if trainer.chief else 0
    if verbose:
        print(f"{experiment.name}: {data.name} from {data.source} "
              f"({len(data.train):,} train / {len(data.validation):,} validation / "
              f"{len(data.test):,} test)\n{summary(trainer.model)}\n"
              f"optimizer {experiment.optimizer} lr {experiment.learning_rate}, "
              f"batch {experiment.batch_size}, up to {experiment.epochs} epochs, "
              f"{trainer.replicas} replica(s), logs in {experiment.log_dir}", flush=True)
    early = EarlyStopping(monitor=experiment.monitor, patience=experiment.patience) \
        if experiment.patience else Monitor(experiment.monitor)
    # A resumed run's training time includes the calls that finished before this one.
    earlier = (RunDir(experiment.log_dir).read_results() or {}).get("train_seconds") or 0.0
    start = time.perf_counter()
    history = trainer.fit(data.train, data.validation, epochs=experiment.epochs,
                          batch_size=experiment.batch_size, early_stopping=early,
                          resident=experiment.resident,
                          save_every_steps=experiment.save_every_steps,
                          skip_nonfinite=experiment.skip_nonfinite,
                          eval_every_steps=experiment.eval_every_steps,
                          actions=[copy.deepcopy(a) if isinstance(a, Action) else a
                                   for a in experiment.actions],
                          hparams=hparams, trial_id=trial_id)
    elapsed = earlier + time.perf_counter() - start
    trainer.restore_best()  # the model the run reports is its best checkpoint's
    # the test split itself: its scalars and figures also go to <run>/test
    test = trainer.evaluate(data.test if show_test else (data.test.images, data.test.labels))
    checkpoint = trainer.final_checkpoint
    rates = history.get("examples_per_second", [])
    results = {"experiment": experiment.as_record(), "test": test,
               "epochs": len(history.get("loss", [])), "step": trainer.step,
               "train_seconds": elapsed,
               "examples_per_second_median": sorted(rates)[len(rates) // 2] if rates else None,
               "checkpoint": checkpoint}
    if trainer.chief:
        RunDir(experiment.log_dir).write_results(results, checkpoint)
    if verbose:
        predicted = trainer.predict(data.test.images[:20]).argmax(axis=1)
        print(f"First 20 test images, predicted: {predicted.tolist()}\n"
              f"                        actual:    {data.test.labels[:20].tolist()}")
        print(f"Test accuracy: {test['accuracy']:.4f}  loss {test['loss']:.4f}  "
              f"(model from {checkpoint})", flush=True)
    return results


def load_module(spec, prefix=EXPERIMENT_MODULE_PREFIX):
    """The module a name in `experiments/`, a `.py` path or an importable module name stands for.

    A missing or non-`.py` file, an unknown module and a syntax error are a `ConfigError`
    in one line (file, line and the error); any other exception the module raises while
    it runs is the user's own and passes through with its traceback.
    """
    if spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec):
        path = Path(spec)
    else:
        path = None
        for folder in (Path.cwd() / "experiments", Path(__file__).resolve().parents[1] / "experiments"):
            if (folder / f"{spec}.py").is_file():
                path = folder / f"{spec}.py"
                break
    try:
        if path is None:
            try:
                return importlib.import_module(spec)
            except ModuleNotFoundError as e:
                if not e.name or not (spec == e.name or spec.startswith(e.name + ".")):
                    raise  # a module the experiment imports is missing: the user's error
                raise ConfigError(f"no experiment {spec!r}: not a file in experiments/, a .py "
                                  f"path or an importable module ({e})") from None
        if not path.is_file():
            raise ConfigError(f"experiment file {str(path)!r} "
                              f"{'is a folder' if path.is_dir() else 'does not exist'}; "
                              "give a .py file, a name in experiments/ or a module")
        if path.suffix != ".py":
            raise ConfigError(f"experiment file {str(path)!r} is not a .py file; experiments "
                              "are Python files: give (or rename it to) a path ending in .py")
        return _exec_file(f"{prefix}_{path.stem}", path)
    except SyntaxError as e:  # the file's line says it all; a traceback adds nothing
        where = f"{e.filename}, line {e.lineno}" if e.filename else spec
        text = f": {e.text.strip()!r}" if e.text and e.text.strip() else ""
        raise ConfigError(f"syntax error in {where}: {e.msg}{text}; fix the file") from None


def _exec_file(name, path):
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _FILE_MODULES[name] = str(Path(path).resolve())
    return module


_FILE_MODULES = {}  # module name -> the .py file load_module ran under that name


def file_modules():
    """`{module name: path}` of the experiment files this process loaded: a worker process
    loads them again (`reload_file_modules`) so that their functions and classes (a
    model builder, an action) unpickle there."""
    return dict(_FILE_MODULES)


def reload_file_modules(modules):
    """Runs each `{name: path}` of `file_modules()` under the same module name."""
    for name, path in modules.items():
        if name not in sys.modules:
            _exec_file(name, path)


def load_experiment(spec=None):
    """An `Experiment` from None (the reference), a name in `experiments/`, a .py path or a module.

    The module must define a module-level `experiment = lowtf.Experiment(...)`.
    """
    if spec is None or spec == "":
        return Experiment()
    experiment = getattr(load_module(spec), "experiment", None)
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"experiment module {spec!r} must define `experiment = lowtf.Experiment(...)`")
    return experiment
