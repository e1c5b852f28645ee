"""`<run>/history.json` as an action: the run's per-epoch record, rewritten every epoch."""

from lowtf.actions.base import Action


class HistoryFile(Action):
    """Writes the run's history (`run.history`) after each epoch (chief only)."""

    def __init__(self):
        super().__init__(name="history_file")

    def on_epoch(self, run, logs):
        if run.chief:
            run.save_history()
