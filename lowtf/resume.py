"""Resuming a run: its latest readable checkpoint, checked first, and its history.

Only checkpoints of the same model (variable by variable) and the same configuration
(`lowtf.run_config`) are restored; a damaged one is reported and an older one used. The
history (`history.json`) is cut to the restored epochs, or rebuilt from the TensorBoard
logs when it is missing or damaged.
"""

import warnings

from lowtf import checkpoints as ckpt
from lowtf import history as run_history
from lowtf.errors import CheckpointError, ConfigError
from lowtf.run_config import check_resumable


def restore_latest(keeper, model, config, resume, run_dir, action_names=()):
    """Restores the latest checkpoint `keeper` knows; returns its prefix (None: none yet).

    Raises CheckpointError when there is one and `resume` is False (nothing is ever
    overwritten), or when it is of another model or configuration, or lacks the state of
    one of the run's stateful actions (`action_names`).
    """
    if keeper.latest and not resume:
        raise CheckpointError(
            f"{run_dir} already holds checkpoints (latest {keeper.latest}) and resume=False; "
            "pick a new run directory or delete that one yourself — lowtf never overwrites a "
            "good checkpoint")
    if not keeper.latest:
        return None

    def check(prefix):
        check_resumable(prefix, ckpt.read_config(prefix), config)
        check_action_states(prefix, action_names)

    return keeper.restore_latest(model, check=check)


def check_action_states(prefix, names):
    """Raises CheckpointMismatchError naming each stateful action the checkpoint has no
    state for (one added after the run began: resuming it would start it from scratch)."""
    keys = ckpt.read_shapes(prefix)
    missing = [name for name in names if not any(k.startswith(f"actions/{name}/") for k in keys)]
    if missing:
        raise ckpt.CheckpointMismatchError(
            f"checkpoint {prefix} holds no state for the action(s) {missing}: they were not "
            "part of the run when it was saved, and a resumed run must go on with the same "
            "stateful actions; leave them out, or train into a new run directory")


def load_history(run_dir, epochs, step, last_good, chief):
    """The history of the restored checkpoint's `epochs` (later ones are cut off).

    A history.json that is missing, damaged or short of epochs is rebuilt from the
    TensorBoard logs, with a warning; if they cannot rebuild it, the run is refused.
    """
    history, problem = run_history.load(run_dir)
    if history is not None and len(history.get("epoch", [])) < epochs:
        problem = f"holds {len(history.get('epoch', []))} of the run's {epochs} epochs"
    if not problem or epochs == 0:
        return {k: v[:epochs] for k, v in (history or {}).items()}
    path = run_history.path(run_dir)
    try:
        history = run_history.rebuild(run_dir, epochs, step)
    except ConfigError as e:
        raise CheckpointError(
            f"{path} {problem}, and it cannot be rebuilt: {e}. Put back a copy of "
            "history.json, or train into a new run directory") from None
    warnings.warn(f"{path} {problem}; rebuilt its {epochs} epochs from the TensorBoard "
                  f"logs in {run_dir} (train/, validation/)", stacklevel=4)
    if chief:
        run_history.write(run_dir, history, last_good)
    return history
