r"""Statistics of samples from an exported prior, against its training data.

Draws N poses from the prior (reverse SDE, Euler-Maruyama), then reports:
- per-bone length mean/std of the samples vs the training data, and the
  relative difference of the means;
- left/right symmetry (relative bone-length difference per pair);
- memorisation: each sample's distance to its nearest training pose, after
  rotating the training pose onto the sample (Kabsch), since the prior is
  trained with random rotations; compared with the same distance between
  held-apart training poses;
and writes `stats.json` and `samples.png` (a grid of sampled skeletons) to
--out.

  python experiments/prior_stats.py --out=/tmp/prior_stats
  python experiments/prior_stats.py --model=/tmp/prior_run/model --num=512
"""

from __future__ import annotations

import json
import pathlib
import sys

from absl import app
from absl import flags
import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
# pylint: disable=g-import-not-at-top,wrong-import-position
from zedoi_jax import sampling
from zedoi_jax import skeleton
from zedoi_jax import data as data_lib
from zedoi_jax.data import prior_data
from zedoi_jax.models import load

_MODEL = flags.DEFINE_string('model', '', "Exported prior ('' = shipped).")
_OUT = flags.DEFINE_string('out', '/tmp/prior_stats', 'Output folder.')
_NUM = flags.DEFINE_integer('num', 512, 'Number of samples.')
_STEPS = flags.DEFINE_integer('steps', 200, 'Reverse-SDE steps.')
_METHOD = flags.DEFINE_enum('method', 'em', sampling.METHODS, 'Sampler.')
_DATA = flags.DEFINE_string('data_root', '', 'Data folder ('' = default).')
_SEED = flags.DEFINE_integer('seed', 0, 'Sampling seed.')
_FILES = flags.DEFINE_string(
    'mocap_files', 'cmu,cmu_extra',
    'Training data to compare with (data.mocap_files syntax, relative to '
    'the data root).')
_SPLIT = flags.DEFINE_string('split', 'train',
                             "CMU subject split of that data ('all', "
                             "'train', 'val', 'test').")
_HZ = flags.DEFINE_float('sample_hz', 30.0, 'Sampling rate of the takes.')


def aligned_nearest_distance(samples: np.ndarray, data: np.ndarray
                             ) -> np.ndarray:
  """[N] min over data of the mean joint distance after the best rotation.

  Args:
    samples: [N, J, 3] root-relative, metres.
    data: [M, J, 3] root-relative, metres.

  Returns:
    [N] metres.
  """
  out = np.empty(len(samples))
  for i, s in enumerate(samples):
    h = np.einsum('mjc,jd->mcd', data, s)  # [M, 3, 3] cross-covariances
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    u[:, :, 2] *= d[:, None]  # exclude reflections
    r = u @ vt  # data @ r best matches s
    rotated = np.einsum('mjc,mcd->mjd', data, r)
    out[i] = np.linalg.norm(rotated - s, axis=-1).mean(-1).min()
  return out


