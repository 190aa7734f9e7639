"""Test setup: small, CPU-only, 8 fake devices for the sharded paths."""

import os
import pathlib

# Must happen before jax is imported anywhere.
os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top

# Compile speed matters more than run speed for CPU-sized tests.
jax.config.update('jax_disable_most_optimizations', True)

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope='session')
def shared_data() -> pathlib.Path:
  """The data root ($ZEDOI_DATA or ../shared/data); skips without SyRIP and CMU.

  Tests needing real data use `data_required` (tests/data_required.py):
  missing data skips with what to get, or fails under CI=true.
  """
  import data_required  # pylint: disable=g-import-not-at-top
  data_required.require('syrip')
  return data_required.require('cmu')
