"""Watching a metric: what counts as better, for the best checkpoint and early stopping
(`lowtf.actions.EarlyStopping`)."""

import math
from dataclasses import dataclass

from lowtf.errors import ConfigError


@dataclass(frozen=True)
class Monitor:
    """Decides whether a new value of `monitor` improves on the best so far.

    Args:
        monitor: a history key such as `val_accuracy` or `val_loss`.
        mode: `max`, `min`, or `auto` (max for accuracies, min for anything else).
        min_delta: the smallest change that counts as an improvement.
    """

    monitor: str = "val_accuracy"
    mode: str = "auto"
    min_delta: float = 0.0

    def __post_init__(self):
        if self.mode not in ("auto", "min", "max"):
            raise ConfigError(f"mode must be 'auto', 'min' or 'max', got {self.mode!r}")
        if not self.min_delta >= 0:
            raise ConfigError(f"min_delta must be >= 0, got {self.min_delta!r}")

    @property
    def maximize(self):
        return self.mode == "max" or (self.mode == "auto" and "accuracy" in self.monitor)

    @property
    def worst(self):
        return -math.inf if self.maximize else math.inf

    def improved(self, value, best):
        if not math.isfinite(value):
            return False
        return value > best + self.min_delta if self.maximize else value < best - self.min_delta

    def value(self, logs):
        if self.monitor not in logs:
            raise ConfigError(f"cannot monitor {self.monitor!r}: the run logs only "
                              f"{sorted(logs)}; pass one of those (validation metrics need "
                              "validation data)")
        return float(logs[self.monitor])
