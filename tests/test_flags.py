"""No silent wrong answers: flagged rows and bounded inputs (issue 13).

Lift runs on degenerate 2D (hypothesis-generated) must give, for every
row, either a finite pose with a finite reprojection error and status
'ok', or a NaN row with another status and a reason; JSON carries null,
never NaN or a made-up number. Out-of-range keypoints and focal lengths
are one-line errors naming the file and field.
"""

import json

from absl.testing import absltest
import hypothesis
from hypothesis import strategies as st
import numpy as np

from configs import lift as lift_config
from zedoi_jax.modes import fit as fit_mode
from zedoi_jax import jsonio
from zedoi_jax import scoring
from zedoi_jax.modes import lift as lift_mode
from zedoi_jax import validity
from zedoi_jax.errors import InputError
# Shared fixtures: tests/ is on sys.path under pytest.
# pylint: disable-next=g-bad-import-order
import data_required
from test_evaluate import SHARED_DATA
from test_evaluate import TinyPriorTestCase
from test_evaluate import tiny_config

N = 4  # rows per lift run: one compiled shape for every example
KINDS = ('normal', 'conf0', 'nan', 'one_visible', 'one_pixel', 'three')
MUST_FLAG = ('conf0', 'nan', 'one_visible', 'one_pixel', 'three')


def _row(kind: str, rng: np.random.Generator) -> np.ndarray:
  """One [17, 3] h36m17 row (x, y, confidence) of the given kind."""
  kp = np.concatenate([rng.uniform(200, 400, (17, 2)), np.ones((17, 1))], -1)
  if kind == 'conf0':
    kp[:, 2] = 0.0
  elif kind == 'nan':
    kp[:, :2] = np.nan
  elif kind == 'one_visible':
    kp[1:, 2] = 0.0
  elif kind == 'one_pixel':
    kp[:, :2] = (320.0, 240.0)
  elif kind == 'three':
    kp[3:, 2] = 0.0
  return kp


