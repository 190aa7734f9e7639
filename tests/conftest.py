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
SHARED_DATA = REPO.parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def shared_data() -> pathlib.Path:
  """The real data folder beside the repository (../shared/data)."""
  if not SHARED_DATA.is_dir():
    pytest.fail(f'real data not found at {SHARED_DATA}')
  return SHARED_DATA
