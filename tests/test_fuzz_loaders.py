"""Property-based fuzzing of every loader in `zedoi_jax.data`.

The property, for every loader and every malformed input hypothesis makes
(truncated or garbled bytes, JSON and pickled trees with keys removed or
values replaced by junk of the wrong type, NaN/inf/huge numbers, arrays of
the wrong rank, shape or dtype, garbled BVH/ASF/AMC/MINI-RGBD text): the
call either returns well-formed output (the documented shapes and dtypes,
finite floats) or raises `InputError` or `FileNotFoundError` whose message
names the file. Any other exception fails the test, with the falsifying
input printed by hypothesis.

Deterministic: `derandomize=True` and no example database, so CI runs the
same examples every time. Set ZEDOI_FUZZ_EXAMPLES to run more examples
locally (they stay deterministic for a given count).

Also here: the per-loader NaN policy (COCO maps a NaN keypoint to
confidence 0; the others reject NaN), tested directly, and one minimal
regression test per bug the fuzzer found (`RegressionTest`).
"""

import copy
import io
import json
import os
import pathlib
import tempfile
import zipfile

from absl.testing import absltest
import chex
import hypothesis
from hypothesis import strategies as st
import numpy as np

from zedoi_jax.data import checks
from zedoi_jax.data import coco
from zedoi_jax.data import h36m
from zedoi_jax.data import mini_rgbd
from zedoi_jax.data import mocap
from zedoi_jax.data import syrip
from zedoi_jax.errors import InputError

import data_required  # pylint: disable=g-bad-import-order

SHARED = data_required.root()
CMU = SHARED / 'cmu'
SYRIP = SHARED / 'syrip'

_EXAMPLES = int(os.environ.get('ZEDOI_FUZZ_EXAMPLES', '50'))


def _settings(scale=1.0):
  return hypothesis.settings(
      max_examples=max(1, int(_EXAMPLES * scale)), deadline=None,
      derandomize=True, database=None, print_blob=False,
      suppress_health_check=list(hypothesis.HealthCheck))


def _tempdir(test):
  # absltest's create_tempdir needs parsed flags, which pytest does not do.
  tmp = tempfile.TemporaryDirectory()
  test.addCleanup(tmp.cleanup)
  return pathlib.Path(tmp.name)


def _call(test, fn, names):
  """fn()'s output, or None if it raised an allowed error naming a file.

  Args:
    test: the TestCase.
    fn: the loader call.
    names: the error message must contain one of these (file paths).

  Returns:
    The output, or None after an InputError / FileNotFoundError.
  """
  try:
    return fn()
  except (InputError, FileNotFoundError) as e:
    msg = str(e)
    test.assertTrue(any(str(n) in msg for n in names),
                    f'error does not name the file {names}: {msg}')
    return None


def _assert_floats(test, x, shape, dtype=np.float32):
  """x is a finite `dtype` numpy array of `shape` (None = any size)."""
  test.assertIsInstance(x, np.ndarray)
  test.assertEqual(x.dtype, dtype)
  test.assertEqual(x.ndim, len(shape), x.shape)
  for want, got in zip(shape, x.shape):
    if want is not None:
      test.assertEqual(want, got, x.shape)
  test.assertTrue(np.all(np.isfinite(x)))


# -------------------------------------------------------------- strategies
# Tokens that are either structural keywords of one of the text formats or
# numbers the parsers must handle (non-finite, too big for float32, digit
# strings over Python's int-conversion limit, non-ASCII digits).
_TOKENS = (
    'nan', 'NaN', 'inf', '-inf', 'Infinity', '1e400', '-1e400', '3.5e38',
    '1e300', '0', '1', '-1', '2.5', '25', '99999999999', '9' * 5000, 'x',
    '\u0661\u0662', '1_0', '0x10', '\ufffd', '{', '}', '[', ']', ',', '"',
    '[' * 3000, 'ROOT', 'JOINT', 'End', 'Site', 'OFFSET', 'CHANNELS',
    'Xrotation', 'Zposition', 'MOTION', 'Frames:', 'Frame Time:', 'Frames: 3',
    'Frame Time: nan', 'HIERARCHY', ':bonedata', ':hierarchy', ':root',
    ':units', 'begin', 'end', 'root', 'name', 'direction', 'length', 'dof',
    'axis', 'order', 'rx', 'tx', 'l', 'lfemur', 'ltibia', 'rtibia', '#', ':',
    'angle', 'rad', 'XYZ', 'XXY')
_TOKEN = st.one_of(st.sampled_from(_TOKENS), st.text(max_size=4))
_NUMBER_TOKENS = ('nan', '-nan', 'inf', '-inf', '1e400', '1e300', '-1e300',
                  '3.5e38', '0', '-1', '0.5', '2.5', '1e-320', '9' * 30,
                  '9' * 5000, '\u0661', 'x')


def _is_number(token):
  try:
    float(token)
  except ValueError:
    return False
  return True


