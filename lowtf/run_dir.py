"""The layout of a run directory and of a sweep directory: every name in them is here.

    logs/<run>/                     a run directory (`RunDir`)
        events.out.tfevents.*       the run's HParams session: values, how it ended
        train/  validation/  test/  TensorBoard curves, one folder per split (`split`)
        summary/                    best validation values, epochs, finished (HParams)
        history.json                one value per epoch of every metric (lowtf.history)
        results.json                test metrics, epochs, checkpoint (Trainer.evaluate on a
                                    test split; run_experiment adds time and settings)
        checkpoints/                ckpt-<step>, the last few (lowtf.checkpoints)
            best/                   ckpt-<step> of the best epoch
      and in a sweep's trial also:
        sweep_trial.json            how the trial ended: finished or failed, and why
        error.txt                   the traceback of a failed trial

    logs/<sweep>/                   a sweep directory (`SweepDir`)
        *.sweep-config              a search space earlier versions wrote (removed)
        sweep.json                  what the sweep is: its settings and trials, in order
        results.csv  results.json   the trials ranked (lowtf.sweep.results)
        <trial>/                    a run directory, as above

Other modules ask here for paths and read and write these files through here; what
goes into each file stays theirs. Only the standard library is imported at the top, so
`lowtf --help` and `lowtf plot` do not pay for TensorFlow (writing imports it).
"""

import csv
import json
import os

HISTORY = "history.json"
RESULTS = "results.json"
CHECKPOINTS = "checkpoints"
BEST = "best"  # inside any checkpoints folder
TRIAL_STATUS = "sweep_trial.json"
TRIAL_ERROR = "error.txt"
SWEEP_DESCRIPTION = "sweep.json"
SWEEP_TABLE = "results.csv"
SWEEP_RESULTS = "results.json"
SWEEP_CONFIG_SUFFIX = ".sweep-config"


def read_json(path):
    """The value in a JSON file, or None when it is missing, unreadable or half-written."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def best_checkpoints(checkpoints):
    """The folder of the best checkpoint inside a checkpoints folder (any, not only a
    run's: a non-chief worker saves into a temporary one)."""
    return os.path.join(os.fspath(checkpoints), BEST)


class RunDir:
    """A run directory: where each of its files and folders is, and its small JSON files.

    Args:
        path: the run directory (str or path-like); nothing is created.
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return f"RunDir({self.path!r})"

    def _file(self, name):
        return os.path.join(self.path, name)

    checkpoints = property(lambda self: self._file(CHECKPOINTS),
                           doc="`<run>/checkpoints`: the latest checkpoints.")
    best_checkpoints = property(lambda self: best_checkpoints(self.checkpoints),
                                doc="`<run>/checkpoints/best`: the best checkpoint.")
    history = property(lambda self: self._file(HISTORY), doc="`<run>/history.json`.")
    results = property(lambda self: self._file(RESULTS), doc="`<run>/results.json`.")
    trial_status = property(lambda self: self._file(TRIAL_STATUS),
                            doc="`<trial>/sweep_trial.json`: how a sweep's trial ended.")
    trial_error = property(lambda self: self._file(TRIAL_ERROR),
                           doc="`<trial>/error.txt`: the traceback of a failed trial.")

    def split(self, name):
        """The TensorBoard folder of a split (`train`, `validation`, `test`): `<run>/<name>`;
        `""` is the run directory itself (where the run's hparams go)."""
        return self.path if name == "" else self._file(name)

    def is_run(self):
        """Whether the folder holds a run's history (what `lowtf plot` draws)."""
        return os.path.isfile(self.history)

    def read_results(self):
        """`results.json` as a dict, or None when it is missing or damaged."""
        return read_json(self.results)

    def write_results(self, results, kept=None):
        """Writes `results.json` atomically; `kept` is the checkpoint a failed write names."""
        from lowtf.storage import write_json  # imports TensorFlow: only when writing

        write_json(self.results, results, "the run's results", kept, indent=2)

    def read_trial_status(self):
        """`sweep_trial.json` as a dict, or None when it is missing or damaged."""
        return read_json(self.trial_status)

    def write_trial_status(self, status):
        from lowtf.storage import write_json

        write_json(self.trial_status, status, "the trial status", indent=2)

    def write_trial_error(self, text):
        with open(self.trial_error, "w") as f:
            f.write(text)


class SweepDir:
    """A sweep directory: its description, its ranked results and its trials' folders.

    Args:
        path: the sweep directory, `<logdir>/<sweep name>`; nothing is created.
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return f"SweepDir({self.path!r})"

    description = property(lambda self: os.path.join(self.path, SWEEP_DESCRIPTION),
                           doc="`<sweep>/sweep.json`: the settings and the trials, in order.")
    results_table = property(lambda self: os.path.join(self.path, SWEEP_TABLE),
                             doc="`<sweep>/results.csv`: the ranked trials, a table.")
    results = property(lambda self: os.path.join(self.path, SWEEP_RESULTS),
                       doc="`<sweep>/results.json`: the ranked trials and the best.")

    def trial(self, trial_id):
        """The `RunDir` of a trial: `<sweep>/<trial id>`."""
        return RunDir(os.path.join(self.path, trial_id))

    def trial_order(self):
        """`{trial id: position}` as `sweep.json` lists them; `{}` without a readable one."""
        try:
            return {t: i for i, t in enumerate(read_json(self.description)["trials"])}
        except (KeyError, TypeError):
            return {}

    def read_description(self):
        """`sweep.json` as written, or None when it is missing or damaged."""
        return read_json(self.description)

    def write_description(self, description):
        from lowtf.storage import write_json

        write_json(self.description, description, "the sweep description", indent=2)

    def hparams_config_files(self):
        """The files holding the sweep's search space for the HParams dashboard."""
        return [os.path.join(self.path, name) for name in os.listdir(self.path)
                if name.endswith(SWEEP_CONFIG_SUFFIX)]

    def write_table(self, columns, rows):
        """Writes `results.csv` (atomically: a temporary file renamed over it); a missing
        or None value is an empty cell, keys outside `columns` are left out."""
        tmp = self.results_table + ".tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
        os.replace(tmp, self.results_table)

    def read_results(self):
        """`results.json` as a dict, or None when it is missing or damaged."""
        return read_json(self.results)

    def write_results(self, results):
        from lowtf.storage import write_json

        write_json(self.results, results, "the sweep results", indent=2)
