"""A trained network restored from its checkpoint for inference: the model alone, no optimizer."""

import warnings

import numpy as np
import tensorflow as tf

from lowtf import checkpoints as ckpt
from lowtf.errors import CheckpointError, ConfigError
from lowtf.evaluation import Evaluator, SliceLoops
from lowtf.inputs import check_features, check_labels, to_model_input
from lowtf.losses import class_label_mode, get_loss, takes_class_ids
from lowtf.metrics import get_metric
from lowtf.models import call_model
from lowtf.network import Network


class Predictor:
    """Class ids, probabilities and top-k predictions of a restored network.

    Args:
        model: a `lowtf.Network` producing logits.
        class_names: names of the output classes, if known.
        loss: the loss the model was trained with (for `evaluate`); None: no loss.
        metrics: metric names or `Metric`s for `evaluate`.
        batch_size: examples per traced call.
    """

    def __init__(self, model, class_names=None, loss="sparse_softmax_cross_entropy",
                 metrics=("accuracy",), batch_size=1000, checkpoint=None):
        self.model, self.checkpoint = model, checkpoint
        self.class_names = tuple(class_names) if class_names else None
        self.loss_name, loss_fn = get_loss(loss) if loss is not None else (None, None)
        self._class_labels = class_label_mode(loss)
        self.batch_size = batch_size
        self.evaluator = Evaluator(model, loss_fn, metrics, batch_size)
        self._logits_loop = SliceLoops(self._batched_logits)

    def _batched_logits(self, x):
        n, size = tf.shape(x)[0], self.batch_size
        outputs = tf.TensorArray(tf.float32, size=(n + size - 1) // size, infer_shape=False,
                                 element_shape=[None, self.model.n_outputs])
        for i in tf.range(outputs.size()):
            batch = to_model_input(x[i * size:(i + 1) * size], self.model.n_inputs)
            outputs = outputs.write(i, call_model(self.model, batch, training=False))
        return tf.reshape(outputs.concat(), [n, self.model.n_outputs])

    def logits(self, x):
        """Raw outputs for `x` (uint8 images or float32 in [0, 1]; any shape of n_inputs)."""
        x = check_features(np.asarray(x), self.model.n_inputs, "prediction inputs")
        return self._logits_loop(x).numpy()

    def probabilities(self, x):
        return tf.nn.softmax(self.logits(x)).numpy()

    def predict(self, x):
        """The most likely class id of each example (`argmax` of the logits)."""
        return np.argmax(self.logits(x), axis=1).astype(np.int32)

    def top_k(self, x, k=3):
        """`(class_ids, probabilities)`, each `[n, k]`, most likely first."""
        if k < 1 or k > self.model.n_outputs:
            raise ConfigError(f"k must be in [1, {self.model.n_outputs}], got {k}")
        top = tf.math.top_k(self.probabilities(x), k=k)
        return top.indices.numpy(), top.values.numpy()

    def evaluate(self, x, y):
        """Loss and metrics on labelled data, e.g. `{"loss": 0.33, "accuracy": 0.88}`."""
        x = check_features(np.asarray(x), self.model.n_inputs, "evaluation features")
        n_classes = self.model.n_outputs if takes_class_ids(self._class_labels, y) else None
        y = check_labels(y, len(x), n_classes, "evaluation labels")
        return self.evaluator((x, y), n_classes)


def restore(path, batch_size=1000, loss=None, metrics=None):
    """Rebuilds the network saved by a lowtf run and loads its weights.

    Only the model is read (`expect_partial`): the optimizer, metrics and loop state
    in the checkpoint are skipped silently. The architecture comes from the run
    configuration stored in the checkpoint (JSON, never executed).

    Args:
        path: a run directory (its best checkpoint, else its latest), a checkpoints
            folder, or a checkpoint prefix.
        loss, metrics: what `evaluate` computes; by default the run's own. A loss or
            metric of the user's own, which lowtf cannot rebuild by name, is reported
            (a warning) and left out; pass it here to have it.

    Raises:
        CheckpointError: no checkpoint there, or it is unreadable or from another model.
    """
    prefix = ckpt.resolve(path)
    config = ckpt.read_config(prefix)
    if "model" not in config:
        raise CheckpointError(f"checkpoint {prefix} holds no model architecture")
    model = Network.from_config(config["model"])
    ckpt.check_model_matches(prefix, model)
    try:
        tf.train.Checkpoint(model=model).restore(prefix).expect_partial() \
            .assert_existing_objects_matched()
    except (*ckpt.READ_ERRORS, AssertionError) as e:
        raise CheckpointError(f"checkpoint {prefix} could not be restored: "
                              f"{str(e).splitlines()[0]}") from None
    meta = config.get("metadata", {})
    if loss is None:
        loss = _rebuildable(prefix, "loss", [config.get("loss", "sparse_softmax_cross_entropy")],
                            get_loss)
        loss = loss[0] if loss else None
    if metrics is None:
        metrics = _rebuildable(prefix, "metric", config.get("metrics", ("accuracy",)),
                               get_metric)
    return Predictor(model, class_names=meta.get("class_names"), loss=loss, metrics=metrics,
                     batch_size=batch_size, checkpoint=prefix)


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