@st.composite
def _mutated_text(draw, text):
  """`text` with 1-4 line/token edits, as bytes (maybe not UTF-8)."""
  lines = text.splitlines()
  raw_tail = b''
  for _ in range(draw(st.integers(1, 4))):
    op = draw(st.sampled_from(('number', 'number', 'token', 'token',
                               'delete', 'dup', 'insert', 'truncate',
                               'bytes', 'swap')))
    if not lines:
      lines = ['']
    i = draw(st.integers(0, len(lines) - 1))
    if op == 'number':
      # A number (picked among the line's numeric tokens) made non-finite,
      # huge, fractional or negative.
      tok = lines[i].split()
      numeric = [k for k, t in enumerate(tok) if _is_number(t)]
      if numeric:
        tok[draw(st.sampled_from(numeric))] = draw(
            st.sampled_from(_NUMBER_TOKENS))
        lines[i] = ' '.join(tok)
    elif op == 'token':
      tok = lines[i].split()
      if tok:
        tok[draw(st.integers(0, len(tok) - 1))] = draw(_TOKEN)
      else:
        tok = [draw(_TOKEN)]
      lines[i] = ' '.join(tok)
    elif op == 'delete':
      del lines[i]
    elif op == 'dup':
      lines.insert(i, lines[i])
    elif op == 'insert':
      lines.insert(i, ' '.join(draw(st.lists(_TOKEN, max_size=5))))
    elif op == 'truncate':
      joined = '\n'.join(lines)
      lines = joined[:draw(st.integers(0, len(joined)))].split('\n')
    elif op == 'swap':
      j = draw(st.integers(0, len(lines) - 1))
      lines[i], lines[j] = lines[j], lines[i]
    else:
      raw_tail = draw(st.binary(min_size=1, max_size=8))
  out = '\n'.join(lines).encode('utf-8', errors='surrogatepass')
  if raw_tail:
    at = draw(st.integers(0, len(out)))
    out = out[:at] + raw_tail + out[at:]
  return out


@st.composite
def _mutated_bytes(draw, raw):
  """`raw` truncated, with regions flipped, overwritten, zeroed, inserted."""
  raw = bytearray(raw)
  for _ in range(draw(st.integers(1, 3))):
    op = draw(st.sampled_from(('truncate', 'flip', 'overwrite', 'zero',
                               'insert')))
    at = draw(st.integers(0, len(raw)))
    n = draw(st.integers(1, 64))
    if op == 'truncate':
      del raw[at:]
    elif op == 'flip':
      mask = draw(st.integers(1, 255))
      raw[at:at + n] = bytes(b ^ mask for b in raw[at:at + n])
    elif op == 'overwrite':
      raw[at:at + n] = draw(st.binary(min_size=1, max_size=n))
    elif op == 'zero':
      raw[at:at + n] = bytes(len(raw[at:at + n]))
    else:
      raw[at:at] = draw(st.binary(min_size=1, max_size=n))
  return bytes(raw)


_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-2**70, 2**70), st.sampled_from([1e300, -3.5e38, 0.0]))
_JSON_JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=5)),
    lambda c: st.one_of(st.lists(c, max_size=4),
                        st.lists(_NUMBERS, min_size=49, max_size=53),
                        st.dictionaries(st.text(max_size=3), c, max_size=3)),
    max_leaves=8)


def _make_array(shape, dtype, fill, seed):
  rng = np.random.default_rng(seed)
  if dtype == 'U':
    return np.full(shape, 'a')
  if dtype == 'O':
    out = np.empty(shape, object)
    out[...] = None
    return out
  x = rng.normal(size=shape) * 0.3
  if fill == 'huge':
    x = x * 1e300
  with np.errstate(over='ignore', invalid='ignore'):
    x = x.astype(dtype)
  if x.size and fill in ('nan', 'inf') and x.dtype.kind in 'fc':
    x.flat[rng.integers(x.size)] = np.nan if fill == 'nan' else -np.inf
  return x


_DIMS = st.sampled_from([0, 1, 2, 3, 17, 32])
_ARRAYS = st.builds(
    _make_array,
    st.one_of(
        st.lists(_DIMS, max_size=3).map(tuple),
        st.tuples(st.integers(0, 3), st.sampled_from([16, 17, 32]),
                  st.sampled_from([2, 3]))),
    st.sampled_from([np.float32, np.float64, np.int64, np.bool_,
                     np.complex64, 'U', 'O']),
    st.sampled_from(['ok', 'ok', 'nan', 'inf', 'huge']),
    st.integers(0, 2**16))
_TREE_JUNK = st.one_of(_JSON_JUNK, _ARRAYS)


def _templates(tree):
  """Every path into `tree`, list indices written '*', sorted.

  Fuzzing picks a template uniformly, then concrete list indices: so every
  kind of field (an image's id, a keypoint value, a metadata entry) is hit
  equally often, however many list elements share it.
  """
  out = set()

  def walk(node, prefix):
    out.add(prefix)
    if isinstance(node, dict):
      for k, v in node.items():
        walk(v, prefix + (k,))
    elif isinstance(node, list):
      for v in node:
        walk(v, prefix + ('*',))

  walk(tree, ())
  return sorted(out, key=repr)


