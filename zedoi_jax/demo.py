"""The embedded default run's report: 3D as JSON, a trivial baseline, next steps.

`python -m zedoi_jax.main --config=configs/demo.py --workdir=DIR` is the fit
mode on the demo set shipped in the package (`zedoi_jax.data.demo`: infant-
like poses sampled from the shipped model, seen by a known camera). After
the fit has written results.json, predictions.npz and the pictures,
`report` adds

- `poses_3d.json`: each pose's lifted 3D (model layout, metres, camera frame,
  root-relative) and root translation;
- the mean-pose baseline in results.json ('mean_pose_baseline': per pose the
  mean of the *other* demo poses' known 3D, a guess that uses no 2D), so the
  fit's error has a trivial number beside it;

and prints where the outputs are and what to run next.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np

from zedoi_jax import metrics
from zedoi_jax import skeleton

NEXT_STEPS = """\
Next:
  * your own keypoints (COCO JSON or an [N, J, 2|3] .npy; no dataset needed):
      python -m zedoi_jax.main --config=configs/lift.py --workdir=out \\
          --config.lift.input=keypoints.json
  * the SyRIP evaluation (get the public files first):
      python -m zedoi_jax.prepare syrip --dest=DATA/syrip
      python -m zedoi_jax.main --config=configs/syrip.py --workdir=syrip \\
          --config.data.root=DATA        # or: export ZEDOI_DATA=DATA"""


def mean_pose_baseline(gt: np.ndarray, root_joints) -> dict[str, Any]:
  """Leave-one-out mean pose of `gt` [N, J, 3], scored against each pose."""
  gt = np.asarray(gt, np.float64)
  centred = gt - gt[:, list(root_joints)].mean(1, keepdims=True)
  n = len(centred)
  if n < 2:
    guess = centred
  else:
    guess = (centred.sum(0, keepdims=True) - centred) / (n - 1)
  out = metrics.summarize(guess.astype(np.float32),
                          centred.astype(np.float32), root_joints=root_joints)
  return {'mpjpe_mm': out['mpjpe_mm'], 'pa_mpjpe_mm': out['pa_mpjpe_mm'],
          'what': 'per pose the mean of the other poses\' known 3D (no 2D '
                  'used): the trivial baseline'}


def report(workdir, results: dict[str, Any], gt: np.ndarray,
           pred_eval: np.ndarray, translation: np.ndarray,
           model_layout: str, pose_model: np.ndarray) -> dict[str, Any]:
  """Writes poses_3d.json, adds the baseline to results.json, prints paths."""
  from zedoi_jax import evaluate  # pylint: disable=g-import-not-at-top
  del pred_eval
  workdir = pathlib.Path(workdir)
  lay = skeleton.get_layout(results['evaluation_layout'])
  results = dict(results)
  results['mean_pose_baseline'] = mean_pose_baseline(gt, lay.root_joints)
  evaluate.write_json(workdir / 'results.json', results)
  names = list(skeleton.get_layout(model_layout).joint_names)
  doc = {'joint_names': names, 'layout': model_layout,
         'units': 'metres', 'frame': 'camera (x right, y down, z forward), '
         'pose_3d root-relative (root = pelvis), translation = root position',
         'poses': [{'row': i, 'pose_3d': np.round(pose_model[i], 5).tolist(),
                    'translation': np.round(translation[i], 5).tolist()}
                   for i in range(len(pose_model))]}
  json_path = workdir / 'poses_3d.json'
  json_path.write_text(json.dumps(doc, indent=1) + '\n')
  base = results['mean_pose_baseline']
  pictures = sorted((workdir / 'pictures').glob('*.png'))
  print(f'\ndemo: {results["num_poses"]} infant-like poses (made by the '
        'shipped model) lifted from their 2D by the shipped infant model.')
  print(f'  error vs the known 3D: MPJPE {results["mpjpe_mm"]:.1f} mm, '
        f'PA-MPJPE {results["pa_mpjpe_mm"]:.1f} mm '
        f'(mean-pose baseline: {base["mpjpe_mm"]:.1f} / '
        f'{base["pa_mpjpe_mm"]:.1f} mm)')
  print(f'Outputs in {workdir.resolve()}:')
  print('  3D:       predictions.npz, poses_3d.json')
  print('  scores:   results.json, metrics.jsonl')
  if pictures:
    print('  pictures: ' + ', '.join(f'pictures/{p.name}' for p in pictures))
  print(NEXT_STEPS)
  return results
