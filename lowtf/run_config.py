"""One decision: may this run resume with these settings?

A run records its configuration (model, loss, optimizer, metrics, batch size, seed,
shuffling, early stopping, metadata, techniques, the settings of actions that change
training) in every checkpoint; a run that resumes must use
the same, except for the keys that only record facts or extend the run. The trainer
asks before it restores a checkpoint, the sweep before it continues a finished trial.
"""

from lowtf.checkpoints import CheckpointMismatchError
from lowtf.techniques import DEFAULTS as TECHNIQUE_DEFAULTS

# Keys that may change when a run resumes: the epoch budget, and facts recorded for
# restoring (the input shape, where the model's builder lives, the metadata: class names
# and dataset, which a run fed `load_dataset` splits records), not training settings.
RESUMABLE_KEYS = frozenset({"epochs", "inputs", "builder", "metadata"})


def differences(stored, now, ignore=RESUMABLE_KEYS, defaults=None):
    """`{key: (stored value, value now)}` for every setting that differs.

    A key `stored` lacks (a setting added since it was written) counts only when its
    value now differs from `defaults[key]` (when given).
    """
    defaults = defaults or {}
    return {k: (stored.get(k), now.get(k)) for k in sorted(set(stored) | set(now))
            if k not in ignore and stored.get(k, defaults.get(k)) != now.get(k)}


def check_resumable(prefix, stored, now):
    """Raises CheckpointMismatchError, before anything is restored, when the checkpoint at
    `prefix` (configuration `stored`) is of another configuration than `now`."""
    diff = differences(stored, now, defaults={"techniques": TECHNIQUE_DEFAULTS, "actions": {}})
    if diff:
        lines = "; ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise CheckpointMismatchError(
            f"cannot resume {prefix} with a different configuration ({lines}); "
            "use the checkpoint's settings or a new run directory")


def configuration(model, loss, inputs, builder, optimizer, metrics, batch_size, seed, shuffle,
                  metadata, early_stopping=None, techniques=None):
    """A run's configuration, as checkpoints record it: the model's description, the loss
    name, the recorded inputs and builder, the optimizer's settings as built, the metric
    names, batch size, seed, shuffling, metadata, early stopping's settings (None when
    the run does not stop early; a `Monitor` alone changes only the best checkpoint) and
    the techniques (`lowtf.techniques`: L2, accumulation, EMA, precision)."""
    stopping = early_stopping.settings() if hasattr(early_stopping, "settings") else None
    return {"model": model, "loss": loss, "inputs": inputs, "builder": builder,
            "optimizer": optimizer, "metrics": metrics, "batch_size": batch_size,
            "seed": seed, "shuffle": shuffle, "metadata": metadata,
            "early_stopping": stopping,
            "techniques": dict(techniques or TECHNIQUE_DEFAULTS)}


def hparams_of(config, learning_rate, epochs):
    """The run's values for TensorBoard's HParams dashboard, from its configuration: every
    setting a result depends on, as a number or a short text (one column each)."""
    hparams = {"optimizer": config["optimizer"].get("name", "?"),
               "learning_rate": float(learning_rate), "batch_size": config["batch_size"],
               "epochs": epochs, "seed": config["seed"]}
    schedule = config["optimizer"].get("learning_rate")
    if isinstance(schedule, dict):  # a schedule: its rate now says little (0 in a warmup)
        del hparams["learning_rate"]
        hparams["schedule"] = schedule.get("class", "?")
    layers = (config["model"] or {}).get("layers")
    if layers:  # a lowtf Network: its shape in two columns
        hparams.update(layers="-".join(str(l[1]) for l in layers[:-1]) or "none",
                       activation=layers[0][2])
    else:
        hparams["model"] = config["model"].get("class", "?").rsplit(".", 1)[-1]
    dataset = (config.get("metadata") or {}).get("dataset")
    if dataset:
        hparams["dataset"] = str(dataset)
    for key, value in {**TECHNIQUE_DEFAULTS, **(config.get("techniques") or {})}.items():
        if key == "ema":  # a number column, as sweeps write it: no average is 0
            value = value or 0.0
        hparams[key] = value if isinstance(value, (bool, int, float, str)) else str(value)
    stopping = config.get("early_stopping")
    hparams["patience"] = stopping["patience"] if stopping else "none"
    return hparams
