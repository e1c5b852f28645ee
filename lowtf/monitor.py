"""Watching a metric: the shared base of early stopping and best-checkpoint keeping."""

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


@dataclass(frozen=True)
class EarlyStopping(Monitor):
    """Stop after `patience` epochs without improvement; the best weights are kept.

    The best epoch's checkpoint is in `<run>/checkpoints/best`; with `restore_best`
    the trainer loads it back into the model when training stops.
    """

    patience: int = 5
    restore_best: bool = True

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) \
                or self.patience < 1:
            raise ConfigError(f"patience must be an int >= 1, got {self.patience!r}")