@st.composite
def _mutated_tree(draw, tree, junk, templates=None):
  """A deep copy of a JSON-like tree with 1-3 random structural edits.

  Picks a path (see `_templates`), then replaces the value there with junk,
  deletes it, inserts junk beside it or truncates it.
  """
  templates = templates or _templates(tree)
  holder = [copy.deepcopy(tree)]
  for _ in range(draw(st.integers(1, 3))):
    parent, key = holder, 0
    for step in draw(st.sampled_from(templates)):
      node = parent[key]
      if step == '*' and isinstance(node, list) and node:
        parent, key = node, draw(st.integers(0, len(node) - 1))
      elif isinstance(node, dict) and step in node:
        parent, key = node, step
      else:
        break  # An earlier edit changed the structure here.
    node = parent[key]
    op = draw(st.sampled_from(('replace', 'replace', 'delete', 'insert',
                               'truncate')))
    if op == 'delete' and parent is not holder:
      del parent[key]
    elif op == 'insert' and isinstance(node, dict):
      node[draw(st.text(max_size=4))] = draw(junk)
    elif op == 'insert' and isinstance(node, list):
      node.insert(draw(st.integers(0, len(node))), draw(junk))
    elif op == 'truncate' and isinstance(node, (list, str)):
      parent[key] = node[:draw(st.integers(0, max(0, len(node) - 1)))]
    else:
      parent[key] = draw(junk)
  return holder[0]


# ------------------------------------------------------------------ checks
class ChecksFuzzTest(absltest.TestCase):

  @hypothesis.given(
      x=st.one_of(_JSON_JUNK, _ARRAYS),
      shape=st.one_of(st.none(), st.lists(
          st.one_of(st.none(), st.sampled_from([0, 1, 2, 3, 17])),
          max_size=3)),
      kind=st.sampled_from(['f', 'i', 'U', '']),
      finite=st.booleans())
  @_settings()
  def test_check_array(self, x, shape, kind, finite):
    out = _call(self, lambda: checks.check_array(
        x, source='user.npz', field='poses', shape=shape, dtype_kind=kind,
        finite=finite), ['user.npz'])
    if out is None:
      return
    self.assertIsInstance(out, np.ndarray)
    if shape is not None:
      self.assertEqual(out.ndim, len(shape))
      for want, got in zip(shape, out.shape):
        self.assertIn(want, (None, got))
    if kind == 'f':
      self.assertEqual(out.dtype.kind, 'f')
      if finite:
        self.assertTrue(np.all(np.isfinite(out)))

  @hypothesis.given(data=st.data())
  @_settings()
  def test_load_json(self, data):
    base = json.dumps({'a': [1, 2.5, None], 'b': {'c': 'text'}}).encode()
    raw = data.draw(st.one_of(_mutated_bytes(base),
                              _mutated_text(base.decode()),
                              st.binary(max_size=64)))
    path = _tempdir(self) / 'doc.json'
    path.write_bytes(raw)
    _call(self, lambda: checks.load_json(path, 'test JSON'), [path])

  def test_load_json_past_python_limits(self):
    # json raises ValueError (not JSONDecodeError) for integers of more than
    # 4300 digits, and RecursionError for deep nesting.
    tmp = _tempdir(self)
    for name, text in (('digits.json', '[' + '9' * 5000 + ']'),
                       ('deep.json', '[' * 100_000)):
      path = tmp / name
      path.write_text(text)
      with self.assertRaisesRegex(InputError, rf'{name}.*malformed JSON'):
        checks.load_json(path, 'test')

  @hypothesis.given(data=st.data())
  @_settings()
  def test_load_npz(self, data):
    tmp = _tempdir(self)
    good = tmp / 'good.npz'
    save = data.draw(st.sampled_from([np.savez, np.savez_compressed]))
    pickled = data.draw(st.booleans())
    arrays = {'a': np.arange(300.0).reshape(100, 3), 'b': np.ones(5, int)}
    if pickled:
      arrays['c'] = np.array({'S1': {'x': np.zeros((2, 17, 3))}}, object)
    save(good, **arrays)
    raw = data.draw(st.one_of(_mutated_bytes(good.read_bytes()),
                              st.binary(max_size=64)))
    path = tmp / 'bad.npz'
    path.write_bytes(raw)
    out = _call(self, lambda: checks.load_npz(path, 'test arrays',
                                              allow_pickle=pickled), [path])
    if out is not None:
      self.assertIsInstance(out, dict)
      for v in out.values():
        self.assertIsInstance(v, np.ndarray)

  @hypothesis.given(data=st.data())
  @_settings()
  def test_load_npy(self, data):
    tmp = _tempdir(self)
    good = tmp / 'good.npy'
    np.save(good, np.arange(200.0).reshape(50, 4))
    raw = data.draw(st.one_of(_mutated_bytes(good.read_bytes()),
                              st.binary(max_size=64)))
    path = tmp / 'bad.npy'
    path.write_bytes(raw)
    out = _call(self, lambda: checks.load_npy(path, 'test array'), [path])
    if out is not None:
      self.assertIsInstance(out, np.ndarray)

  def test_header_claiming_a_huge_shape(self):
    # A header that claims far more data than the file holds must fail by
    # name, before numpy tries to allocate that much.
    tmp = _tempdir(self)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {'descr': '<f8', 'fortran_order': False,
                 'shape': (10**13,)})
    member = header.getvalue() + bytes(64)
    npy = tmp / 'huge.npy'
    npy.write_bytes(member)
    with self.assertRaisesRegex(InputError, r'huge\.npy.*truncated'):
      checks.load_npy(npy, 'test')
    npz = tmp / 'huge.npz'
    with zipfile.ZipFile(npz, 'w') as z:
      z.writestr('a.npy', member)
    with self.assertRaisesRegex(InputError, r"huge\.npz.*'a'.*truncated"):
      checks.load_npz(npz, 'test')

  def test_zip_member_that_is_not_an_array(self):
    path = _tempdir(self) / 'text.npz'
    with zipfile.ZipFile(path, 'w') as z:
      z.writestr('positions_3d', b'hello')
    with self.assertRaisesRegex(InputError, r"text\.npz.*positions_3d"):
      checks.load_npz(path, 'test')


