"""A one-line progress bar for long epochs (only on a terminal, so logs stay clean)."""

import sys
import time


class ProgressBar:
    """`[=====>    ] 550/1100 steps  loss 0.4123  12.3s` redrawn in place on stderr."""

    def __init__(self, total, label="", stream=None, enabled=None, width=30):
        self.total, self.label, self.width = total, label, width
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self._drawn = False

    def update(self, done, **values):
        if not self.enabled:
            return
        if self.total:
            filled = int(self.width * min(done, self.total) / self.total)
            bar = "=" * filled + (">" if filled < self.width else "") 
            text = f"[{bar.ljust(self.width)}] {done}/{self.total} steps"
        else:
            text = f"{done} steps"
        extras = "  ".join(f"{k} {v:.4f}" for k, v in values.items())
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r{self.label}{text}  {extras}  {elapsed:.1f}s\033[K")
        self.stream.flush()
        self._drawn = True

    def close(self):
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
