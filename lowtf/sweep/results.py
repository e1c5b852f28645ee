"""A sweep's results: its trials ranked by a validation figure (`SweepResult`), saved as
`<root>/results.csv` and `<root>/results.json`, printed as a table, and read back
(`read_results`).

The printed table and the best-trial lines show validation figures only: a trial is
chosen on validation, and the test split is looked at once, for the chosen trial, when
asked (`SweepResult.test_report`). The files keep every trial's test figures.
"""

import math
import os

from lowtf.errors import ConfigError
from lowtf.run_dir import SweepDir
from lowtf.sweep.space import DASHBOARD_NAMES

RANK_BY = {  # ranking name -> (row key, higher is better)
    "val_accuracy": ("best_val_accuracy", True),
    "val_loss": ("best_val_loss", False),
}


def check_rank_by(rank_by):
    """`rank_by` if trials may be ranked by it; a ConfigError otherwise (ranking by a test
    figure is choosing on the test set, which then no longer measures the choice)."""
    if rank_by in RANK_BY:
        return rank_by
    if str(rank_by).startswith("test_"):
        raise ConfigError(
            f"rank_by {rank_by!r} would choose the trial on the test set, which then no "
            "longer estimates how the chosen trial does on new data; rank by "
            f"{' or '.join(RANK_BY)} and look at the chosen trial's test figures with "
            "--test (SweepResult.test_report())")
    raise ConfigError(f"rank_by must be one of {', '.join(RANK_BY)}, got {rank_by!r}")


class SweepResult:
    """The trials of a sweep, best first by `sweep.rank_by` (unfinished trials last).

    Attributes:
        rows: one dict per trial: `rank`, `trial`, the swept values, `status`, `epochs`,
            `best_val_accuracy`, `test_accuracy`, `test_loss`, `checkpoint`, `run_dir`, ...
        best: the first finished row, or None.
    """

    def __init__(self, sweep, rows):
        self.sweep = sweep
        key, higher = RANK_BY[check_rank_by(sweep.rank_by)]

        def order(row):
            value = row.get(key)
            done = row["status"] == "finished" and isinstance(value, (int, float)) \
                and math.isfinite(value)
            return (0, -value if higher else value) if done else (1, 0)

        self.rows = sorted(rows, key=order)
        for rank, row in enumerate(self.rows, 1):
            row["rank"] = rank
        finished = [r for r in self.rows if r["status"] == "finished"]
        self.best = finished[0] if finished else None

    @property
    def csv_path(self):
        return SweepDir(self.sweep.root).results_table

    @property
    def json_path(self):
        return SweepDir(self.sweep.root).results

    def columns(self):
        swept = [DASHBOARD_NAMES.get(k, k) for k in self.sweep.swept]
        tests = sorted({k for r in self.rows for k in r if k.startswith("test_")} -
                       {"test_accuracy", "test_loss"})
        return (["rank", "trial", *swept, "status", "epochs", "best_val_accuracy",
                 "final_val_accuracy", "test_accuracy", "test_loss", *tests, "n_params",
                 "train_seconds", "examples_per_second", "checkpoint", "run_dir", "error"])

    def save(self):
        os.makedirs(self.sweep.root, exist_ok=True)
        folder = SweepDir(self.sweep.root)
        folder.write_table(self.columns(), self.rows)
        folder.write_results({"sweep": self.sweep.name, "rank_by": self.sweep.rank_by,
                              "best": self.best, "trials": self.rows})

    def table(self, max_rows=None):
        """The ranked trials as a text table: validation figures, no test ones."""
        swept = [DASHBOARD_NAMES.get(k, k) for k in self.sweep.swept]
        header = ["rank", "trial", "best val acc", "final val acc", "best val loss",
                  "epochs", "seconds", "status"]
        lines = []
        for row in self.rows[:max_rows]:
            def fmt(key, spec=".4f", row=row):
                value = row.get(key)
                return format(value, spec) if isinstance(value, (int, float)) else ""

            status = row["status"] if row["status"] != "failed" else \
                f"failed ({row.get('error', '?')})"
            lines.append([str(row["rank"]), row["trial"], fmt("best_val_accuracy"),
                          fmt("final_val_accuracy"), fmt("best_val_loss"),
                          str(row["epochs"]), fmt("train_seconds", ".0f"), status])
        widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header))]
        text = lambda r: "  ".join(  # noqa: E731
            c.rjust(w) if i not in (1, len(header) - 1) else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        title = f"Sweep {self.sweep.name}: {len(self.rows)} trials over " \
                f"{', '.join(swept) or 'nothing'}, ranked by {self.sweep.rank_by}"
        return "\n".join([title, text(header), "-" * len(text(header)),
                          *(text(r) for r in lines)])

    def report(self):
        """The table and where the best trial is; no test figures (see `test_report`)."""
        lines = [self.table()]
        if self.best:
            b = self.best
            lines += [f"Best trial: {b['trial']} (best val accuracy "
                      f"{_number(b.get('best_val_accuracy'))})",
                      f"  run:        {b['run_dir']}",
                      f"  checkpoint: {b.get('checkpoint')}",
                      f"  evaluate:   lowtf evaluate '{b['run_dir']}'"]
        else:
            lines.append("No trial has finished yet.")
        lines.append(f"Table: {self.csv_path}   "
                     f"Dashboard: tensorboard --logdir {self.sweep.root}")
        return "\n".join(lines)

    def test_report(self):
        """The chosen (best) trial's test figures, from its run's results.json: the one
        look at the test set, after choosing on validation."""
        b = self.best
        if b is None:
            return "Test: no trial has finished yet, so none is chosen."
        figures = {k[len("test_"):]: v for k, v in b.items() if k.startswith("test_")}
        if not figures:
            return (f"Test of {b['trial']}: not evaluated; run "
                    f"lowtf evaluate '{b['run_dir']}' --split test")
        ordered = sorted(figures, key=lambda k: (k not in ("accuracy", "loss"), k))
        shown = ", ".join(f"{k} {_number(figures[k])}" for k in ordered)
        return (f"Test of the chosen trial {b['trial']} (chosen by "
                f"{self.sweep.rank_by}): {shown}")


def _number(value):
    return format(value, ".4f") if isinstance(value, (int, float)) else "n/a"


def read_results(root):
    """The ranked rows a sweep wrote to `<root>/results.json` (a list of dicts)."""
    data = SweepDir(root).read_results()
    if data is None:
        raise ConfigError(f"no sweep results in {root!r} (results.json); run the sweep first")
    return data["trials"]
