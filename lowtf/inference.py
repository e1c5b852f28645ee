"""A trained model restored from its checkpoint for inference: the model alone, no optimizer."""

import warnings

import numpy as np
import tensorflow as tf

from lowtf import checkpoints as ckpt
from lowtf.ema import load_into as load_averages
from lowtf.errors import CheckpointError, ConfigError
from lowtf.evaluation import Evaluator, SliceLoops
from lowtf.inputs import check_features, check_labels, to_model_input
from lowtf.losses import class_label_mode, get_loss, takes_class_ids
from lowtf.metrics import get_metric
from lowtf.models import (call_model, check_model, input_width, is_builder, output_width,
                          rebuild)
from lowtf.network import Network


class Predictor:
    """Class ids, probabilities and top-k predictions of a model producing logits.

    Args:
        model: a `lowtf.Network` or any model (`lowtf.models`) producing logits.
        class_names: names of the output classes, if known.
        loss: the loss the model was trained with (for `evaluate`); None: no loss.
        metrics: metric names or `Metric`s for `evaluate`.
        batch_size: examples per traced call.
        checkpoint: the checkpoint the weights came from, if any.
        input_spec: what the run trained on, `{"shape": [...], "dtype": ...}` (one
            example, `models.input_spec`): export's input signature.
    """

    def __init__(self, model, class_names=None, loss="sparse_softmax_cross_entropy",
                 metrics=("accuracy",), batch_size=1000, checkpoint=None, input_spec=None):
        self.model, self.checkpoint, self.input_spec = model, checkpoint, input_spec
        self.class_names = tuple(class_names) if class_names else None
        self.loss_name, loss_fn = get_loss(loss) if loss is not None else (None, None)
        self._class_labels = class_label_mode(loss)
        self.batch_size = batch_size
        self.evaluator = Evaluator(model, loss_fn, metrics, batch_size)
        self._logits_loop = SliceLoops(self._batched_logits)

    def _batched_logits(self, x):
        n, size = tf.shape(x)[0], self.batch_size
        outputs = tf.TensorArray(tf.float32, size=(n + size - 1) // size, infer_shape=False)
        for i in tf.range(outputs.size()):
            batch = to_model_input(x[i * size:(i + 1) * size])
            outputs = outputs.write(i, tf.cast(call_model(self.model, batch, training=False),
                                               tf.float32))
        return outputs.concat()

    def logits(self, x):
        """Raw outputs for `x` (uint8 images or float32 in [0, 1], as the model takes them)."""
        x = check_features(np.asarray(x), input_width(self.model), "prediction inputs")
        return self._logits_loop(self._recorded_shape(x)).numpy()

    def _recorded_shape(self, x):
        """`x` reshaped to the example shape the run trained on, when only the layout
        differs (images `[n, 28, 28]` for a model trained on `[n, 28, 28, 1]`)."""
        shape = (self.input_spec or {}).get("shape")
        if not shape or None in shape or list(x.shape[1:]) == shape \
                or int(np.prod(x.shape[1:])) != int(np.prod(shape)):
            return x
        return x.reshape(len(x), *shape)

    def n_classes(self, x=None):
        """The model's output count (`n_outputs`, else read from its outputs on `x[:1]` or
        on zeros of the recorded input shape); None when neither is known."""
        if x is None and self.input_spec and None not in self.input_spec["shape"]:
            x = np.zeros([1, *self.input_spec["shape"]], self.input_spec["dtype"])
        sample = None if x is None else to_model_input(
            tf.convert_to_tensor(self._recorded_shape(np.asarray(x)[:1])))
        return output_width(self.model, sample)

    def probabilities(self, x):
        return tf.nn.softmax(self.logits(x)).numpy()

    def predict(self, x):
        """The most likely class id of each example (`argmax` of the logits)."""
        return np.argmax(self.logits(x), axis=1).astype(np.int32)

    def top_k(self, x, k=3):
        """`(class_ids, probabilities)`, each `[n, k]`, most likely first."""
        probabilities = self.probabilities(x)
        if k < 1 or k > probabilities.shape[-1]:
            raise ConfigError(f"k must be in [1, {probabilities.shape[-1]}], got {k}")
        top = tf.math.top_k(probabilities, k=k)
        return top.indices.numpy(), top.values.numpy()

    def evaluate(self, x, y):
        """Loss and metrics on labelled data, e.g. `{"loss": 0.33, "accuracy": 0.88}`."""
        x = check_features(np.asarray(x), input_width(self.model), "evaluation features")
        n_classes = self.n_classes(x) if takes_class_ids(self._class_labels, y) else None
        y = check_labels(y, len(x), n_classes, "evaluation labels")
        return self.evaluator((x, y), n_classes)


def restore(path, model=None, batch_size=1000, loss=None, metrics=None, averaged=None):
    """Loads the model of a lowtf run from its checkpoint, for prediction and evaluation.

    Only the model is read (`expect_partial`): the optimizer, metrics and loop state
    in the checkpoint are skipped silently. Before anything is loaded, the checkpoint's
    variables are compared with the model's (names and shapes).

    Args:
        path: a run directory (its best checkpoint, else its latest), a checkpoints
            folder, or a checkpoint prefix.
        model: the model to load the weights into: a model (`lowtf.models`), or a
            zero-argument function building one. None rebuilds it from the run: a
            `lowtf.Network` from its JSON config, another model from the builder the run
            recorded (an importable function or one in an experiment file).
        loss, metrics: what `evaluate` computes; by default the run's own. A loss or
            metric of the user's own, which lowtf cannot rebuild by name, is reported
            (a warning) and left out; pass it here to have it.
        averaged: load the moving averages of the weights (a run with `ema`) instead of
            the weights themselves; None: the averages when the run kept them (they are
            what its evaluation and best checkpoint used).

    Raises:
        CheckpointError: no checkpoint there, or it is unreadable or from another model,
            or no model was given and the run recorded no way to rebuild it.
    """
    prefix = ckpt.resolve(path)
    config = ckpt.read_config(prefix)
    model = _model_for(prefix, config, model)
    ckpt.check_model_matches(prefix, model)
    try:
        tf.train.Checkpoint(model=model).restore(prefix).expect_partial() \
            .assert_existing_objects_matched()
    except (*ckpt.READ_ERRORS, AssertionError) as e:
        raise CheckpointError(f"checkpoint {prefix} could not be restored: "
                              f"{str(e).splitlines()[0]}") from None
    if averaged is None:
        averaged = bool((config.get("techniques") or {}).get("ema"))
    if averaged:
        load_averages(prefix, model)
    meta = config.get("metadata", {})
    if loss is None:
        loss = _rebuildable(prefix, "loss", [config.get("loss", "sparse_softmax_cross_entropy")],
                            get_loss)
        loss = loss[0] if loss else None
    if metrics is None:
        metrics = _rebuildable(prefix, "metric", config.get("metrics", ("accuracy",)),
                               get_metric)
    return Predictor(model, class_names=meta.get("class_names"), loss=loss, metrics=metrics,
                     batch_size=batch_size, checkpoint=prefix, input_spec=config.get("inputs"))


def _model_for(prefix, config, model):
    """The model given (built if it is a builder), else the one the run says how to build."""
    if model is not None:
        if is_builder(model):
            model = model()
        return check_model(model)
    architecture = config.get("model") or {}
    if "layers" in architecture and "n_inputs" in architecture:
        return Network.from_config(architecture)
    if config.get("builder"):
        return check_model(rebuild(config["builder"]))
    raise CheckpointError(
        f"the run of {prefix} trained a model of class "
        f"{architecture.get('class', 'unknown')} and recorded no way to rebuild it (its "
        "builder was not an importable function or one in an experiment file); pass "
        "lt.restore(path, model=...) with that model, or a function that builds it")


def _rebuildable(prefix, kind, names, build):
    """The `names` lowtf can rebuild; each other one (the user's own) is reported and skipped."""
    kept = []
    for name in names:
        try:
            build(name)
        except ConfigError:
            warnings.warn(f"the run of {prefix} used its own {kind} {name!r}, which lowtf "
                          f"cannot rebuild by name; evaluate leaves it out (pass it to "
                          f"lt.restore(..., {kind if kind == 'loss' else 'metrics'}=...) "
                          "to have it)", stacklevel=3)
        else:
            kept.append(name)
    return kept
