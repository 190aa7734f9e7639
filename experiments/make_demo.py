r"""Makes the demo set shipped in the package (zedoi_jax/demo_data/demo_infant.npz).

The poses are made by the project's own model, from no dataset: infant-like
3D poses sampled from the shipped infant-adapted prior (the adult CMU prior +
the SyRIP control branch, reverse-SDE Euler-Maruyama from T), the most
left/right-symmetric `--num_poses` of `--num_candidates` kept (this drops the
rare broken sample), each placed 1.2-1.6 m in front of a 1000x1000 px camera
(f = 1000 px), projected, and given Gaussian pixel noise of `--noise_px`.
The known 3D is the sampled pose itself: the demo's score measures how well
the fit recovers a pose of the model's own distribution from its 2D, a check
of the pipeline, not an accuracy figure on real infants (that is SyRIP's).

  PYTHONPATH=$PWD python experiments/make_demo.py \
      --out=zedoi_jax/demo_data/demo_infant.npz

Arrays written (see zedoi_jax/data/demo.py): keypoints_2d [N, 17, 2] px
(h36m17), confidence [N, 17], K [3, 3], image_wh [2], poses_3d [N, 17, 3]
metres root-relative (camera frame), translation [N, 3] metres, plus
provenance strings.
"""

import argparse
import json
import pathlib

import jax
import numpy as np

from zedoi_jax import camera
from zedoi_jax import sampling
from zedoi_jax import skeleton
from zedoi_jax.models import load


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--out', default='zedoi_jax/demo_data/demo_infant.npz')
  ap.add_argument('--num_poses', type=int, default=48)
  ap.add_argument('--num_candidates', type=int, default=96)
  ap.add_argument('--num_steps', type=int, default=500)
  ap.add_argument('--noise_px', type=float, default=1.0)
  ap.add_argument('--seed', type=int, default=0)
  ap.add_argument('--adapted', default='syrip_control')
  args = ap.parse_args()

  model = load.load_pose_model('', args.adapted)
  layout = model.meta.get('layout', 'h36m17')
  rng = jax.random.key(args.seed)
  x = jax.jit(lambda r: sampling.sample(
      r, model.score_fn, model.params, model.sde,
      num_samples=args.num_candidates, num_joints=model.num_joints,
      num_steps=args.num_steps))(rng)
  x = np.asarray(x, np.float64) * model.scale
  x = np.asarray(skeleton.root_center(x, layout))
  ok = np.isfinite(x).all((1, 2))
  sym = np.array([sampling.symmetry_error(p[None], layout)['mean']
                  for p in x])
  sym[~ok] = np.inf
  keep = np.sort(np.argsort(sym)[:args.num_poses])
  poses = x[keep]
  n = len(poses)
  gen = np.random.default_rng(args.seed)
  trans = np.stack([gen.uniform(-0.15, 0.15, n), gen.uniform(-0.1, 0.1, n),
                    gen.uniform(1.2, 1.6, n)], -1)
  size = 1000
  K = np.asarray(camera.intrinsics(1000.0, 1000.0, size / 2, size / 2))
  kp = np.asarray(camera.project(poses + trans[:, None], K), np.float64)
  kp = kp + gen.normal(0.0, args.noise_px, kp.shape)
  provenance = {
      'made_by': 'experiments/make_demo.py',
      'command': ('PYTHONPATH=$PWD python experiments/make_demo.py '
                  f'--num_poses={args.num_poses} '
                  f'--num_candidates={args.num_candidates} '
                  f'--num_steps={args.num_steps} --noise_px={args.noise_px} '
                  f'--seed={args.seed} --adapted={args.adapted}'),
      'source': ('samples of the shipped infant-adapted prior (cmu_prior + '
                 f'{args.adapted}); no dataset file is read'),
      'model_fingerprint': model.meta.get('fingerprint'),
      'camera': 'f = 1000 px, 1000x1000 px, principal point at the centre',
      'placement': 'x in [-0.15, 0.15], y in [-0.1, 0.1], z in [1.2, 1.6] m',
      'noise_px': args.noise_px,
  }
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(
      out, keypoints_2d=kp.astype(np.float32),
      confidence=np.ones(kp.shape[:2], np.float32),
      K=K.astype(np.float32), image_wh=np.array([size, size], np.int32),
      poses_3d=poses.astype(np.float32),
      translation=trans.astype(np.float32), layout=np.array(layout),
      provenance=np.array(json.dumps(provenance)))
  print(json.dumps({'out': str(out), 'num_poses': n,
                    'bytes': out.stat().st_size,
                    'symmetry_error_kept': float(sym[keep].mean()),
                    'symmetry_error_all': float(np.mean(sym[ok]))}))


if __name__ == '__main__':
  main()
