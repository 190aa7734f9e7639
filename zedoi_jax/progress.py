"""Progress reporting and metrics files for long loops.

- `MetricWriter` appends one JSON object per call to `workdir/metrics.jsonl`
  (each row carries a `step`), and optionally mirrors scalars to TensorBoard
  event files when the `tensorboardX` package is installed (no TensorFlow).
- `Progress` reports rate and ETA of a loop to the log, throttled, and is quiet
  when disabled (`config.progress = False`) or when stderr is not a terminal.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
import time
from typing import Any

from absl import logging
import numpy as np


def _to_json(value: Any) -> Any:
  """Converts numpy / jax scalars and arrays into JSON-friendly values."""
  if isinstance(value, dict):
    return {str(k): _to_json(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_to_json(v) for v in value]
  if hasattr(value, 'tolist') and not isinstance(value, (str, bytes)):
    return _to_json(np.asarray(value).tolist())
  if isinstance(value, float) and not math.isfinite(value):
    return None  # JSON null: non-finite values are never written as numbers
  return value


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
    row = {'step': int(step), **_to_json(scalars)}
    with self.path.open('a') as f:
      f.write(json.dumps(row) + '\n')
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


def _format_seconds(s: float) -> str:
  if not math.isfinite(s):
    return '?'
  s = int(round(s))
  h, rem = divmod(s, 3600)
  m, sec = divmod(rem, 60)
  return f'{h}:{m:02d}:{sec:02d}' if h else f'{m}:{sec:02d}'


class Progress:
  """Logs `name: done/total, rate, ETA` at most every `interval_s` seconds.

  Args:
    total: number of units (steps, poses) the loop will do.
    name: label in the log line.
    unit: unit name for the rate.
    start: units already done (a resumed run).
    enabled: False silences it; None means "only when stderr is a tty".
    interval_s: minimum seconds between log lines.
  """

  def __init__(self, total: int, *, name: str = 'progress',
               unit: str = 'step', start: int = 0,
               enabled: bool | None = None, interval_s: float = 10.0):
    self.total = int(total)
    self.name = name
    self.unit = unit
    self.start = self.done = int(start)
    if enabled is None:
      enabled = sys.stderr.isatty()
    self.enabled = enabled
    self.interval_s = interval_s
    self._t0 = time.perf_counter()
    self._last = -math.inf

  @property
  def rate(self) -> float:
    """Units per second since the start (excluding resumed units)."""
    elapsed = time.perf_counter() - self._t0
    return (self.done - self.start) / elapsed if elapsed > 0 else 0.0

  @property
  def eta_s(self) -> float:
    rate = self.rate
    return (self.total - self.done) / rate if rate > 0 else math.inf

  def update(self, done: int, **extra: Any) -> None:
    """Records that `done` units are finished; maybe logs a line."""
    self.done = int(done)
    now = time.perf_counter()
    if not self.enabled:
      return
    if now - self._last < self.interval_s and self.done < self.total:
      return
    self._last = now
    tail = ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                    for k, v in extra.items())
    logging.info('%s: %d/%d, %.2f %s/s, ETA %s %s', self.name, self.done,
                 self.total, self.rate, self.unit,
                 _format_seconds(self.eta_s), tail)