class LiftFlagsTest(TinyPriorTestCase):

  def config(self, src, **lift_kwargs):
    config = lift_config.get_config()
    config.init.prior = str(self.prior)
    config.init.adapted = ''
    config.fit.ipo_steps, config.fit.oil_steps = 3, 4
    config.fit.solve_t_last, config.fit.init_sample_steps = 1, 2
    config.fit.num_hypotheses, config.fit.batch_size = 1, N
    config.lift.pictures = False
    config.lift.layout = 'h36m17'
    config.lift.input = str(src)
    config.lift.image_width, config.lift.image_height = 640, 480
    for k, v in lift_kwargs.items():
      setattr(config.lift, k, v)
    return config

  def _lift(self, kp, name, **kwargs):
    src = self.tmp / f'{name}.npy'
    np.save(src, kp)
    workdir = self.tmp / name
    out = lift_mode.lift(self.config(src, **kwargs), workdir)
    text = (workdir / 'lifted.json').read_text()
    self.assertNotRegex(text, r'\bNaN\b|Infinity')
    with np.load(workdir / 'lifted.npz') as z:
      arrays = {k: z[k] for k in z.files}
    return out, json.loads(text), arrays

  def _check_rows(self, doc, arrays):
    for i, p in enumerate(doc['poses']):
      pose, err = arrays['poses_3d'][i], arrays['reproj_error'][i]
      if p['status'] == validity.OK:
        self.assertTrue(np.isfinite(pose).all())
        self.assertTrue(np.isfinite(err))
        self.assertIsNotNone(p['reproj_error_px'])
        self.assertNotIn('reason', p)
      else:
        self.assertIn(p['status'], validity.STATUSES)
        self.assertTrue(np.isnan(pose).all())
        self.assertTrue(np.isnan(arrays['poses_3d_abs'][i]).all())
        self.assertTrue(np.isnan(err))
        self.assertIsNone(p['reproj_error_px'])
        self.assertIsNone(p['pose_3d'][0][0])
        self.assertTrue(p['reason'])
        self.assertEqual(arrays['reason'][i], p['reason'])
    self.assertEqual(list(arrays['status']),
                     [p['status'] for p in doc['poses']])
    self.assertEqual(doc['num_flagged'],
                     sum(p['status'] != validity.OK for p in doc['poses']))

  @hypothesis.settings(derandomize=True, max_examples=8, deadline=None,
                       database=None,
                       suppress_health_check=list(hypothesis.HealthCheck))
  @hypothesis.given(kinds=st.lists(st.sampled_from(KINDS), min_size=N,
                                   max_size=N),
                    seed=st.integers(0, 2**16))
  def test_degenerate_rows_are_confident_or_flagged(self, kinds, seed):
    rng = np.random.default_rng(seed)
    kp = np.stack([_row(k, rng) for k in kinds])
    out, doc, arrays = self._lift(kp, f'prop{seed}_{"_".join(kinds)}')
    self._check_rows(doc, arrays)
    for kind, p in zip(kinds, doc['poses']):
      if kind in MUST_FLAG:
        self.assertNotEqual(p['status'], validity.OK, kind)
    self.assertEqual(out['num_flagged'], doc['num_flagged'])

  def test_each_probe_is_flagged_with_its_reason(self):
    rng = np.random.default_rng(0)
    kp = np.stack([_row(k, rng) for k in
                   ('conf0', 'one_visible', 'one_pixel', 'normal')])
    # Pictures too: they show the confident rows only.
    out, doc, arrays = self._lift(kp, 'probes', pictures=True)
    self.assertLen(out['pictures'], 2)
    self._check_rows(doc, arrays)
    self.assertEqual([p['status'] for p in doc['poses']],
                     ['too_few_joints', 'too_few_joints', 'degenerate_2d',
                      'ok'])
    self.assertRegex(doc['poses'][0]['reason'], '0 confident joint')
    self.assertEqual(doc['status_counts']['too_few_joints'], 2)
    self.assertEqual(out['num_flagged'], 3)
    # all NaN: every joint missing.
    kp = np.stack([_row('nan', rng) for _ in range(N)])
    _, doc, arrays = self._lift(kp, 'allnan')
    self.assertEqual(doc['num_flagged'], N)
    self._check_rows(doc, arrays)

  def test_huge_coordinates_are_named_errors(self):
    rng = np.random.default_rng(1)
    kp = np.stack([_row('normal', rng) for _ in range(N)])
    for value, pattern in ((1e30, 'beyond 10 image sizes'),
                           (1e39, 'too large for float32')):
      bad = kp.copy()
      bad[1, 4, 0] = value
      src = self.tmp / f'huge{value:g}.npy'
      np.save(src, bad)
      with self.assertRaisesRegex(InputError,
                                  rf"huge.*npy: field 'keypoints': .*"
                                  f'{pattern}'):
        lift_mode.lift(self.config(src), self.tmp / 'huge')
    # Without an image size: beyond 1e6 px.
    bad = kp.copy()
    bad[0, 0, 1] = -2e6
    src = self.tmp / 'nosize.npy'
    np.save(src, bad)
    k_path = self.tmp / 'K_ok.json'
    k_path.write_text(json.dumps([[500, 0, 320], [0, 500, 240], [0, 0, 1]]))
    with self.assertRaisesRegex(InputError, 'nosize.npy.*1e\\+06 px'):
      lift_mode.lift(self.config(src, image_width=0, image_height=0,
                            camera=str(k_path)), self.tmp / 'nosize')

  def test_focal_lengths_and_skew(self):
    rng = np.random.default_rng(2)
    src = self.tmp / 'cam_in.npy'
    np.save(src, np.stack([_row('normal', rng) for _ in range(N)]))
    for f, pattern in ((1e-12, 'outside the sane range'),
                       (1e30, 'outside the sane range'),
                       (0.0, 'must be > 0'), (float('nan'), 'non-finite'),
                       (1e39, 'not finite in float32')):
      path = self.tmp / 'K_bad.npy'
      np.save(path, np.array([[f, 0, 320], [0, 500, 240], [0, 0, 1]]))
      with self.assertRaisesRegex(InputError, 'K_bad.npy.*K'):
        try:
          lift_mode.lift(self.config(src, camera=str(path)), self.tmp / 'cam')
        except InputError as e:
          self.assertRegex(str(e), pattern)
          raise
    path = self.tmp / 'K_skew.npy'
    np.save(path, np.array([[500, 3, 320], [0, 500, 240], [0, 0, 1.0]]))
    with self.assertLogs(level='WARNING') as logs:
      lift_mode.lift(self.config(src, camera=str(path)), self.tmp / 'skew')
    self.assertRegex(' '.join(logs.output), r'K_skew.npy.*K\[0,1\] \(skew\)')


