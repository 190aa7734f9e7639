"""The embedded default run's report: 3D as JSON, the baseline, next steps.

`python -m zedoi_jax.main --config=configs/demo.py --workdir=DIR` is the fit
mode (zedoi_jax/modes/fit.py) on the demo set shipped in the package
(`zedoi_jax.data.demo`: infant-like poses sampled from the shipped model,
seen by a known camera). After the fit has written results.json (with its
trivial baseline, 'baseline': the model's training data mean pose scored
the same way), predictions.npz and the pictures, `report` writes
`poses_3d.json` (each pose's lifted 3D: model layout, metres, camera frame,
root-relative, and its root translation) and prints the error beside the
baseline, where the outputs are and what to run next.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from zedoi_jax import jsonio
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


def report(workdir, results: dict[str, Any], model_layout: str,
           pose_model: np.ndarray, translation: np.ndarray) -> None:
  """Writes poses_3d.json and prints the scores and where the outputs are.

  Args:
    workdir: the run's folder.
    results: the fit's results.json content.
    model_layout: layout of `pose_model`.
    pose_model: [N, J, 3] the lifted poses (root-relative, metres).
    translation: [N, 3] their root positions (camera frame, metres).
  """
  workdir = pathlib.Path(workdir)
  names = list(skeleton.get_layout(model_layout).joint_names)
  doc = {'joint_names': names, 'layout': model_layout,
         'units': 'metres', 'frame': 'camera (x right, y down, z forward), '
         'pose_3d root-relative (root = pelvis), translation = root position',
         'poses': [{'row': i, 'pose_3d': np.round(pose_model[i], 5).tolist(),
                    'translation': np.round(translation[i], 5).tolist()}
                   for i in range(len(pose_model))]}
  jsonio.write_json(workdir / 'poses_3d.json', doc, indent=1)
  base = results['baseline']
  pictures = sorted((workdir / 'pictures').glob('*.png'))
  print(f'\ndemo: {results["num_poses"]} infant-like poses (made by the '
        'shipped model) lifted from their 2D by the shipped infant model.')
  against = (f' (mean-pose baseline: {base["mpjpe_mm"]:.1f} / '
             f'{base["pa_mpjpe_mm"]:.1f} mm)' if base.get('available') else '')
  print(f'  error vs the known 3D: MPJPE {results["mpjpe_mm"]:.1f} mm, '
        f'PA-MPJPE {results["pa_mpjpe_mm"]:.1f} mm{against}')
  print(f'Outputs in {workdir.resolve()}:')
  print('  3D:       predictions.npz, poses_3d.json')
  print('  scores:   results.json, metrics.jsonl')
  if pictures:
    print('  pictures: ' + ', '.join(f'pictures/{p.name}' for p in pictures))
  print(NEXT_STEPS)