def plot_grid(poses: np.ndarray, path: pathlib.Path, *, cols: int = 6,
              title: str = '') -> None:
  """Saves a PNG grid of 3D skeletons (x right, y down drawn upright)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  layout = skeleton.get_layout('h36m17')
  rows = int(np.ceil(len(poses) / cols))
  fig = plt.figure(figsize=(2.2 * cols, 2.4 * rows))
  for k, pose in enumerate(poses):
    ax = fig.add_subplot(rows, cols, k + 1, projection='3d')
    for c, p in layout.bones:
      color = ('tab:blue' if c in layout.left_joints else
               'tab:red' if c in layout.right_joints else 'k')
      # Plot (x, z, -y) so that "up" (-y in the camera frame) is up.
      ax.plot([pose[c, 0], pose[p, 0]], [pose[c, 2], pose[p, 2]],
              [-pose[c, 1], -pose[p, 1]], color=color, lw=1.5)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_zlim(-1, 1)
    ax.set_axis_off()
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def main(argv):
  del argv
  out = pathlib.Path(_OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  model = load.load_pose_model(_MODEL.value)
  draw = jax.jit(lambda r: sampling.sample(
      r, model.score_fn, model.params, model.sde, num_samples=_NUM.value,
      num_joints=model.num_joints, num_steps=_STEPS.value,
      method=_METHOD.value))
  x = np.asarray(draw(jax.random.key(_SEED.value))) * model.scale
  finite = np.isfinite(x).all(axis=(1, 2))
  x = x[finite]
  data = prior_data.load_prior_poses(
      mocap_files=_FILES.value or None,
      data_root=data_lib.data_root(_DATA.value), split=_SPLIT.value,
      sample_hz=_HZ.value)
  layout = skeleton.get_layout('h36m17')
  s_bones, d_bones = sampling.bone_stats(x), sampling.bone_stats(data)
  names = [f'{layout.joint_names[p]}-{layout.joint_names[c]}'
           for c, p in layout.bones]
  print(f'{"bone":26s} {"data mean":>9s} {"std":>6s} {"sample mean":>11s} '
        f'{"std":>6s} {"rel diff":>8s}')
  bones = []
  for i, name in enumerate(names):
    rel = s_bones['mean'][i] / d_bones['mean'][i] - 1
    bones.append({'bone': name, 'data_mean_m': float(d_bones['mean'][i]),
                  'data_std_m': float(d_bones['std'][i]),
                  'sample_mean_m': float(s_bones['mean'][i]),
                  'sample_std_m': float(s_bones['std'][i]),
                  'rel_diff': float(rel)})
    print(f'{name:26s} {d_bones["mean"][i]:9.3f} {d_bones["std"][i]:6.3f} '
          f'{s_bones["mean"][i]:11.3f} {s_bones["std"][i]:6.3f} '
          f'{rel:+8.1%}')
  sym_s, sym_d = sampling.symmetry_error(x), sampling.symmetry_error(data)
  spread = {'samples_mean_std_m': float(np.mean(s_bones['std'])),
            'data_mean_std_m': float(np.mean(d_bones['std']))}
  print(f'bone-length spread (mean per-bone std): samples '
        f'{spread["samples_mean_std_m"] * 100:.1f} cm, data '
        f'{spread["data_mean_std_m"] * 100:.1f} cm')
  ratio = sym_s['mean'] / max(sym_d['mean'], 1e-9)
  print(f'left/right bone-length asymmetry: samples {sym_s["mean"]:.3f}, '
        f'data {sym_d["mean"]:.3f} (x{ratio:.1f}; target <= x2: '
        f'{"met" if ratio <= 2 else "missed"})')
  rs = np.random.RandomState(0)
  sub = x[rs.choice(len(x), min(len(x), 128), replace=False)]
  nn = aligned_nearest_distance(sub, data)
  # Baseline: held-out training poses against the rest of the data.
  idx = rs.permutation(len(data))
  held, rest = data[idx[:64]], data[idx[64:]]
  nn_data = aligned_nearest_distance(held, rest)
  print(f'nearest training pose (rotation-aligned, mean joint dist): '
        f'samples median {np.median(nn) * 1000:.1f} mm (min '
        f'{nn.min() * 1000:.1f}); held-out data median '
        f'{np.median(nn_data) * 1000:.1f} mm')
  results = {
      'model': str(load.resolve(_MODEL.value, load.SHIPPED_PRIOR)),
      'num_samples': int(_NUM.value), 'num_finite': int(finite.sum()),
      'steps': _STEPS.value, 'method': _METHOD.value,
      'num_data_poses': int(len(data)), 'bones': bones,
      'mean_abs_rel_diff': float(np.mean([abs(b['rel_diff'])
                                          for b in bones])),
      'data': {'mocap_files': _FILES.value, 'split': _SPLIT.value,
               'sample_hz': _HZ.value},
      'bone_spread': spread,
      'symmetry': {'samples': sym_s, 'data': sym_d,
                   'ratio': float(ratio)},
      'nearest_m': {'samples_median': float(np.median(nn)),
                    'samples_min': float(nn.min()),
                    'heldout_data_median': float(np.median(nn_data))},
  }
  (out / 'stats.json').write_text(json.dumps(results, indent=2) + '\n')
  plot_grid(x[:24], out / 'samples.png',
            title=f'{len(x)} samples ({_METHOD.value}, {_STEPS.value} steps)')
  print(f'wrote {out / "stats.json"} and {out / "samples.png"}')


if __name__ == '__main__':
  app.run(main)
