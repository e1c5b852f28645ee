"""Finding, reading and checking checkpoints; `checkpoint_keeper` writes them.

Layout under a run directory: `checkpoints/ckpt-<step>` (the last few, numbered by
global step) and `checkpoints/best/ckpt-<step>` (the best by the monitored metric);
`lowtf.run_dir` names those folders. Before anything is restored, the checkpoint is
compared with the model variable by variable, so a different architecture is reported
by name and shape instead of half-loading. A checkpoint that fails to read is reported
and an older one is used.

Crash safety rests on one rule: the `checkpoint` state file names only complete
checkpoints, and it changes by an atomic rename after a checkpoint's files are written.
A save cut short by a kill or a full disk therefore leaves the previous state; its
partial files are ignored here, and removed by the next writer. Nothing read from a
checkpoint folder is ever executed: tensors come from TensorFlow's checkpoint format
(CRC-checked), the run configuration is JSON, the state file is a text protobuf.
"""

import json
import os
import re
import tempfile
import warnings

import tensorflow as tf

from lowtf.errors import CheckpointError
from lowtf.run_dir import RunDir

_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"
CONFIG_KEY = "state/config" + _VALUE
# What reading a damaged checkpoint raises: OpError (bad index, failed CRC), ValueError,
# and IndexError ("Read less bytes than requested") for a truncated .data file.
READ_ERRORS = (tf.errors.OpError, ValueError, IndexError)


class CheckpointMismatchError(CheckpointError):
    """A readable checkpoint that belongs to another model or run configuration.

    Unlike a corrupt checkpoint, it is not skipped for an older one: resuming from an
    older checkpoint of the wrong model would be just as wrong.
    """


def checkpoint_dir(run_dir):
    return RunDir(run_dir).checkpoints


def resolve(path):
    """A checkpoint prefix from a run dir, a checkpoints dir or a prefix.

    A run directory resolves to its best checkpoint when there is one (that is the
    model a run reports), else to its latest. A damaged one (CRCs checked) is reported
    and the next is used: the latest, then the older ones. A prefix is returned as is.

    Raises:
        CheckpointError: when no checkpoint is found there, or none reads back whole.
    """
    path = os.fspath(path)
    if tf.io.gfile.exists(path + ".index"):
        return path
    run = RunDir(path)
    folders = (run.best_checkpoints, run.checkpoints, path)
    prefix = first_readable(p for folder in folders if tf.io.gfile.isdir(folder)
                            for p in _committed(folder))
    if prefix:
        return prefix
    raise CheckpointError(
        f"no checkpoint found at {path!r}; pass a run directory (e.g. logs/fashion_mnist_dnn), "
        "its checkpoints/ folder or a checkpoint prefix such as .../ckpt-1100")


def read_shapes(prefix):
    try:
        return tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    except READ_ERRORS as e:
        raise CheckpointError(f"checkpoint {prefix} cannot be read ({e.__class__.__name__}: "
                              f"{str(e).splitlines()[0]}); it is corrupt or incomplete — use "
                              "an older checkpoint or retrain") from None


def read_config(prefix):
    """The run configuration stored in a lowtf checkpoint (parsed as JSON, never executed)."""
    if CONFIG_KEY not in read_shapes(prefix):
        raise CheckpointError(f"checkpoint {prefix} holds no lowtf run configuration; "
                              "it was not written by lowtf's Trainer")
    try:
        raw = tf.train.load_checkpoint(prefix).get_tensor(CONFIG_KEY)
    except READ_ERRORS as e:
        raise CheckpointError(f"checkpoint {prefix} cannot be read ({e.__class__.__name__}: "
                              f"{str(e).splitlines()[0]}); it is corrupt or incomplete — use "
                              "an older checkpoint or retrain") from None
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError as e:
        raise CheckpointError(f"checkpoint {prefix} has a corrupt configuration: {e}") from None


def check_model_matches(prefix, model, key="model"):
    """Raises CheckpointError naming the first variable whose presence or shape differs.

    A `lowtf.Network` is compared layer by layer; any other model by the checkpoint keys
    TensorFlow gives its variables (found by writing the model alone to a temporary
    checkpoint: TensorFlow's own naming, no guesswork).
    """
    if not _is_network(model):
        return _check_any_model(prefix, model, key)
    shapes = read_shapes(prefix)
    stored_layers = sorted({k.split("/")[1] for k in shapes
                            if k.startswith(key + "/") and k.endswith(_VALUE)})
    for layer in model.layers:
        for attr in ("kernel", "bias"):
            var = getattr(layer, attr)
            name = f"{model.name}/{layer.name}/{attr}"
            stored = shapes.get(f"{key}/{layer.name}/{attr}{_VALUE}")
            if stored is None:
                raise CheckpointMismatchError(
                    f"checkpoint {prefix} was saved from a different model: it has no "
                    f"variable {name} (its layers: {stored_layers}); restore it into the "
                    "architecture it was trained with, or train into a new run directory")
            if list(stored) != var.shape.as_list():
                raise CheckpointMismatchError(
                    f"checkpoint {prefix} was saved from a different model: variable {name} "
                    f"has shape {list(stored)} there but {var.shape.as_list()} in this model; "
                    "build the model with the checkpoint's layer sizes, or train into a new "
                    "run directory")
    extra = sorted(set(stored_layers) - {l.name for l in model.layers})
    if extra:
        raise CheckpointMismatchError(f"checkpoint {prefix} has layers this model lacks: {extra}; "
                              "it was saved from a different architecture")


_CKPT_NAME = re.compile(r"^ckpt-(\d+)\.index$")
_STATE = "checkpoint"


