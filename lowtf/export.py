"""Export a trained network as a SavedModel that serves predictions without lowtf.

    lt.export_saved_model("logs/fashion_mnist_dnn", "export/fashion")   # or `lowtf export`

    # anywhere, without lowtf:
    model = tf.saved_model.load("export/fashion")
    out = model.signatures["serving_default"](images=tf.constant(uint8_images))
    out["class_ids"], out["class_names"], out["probabilities"], out["top_k_class_ids"]

Signatures (each takes `images`: for a `lowtf.Network`, `[batch, 28, 28]` or
`[batch, 784]`; for any other model, `[batch, ...]` of the example shape the run
trained on, recorded in the run):

- `serving_default` / `predict_uint8`: uint8 pixels 0-255, as stored in Fashion-MNIST and
  as decoded image files are.
- `predict_float`: float32 pixels in [0, 1] (what `lowtf.load_images` returns).

A model trained on another dtype (token ids, say) gets `serving_default` alone, taking
that dtype.

Outputs: `class_ids` int32 `[batch]`, `class_names` string `[batch]`, `probabilities`
float32 `[batch, n_classes]`, `top_k_class_ids` int32 `[batch, k]`, `top_k_class_names`
string `[batch, k]`, `top_k_probabilities` float32 `[batch, k]`, `logits`.
The same functions are attributes of the loaded object (`model.predict_uint8(images)`).
"""

import json
import os
import shutil

import tensorflow as tf

from lowtf.errors import ConfigError
from lowtf.inference import restore
from lowtf.models import call_model, description, input_width

SIGNATURES = ("serving_default", "predict_uint8", "predict_float")


class ServingModule(tf.Module):
    """The model plus serving functions, as saved: weights, class names, `k`.

    `n_classes` is the model's output count; `example_shape` the shape of one input for
    a model that does not take flat `n_inputs` features (`lowtf.models`).
    """

    def __init__(self, model, class_names, n_classes, k=3, example_shape=None):
        super().__init__(name="lowtf_serving")
        self.model = model
        self.n_inputs, self.n_classes = input_width(model), n_classes
        self.example_shape = None if self.n_inputs else list(example_shape)
        side = int(round(self.n_inputs ** 0.5)) if self.n_inputs else 0
        self.side = side if side * side == self.n_inputs else None
        names = [str(c) for c in class_names] if class_names else \
            [str(i) for i in range(self.n_classes)]
        if len(names) != self.n_classes:
            raise ConfigError(f"{len(names)} class names for a model with {self.n_classes} outputs")
        if not 1 <= k <= self.n_classes:
            raise ConfigError(f"top-k must be in [1, {self.n_classes}], got {k}")
        self.class_name_table = tf.Variable(names, trainable=False, name="class_names")
        self.k = k
        shape = None if self.n_inputs else [None, *self.example_shape]
        spec = lambda dtype: tf.TensorSpec(shape, dtype, name="images")  # noqa: E731
        self.predict_uint8 = tf.function(self._predict_uint8, input_signature=[spec(tf.uint8)])
        self.predict_float = tf.function(self._predict_float, input_signature=[spec(tf.float32)])

    def signature_for(self, dtype):
        """A serving function for inputs of another dtype, passed to the model as they are."""
        spec = tf.TensorSpec([None, *self.example_shape], dtype, name="images")
        self.predict_other = tf.function(self._outputs, input_signature=[spec])
        return self.predict_other.get_concrete_function()

    def _flatten(self, images):
        """`[batch, n_inputs]` from `[batch, side, side]` or `[batch, n_inputs]`, else an
        error; any other model gets its images as its signature shaped them."""
        if not self.n_inputs:
            return images
        rank = tf.rank(images)
        dims = tf.concat([tf.shape(images), [-1, -1, -1]], axis=0)  # padded: rank 0/1 too
        ok = tf.logical_and(tf.equal(rank, 2), tf.equal(dims[1], self.n_inputs))
        if self.side:
            square = tf.logical_and(tf.equal(dims[1], self.side), tf.equal(dims[2], self.side))
            ok = tf.logical_or(ok, tf.logical_and(tf.equal(rank, 3), square))
            expected = f"[batch, {self.side}, {self.side}] or [batch, {self.n_inputs}]"
        else:
            expected = f"[batch, {self.n_inputs}]"
        check = tf.debugging.Assert(ok, [f"images must have shape {expected}; got shape",
                                         tf.shape(images)])
        with tf.control_dependencies([check]):
            return tf.reshape(images, [-1, self.n_inputs])

    def _outputs(self, x):
        logits = call_model(self.model, x, training=False)
        probabilities = tf.nn.softmax(logits)
        ids = tf.argmax(logits, axis=1, output_type=tf.int32)
        top = tf.math.top_k(probabilities, k=self.k)
        names = tf.convert_to_tensor(self.class_name_table)
        return {"class_ids": ids, "class_names": tf.gather(names, ids),
                "probabilities": probabilities, "logits": logits,
                "top_k_class_ids": top.indices, "top_k_class_names": tf.gather(names, top.indices),
                "top_k_probabilities": top.values}

    def _predict_uint8(self, images):
        return self._outputs(tf.cast(self._flatten(images), tf.float32) / 255.0)

    def _predict_float(self, images):
        return self._outputs(self._flatten(images))