# -------------------------------------------------------------------- coco
def _coco_dataset():
  rng = np.random.default_rng(0)
  kps = [np.concatenate([rng.uniform(0, 500, (17, 2)),
                         np.full((17, 1), 2.0)], -1) for _ in range(3)]
  return {
      'images': [{'id': 1, 'file_name': 'a.jpg', 'width': 640,
                  'height': 480},
                 {'id': 2, 'file_name': 'b.jpg', 'width': 800,
                  'height': 600}],
      'annotations': [{'image_id': 1 + i % 2, 'category_id': 1,
                       'bbox': [0, 0, 10, 10],
                       'keypoints': kp.ravel().tolist()}
                      for i, kp in enumerate(kps)],
      'categories': [{'id': 1, 'name': 'person',
                      'keypoints': [f'k{i}' for i in range(17)]}],
  }


def _coco_results():
  rng = np.random.default_rng(1)
  return [{'image_id': i, 'category_id': 1, 'score': 0.9,
           'keypoints': np.concatenate(
               [rng.uniform(0, 500, (17, 2)), rng.uniform(0, 1.1, (17, 1))],
               -1).ravel().tolist()} for i in range(3)]


class CocoFuzzTest(absltest.TestCase):

  def _check(self, out):
    n = len(out['file_name'])
    _assert_floats(self, out['keypoints'], (n, 17, 2))
    _assert_floats(self, out['confidence'], (n, 17))
    self.assertTrue(np.all((out['confidence'] >= 0)
                           & (out['confidence'] <= 1)))
    _assert_floats(self, out['score'], (n,))
    self.assertEqual(out['image_id'].dtype, np.int64)
    chex.assert_shape(out['image_id'], (n,))
    self.assertEqual(out['image_wh'].dtype, np.int32)
    chex.assert_shape(out['image_wh'], (n, 2))
    self.assertTrue(np.all(out['image_wh'] >= 0))
    self.assertTrue(all(isinstance(f, str) for f in out['file_name']))
    self.assertIsInstance(out['is_results'], bool)

  @hypothesis.given(data=st.data())
  @_settings(1.5)
  def test_load_coco_keypoints(self, data):
    tmp = _tempdir(self)
    base = data.draw(st.sampled_from([_coco_dataset, _coco_results]))()
    if data.draw(st.booleans()):
      raw = json.dumps(data.draw(_mutated_tree(base, _JSON_JUNK))).encode()
    else:
      raw = data.draw(_mutated_text(json.dumps(base, indent=1)))
    path = tmp / 'keypoints.json'
    path.write_bytes(raw)
    info = None
    if data.draw(st.booleans()):
      info = tmp / 'info.json'
      info.write_text(json.dumps(data.draw(
          _mutated_tree(_coco_dataset(), _JSON_JUNK))))
    out = _call(self, lambda: coco.load_coco_keypoints(path, image_info=info),
                [path, info] if info else [path])
    if out is not None:
      self._check(out)


class CocoNanPolicyTest(absltest.TestCase):
  """NaN in COCO JSON: a missing keypoint is confidence 0, not an error."""

  def _load(self, doc):
    path = _tempdir(self) / 'nan.json'
    path.write_text(json.dumps(doc))  # Writes NaN as the token NaN.
    return path, lambda: coco.load_coco_keypoints(path)

  def test_nan_keypoint_with_zero_visibility_is_missing(self):
    doc = _coco_dataset()
    kp = doc['annotations'][0]['keypoints']
    kp[3 * 4:3 * 4 + 3] = [float('nan'), float('nan'), 0]
    kp[3 * 6] = float('inf')
    kp[3 * 6 + 2] = 0
    _, load = self._load(doc)
    out = load()
    self.assertEqual(out['confidence'][0, 4], 0.0)
    self.assertEqual(out['confidence'][0, 6], 0.0)
    np.testing.assert_array_equal(out['keypoints'][0, [4, 6]], 0.0)
    self.assertEqual(out['confidence'][0, 5], 1.0)
    chex.assert_tree_all_finite(out['keypoints'])

  def test_nan_visibility_or_score_is_missing(self):
    res = _coco_results()
    res[1]['keypoints'][3 * 2:3 * 2 + 3] = [float('nan')] * 3
    res[1]['keypoints'][3 * 9 + 2] = float('nan')
    _, load = self._load(res)
    out = load()
    self.assertEqual(out['confidence'][1, 2], 0.0)
    self.assertEqual(out['confidence'][1, 9], 0.0)
    np.testing.assert_array_equal(out['keypoints'][1, 2], 0.0)
    # A finite position with a NaN score is kept, at confidence 0.
    np.testing.assert_allclose(out['keypoints'][1, 9],
                               res[1]['keypoints'][3 * 9:3 * 9 + 2],
                               rtol=1e-6)
    self.assertGreater(out['confidence'][1, 10], 0.0)

  def test_nan_position_of_a_labelled_keypoint_is_an_error(self):
    doc = _coco_dataset()
    doc['annotations'][2]['keypoints'][3 * 7] = float('nan')  # v = 2.
    path, load = self._load(doc)
    with self.assertRaisesRegex(
        InputError, rf'{path}.*annotations\[2\]\.keypoints.*non-finite'):
      load()
    res = _coco_results()
    res[0]['keypoints'][3 * 1 + 2] = float('inf')
    path, load = self._load(res)
    with self.assertRaisesRegex(InputError, rf'{path}.*\[0\]\.keypoints'):
      load()

  def test_too_big_for_float32_is_an_error(self):
    doc = _coco_dataset()
    doc['annotations'][0]['keypoints'][0] = 1e300
    path, load = self._load(doc)
    with self.assertRaisesRegex(InputError, rf'{path}.*float32'):
      load()