class FitFlagsTest(TinyPriorTestCase):

  @data_required.needs('cmu', '131_01.bvh')
  def test_flagged_rows_leave_the_metrics_and_are_listed(self):
    workdir = self.tmp / 'cmu'
    config = tiny_config(self.prior, name='cmu', subsample=100, max_poses=3,
                         mocap_files=str(SHARED_DATA / 'cmu' / '131_01.bvh'),
                         split='all')
    config.eval.pictures = False
    config.fit.min_confident_joints = 18  # more than the 17 joints: all
    results = fit_mode.fit(config, workdir)
    self.assertEqual((results['num_scored'], results['num_flagged']), (0, 3))
    text = (workdir / 'results.json').read_text()
    self.assertNotRegex(text, r'\bNaN\b|Infinity')
    saved = json.loads(text)
    self.assertIsNone(saved['mpjpe_mm'])
    self.assertIsNone(saved['reproj_error_px'])
    self.assertEqual([f['row'] for f in saved['flagged']], [0, 1, 2])
    self.assertRegex(saved['flagged'][0]['reason'], '17 confident joint')
    with np.load(workdir / 'predictions.npz') as z:
      self.assertEqual(list(z['status']), ['too_few_joints'] * 3)
      self.assertTrue(np.isnan(z['pred_poses']).all())
      self.assertTrue(np.isnan(z['translation']).all())


class ValidityTest(absltest.TestCase):

  @hypothesis.settings(derandomize=True, max_examples=60, deadline=None,
                       database=None)
  @hypothesis.given(
      conf=st.lists(st.sampled_from([0.0, 0.3, 1.0, np.nan]), min_size=17,
                    max_size=17),
      xy=st.sampled_from(['spread', 'one_pixel', 'nan']),
      need=st.integers(0, 17))
  def test_input_status(self, conf, xy, need):
    rng = np.random.default_rng(0)
    kp = {'spread': rng.uniform(0, 100, (17, 2)),
          'one_pixel': np.full((17, 2), 5.0),
          'nan': np.full((17, 2), np.nan)}[xy]
    conf = np.asarray(conf)
    status, reasons = validity.input_status(kp[None], conf[None],
                                            min_confident_joints=need)
    seen = int(((conf > 0) & np.isfinite(kp).all(-1)).sum())
    if seen < need:
      self.assertEqual(status[0], validity.TOO_FEW_JOINTS)
    elif xy == 'one_pixel' or seen <= 1:  # one point: no spread
      self.assertEqual(status[0], validity.DEGENERATE_2D)
    else:
      self.assertEqual(status[0], validity.OK)
    self.assertEqual(bool(reasons[0]), status[0] != validity.OK)

  def test_reprojection_error_nan_when_nothing_visible(self):
    kp = np.zeros((2, 3, 2))
    proj = kp + 3.0
    conf = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
    err = validity.reprojection_error(proj, kp, conf)
    self.assertTrue(np.isnan(err[0]))
    self.assertAlmostEqual(err[1], np.hypot(3, 3))

  def test_jsonable_writes_null(self):
    doc = jsonio.jsonable({'a': np.array([1.0, np.nan]),
                             'b': np.float32(np.inf), 'c': [float('-inf')]})
    self.assertEqual(json.dumps(doc, allow_nan=False),
                     '{"a": [1.0, null], "b": null, "c": [null]}')

  def test_score_results_skips_flagged_rows(self):
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(4, 12, 3))
    pred = gt + 0.01
    pred[1] = np.nan
    status = np.array(['ok', 'too_few_joints', 'ok', 'ok'])
    base = {'evaluation_layout': 'syrip12'}
    res = scoring.score_results(base, pred[:, None], pred, pred, gt,
                                 np.ones((4, 1)), status=status)
    self.assertEqual((res['num_scored'], res['num_flagged']), (3, 1))
    self.assertEqual(res['flagged'], [{'row': 1, 'status': 'too_few_joints',
                                       'reason': ''}])
    self.assertTrue(np.isfinite(res['mpjpe_mm']))
    self.assertEqual(res['variants']['mean']['num_poses'], 3)
    none = scoring.score_results(base, pred[:, None], pred, pred, gt,
                                  np.ones((4, 1)),
                                  status=np.full(4, 'too_few_joints'))
    self.assertEqual(none['num_scored'], 0)
    self.assertIsNone(jsonio.jsonable(none)['mpjpe_mm'])


if __name__ == '__main__':
  absltest.main()
