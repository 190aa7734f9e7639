"""Run bookkeeping shared by every mode: config.json, start/end rows, devices.

Every run writes `workdir/config.json` (the resolved config) and appends a
`run/start` and a `run/end` row (with wall time and status) to
`workdir/metrics.jsonl`, so a sweep's workdirs describe themselves.
"""

from __future__ import annotations

import contextlib
import json
import logging as std_logging
import os
import pathlib
import time

from absl import logging
import jax
import ml_collections

from zedoi_jax import progress


class _QuietLibraries(std_logging.Filter):
  """Drops INFO chatter from libraries (Orbax logs every save step)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING or
            'orbax' not in record.pathname)


def quiet_libraries() -> None:
  """Keeps library INFO lines out of the log (warnings still show)."""
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _QuietLibraries) for f in handler.filters):
    handler.addFilter(_QuietLibraries())


class _QuietBackendProbe(std_logging.Filter):
  """Drops jax's INFO line about backends it could not start (no TPU)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return not (record.levelno < std_logging.WARNING and
                'Unable to initialize backend' in record.getMessage())


def quiet_backend_probe() -> None:
  """Hides "Unable to initialize backend 'tpu'" INFO lines on CPU/GPU."""
  logger = std_logging.getLogger('jax._src.xla_bridge')
  if not any(isinstance(f, _QuietBackendProbe) for f in logger.filters):
    logger.addFilter(_QuietBackendProbe())


def start(config: ml_collections.ConfigDict,
          workdir: str | os.PathLike) -> pathlib.Path:
  """Creates the workdir, logs the devices, writes config.json."""
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  quiet_libraries()
  logging.info('JAX %s on %d device(s): %s (process %d of %d)',
               jax.__version__, jax.device_count(),
               ', '.join(str(d) for d in jax.local_devices()),
               jax.process_index(), jax.process_count())
  if jax.process_index() == 0:
    (workdir / 'config.json').write_text(
        json.dumps(config.to_dict(), indent=2, sort_keys=True) + '\n')
  return workdir


@contextlib.contextmanager
def timed(workdir: str | os.PathLike, mode: str):
  """Appends run/start and run/end rows (status, seconds) around a run."""
  writer = progress.MetricWriter(workdir, tensorboard=False,
                                 enabled=jax.process_index() == 0)
  writer.write(0, **{'run/event': 'start', 'run/mode': mode,
                     'run/time': time.time()})
  t0 = time.perf_counter()
  status = 'failed'
  try:
    yield
    status = 'ok'
  finally:
    writer.write(0, **{'run/event': 'end', 'run/mode': mode,
                       'run/status': status,
                       'run/seconds': round(time.perf_counter() - t0, 3)})