# -------------------------------------------------------------------- h36m
def _pose(t, j, c, seed=0):
  return np.random.default_rng(seed).normal(size=(t, j, c)).astype(
      np.float32)


def _h36m_trees():
  meta = {'layout_name': 'coco', 'num_joints': 17,
          'keypoints_symmetry': [[1, 3, 5], [2, 4, 6]]}
  return {
      '3d': {'positions_3d': {'S1': {'Walking': _pose(3, 32, 3),
                                     'Sitting': _pose(2, 17, 3, 1)},
                              'S5': {'Eating': _pose(2, 32, 3, 2)}}},
      '2d': {'positions_2d': {'S1': {'Walking': [_pose(3, 17, 2),
                                                 _pose(3, 17, 3, 1)]}},
             'metadata': meta},
      'custom': {'positions_2d': {'v.mp4': {'custom': [_pose(4, 17, 2)]},
                                  'w.mp4': {'custom': [_pose(2, 17, 3)]}},
                 'metadata': {**meta, 'video_metadata': {
                     'v.mp4': {'w': 640, 'h': 480},
                     'w.mp4': {'w': 1920, 'h': 1080}}}},
  }


class H36mFuzzTest(absltest.TestCase):

  def _run(self, kind, path):
    if kind == '3d':
      out = _call(
          self, lambda: h36m.load_h36m_3d(path, allow_pickle=True), [path])
      if out is not None:
        for actions in out.values():
          for pose in actions.values():
            _assert_floats(self, pose, (None, 17, 3))
            self.assertGreater(pose.shape[0], 0)
    elif kind == '2d':
      res = _call(
          self, lambda: h36m.load_h36m_2d(path, allow_pickle=True), [path])
      if res is not None:
        out, meta = res
        self.assertIsInstance(meta, dict)
        joints = meta.get('num_joints')
        for actions in out.values():
          for cams in actions.values():
            self.assertNotEmpty(cams)
            for c in cams:
              _assert_floats(self, c, (None, joints, None))
              self.assertIn(c.shape[2], (2, 3))
              self.assertGreater(c.shape[0] * c.shape[1], 0)
    else:
      res = _call(
          self, lambda: h36m.load_custom_2d(path, allow_pickle=True), [path])
      if res is not None:
        out, _ = res
        for entry in out.values():
          _assert_floats(self, entry['keypoints'], (None, None, None))
          self.assertIn(entry['keypoints'].shape[2], (2, 3))
          self.assertEqual(entry['image_wh'].dtype, np.int32)
          chex.assert_shape(entry['image_wh'], (2,))
          self.assertTrue(np.all(entry['image_wh'] > 0))

  @hypothesis.given(data=st.data(), kind=st.sampled_from(['3d', '2d',
                                                          'custom']))
  @_settings(1.5)
  def test_pickled_trees(self, data, kind):
    tree = data.draw(_mutated_tree(_h36m_trees()[kind], _TREE_JUNK))
    if not isinstance(tree, dict):
      tree = {'positions_3d' if kind == '3d' else 'positions_2d': tree}
    path = _tempdir(self) / f'data_{kind}.npz'
    arrays = {}
    for k, v in tree.items():
      # np.savez needs str keys; a non-dict top level is saved as is.
      arrays[str(k) or 'empty'] = np.array(v, dtype=object) if isinstance(
          v, (dict, list)) or v is None else v
    np.savez(path, **arrays)
    self._run(kind, path)

  @hypothesis.given(data=st.data(), kind=st.sampled_from(['3d', '2d',
                                                          'custom']))
  @_settings()
  def test_corrupt_bytes(self, data, kind):
    tmp = _tempdir(self)
    good = tmp / 'good.npz'
    tree = _h36m_trees()[kind]
    save = data.draw(st.sampled_from([np.savez, np.savez_compressed]))
    save(good, **{k: np.array(v, dtype=object) for k, v in tree.items()})
    path = tmp / f'data_{kind}.npz'
    path.write_bytes(data.draw(_mutated_bytes(good.read_bytes())))
    self._run(kind, path)


# --------------------------------------------------------------- mini_rgbd
def _write_minirgbd(root, seqs=(1,), frames=(0, 1), seed=0):
  rng = np.random.default_rng(seed)
  for s in seqs:
    d2 = root / f'{s:02d}' / 'joints_2Ddep'
    d3 = root / f'{s:02d}' / 'joints_3D'
    d2.mkdir(parents=True)
    d3.mkdir(parents=True)
    for f in frames:
      uvd = np.concatenate([rng.uniform(0, 640, (25, 2)),
                            rng.uniform(500, 900, (25, 1))], -1)
      xyz = rng.normal(size=(25, 3)) * 0.2 + [0, 0, 0.8]
      (d2 / f'syn_joints_2Ddep_{f:05d}.txt').write_text(''.join(
          f'{u:.4f} {v:.4f} {d:.4f} {j}\n' for j, (u, v, d) in
          enumerate(uvd)))
      (d3 / f'syn_joints_3D_{f:05d}.txt').write_text(''.join(
          f'{x:.5f} {y:.5f} {z:.5f} {j}\n' for j, (x, y, z) in
          enumerate(xyz)))


