"""Pictures of poses and fits (matplotlib Agg; host-only).

Imported lazily by the entry functions (evaluate, lift) and never by the
compiled code. Every figure function writes one file and returns its path.
Colours: right limbs red, left limbs blue, the rest black; 3D views share
one elevation/azimuth so poses side by side are comparable. Inputs are
numpy arrays in metres (3D, camera frame: x right, y down, z forward) or
pixels (2D).
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

import numpy as np

from zedoi_jax import skeleton

RIGHT = '#d62728'
LEFT = '#1f77b4'
CENTRE = 'black'
# Camera-frame poses are drawn with y (down) mapped to the plot's -z, so
# people stand upright; this view looks at them slightly from above.
ELEV, AZIM = 15.0, -70.0


def _plt():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _bone_colour(layout: skeleton.Layout, child: int, parent: int) -> str:
  names = (layout.joint_names[child], layout.joint_names[parent])
  if any(n.startswith('r_') for n in names):
    return RIGHT
  if any(n.startswith('l_') for n in names):
    return LEFT
  return CENTRE


def _to_plot(pose: np.ndarray) -> np.ndarray:
  """Camera frame (x, y down, z fwd) -> plot axes (x, z fwd, -y up)."""
  return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], -1)


def _draw_3d(ax, pose: np.ndarray, layout: skeleton.Layout, *,
             alpha: float = 1.0, linestyle: str = '-', radius=None):
  p = _to_plot(pose)
  for child, parent in layout.bones:
    if np.isfinite(p[[child, parent]]).all():
      ax.plot(*p[[child, parent]].T, color=_bone_colour(layout, child, parent),
              alpha=alpha, linestyle=linestyle, linewidth=2)
  ax.scatter(*p.T, s=6, color=CENTRE, alpha=alpha)
  if radius is None:
    radius = max(float(np.nanmax(np.abs(p))), 0.1)
  ax.set_xlim(-radius, radius)
  ax.set_ylim(-radius, radius)
  ax.set_zlim(-radius, radius)
  ax.view_init(elev=ELEV, azim=AZIM)
  ax.set_xticklabels([])
  ax.set_yticklabels([])
  ax.set_zticklabels([])


def _centre(poses: np.ndarray, layout: skeleton.Layout) -> np.ndarray:
  poses = np.asarray(poses, np.float64)
  return poses - np.nanmean(poses[..., list(layout.root_joints), :], -2,
                            keepdims=True)


def skeleton_grid(poses_list: Sequence[np.ndarray], layout: str,
                  path: str | os.PathLike,
                  titles: Sequence[str] | None = None) -> pathlib.Path:
  """A grid of 3D skeletons: one row per pose, one column per set.

  Args:
    poses_list: sets of poses, each [N, J, 3] metres (e.g. [gt, pred]); all
      sets have the same N. Each pose is root-centred for drawing.
    layout: joint layout name of every set.
    path: output PNG.
    titles: one title per set.

  Returns:
    The written path.
  """
  plt = _plt()
  lay = skeleton.get_layout(layout)
  sets = [_centre(p, lay) for p in poses_list]
  n = sets[0].shape[0]
  if any(s.shape != sets[0].shape for s in sets):
    raise ValueError(f'pose sets differ in shape: {[s.shape for s in sets]}')
  radius = max(float(np.nanmax(np.abs(s))) for s in sets) if n else 1.0
  cols = len(sets)
  fig = plt.figure(figsize=(2.6 * cols, 2.6 * max(n, 1)))
  for i in range(n):
    for j, s in enumerate(sets):
      ax = fig.add_subplot(n, cols, i * cols + j + 1, projection='3d')
      _draw_3d(ax, s[i], lay, radius=radius)
      if i == 0 and titles:
        ax.set_title(titles[j])
  fig.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return path


def reprojection_overlay(keypoints_2d: np.ndarray, projected_2d: np.ndarray,
                         layout: str, path: str | os.PathLike,
                         image_wh: Sequence[float] | None = None,
                         confidence: np.ndarray | None = None,
                         titles: Sequence[str] | None = None
                         ) -> pathlib.Path:
  """Projected 3D (solid) over the input 2D (dashed), one panel per pose.

  Args:
    keypoints_2d: [N, J, 2] (or [J, 2]) input pixels.
    projected_2d: same shape, the fitted pose projected with K.
    layout: joint layout name.
    path: output PNG.
    image_wh: (width, height) pixels to frame the panels (image axes, y
      down); None fits the points.
    confidence: optional [N, J]; joints with 0 are not drawn for the input.
    titles: optional one per pose.

  Returns:
    The written path.
  """
  plt = _plt()
  lay = skeleton.get_layout(layout)
  if np.shape(keypoints_2d) != np.shape(projected_2d):
    raise ValueError(f'keypoints {np.shape(keypoints_2d)} and projections '
                     f'{np.shape(projected_2d)} differ in shape')
  kp = np.asarray(keypoints_2d, np.float64).reshape(-1, lay.num_joints, 2)
  pr = np.asarray(projected_2d, np.float64).reshape(-1, lay.num_joints, 2)
  conf = (np.ones(kp.shape[:2]) if confidence is None else
          np.asarray(confidence).reshape(kp.shape[:2]))
  n = kp.shape[0]
  cols = min(n, 4)
  rows = int(np.ceil(n / cols))
  fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows),
                           squeeze=False)
  for i, ax in enumerate(axes.flat):
    if i >= n:
      ax.axis('off')
      continue
    for child, parent in lay.bones:
      colour = _bone_colour(lay, child, parent)
      if conf[i, child] > 0 and conf[i, parent] > 0:
        ax.plot(*kp[i, [child, parent]].T, color=colour, linestyle='--',
                alpha=0.5)
      ax.plot(*pr[i, [child, parent]].T, color=colour, linewidth=2)
    if image_wh is not None:
      ax.set_xlim(0, image_wh[0])
      ax.set_ylim(image_wh[1], 0)
    else:
      ax.invert_yaxis()
    ax.set_aspect('equal')
    if titles is not None:
      ax.set_title(titles[i], fontsize=8)
  fig.suptitle('input 2D (dashed) vs projected 3D (solid)', fontsize=9)
  fig.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return path


def trajectory_figure(trajectory: np.ndarray, gt: np.ndarray | None,
                      path: str | os.PathLike, *, layout: str = 'h36m17',
                      max_panels: int = 8, gif: bool = False
                      ) -> pathlib.Path:
  """The OIL trajectory of one fit: frames in blue/red, ground truth grey.

  Args:
    trajectory: [F, J, 3] metres (thinned OIL poses, first to last).
    gt: [J, 3] ground truth in the same layout, or None.
    path: output PNG (a GIF beside it, same stem, when `gif`).
    layout: joint layout name.
    max_panels: at most this many frames (evenly spaced, last included).
    gif: also write an animated GIF of every frame (PillowWriter).

  Returns:
    The PNG path.
  """
  plt = _plt()
  lay = skeleton.get_layout(layout)
  traj = _centre(trajectory, lay)
  ref = None if gt is None else _centre(gt, lay)
  f = traj.shape[0]
  pick = np.unique(np.linspace(0, f - 1, min(f, max_panels)).round()
                   .astype(int))
  radius = float(np.nanmax(np.abs(traj)))
  if ref is not None:
    radius = max(radius, float(np.nanmax(np.abs(ref))))
  fig = plt.figure(figsize=(2.4 * len(pick), 2.6))
  for k, i in enumerate(pick):
    ax = fig.add_subplot(1, len(pick), k + 1, projection='3d')
    if ref is not None:
      _draw_3d(ax, ref, lay, alpha=0.35, linestyle=':', radius=radius)
    _draw_3d(ax, traj[i], lay, radius=radius)
    ax.set_title(f'frame {i + 1}/{f}', fontsize=8)
  fig.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=80)
  plt.close(fig)
  if gif:
    from matplotlib import animation  # pylint: disable=g-import-not-at-top
    fig = plt.figure(figsize=(3, 3))
    ax = fig.add_subplot(1, 1, 1, projection='3d')

    def draw(i):
      ax.cla()
      if ref is not None:
        _draw_3d(ax, ref, lay, alpha=0.35, linestyle=':', radius=radius)
      _draw_3d(ax, traj[i], lay, radius=radius)
      ax.set_title(f'frame {i + 1}/{f}', fontsize=8)

    anim = animation.FuncAnimation(fig, draw, frames=f)
    anim.save(path.with_suffix('.gif'), writer=animation.PillowWriter(fps=4))
    plt.close(fig)
  return path


def per_joint_error_bars(errors_mm: Sequence[float],
                         joint_names: Sequence[str],
                         path: str | os.PathLike,
                         title: str = 'per-joint MPJPE') -> pathlib.Path:
  """Bar chart of per-joint errors (mm).

  Args:
    errors_mm: [J] errors in millimetres.
    joint_names: [J] names.
    path: output PNG.
    title: figure title.

  Returns:
    The written path.
  """
  plt = _plt()
  errors_mm = np.asarray(errors_mm, np.float64)
  if errors_mm.shape != (len(joint_names),):
    raise ValueError(f'{errors_mm.shape[0] if errors_mm.ndim else 0} errors '
                     f'for {len(joint_names)} joint names')
  colours = [RIGHT if n.startswith('r_') else LEFT if n.startswith('l_')
             else 'grey' for n in joint_names]
  fig, ax = plt.subplots(figsize=(0.45 * len(joint_names) + 2, 3))
  ax.bar(np.arange(len(joint_names)), errors_mm, color=colours)
  ax.set_xticks(np.arange(len(joint_names)))
  ax.set_xticklabels(joint_names, rotation=60, ha='right', fontsize=8)
  ax.set_ylabel('mm')
  ax.set_title(title)
  fig.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return path