def export_saved_model(source, export_dir, top_k=3, overwrite=False):
    """Writes the model of a lowtf run or checkpoint as a SavedModel.

    Args:
        source: a run directory (its best checkpoint, else its latest), a checkpoints
            folder, a checkpoint prefix, or a `lowtf.Predictor`.
        export_dir: the SavedModel folder to create.
        top_k: how many classes the `top_k_*` outputs hold.
        overwrite: replace an existing `export_dir` (otherwise that is an error).

    Returns:
        `export_dir`.

    Raises:
        CheckpointError: no usable checkpoint at `source`.
        ConfigError: `export_dir` exists (and overwrite is False), or a bad `top_k`.
    """
    predictor = source if hasattr(source, "model") and hasattr(source, "class_names") \
        else restore(source)
    export_dir = os.fspath(export_dir)
    if os.path.exists(export_dir):
        if not overwrite:
            raise ConfigError(f"{export_dir!r} already exists; pass another folder or "
                              "overwrite=True (--force) to replace it")
        is_model = os.path.exists(os.path.join(export_dir, "saved_model.pb"))
        if not is_model and os.listdir(export_dir):
            raise ConfigError(f"{export_dir!r} exists and is not a SavedModel; refusing to "
                              "replace it")
        shutil.rmtree(export_dir)
    spec = predictor.input_spec or {}
    if not input_width(predictor.model) and (not spec.get("shape") or None in spec["shape"]):
        raise ConfigError(
            "the run recorded no fixed input shape for its model (it was trained before lowtf "
            "recorded one, or on inputs of varying shape), so the SavedModel's input "
            "signature is unknown; export from a run trained with this lowtf version")
    n_classes = predictor.n_classes()
    k = min(top_k, n_classes)
    module = ServingModule(predictor.model, predictor.class_names, n_classes, k=k,
                           example_shape=spec.get("shape"))
    dtype = spec.get("dtype", "uint8") if not input_width(predictor.model) else "uint8"
    shape = (f"[batch, {module.side}, {module.side}] or [batch, {module.n_inputs}]"
             if module.side else f"[batch, {module.n_inputs}]") if module.n_inputs else \
        str([None, *module.example_shape]).replace("None", "batch")
    if dtype in ("uint8", "float32"):
        signatures = {"serving_default": (module.predict_uint8 if dtype == "uint8"
                                          else module.predict_float).get_concrete_function(),
                      "predict_uint8": module.predict_uint8.get_concrete_function(),
                      "predict_float": module.predict_float.get_concrete_function()}
        described = {"serving_default": f"{dtype} images {shape}" + (
                         ", 0-255" if dtype == "uint8" else ", in [0, 1]"),
                     "predict_uint8": f"uint8 images {shape}, 0-255",
                     "predict_float": f"float32 images {shape}, in [0, 1]"}
    else:
        signatures = {"serving_default": module.signature_for(tf.as_dtype(dtype))}
        described = {"serving_default": f"{dtype} inputs {shape}, as the model takes them"}
    tf.saved_model.save(module, export_dir, signatures=signatures)
    info = {"source_checkpoint": getattr(predictor, "checkpoint", None),
            "architecture": description(predictor.model),
            "class_names": list(predictor.class_names or []),
            "top_k": k, "signatures": described,
            "outputs": ["class_ids", "class_names", "probabilities", "logits",
                        "top_k_class_ids", "top_k_class_names", "top_k_probabilities"]}
    os.makedirs(os.path.join(export_dir, "assets.extra"), exist_ok=True)
    with open(os.path.join(export_dir, "assets.extra", "lowtf_export.json"), "w") as f:
        json.dump(info, f, indent=2)
    return export_dir