class MiniRgbdFuzzTest(absltest.TestCase):

  @hypothesis.given(data=st.data())
  @_settings()
  def test_sequence(self, data):
    root = _tempdir(self) / 'MINI-RGBD_web'
    _write_minirgbd(root)
    seq = root / '01'
    files = sorted(seq.glob('*/*.txt'))
    valid = files[0].read_bytes()
    for _ in range(data.draw(st.integers(1, 2))):
      target = data.draw(st.sampled_from(files))
      op = data.draw(st.sampled_from(['text', 'text', 'text', 'remove',
                                      'dir', 'extra']))
      if op == 'text' and target.is_file():
        target.write_bytes(data.draw(_mutated_text(
            target.read_bytes().decode('utf-8', errors='replace'))))
      elif op == 'remove' and target.is_file():
        target.unlink()
      elif op == 'dir' and target.is_file():
        # A folder where a frame file should be.
        target.unlink()
        target.mkdir()
      elif op == 'extra':
        name = target.name.replace('0000', data.draw(st.sampled_from(
            ['9', '0000000', '1', '٣'])), 1)
        target.with_name(name).write_bytes(valid)
    out = _call(self, lambda: mini_rgbd.load_mini_rgbd_sequence(seq),
                [seq])
    if out is not None:
      t = len(out['frame_id'])
      self.assertGreater(t, 0)
      _assert_floats(self, out['joints_2d'], (t, 25, 2))
      _assert_floats(self, out['depth_2d'], (t, 25))
      _assert_floats(self, out['joints_3d'], (t, 25, 3))
      self.assertEqual(out['frame_id'].dtype, np.int64)
      arrays = mini_rgbd.to_arrays(root, [1])
      _assert_floats(self, arrays['joints_3d_h36m17'], (t, 17, 3))
      _assert_floats(self, arrays['keypoints_2d_h36m17'], (t, 17, 2))


class MiniRgbdNanPolicyTest(absltest.TestCase):
  """MINI-RGBD is synthetic and complete: NaN there is a corrupt file."""

  def test_nan_is_an_error(self):
    root = _tempdir(self)
    _write_minirgbd(root)
    path = root / '01' / 'joints_2Ddep' / 'syn_joints_2Ddep_00001.txt'
    lines = path.read_text().splitlines()
    lines[7] = 'nan 1 2 7'
    path.write_text('\n'.join(lines))
    with self.assertRaisesRegex(InputError, rf'{path}.*line 8.*non-finite'):
      mini_rgbd.load_mini_rgbd_sequence(root / '01')


# ------------------------------------------------------------------- mocap
def _head(path, frames):
  """The text of a mocap file cut to its first `frames` frames."""
  out, seen = [], 0
  with open(path, encoding='utf-8') as f:
    for line in f:
      if path.suffix == '.amc' and line.strip().isdigit():
        seen += 1
      if path.suffix == '.amc' and seen > frames:
        break
      out.append(line)
  text = ''.join(out)
  if path.suffix == '.bvh':
    head, _, body = text.partition('MOTION')
    rows = [ln for ln in body.splitlines() if ln.strip()][2:2 + frames]
    text = (head + f'MOTION\nFrames: {frames}\nFrame Time: 0.0083333\n'
            + '\n'.join(rows) + '\n')
  return text


@data_required.needs('cmu', '01.asf', '01_01.amc', '01_01.bvh')
class MocapFuzzTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.bvh = _head(CMU / '01_01.bvh', 3)
    cls.asf = (CMU / '01.asf').read_text()
    cls.amc = _head(CMU / '01_01.amc', 3)

  def _check_h36m(self, out):
    _assert_floats(self, out, (None, 17, 3))
    self.assertGreater(out.shape[0], 0)

  def test_fixtures_are_valid(self):
    tmp = _tempdir(self)
    (tmp / '01.bvh').write_text(self.bvh)
    (tmp / '01.asf').write_text(self.asf)
    (tmp / '01_01.amc').write_text(self.amc)
    chex.assert_shape(mocap.load_h36m17(tmp / '01.bvh'), (3, 17, 3))
    chex.assert_shape(mocap.load_h36m17(tmp / '01_01.amc'), (3, 17, 3))

  @hypothesis.given(data=st.data())
  @_settings()
  def test_bvh(self, data):
    path = _tempdir(self) / 'take.bvh'
    path.write_bytes(data.draw(_mutated_text(self.bvh)))
    motion = _call(self, lambda: mocap.parse_bvh(path), [path])
    if motion is None:
      return
    self.assertEqual(motion.motion.ndim, 2)
    self.assertTrue(np.all(np.isfinite(motion.motion)))
    self.assertTrue(np.isfinite(motion.frame_time) and motion.frame_time > 0)
    out = _call(self, lambda: mocap.load_h36m17(path), [path])
    if out is not None:
      self._check_h36m(out)

  @hypothesis.given(data=st.data(), which=st.sampled_from(['asf', 'amc',
                                                           'both']))
  @_settings()
  def test_asf_amc(self, data, which):
    tmp = _tempdir(self)
    asf, amc = tmp / '07.asf', tmp / '07_01.amc'
    asf.write_bytes(data.draw(_mutated_text(self.asf)) if which != 'amc'
                    else self.asf.encode())
    amc.write_bytes(data.draw(_mutated_text(self.amc)) if which != 'asf'
                    else self.amc.encode())
    skeleton = _call(self, lambda: mocap.parse_asf(asf), [asf])
    if skeleton is not None:
      for bone in skeleton.bones.values():
        self.assertTrue(np.all(np.isfinite(bone.direction)))
        self.assertTrue(np.isfinite(bone.length))
    frames = _call(self, lambda: mocap.parse_amc(amc), [amc])
    if frames is not None:
      self.assertNotEmpty(frames)
      for frame in frames:
        for v in frame.values():
          self.assertTrue(np.all(np.isfinite(v)))
    out = _call(self, lambda: mocap.load_h36m17(amc), [asf, amc])
    if out is not None:
      self._check_h36m(out)


