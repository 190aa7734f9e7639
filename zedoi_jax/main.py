r"""Command-line entry point: `python -m zedoi_jax.main --config=... --workdir=...`.

Parses flags, takes the workdir's lock (one run per workdir), writes
`workdir/config.json`, and hands the config to the entry function of
`config.mode`: `<mode>(config, workdir)` in `zedoi_jax/modes/<mode>.py`.
Override any field with
`--config.<a>.<b>=value`; the config is locked, so a misspelt field fails.

  python -m zedoi_jax.main --config=configs/syrip.py --workdir=/tmp/syrip
  python -m zedoi_jax.main --config=configs/cmu_prior.py \
      --config.train.num_steps=2000 --workdir=/tmp/prior

Several processes (docs/SCALING.md): on Cloud TPU, Slurm or Open MPI the
launch is detected; elsewhere pass --config.parallel.coordinator_address,
num_processes and process_id to every process.

Errors in the user's input (a bad file or field, missing data, a bad or
missing checkpoint: `InputError`, `FileNotFoundError`) end the run with one
line on stderr and exit code 2; `--verbosity=1` or ZEDOI_TRACEBACK=1 shows
the traceback instead.
"""

import os
import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from zedoi_jax import modes
from zedoi_jax import parallel
from zedoi_jax import runs
from zedoi_jax.errors import InputError

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file (configs/*.py[:arg]).',
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None,
    'Run directory (config.json, metrics.jsonl, results, checkpoints). '
    'Default: workdirs/<config name>-<mode>.')
flags.mark_flags_as_required(['config'])

# Exceptions that mean "fix your input", reported in one line (exit 2).
USER_ERRORS = (InputError, FileNotFoundError)
EXIT_USER_ERROR = 2


def show_traceback() -> bool:
  """True with --verbosity >= 1 or ZEDOI_TRACEBACK=1: keep the traceback."""
  env = os.environ.get('ZEDOI_TRACEBACK', '').strip().lower()
  return flags.FLAGS.verbosity >= 1 or env in ('1', 'true', 'yes')


def main(argv):
  try:
    _main(argv)
  except USER_ERRORS as e:
    if show_traceback():
      raise
    text = ' '.join(str(e).split())
    print(f'zedoi_jax: error: {text} (traceback: --verbosity=1 or '
          'ZEDOI_TRACEBACK=1)', file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  if config.mode not in modes.NAMES:
    raise app.UsageError(
        f'unknown config.mode {config.mode!r}; '
        f'known: {sorted(modes.NAMES)}')
  config_path = flags.FLAGS['config'].config_filename
  workdir = _WORKDIR.value or str(
      pathlib.Path('workdirs') /
      f'{pathlib.Path(config_path).stem}-{config.mode}')
  # Before anything touches the devices: jax.distributed refuses to start
  # once a backend exists. Without a TPU, jax's "Unable to initialize
  # backend 'tpu'" INFO line says nothing useful: drop it.
  runs.quiet_backend_probe()
  runs.use_compilation_cache(config.get('compilation_cache', 'auto'))
  pc = config.parallel
  parallel.initialize(coordinator_address=pc.coordinator_address,
                      num_processes=int(pc.num_processes),
                      process_id=int(pc.process_id))
  logging.info('process %d of %d', parallel.process_index(),
               parallel.process_count())
  with runs.lock(workdir):
    runs.start(config, workdir)
    entry = modes.entry(config.mode)
    logging.info('mode %s, workdir %s', config.mode, workdir)
    with runs.timed(workdir, config.mode):
      entry(config, workdir)
    if parallel.process_index() == 0:
      runs.write_config(config, workdir, finished=True)


if __name__ == '__main__':
  app.run(main)
