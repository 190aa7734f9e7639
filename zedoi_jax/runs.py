"""Run bookkeeping shared by every mode: config.json, start/end rows, devices.

Every run holds the workdir's lock (`lock`, `zedoi_jax.locks`: one run per
workdir; process 0 of a multi-process job holds it for all), writes
`workdir/config.json` (the resolved config) and appends a `run/start` and a
`run/end` row (with wall time and status) to `workdir/metrics.jsonl`, so a
sweep's workdirs describe themselves.

config.json is written once the config's settings have been checked
(`write_config`): at the start into a workdir without one, or - when the
workdir holds the config.json of an earlier run with other settings - only
after this run has succeeded, so a run refused for mixing settings (chunks,
checkpoints of another job) leaves the earlier run's config.json alone.
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

from zedoi_jax import locks
from zedoi_jax import progress

CONFIG_JSON = 'config.json'


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


def compilation_cache_dir(setting: str) -> pathlib.Path | None:
  """The folder of `config.compilation_cache` ('auto', '' = off, a path)."""
  setting = str(setting).strip()
  if not setting:
    return None
  if setting != 'auto':
    return pathlib.Path(setting).expanduser()
  if os.environ.get('JAX_COMPILATION_CACHE_DIR'):
    return pathlib.Path(os.environ['JAX_COMPILATION_CACHE_DIR']).expanduser()
  base = os.environ.get('XDG_CACHE_HOME') or pathlib.Path.home() / '.cache'
  return pathlib.Path(base) / 'zedoi_jax' / 'jax_cache'


def use_compilation_cache(setting: str) -> pathlib.Path | None:
  """Turns JAX's persistent compilation cache on (before any compile).

  A folder that cannot be created leaves the cache off with a warning: a
  cache never stops a run.
  """
  path = compilation_cache_dir(setting)
  if path is None:
    return None
  try:
    path.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    logging.warning('compilation cache off: cannot create %s (%s)', path, e)
    return None
  jax.config.update('jax_compilation_cache_dir', str(path))
  logging.info('compilation cache: %s', path)
  return path


def quiet_backend_probe() -> None:
  """Hides "Unable to initialize backend 'tpu'" INFO lines on CPU/GPU."""
  logger = std_logging.getLogger('jax._src.xla_bridge')
  if not any(isinstance(f, _QuietBackendProbe) for f in logger.filters):
    logger.addFilter(_QuietBackendProbe())


@contextlib.contextmanager
def lock(workdir: str | os.PathLike):
  """The workdir's lock for the run (process 0 only; others share it).

  Raises:
    locks.WorkdirBusy: another live process runs in `workdir`.
  """
  if jax.process_index() == 0:
    with locks.hold(workdir):
      yield
  else:
    yield


def check_config(config: ml_collections.ConfigDict) -> None:
  """The settings checks that need no data: fit settings (fit/lift)."""
  if config.get('mode') in ('fit', 'lift') and 'fit' in config:
    # Imported here: the fit module pulls in the compiled code.
    from zedoi_jax import zedo  # pylint: disable=g-import-not-at-top
    zedo.FitConfig.from_dict(config.fit.to_dict())


def write_config(config: ml_collections.ConfigDict,
                 workdir: str | os.PathLike, *, finished: bool) -> bool:
  """Writes workdir/config.json (atomically) unless that would replace an
  earlier run's other settings before this run has `finished`.

  Returns:
    Whether config.json now holds `config`.
  """
  path = pathlib.Path(workdir) / CONFIG_JSON
  text = json.dumps(config.to_dict(), indent=2, sort_keys=True) + '\n'
  if path.exists():
    try:
      same = path.read_text() == text
    except OSError:
      same = False
    if same:
      return True
    if not finished:
      logging.info('%s holds an earlier run with other settings: kept, and '
                   'replaced only if this run succeeds', path)
      return False
  tmp = locks.temp_name(path)
  tmp.write_text(text)
  tmp.replace(path)
  return True


def start(config: ml_collections.ConfigDict,
          workdir: str | os.PathLike) -> pathlib.Path:
  """Creates the workdir, logs the devices, checks the config and writes
  config.json (see `write_config`); call it holding `lock`."""
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  quiet_libraries()
  logging.info('JAX %s on %d device(s): %s (process %d of %d)',
               jax.__version__, jax.device_count(),
               ', '.join(str(d) for d in jax.local_devices()),
               jax.process_index(), jax.process_count())
  check_config(config)
  if jax.process_index() == 0:
    write_config(config, workdir, finished=False)
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