# ------------------------------------------------------------------- syrip
@data_required.needs('syrip')
class SyripFuzzTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.json = {name: json.loads((SYRIP / name).read_text())
                for name in syrip.FILES if name.endswith('.json')}
    cls.templates = {name: _templates(doc) for name, doc in cls.json.items()}

  @hypothesis.given(data=st.data(), name=st.sampled_from(sorted(syrip.FILES)))
  @_settings(0.6)
  def test_corrupted_copy(self, data, name):
    root = _tempdir(self) / 'syrip'
    root.mkdir()
    for other in syrip.FILES:
      if other != name:
        (root / other).symlink_to(SYRIP / other)
    target = root / name
    if name.endswith('.json'):
      mode = data.draw(st.sampled_from(['tree', 'tree', 'bytes']))
      if mode == 'tree':
        raw = json.dumps(data.draw(_mutated_tree(
            self.json[name], _JSON_JUNK, self.templates[name]))).encode()
      else:
        raw = data.draw(_mutated_bytes((SYRIP / name).read_bytes()))
      target.write_bytes(raw)
    else:
      mode = data.draw(st.sampled_from(['bytes', 'array', 'nan']))
      if mode == 'bytes':
        target.write_bytes(data.draw(_mutated_bytes(
            (SYRIP / name).read_bytes())))
      elif mode == 'array':
        np.save(target, data.draw(_ARRAYS), allow_pickle=True)
      else:
        arr = np.load(SYRIP / name)
        if arr.dtype.kind == 'f':
          arr = arr.copy()
          arr.flat[data.draw(st.integers(0, arr.size - 1))] = np.nan
        else:
          arr = arr[:data.draw(st.integers(0, len(arr) - 1))]
        np.save(target, arr)
    out = _call(self, lambda: syrip.load_syrip(root), [root])
    if out is None:
      return
    n = syrip.NUM_IMAGES
    self.assertEqual(tuple(out), syrip.FIELDS)
    for key in ('original_file_name', 'merged_file_name', 'name_in_3d_files',
                'split', 'posture'):
      self.assertEqual(out[key].dtype.kind, 'U', key)
      chex.assert_shape(out[key], (n,))
    chex.assert_shape(out['image_wh'], (n, 2))
    self.assertEqual(out['image_wh'].dtype, np.int32)
    _assert_floats(self, out['bbox_xywh'], (n, 4))
    _assert_floats(self, out['gt2d_coco17'], (n, 17, 3))
    _assert_floats(self, out['pred2d_fidip_coco17'], (n, 17, 3))
    _assert_floats(self, out['gt3d_corrected_lsp14'], (n, 14, 3))
    _assert_floats(self, out['pred3d_hwhup_lsp14'], (n, 14, 3))


