"""The one way tests ask for real data (SyRIP, CMU mocap).

The data root is `zedoi_jax.data.data_root('')`: $ZEDOI_DATA, else
../shared/data beside the repository. A test that needs a dataset is
decorated (class or function) or calls `require` itself:

  @data_required.needs('syrip')
  class LoadTest(absltest.TestCase): ...

  CMU = data_required.path('cmu')          # a path, not checked
  @data_required.needs('cmu', '01.asf', '01_01.amc')
  def test_x(): ...

When the data is missing the test SKIPS with a reason naming the missing
files and how to get them (`python -m zedoi_jax.prepare syrip --dest=DIR`,
$ZEDOI_DATA, the CMU mocap site); under CI=true or ZEDOI_REQUIRE_DATA=1 it
FAILS with the same text instead, so CI never passes by skipping.
"""

from __future__ import annotations

import functools
import inspect
import os
import pathlib
import unittest

from zedoi_jax import data as data_lib
from zedoi_jax.data import requirements

# Files beyond SyRIP's 8 originals that tests compare against.
SYRIP_PAIRED = 'syrip_real700_paired.npz'
# The CMU takes the tests read, and the reference positions beside them.
CMU_TAKES = ('01.asf', '01_01.amc', '01_01.bvh', '131_01.bvh', '131_02.bvh',
             '131_03.bvh')
CMU_REFERENCE = 'cmu_h36m17_positions.npz'


def strict() -> bool:
  """True when missing data must fail (CI=true or ZEDOI_REQUIRE_DATA=1)."""
  ci = os.environ.get('CI', '').strip().lower() in ('true', '1', 'yes')
  req = os.environ.get('ZEDOI_REQUIRE_DATA', '').strip().lower() in (
      'true', '1', 'yes')
  return ci or req


def root() -> pathlib.Path:
  """The data root the tests read ($ZEDOI_DATA or ../shared/data)."""
  return data_lib.data_root('')


def path(*parts: str) -> pathlib.Path:
  """A path under the data root (not checked: use `needs`/`require`)."""
  return root().joinpath(*parts)


def reason(dataset: str, files=()) -> str | None:
  """Why the data is not usable (None when everything is there)."""
  gone, searched = requirements.missing(dataset, root(), files)
  if not gone:
    return None
  return requirements.message(dataset, gone, searched) + (
      ' (tests: set ZEDOI_DATA=DIR; missing data fails instead of skipping '
      'under CI=true or ZEDOI_REQUIRE_DATA=1)')


def require(dataset: str, *files: str) -> pathlib.Path:
  """The data root when `dataset` (and `files` in it) exist; else skip/fail."""
  why = reason(dataset, files)
  if why:
    if strict():
      raise AssertionError(f'required test data missing: {why}')
    raise unittest.SkipTest(why)
  return root()


def needs(dataset: str, *files: str):
  """Decorator for a test function or TestCase class needing a dataset."""

  def decorate(obj):
    if inspect.isclass(obj):
      original = obj.__dict__.get('setUpClass')

      def set_up_class(cls):
        require(dataset, *files)
        if original is not None:
          original.__func__(cls)
        else:
          super(obj, cls).setUpClass()

      obj.setUpClass = classmethod(set_up_class)
      return obj

    @functools.wraps(obj)
    def wrapper(*args, **kwargs):
      require(dataset, *files)
      return obj(*args, **kwargs)
    return wrapper

  return decorate
