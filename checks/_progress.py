"""Progress of long commands on stderr: a bar on a terminal, plain lines elsewhere, nothing with --quiet.

On a terminal the bar is tqdm's. Anywhere else (``nohup``, CI logs, ``| tee``, a notebook) a line
every few seconds says how far the work is, how long it has run and roughly how long the rest will
take, so a slow command is never mistaken for a hung one::

    flowcert: chen2022: 40% (80000/200000 steps), 12 s elapsed, ~18 s left
"""
from __future__ import annotations

import os
import sys
import time

__all__ = ["Progress", "ticking"]


def _interval() -> float:
    """Seconds between two plain lines (``FLOWCERT_PROGRESS_SECONDS``, default 5); a terminal's bar
    redraws on its own clock."""
    try:
        return max(float(os.environ.get("FLOWCERT_PROGRESS_SECONDS", "5")), 0.0)
    except ValueError:
        return 5.0


def _duration(s: float) -> str:
    if s < 100:
        return f"{s:.0f} s"
    if s < 6000:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


class Progress:
    """``progress(done, total)`` reports work done; ``close()`` ends the report.

    ``unit`` names what is counted (``"claims"``, ``"tasks"``); ``quiet`` silences everything.
    ``stream`` defaults to stderr; ``tty`` overrides the terminal detection (for tests).
    """

    def __init__(self, label: str, unit: str = "", *, quiet: bool = False, stream=None, tty: bool | None = None,
                 interval: float | None = None):
        self.label, self.unit, self.quiet = label, unit, quiet
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = _interval() if interval is None else interval
        self.t0 = time.monotonic()
        self.last = self.t0   # time of the last plain line: the first comes after `interval`
        self.bar = None
        self.done = self.total = 0
        self.note = ""
        self.finished = False

    def __call__(self, done, total, note: str = "") -> None:
        if self.quiet:
            return
        self.done, self.total, self.note = done, total, note
        if self.tty:
            self._draw()
            return
        now = time.monotonic()
        finished = bool(total) and done >= total
        if finished and (self.finished or self.last == self.t0):
            return  # work that ended before the first line needs no closing one
        if now - self.last >= self.interval or finished:
            self.last, self.finished = now, finished
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        """The plain line for the state reached so far."""
        elapsed = (now if now is not None else time.monotonic()) - self.t0
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            frac = min(max(self.done / self.total, 0.0), 1.0)
            text = f"{100 * frac:.0f}% ({self.done:.4g}/{self.total:.4g}{unit}), {_duration(elapsed)} elapsed"
            if 0 < frac < 1:
                text += f", ~{_duration(elapsed * (1 - frac) / frac)} left"
        elif self.unit == "s":  # only the clock is known (see ticking)
            text = f"{_duration(elapsed)} elapsed, still working"
        else:
            text = f"{self.done:g}{unit}, {_duration(elapsed)} elapsed"
        return f"flowcert: {self.label}: {text}" + (f" [{self.note}]" if self.note else "")

    def _draw(self) -> None:
        if self.bar is None:
            from tqdm import tqdm  # only on a terminal
            self.bar = tqdm(total=self.total or None, desc=self.label, unit=f" {self.unit}" if self.unit else "it",
                            file=self.stream, leave=False, dynamic_ncols=True)
        if self.total and self.bar.total != self.total:
            self.bar.total = self.total
        self.bar.n = self.done
        if self.note:
            self.bar.set_postfix_str(self.note, refresh=False)
        self.bar.refresh()

    def clear(self) -> None:
        """Make room for a line on stdout (a terminal's bar is redrawn by the next report)."""
        if self.bar is not None:
            self.bar.clear()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class ticking:
    """For work that cannot report how far it is (one long eigen-solve): the elapsed time every
    few seconds from a background thread, until the block ends. ``with ticking("bound"): ...``"""

    def __init__(self, label: str, *, quiet: bool = False, stream=None, tty: bool | None = None,
                 interval: float | None = None):
        self.progress = Progress(label, "s", quiet=quiet, stream=stream, tty=tty, interval=interval)
        self.interval = max(self.progress.interval, 0.05)
        self.done = None

    def __enter__(self):
        import threading
        self.done = threading.Event()
        if not self.progress.quiet:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        return self

    def _run(self):
        while not self.done.wait(self.interval):
            self.progress(round(time.monotonic() - self.progress.t0), 0)

    def __exit__(self, *exc):
        self.done.set()
        if not self.progress.quiet:
            self.thread.join()
        self.progress.close()
        return False
