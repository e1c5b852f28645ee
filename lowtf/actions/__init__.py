"""Actions: what `fit` does every so often, built in or your own (`lt.actions`).

    def lower_on_plateau(run, logs): ...          # a plain function: called every epoch
    trainer.fit(train, val, actions=[lower_on_plateau, lt.actions.Every(log_norm, steps=100)])

Built in (the trainer adds them): `Checkpoints`, `EarlyStopping`, `TensorBoard`,
`ValidationImages`, `HistoryFile`, `Console`, `EvaluateEvery`. Yours to add: `Profile`
(the profiler on a range of steps), `ReduceLROnPlateau`. Yours run first, so what they change
(a learning rate, their own `tf.Variable` state) is in the epoch's checkpoint.
"""

from lowtf.actions.base import Action, AtEnd, Every, OnBest
from lowtf.actions.checkpointing import Checkpoints
from lowtf.actions.console import Console
from lowtf.actions.early_stopping import EarlyStopping
from lowtf.actions.history_file import HistoryFile
from lowtf.actions.periodic_evaluation import EvaluateEvery
from lowtf.actions.profiler import Profile
from lowtf.actions.reduce_on_plateau import ReduceLROnPlateau
from lowtf.actions.tensorboard import TensorBoard, ValidationImages
from lowtf.monitor import Monitor

__all__ = ["Action", "AtEnd", "Checkpoints", "Console", "EarlyStopping", "EvaluateEvery",
           "Every", "HistoryFile", "Monitor", "OnBest", "Profile", "ReduceLROnPlateau",
           "TensorBoard",
           "ValidationImages"]
