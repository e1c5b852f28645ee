"""Actions: what happens "every so often" while `fit` trains (CommonLoopUtils' periodic actions).

An action is an object with hooks, or a plain function. The controller calls the hooks
of every action in order; the trainer it passes, `run`, exposes `step`, `epoch`,
`model`, `optimizer`, `history`, `writer`, `run_dir` and `stop(reason)`.

State an action keeps in `tf.Variable` attributes is saved in the run's checkpoint
(under `actions/<name>`), so a run killed and resumed carries on exactly.
"""

import re

import tensorflow as tf

from lowtf.errors import ConfigError, LowtfError, add_context, check_count


class Action(tf.Module):
    """Base class: override the hooks you need; each is a no-op here.

    Hooks, in the order a run calls them:
        on_start(run): `fit` begins (a resumed run is restored already).
        on_epoch_start(run): an epoch begins.
        on_progress(run): after each traced call of the loop (many steps).
        on_steps(run, logs): the global step reached a multiple of `every_steps` (or
            the step `next_due` names); `logs` are the epoch's running training metrics.
        on_evaluation(run, logs): validation ran; `logs` are its metrics (`val_...`).
        on_best(run, logs): the epoch improved the monitored metric (before on_epoch).
        on_epoch(run, logs): the epoch ended; `logs` hold its training and validation
            metrics. Changes made here (a new learning rate) are in the epoch's checkpoint.
        on_end(run, failed): `fit` ends, also when it fails.

    Args:
        every_steps: call `on_steps` at global steps that are multiples of this (the
            same steps however often the run was resumed).
        name: the action's name in the checkpoint (default: its class, snake_case).
    """

    def __init__(self, every_steps=None, name=None):
        super().__init__(name=name)
        self.every_steps = check_count("every_steps", every_steps, optional=True)

    def settings(self):
        """What a resumed run must keep (recorded in the run's configuration; a resume with
        other settings is refused), or None: nothing."""
        return None

    def next_due(self, step):
        """The first global step after `step` at which `on_steps` is due (None: never).
        The controller ends its traced calls there. By default the next multiple of
        `every_steps`."""
        if not self.every_steps:
            return None
        return (step // self.every_steps + 1) * self.every_steps

    def on_start(self, run):
        pass

    def on_epoch_start(self, run):
        pass

    def on_progress(self, run):
        pass

    def on_steps(self, run, logs):
        pass

    def on_evaluation(self, run, logs):
        pass

    def on_best(self, run, logs):
        pass

    def on_epoch(self, run, logs):
        pass

    def on_end(self, run, failed):
        pass


class Every(Action):
    """Calls `fn(run, logs)` every `epochs` epochs, or every `steps` steps.

    A plain function in `fit(actions=[...])` becomes `Every(fn)`: called at the end of
    every epoch with the epoch's logs.
    """

    def __init__(self, fn, steps=None, epochs=None, name=None):
        if steps is not None and epochs is not None:
            raise ConfigError("give steps or epochs, not both")
        super().__init__(every_steps=steps, name=name or _snake(getattr(fn, "__name__", "")))
        self.fn = fn
        self.every_epochs = None if steps else check_count("epochs", epochs or 1)

    def on_steps(self, run, logs):
        self.fn(run, logs)

    def on_epoch(self, run, logs):
        if self.every_epochs and run.epoch % self.every_epochs == 0:
            self.fn(run, logs)


class OnBest(Action):
    """Calls `fn(run, logs)` after each epoch that improved the monitored metric."""

    def __init__(self, fn, name=None):
        super().__init__(name=name or _snake(getattr(fn, "__name__", "")))
        self.fn = fn

    def on_best(self, run, logs):
        self.fn(run, logs)


class AtEnd(Action):
    """Calls `fn(run)` once `fit` has ended well (not after a failure)."""

    def __init__(self, fn, name=None):
        super().__init__(name=name or _snake(getattr(fn, "__name__", "")))
        self.fn = fn

    def on_end(self, run, failed):
        if not failed:
            self.fn(run)


def _snake(name):
    name = re.sub(r"[^0-9a-zA-Z_]", "_", name).strip("_")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() or None


class ActionStates(tf.Module):
    """The checkpointed state of a run's actions: one attribute per action, by name."""

    def __init__(self):
        super().__init__(name="actions")


def as_actions(actions):
    """A list of `Action`s from actions and plain functions; actions with state (variables)
    must have unique names, the keys of their state in the checkpoint."""
    result, names = [], set()
    for action in actions or ():
        if not isinstance(action, Action):
            if not callable(action):
                raise ConfigError(f"an action must be a lowtf.actions.Action or a function "
                                  f"fn(run, logs), got {type(action).__name__}")
            action = Every(action)
        if not action.name.isidentifier():
            raise ConfigError(f"action name {action.name!r} must be an identifier")
        if action.variables and action.name in names:
            raise ConfigError(f"two actions are named {action.name!r}; give each its own "
                              "name (name=...): the checkpoint keeps their state by name")
        if action.variables:
            names.add(action.name)
        result.append(action)
    return result


def run_actions_for(own, early_stopping=None, evaluation=None, tensorboard=None, images=None,
                    history=False, checkpoints=None, console=None):
    """A run's actions in the order they are called: the user's own first (what they change
    is in the epoch's checkpoint), then early stopping, evaluation every N steps,
    TensorBoard, images, history.json, the checkpoints (the latest written last: it
    commits the epoch) and the console."""
    from lowtf.actions.early_stopping import EarlyStopping
    from lowtf.actions.history_file import HistoryFile
    built_in = [early_stopping if isinstance(early_stopping, EarlyStopping) else None,
                evaluation, tensorboard, images, HistoryFile() if history else None, checkpoints, console]
    return as_actions([*as_actions(own), *(a for a in built_in if a)])


def action_states(actions):
    """An `ActionStates` holding each action that has variables, for the checkpoint."""
    states = ActionStates()
    for action in actions:
        if action.variables:
            setattr(states, action.name, action)
    return states


def call_hooks(actions, hook, run, *args, quiet=False):
    """Calls `hook` of every action in order. An exception of the user's own passes through
    as it was raised, with a note of where; with `quiet` (another error is already on its
    way) exceptions are dropped."""
    for action in actions:
        try:
            getattr(action, hook)(run, *args)
        except Exception as e:
            if quiet:
                continue
            if isinstance(e, LowtfError):  # lowtf's own: its message says it all
                raise
            raise add_context(e, f"lowtf: raised by action {action.name!r} ({hook}, step "
                                 f"{run.step}, epoch {run.epoch})")
