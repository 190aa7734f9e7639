"""Fuzzing lift mode's inputs: only clear, file-naming errors come out.

Hypothesis (derandomised, bounded) writes malformed COCO JSON, truncated or
odd .npy/.npz arrays and bad camera files and feeds them to
`lift_inputs.load_input` / `lift_inputs.load_camera`; each must either load into
consistent arrays or raise `InputError` / `FileNotFoundError` naming the
file. A handful of full `lift_mode.lift` runs then check that the errors reach
the user unchanged, and that NaN keypoints are not an error: they become
missing joints (confidence 0) with a warning.
"""

import io
import json
import pathlib
import tempfile
import zipfile

from absl.testing import absltest
import hypothesis
from hypothesis import strategies as st
import numpy as np

from configs import lift as lift_config
from zedoi_jax import lift_inputs
from zedoi_jax.modes import lift as lift_mode
from zedoi_jax.errors import InputError
# Shared fixtures: tests/ is on sys.path under pytest.
# pylint: disable-next=g-bad-import-order
from test_evaluate import TinyPriorTestCase
from test_lift import coco_fixture

SETTINGS = hypothesis.settings(
    derandomize=True, max_examples=60, deadline=None, database=None,
    suppress_health_check=list(hypothesis.HealthCheck))

_NUMBERS = st.one_of(st.integers(-10**6, 10**6),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([1e39, -1e39, 0.0]))
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(max_size=8), inner,
                                            max_size=4)),
    max_leaves=20)
_COCO_KEYS = ('images', 'annotations', 'categories', 'keypoints', 'image_id',
              'width', 'height', 'id', 'category_id', 'score')


def _expect_clean(test, fn, path):
  """Runs fn(); any exception must be InputError/FileNotFoundError naming
  `path`. Returns fn()'s value or None."""
  try:
    return fn()
  except (InputError, FileNotFoundError) as e:
    test.assertIn(str(path), str(e))
    return None


def _valid_coco(n=2) -> dict:
  buf = pathlib.Path(tempfile.mkdtemp()) / 'c.json'
  return json.loads(coco_fixture(buf, n=n).read_text())


def _npz_bytes(**arrays) -> bytes:
  f = io.BytesIO()
  np.savez(f, **arrays)
  return f.getvalue()


def _npy_bytes(a) -> bytes:
  f = io.BytesIO()
  np.save(f, a)
  return f.getvalue()


class FuzzLoadersTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self._tmp = tempfile.TemporaryDirectory()
    self.addCleanup(self._tmp.cleanup)
    self.tmp = pathlib.Path(self._tmp.name)
    self.count = 0

  def _write(self, suffix, data) -> pathlib.Path:
    self.count += 1
    path = self.tmp / f'in{self.count}{suffix}'
    if isinstance(data, bytes):
      path.write_bytes(data)
    else:
      path.write_text(data)
    return path

  def _check_loaded(self, out, path):
    if out is None:
      return
    n = len(out['keypoints'])
    self.assertGreater(n, 0)
    self.assertEqual(out['keypoints'].shape[-1], 2)
    self.assertEqual(out['confidence'].shape, out['keypoints'].shape[:2])
    self.assertEqual(out['image_wh'].shape, (n, 2))
    self.assertLen(out['names'], n)
    self.assertEqual(out['source'], str(path))

  @SETTINGS
  @hypothesis.given(doc=_JSON)
  def test_random_json(self, doc):
    path = self._write('.json', json.dumps(doc))
    out = _expect_clean(self, lambda: lift_inputs.load_input(str(path), 'coco17'),
                        path)
    self._check_loaded(out, path)

  @SETTINGS
  @hypothesis.given(key=st.sampled_from(_COCO_KEYS), value=_JSON,
                    where=st.sampled_from(['top', 'image', 'annotation']),
                    cut=st.none() | st.integers(0, 2000))
  def test_mutated_coco(self, key, value, where, cut):
    doc = _valid_coco()
    target = {'top': doc, 'image': doc['images'][0],
              'annotation': doc['annotations'][0]}[where]
    target[key] = value
    text = json.dumps(doc)
    if cut is not None:
      text = text[:cut]  # truncated file
    path = self._write('.json', text)
    out = _expect_clean(self, lambda: lift_inputs.load_input(str(path), 'coco17'),
                        path)
    self._check_loaded(out, path)

  @SETTINGS
  @hypothesis.given(
      shape=st.lists(st.integers(0, 4), min_size=0, max_size=4),
      dtype=st.sampled_from(['float32', 'float64', 'int16', 'bool',
                             'complex64', 'U3']),
      container=st.sampled_from(['npy', 'npz', 'npz2']),
      fill=st.sampled_from([0.5, np.nan, np.inf]),
      cut=st.none() | st.integers(0, 400))
  def test_arrays(self, shape, dtype, container, fill, cut):
    a = np.full(shape, fill if dtype.startswith('float') else 1, dtype)
    if container == 'npy':
      data = _npy_bytes(a)
    elif container == 'npz':
      data = _npz_bytes(keypoints=a)
    else:
      data = _npz_bytes(first=a, second=a)  # no 'keypoints' name
    if cut is not None:
      data = data[:cut]
    path = self._write('.npy' if container == 'npy' else '.npz', data)
    out = _expect_clean(
        self, lambda: lift_inputs.load_input(str(path), 'h36m17', image_width=64,
                                      image_height=48), path)
    self._check_loaded(out, path)

  @SETTINGS
  @hypothesis.given(
      suffix=st.sampled_from(['.npy', '.json', '.txt', '.csv', '.mat']),
      matrix=st.lists(st.lists(_NUMBERS, min_size=0, max_size=4),
                      min_size=0, max_size=4),
      wrap=st.booleans(), cut=st.none() | st.integers(0, 200),
      garbage=st.binary(max_size=40))
  def test_camera_files(self, suffix, matrix, wrap, cut, garbage):
    try:
      arr = np.asarray(matrix, np.float64)
    except ValueError:  # ragged
      arr = None
    if suffix == '.npy':
      data = _npy_bytes(arr if arr is not None else np.zeros(2))
    elif suffix == '.json':
      data = json.dumps({'K': matrix} if wrap else matrix).encode()
    elif suffix in ('.txt', '.csv'):
      sep = ',' if suffix == '.csv' else ' '
      data = '\n'.join(sep.join(str(v) for v in row)
                       for row in matrix).encode()
    else:
      data = garbage
    if cut is not None:
      data = data[:cut]
    elif not matrix:
      data = garbage
    path = self._write(suffix, data)
    k = _expect_clean(self, lambda: lift_inputs.load_camera(str(path)), path)
    if k is not None:
      self.assertIn(k.shape[-2:], [(3, 3)])
      self.assertTrue(np.isfinite(k).all())

  def test_missing_files_are_named(self):
    for fn in (lambda p: lift_inputs.load_input(p, 'coco17'), lift_inputs.load_camera):
      with self.assertRaisesRegex(FileNotFoundError, 'absent.json'):
        fn(str(self.tmp / 'absent.json'))

  def test_zip_with_bad_member(self):
    # A valid zip whose member is not an .npy: numpy fails in its own way.
    f = io.BytesIO()
    with zipfile.ZipFile(f, 'w') as z:
      z.writestr('keypoints.npy', b'\x93NUMPY garbage')
    path = self._write('.npz', f.getvalue())
    with self.assertRaisesRegex(InputError, str(path)):
      lift_inputs.load_input(str(path), 'h36m17')