# ------------------------------------------------------------- regressions
class RegressionTest(absltest.TestCase):
  """The bugs the fuzzer found, each pinned by a minimal input."""

  def setUp(self):
    super().setUp()
    self.tmp = _tempdir(self)

  def test_coco_unhashable_or_huge_ids_and_sizes(self):
    cases = {
        'listid.json': ({'images': [{'id': [1]}], 'annotations': []},
                        r'images\[0\]\.id'),
        'infwidth.json': ({'images': [{'id': 1, 'width': float('inf')}],
                           'annotations': []}, r'images\[0\]\.width'),
        'bigid.json': ([{'image_id': 2**70, 'keypoints': [0] * 51}],
                       r'\[0\]\.image_id'),
        'bigscore.json': ([{'image_id': 1, 'keypoints': [0] * 51,
                            'score': 10**400}], r'\[0\]\.score'),
        'catnames.json': ({'annotations': [], 'categories': [
            {'id': 1, 'keypoints': 'k' * 17}]}, r'categories\[0\]'),
    }
    for name, (doc, pattern) in cases.items():
      path = self.tmp / name
      path.write_text(json.dumps(doc))
      with self.assertRaisesRegex(InputError, rf'{name}.*{pattern}'):
        coco.load_coco_keypoints(path)

  def test_h36m_metadata_of_the_wrong_type(self):
    pose = [_pose(2, 17, 2)]
    cases = {
        'sym_none.npz': ({'num_joints': 17, 'keypoints_symmetry': [None, []]},
                         h36m.load_h36m_2d),
        'sym_text.npz': ({'num_joints': 17,
                          'keypoints_symmetry': [['a'], [1]]},
                         h36m.load_h36m_2d),
        'joints_list.npz': ({'num_joints': [17], 'video_metadata': {
            'v': {'w': 1, 'h': 1}}}, h36m.load_custom_2d),
        'joints_none_w.npz': ({'video_metadata': {'v': {'w': None,
                                                        'h': 1}}},
                              h36m.load_custom_2d),
    }
    for name, (meta, loader) in cases.items():
      positions = ({'v': {'custom': pose}} if loader is h36m.load_custom_2d
                   else {'S1': {'A': pose}})
      path = self.tmp / name
      np.savez(path, positions_2d=positions, metadata=meta)
      with self.assertRaisesRegex(InputError, rf'{name}.*metadata'):
        loader(path, allow_pickle=True)

  def test_h36m_mixed_subject_keys(self):
    path = self.tmp / 'mixed.npz'
    np.savez(path, positions_3d={'S1': {'A': _pose(2, 17, 3)},
                                 5: {'B': _pose(2, 17, 3)}})
    self.assertEqual(list(h36m.load_h36m_3d(path, allow_pickle=True)),
                     [5, 'S1'])

  def test_mini_rgbd_non_finite_joint_id_and_folders(self):
    _write_minirgbd(self.tmp)
    path = self.tmp / '01' / 'joints_3D' / 'syn_joints_3D_00000.txt'
    good = path.read_text().splitlines()
    for bad in ('inf', 'nan', '1e400'):
      path.write_text('\n'.join(good[:-1] + [f'1 2 3 {bad}']))
      with self.assertRaisesRegex(InputError, r'00000\.txt.*joint id'):
        mini_rgbd.load_mini_rgbd_sequence(self.tmp / '01')
    path.write_text('\n'.join(good[:-1] + ['1e300 2 3 24']))
    with self.assertRaisesRegex(InputError, r'00000\.txt.*float32'):
      mini_rgbd.load_mini_rgbd_sequence(self.tmp / '01')
    path.unlink()
    path.mkdir()  # A folder named like a frame file: that frame is missing.
    with self.assertRaisesRegex(InputError, r'without 3D joints: \[0\]'):
      mini_rgbd.load_mini_rgbd_sequence(self.tmp / '01')

  @data_required.needs('cmu', '01_01.bvh')
  def test_bvh_non_finite_header_and_offsets(self):
    bvh = _head(CMU / '01_01.bvh', 3)
    cases = {
        'frames.bvh': (bvh.replace('Frames: 3', 'Frames: nan'), 'Frames'),
        'frames2.bvh': (bvh.replace('Frames: 3', 'Frames: 2.5'), 'Frames'),
        'time.bvh': (bvh.replace('Frame Time: 0.0083333', 'Frame Time: -1'),
                     'Frame Time'),
        'offset.bvh': (bvh.replace('OFFSET', 'OFFSET nan', 2).replace(
            'OFFSET nan', 'OFFSET', 1), 'non-finite OFFSET'),
    }
    for name, (text, pattern) in cases.items():
      path = self.tmp / name
      path.write_text(text)
      with self.assertRaisesRegex(InputError, rf'{name}.*{pattern}'):
        mocap.parse_bvh(path)

  @data_required.needs('cmu', '01.asf', '01_01.amc')
  def test_asf_amc_broken_hierarchy_and_values(self):
    asf = (CMU / '01.asf').read_text()
    amc = _head(CMU / '01_01.amc', 2)
    (self.tmp / '01_01.amc').write_text(amc)
    cases = {
        # rhumerus cut off from the root.
        'cut.asf': (asf.replace('rclavicle rhumerus', 'rclavicle'),
                    'not connected'),
        # A second parent for lfemur: kinematics would not be a tree.
        'loop.asf': (asf.replace('lfemur ltibia', 'lfemur ltibia lhipjoint'),
                     'not a tree'),
        'noname.asf': (asf.replace('name lfemur', 'name'), 'name missing'),
    }
    for name, (text, pattern) in cases.items():
      path = self.tmp / name
      path.write_text(text)
      with self.assertRaisesRegex(InputError, rf'{name}.*{pattern}'):
        mocap.load_h36m17(path, amc_path=self.tmp / '01_01.amc')
    path = self.tmp / 'nan.amc'
    path.write_text(amc.replace('rradius 21.1829', 'rradius nan', 1))
    with self.assertRaisesRegex(InputError, r'nan\.amc.*non-finite'):
      mocap.parse_amc(path)

  @data_required.needs('syrip')
  def test_syrip_split_image_without_annotation(self):
    root = self.tmp / 'syrip'
    root.mkdir()
    for name in syrip.FILES:
      (root / name).symlink_to(SYRIP / name)
    name = 'person_keypoints_train200_infant.json'
    doc = json.loads((SYRIP / name).read_text())
    doc['annotations'] = doc['annotations'][1:]
    (root / name).unlink()
    (root / name).write_text(json.dumps(doc))
    with self.assertRaisesRegex(InputError, rf'{name}.*no annotation'):
      syrip.load_syrip(root)


if __name__ == '__main__':
  absltest.main()