def _is_network(model):
    layers = getattr(model, "layers", None)
    return isinstance(layers, (list, tuple)) and bool(layers) and all(
        hasattr(l, "kernel") and hasattr(l, "bias") and hasattr(l, "name") for l in layers)


def variable_shapes(model, key="model"):
    """`{checkpoint key: shape}` of the model's variables, as `tf.train.Checkpoint` names them."""
    with tempfile.TemporaryDirectory(prefix="lowtf-keys-") as folder:
        path = tf.train.Checkpoint(**{key: model}).write(os.path.join(folder, "model"))
        return {name: shape for name, shape in tf.train.list_variables(path)
                if name.startswith(key + "/")}


def _check_any_model(prefix, model, key):
    stored = {k: v for k, v in read_shapes(prefix).items() if k.startswith(key + "/")}
    ours = variable_shapes(model, key)
    short = lambda name: name[len(key) + 1:].replace(_VALUE, "")  # noqa: E731
    for name, shape in sorted(ours.items()):
        if name not in stored:
            raise CheckpointMismatchError(
                f"checkpoint {prefix} was saved from a different model: it has no variable "
                f"{short(name)} (it holds {sorted(short(k) for k in stored)[:12]}); restore it "
                "into the model it was trained with, or train into a new run directory")
        if list(stored[name]) != list(shape):
            raise CheckpointMismatchError(
                f"checkpoint {prefix} was saved from a different model: variable "
                f"{short(name)} has shape {list(stored[name])} there but {list(shape)} in "
                "this model; build the model as it was trained, or train into a new run "
                "directory")
    extra = sorted(short(k) for k in set(stored) - set(ours) if k.endswith(_VALUE))
    if extra:
        raise CheckpointMismatchError(f"checkpoint {prefix} has variables this model lacks: "
                                      f"{extra[:12]}; it was saved from a different model")


def _is_complete(prefix):
    """Whether both files of a single-shard checkpoint exist (regular files, not FIFOs)."""
    return os.path.isfile(prefix + ".index") and os.path.isfile(
        prefix + ".data-00000-of-00001")


def scan_checkpoints(directory):
    """`ckpt-<n>` prefixes in `directory` whose files exist, oldest first (nothing is opened)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        match = _CKPT_NAME.match(name)
        prefix = os.path.join(directory, name[:-len(".index")])
        if match and _is_complete(prefix):
            found.append((int(match.group(1)), prefix))
    return [prefix for _, prefix in sorted(found)]


def state_problem(directory):
    """Why the `checkpoint` state file of `directory` cannot be trusted, or None if it can.

    The state file is what commits a checkpoint: TensorFlow rewrites it (atomically)
    only after a checkpoint's files are complete. It is distrusted when it is missing
    or cannot be parsed while checkpoint files are there, names checkpoints outside
    its folder, or names none that exists while checkpoint files are there.
    """
    path = os.path.join(directory, _STATE)
    if not os.path.lexists(path):
        return "is missing" if scan_checkpoints(directory) else None
    if not os.path.isfile(path) or os.path.islink(path):
        return "is not a regular file"
    try:
        state = tf.train.get_checkpoint_state(directory)
    except (ValueError, tf.errors.OpError) as e:  # UnicodeDecodeError is a ValueError
        return f"cannot be parsed ({e.__class__.__name__})"
    if state is None or not state.model_checkpoint_path:
        return "cannot be parsed"
    listed = [state.model_checkpoint_path, *state.all_model_checkpoint_paths]
    home = os.path.realpath(directory)
    outside = [p for p in listed if os.path.dirname(os.path.realpath(p)) != home]
    if outside:
        return f"names checkpoints outside {directory}: {outside[:3]}"
    if not any(_is_complete(p) for p in listed) and scan_checkpoints(directory):
        return "names no checkpoint that exists"
    return None


def read_problem(prefix):
    """Why checkpoint `prefix` does not read back whole (CRCs checked), or None if it does."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except READ_ERRORS as e:
        return f"{e.__class__.__name__}: {_first_line(e)[:200]}"
    return None


def readable(prefix):
    """Whether every tensor of checkpoint `prefix` reads back with its CRC intact."""
    return read_problem(prefix) is None


def first_readable(candidates):
    """The first of `candidates` (prefixes, preferred first) that reads back whole.

    Each damaged one passed over is named in a warning, with the one used instead.
    Nothing is deleted. Returns None when there are no candidates.

    Raises:
        CheckpointError: when there are candidates but none reads back whole.
    """
    damaged = []
    for prefix in candidates:
        problem = read_problem(prefix)
        if problem is None:
            if damaged:
                warnings.warn(f"{'; '.join(damaged)} {'is' if len(damaged) == 1 else 'are'} "
                              f"damaged; using {prefix} instead", stacklevel=3)
            return prefix
        damaged.append(f"checkpoint {prefix} ({problem})")
    if damaged:
        raise CheckpointError(f"no readable checkpoint among {'; '.join(damaged)}: they are "
                              "corrupt or incomplete (nothing was deleted); restore them from a "
                              "backup, or retrain")
    return None


def _committed(directory):
    """The checkpoints of `directory`, newest first: those its state file commits.

    With a state file that cannot be trusted, the complete checkpoint files found are
    used instead, with a warning; nothing is repaired here (this is read-only).
    """
    problem = state_problem(directory)
    if problem is None:
        state = tf.train.get_checkpoint_state(directory)
        if state is None:
            return []
        listed = [state.model_checkpoint_path, *reversed(state.all_model_checkpoint_paths)]
        return [p for p in dict.fromkeys(listed) if _is_complete(p)]
    found = scan_checkpoints(directory)
    warnings.warn(f"the checkpoint state file in {directory} {problem}; using the newest "
                  f"checkpoint file found: {found[-1] if found else None}", stacklevel=4)
    return found[::-1]


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else error.__class__.__name__