class FuzzLiftRunsTest(TinyPriorTestCase):
  """A few complete lift runs (one compiled shape, shared)."""

  def config(self, **lift_kwargs):
    config = lift_config.get_config()
    config.init.prior = str(self.prior)
    config.init.adapted = ''  # the tiny prior has no adaptation
    config.fit.ipo_steps, config.fit.oil_steps = 3, 4
    config.fit.solve_t_last, config.fit.init_sample_steps = 1, 2
    config.fit.num_hypotheses, config.fit.batch_size = 1, 4
    config.lift.pictures = False
    config.lift.layout = 'h36m17'
    config.lift.image_width, config.lift.image_height = 640, 480
    for k, v in lift_kwargs.items():
      setattr(config.lift, k, v)
    return config

  def _poses(self, n=3):
    rng = np.random.default_rng(0)
    return rng.uniform(200, 400, (n, 17, 2)).astype(np.float32)

  def test_nan_keypoints_are_missing_joints_not_errors(self):
    kp = self._poses()
    kp[0, 3] = np.nan
    kp[1, :5, 0] = np.inf
    src = self.tmp / 'nan.npy'
    np.save(src, kp)
    with self.assertLogs(level='WARNING') as logs:
      out = lift_mode.lift(self.config(input=str(src)), self.tmp / 'nan')
    self.assertRegex(' '.join(logs.output), r'6 of 51 keypoints are NaN')
    self.assertEqual(out['num_poses'], 3)
    doc = json.loads((self.tmp / 'nan' / 'lifted.json').read_text())
    self.assertEqual(doc['nan_keypoints'], 6)
    with np.load(self.tmp / 'nan' / 'lifted.npz') as z:
      self.assertTrue(np.isfinite(z['poses_3d']).all())
      self.assertTrue(np.isfinite(z['reproj_error']).all())

  def test_bad_inputs_reach_the_user_named(self):
    good = self.tmp / 'good.npy'
    np.save(good, self._poses())
    bad_k = self.tmp / 'K.json'
    bad_k.write_text('{"K": [[1, 0, 0], [0, 1, 0]]}')
    with self.assertRaisesRegex(InputError, 'K.json.*K'):
      lift_mode.lift(self.config(input=str(good), camera=str(bad_k)),
                self.tmp / 'o1')
    truncated = self.tmp / 'cut.npz'
    truncated.write_bytes(_npz_bytes(keypoints=self._poses())[:100])
    with self.assertRaisesRegex(InputError, 'cut.npz'):
      lift_mode.lift(self.config(input=str(truncated)), self.tmp / 'o2')
    wrong = self.tmp / 'wrong.npy'
    np.save(wrong, self._poses()[:, :12])
    with self.assertRaisesRegex(InputError, 'wrong.npy.*17 joints'):
      lift_mode.lift(self.config(input=str(wrong)), self.tmp / 'o3')
    with self.assertRaisesRegex(FileNotFoundError, 'absent.npy'):
      lift_mode.lift(self.config(input=str(self.tmp / 'absent.npy')),
                self.tmp / 'o4')
    broken = self.tmp / 'broken.json'
    broken.write_text(json.dumps(_valid_coco())[:-7])
    with self.assertRaisesRegex(InputError, 'broken.json.*malformed'):
      lift_mode.lift(self.config(input=str(broken), layout='coco17'),
                self.tmp / 'o5')


if __name__ == '__main__':
  absltest.main()
