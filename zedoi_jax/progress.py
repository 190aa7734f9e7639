"""Progress reporting and metrics files for long loops.

- `MetricWriter` appends one JSON object per call to `workdir/metrics.jsonl`
  (each row carries a `step`), and optionally mirrors scalars to TensorBoard
  event files when the `tensorboardX` package is installed (no TensorFlow).
- `Progress` reports done/total, rate and ETA of a loop through tqdm: a bar
  on a terminal, a log line every `interval_s` seconds elsewhere (files,
  notebooks' captured output, CI), nothing when disabled
  (`config.progress = False`). Rate and ETA start at the first update, i.e.
  after the first step or batch, so compilation does not count.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
import time
from typing import Any, TextIO

from absl import logging
import numpy as np
import tqdm

from zedoi_jax import jsonio


class MetricWriter:
  """Appends rows to `workdir/metrics.jsonl` (and TensorBoard if available).

  Args:
    workdir: run directory.
    tensorboard: also write TensorBoard events under `workdir/tb` when
      `tensorboardX` is importable.
    enabled: write nothing when False (e.g. on non-zero processes).
  """

  def __init__(self, workdir: str | os.PathLike, *, tensorboard: bool = True,
               enabled: bool = True):
    self.path = pathlib.Path(workdir) / 'metrics.jsonl'
    self.enabled = enabled
    self._tb = None
    if enabled:
      self.path.parent.mkdir(parents=True, exist_ok=True)
      if tensorboard:
        try:
          import tensorboardX  # pylint: disable=g-import-not-at-top
          self._tb = tensorboardX.SummaryWriter(str(self.path.parent / 'tb'))
        except ImportError:
          self._tb = None

  def write(self, step: int, **scalars: Any) -> None:
    """Appends one row {'step': step, **scalars}."""
    if not self.enabled:
      return
    jsonio.append_line(self.path, {'step': int(step), **scalars})
    if self._tb is not None:
      for k, v in scalars.items():
        if np.ndim(v) == 0 and isinstance(np.asarray(v).item(), (int, float)):
          self._tb.add_scalar(k, float(v), int(step))

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
  """Reads back all rows of `workdir/metrics.jsonl`."""
  path = pathlib.Path(workdir) / 'metrics.jsonl'
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line]


class Progress:
  """Rate and ETA of a loop: a tqdm bar on a TTY, log lines elsewhere.

  The clock starts at the first `update` (the first step, batch or chunk is
  where jax compiles), so the rate and ETA describe the running loop, not
  the compilation.

  Args:
    total: number of units (steps, poses) the loop will do.
    name: label of the bar / log line.
    unit: unit name for the rate.
    start: units already done (a resumed run).
    enabled: False silences it; None or True report (a bar when `stream`
      is a terminal, else a log line at most every `interval_s`).
    interval_s: minimum seconds between log lines (non-terminal).
    stream: where the bar goes (default sys.stderr).
  """

  def __init__(self, total: int, *, name: str = 'progress',
               unit: str = 'step', start: int = 0,
               enabled: bool | None = None, interval_s: float = 30.0,
               stream: TextIO | None = None):
    self.total = int(total)
    self.name = name
    self.unit = unit
    self.start = self.done = int(start)
    self.enabled = enabled is not False
    self.interval_s = interval_s
    self._stream = stream or sys.stderr
    self._tty = bool(getattr(self._stream, 'isatty', lambda: False)())
    self._t_created = time.perf_counter()
    self._t_first = None  # time of the first update: compile is before it
    self._first = self.start
    self._t_now = self._t_created
    self._last_log = -math.inf
    self._bar = None

  @property
  def rate(self) -> float:
    """Units per second after the first update (compile excluded).

    With a single update so far: since construction (compile included).
    """
    if self._t_first is not None and self.done > self._first:
      elapsed = self._t_now - self._t_first
      if elapsed > 0:
        return (self.done - self._first) / elapsed
    elapsed = self._t_now - self._t_created
    return (self.done - self.start) / elapsed if elapsed > 0 else 0.0

  @property
  def eta_s(self) -> float:
    rate = self.rate
    return (self.total - self.done) / rate if rate > 0 else math.inf

  def line(self, **extra: Any) -> str:
    """The text of a log line: tqdm's done/total, elapsed, ETA and rate."""
    elapsed = (self._t_now - self._t_first if self._t_first is not None
               else 0.0)
    rate = self.rate if self.done > self._first else None
    text = tqdm.tqdm.format_meter(
        self.done, self.total, elapsed, prefix=self.name, unit=self.unit,
        rate=rate, initial=self._first, ncols=0)
    tail = ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                    for k, v in extra.items())
    return f'{text} {tail}'.rstrip()

  def update(self, done: int, **extra: Any) -> None:
    """Records that `done` units are finished; draws or maybe logs."""
    self.done = int(done)
    self._t_now = now = time.perf_counter()
    first = self._t_first is None
    if first:
      self._t_first, self._first = now, self.done
    if not self.enabled:
      return
    if self._tty:
      if self._bar is None:
        self._bar = tqdm.tqdm(total=self.total, initial=self.done,
                              desc=self.name, unit=self.unit,
                              file=self._stream, dynamic_ncols=True,
                              leave=True)
      else:
        self._bar.update(self.done - self._bar.n)
      if extra:
        self._bar.set_postfix(
            {k: (f'{v:.4g}' if isinstance(v, float) else v)
             for k, v in extra.items()}, refresh=False)
      if self.done >= self.total:
        self.close()
      return
    if (first or now - self._last_log >= self.interval_s or
        self.done >= self.total):
      self._last_log = now
      logging.info('%s', self.line(**extra))

  def close(self) -> None:
    """Ends the bar (a no-op for log lines)."""
    if self._bar is not None:
      self._bar.close()
      self._bar = None


class Offset:
  """Forwards `update(k)` as `update(offset + k)`: a chunk's part of a bar."""

  def __init__(self, prog: Progress | None, offset: int):
    self.prog, self.offset = prog, int(offset)

  def update(self, done: int, **extra: Any) -> None:
    if self.prog is not None:
      self.prog.update(self.offset + int(done), **extra)
