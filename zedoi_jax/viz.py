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
GT_GREY = '#7f7f7f'
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
             alpha: float = 1.0, linestyle: str = '-', radius=None,
             colour: str | None = None):
  """One skeleton in a 3D axes; `colour` overrides the left/right colours."""
  p = _to_plot(pose)
  for child, parent in layout.bones:
    if np.isfinite(p[[child, parent]]).all():
      ax.plot(*p[[child, parent]].T,
              color=colour or _bone_colour(layout, child, parent),
              alpha=alpha, linestyle=linestyle, linewidth=2)
  ax.scatter(*p.T, s=6, color=colour or CENTRE, alpha=alpha)
  if radius is None:
    radius = max(float(np.nanmax(np.abs(p))), 0.1)
  ax.set_xlim(-radius, radius)
  ax.set_ylim(-radius, radius)
  ax.set_zlim(-radius, radius)
  ax.view_init(elev=ELEV, azim=AZIM)
  # Matplotlib leaves a wide margin around 3D boxes; zoom in so the
  # skeleton, not the empty box, fills the panel.
  ax.set_box_aspect((1, 1, 1), zoom=1.25)
  ax.set_xticklabels([])
  ax.set_yticklabels([])
  ax.set_zticklabels([])
  for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
    axis.set_pane_color((0.96, 0.96, 0.96, 1.0))
    # pylint: disable-next=protected-access
    axis._axinfo['grid']['color'] = (0.85, 0.85, 0.85, 1.0)


def _side_legend(fig, extra=()):
  """A figure legend naming the limb colours (and any extra handles)."""
  from matplotlib.lines import Line2D  # pylint: disable=g-import-not-at-top
  handles = [Line2D([], [], color=LEFT, lw=2, label='left'),
             Line2D([], [], color=RIGHT, lw=2, label='right')] + list(extra)
  fig.legend(handles=handles, loc='lower center', ncol=len(handles),
             fontsize=8, frameon=False)


def _centre(poses: np.ndarray, layout: skeleton.Layout) -> np.ndarray:
  poses = np.asarray(poses, np.float64)
  return poses - np.nanmean(poses[..., list(layout.root_joints), :], -2,
                            keepdims=True)


def skeleton_grid(poses_list: Sequence[np.ndarray], layout: str,
                  path: str | os.PathLike,
                  titles: Sequence[str] | None = None) -> pathlib.Path:
  """A grid of 3D skeletons: one row per pose, one column per set.

  With a single set the poses wrap instead, up to 4 per row (a long single
  column is hard to read).

  Args:
    poses_list: sets of poses, each [N, J, 3] metres (e.g. [gt, pred]); all
      sets have the same N. Each pose is root-centred for drawing; the
      panels of one pose share a scale.
    layout: joint layout name of every set.
    path: output PNG.
    titles: one title per set (with a single set: the figure's title).

  Returns:
    The written path.
  """
  plt = _plt()
  lay = skeleton.get_layout(layout)
  sets = [_centre(p, lay) for p in poses_list]
  n = sets[0].shape[0]
  if any(s.shape != sets[0].shape for s in sets):
    raise ValueError(f'pose sets differ in shape: {[s.shape for s in sets]}')
  single = len(sets) == 1
  cols = min(max(n, 1), 4) if single else len(sets)
  rows = int(np.ceil(n / cols)) if single else n
  fig = plt.figure(figsize=(2.4 * max(cols, 2), 2.4 * max(rows, 1) + 0.5))
  for i in range(n):
    # One scale per pose: the sets of a pose are comparable, and a small
    # pose is not dwarfed by the largest of the grid.
    radius = max(max(float(np.nanmax(np.abs(s[i]))) for s in sets), 0.05)
    for j, s in enumerate(sets):
      slot = i + 1 if single else i * cols + j + 1
      ax = fig.add_subplot(rows, cols, slot, projection='3d')
      _draw_3d(ax, s[i], lay, radius=radius)
      if i == 0 and titles and not single:
        ax.set_title(titles[j], fontsize=10)
  if single and titles:
    fig.suptitle(titles[0], fontsize=10)
  fig.subplots_adjust(left=0.0, right=1.0, bottom=0.35 / fig.get_figheight(),
                      top=1.0 - 0.3 / fig.get_figheight(), wspace=0.0,
                      hspace=0.05)
  _side_legend(fig)
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
  """Projected 3D (thin) over the input 2D (wide, pale), one panel per pose.

  Args:
    keypoints_2d: [N, J, 2] (or [J, 2]) input pixels.
    projected_2d: same shape, the fitted pose projected with K.
    layout: joint layout name.
    path: output PNG.
    image_wh: (width, height) pixels, or [N, 2] one per pose: the image
      border is drawn (dotted) where it falls inside a panel; None (or a
      size <= 0) draws none. Panels always frame the pose (image axes, y
      down).
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
  sizes = None
  if image_wh is not None:
    sizes = np.asarray(image_wh, np.float64)
    if sizes.shape not in ((2,), (n, 2)):
      raise ValueError(f'image_wh must be (w, h) or [{n}, 2], got shape '
                       f'{sizes.shape}')
    sizes = np.broadcast_to(sizes, (n, 2))
  cols = min(n, 4)
  rows = int(np.ceil(n / cols))
  fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.0 * rows + 0.5),
                           squeeze=False)
  for i, ax in enumerate(axes.flat):
    if i >= n:
      ax.axis('off')
      continue
    for child, parent in lay.bones:
      colour = _bone_colour(lay, child, parent)
      # Input: a wide pale band; projection: a thin line on top, so both
      # show where they coincide (a good fit) and where they part.
      if conf[i, child] > 0 and conf[i, parent] > 0:
        ax.plot(*kp[i, [child, parent]].T, color=colour, linewidth=7,
                alpha=0.25, solid_capstyle='round')
      ax.plot(*pr[i, [child, parent]].T, color=colour, linewidth=1.6)
    seen = conf[i] > 0
    ax.scatter(*kp[i, seen].T, s=28, facecolors='none', edgecolors='grey',
               linewidths=0.8)
    ax.scatter(*pr[i].T, s=5, color=CENTRE)
    # Frame the pose (input and projection), square, with a margin; the
    # image border is drawn when known.
    pts = np.concatenate([kp[i, seen], pr[i]], 0)
    pts = pts[np.isfinite(pts).all(-1)]
    lo, hi = (pts.min(0), pts.max(0)) if len(pts) else (np.zeros(2),
                                                         np.ones(2))
    mid, half = (lo + hi) / 2, max(float((hi - lo).max()) * 0.6, 1.0)
    if sizes is not None and (sizes[i] > 0).all():
      ax.add_patch(plt.Rectangle((0, 0), sizes[i, 0], sizes[i, 1],
                                 fill=False, edgecolor='grey',
                                 linestyle=':', linewidth=1))
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] + half, mid[1] - half)  # image axes: y down
    ax.set_aspect('equal')
    ax.tick_params(labelsize=7)
    if titles is not None:
      ax.set_title(titles[i], fontsize=8)
  fig.suptitle('input 2D (wide, pale; circles) vs projected 3D (thin)',
               fontsize=9)
  fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))
  _side_legend(fig)
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

  Each panel's title gives the frame and, with `gt`, its root-centred MPJPE
  (mm) against the ground truth.

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

  def label(i):
    text = f'frame {i + 1}/{f}'
    if ref is not None:
      # Root-centred MPJPE of this frame against the ground truth.
      err = np.nanmean(np.linalg.norm(traj[i] - ref, axis=-1)) * 1000
      text += f'\n{err:.0f} mm'
    return text

  def draw(ax, i):
    if ref is not None:
      _draw_3d(ax, ref, lay, alpha=0.6, linestyle=':', radius=radius,
               colour=GT_GREY)
    _draw_3d(ax, traj[i], lay, radius=radius)
    ax.set_title(label(i), fontsize=8)

  from matplotlib.lines import Line2D  # pylint: disable=g-import-not-at-top
  extra = ([Line2D([], [], color=GT_GREY, lw=2, linestyle=':',
                   label='ground truth')] if ref is not None else [])
  fig = plt.figure(figsize=(2.2 * len(pick), 2.8))
  for k, i in enumerate(pick):
    draw(fig.add_subplot(1, len(pick), k + 1, projection='3d'), i)
  fig.subplots_adjust(left=0.0, right=1.0, bottom=0.12, top=0.88,
                      wspace=0.0)
  _side_legend(fig, extra)
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=80)
  plt.close(fig)
  if gif:
    from matplotlib import animation  # pylint: disable=g-import-not-at-top
    fig = plt.figure(figsize=(3.6, 3.8))
    ax = fig.add_subplot(1, 1, 1, projection='3d')
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.1, top=0.88)
    _side_legend(fig, extra)

    def frame(i):
      ax.cla()
      draw(ax, i)

    anim = animation.FuncAnimation(fig, frame, frames=f)
    anim.save(path.with_suffix('.gif'), writer=animation.PillowWriter(fps=4),
              dpi=80)
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
  mean = float(np.nanmean(errors_mm))
  ax.axhline(mean, color='black', linestyle='--', linewidth=1)
  # Label to the right of the axes, clear of the bars.
  ax.text(1.005, mean, f'mean\n{mean:.0f}', transform=ax.get_yaxis_transform(),
          va='center', ha='left', fontsize=8)
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


def animate_sequence(path: str | os.PathLike, poses_3d: np.ndarray,
                     layout: str, *, keypoints_2d: np.ndarray | None = None,
                     confidence: np.ndarray | None = None,
                     projected_2d: np.ndarray | None = None,
                     frames: np.ndarray | None = None,
                     frame_rate: float = 30.0,
                     image_wh=None) -> pathlib.Path:
  """An animated GIF: the 3D skeleton beside the input 2D of each frame.

  Args:
    path: output .gif (matplotlib's PillowWriter).
    poses_3d: [T, J, 3] metres, camera frame (drawn root-centred, one
      fixed radius for the whole clip).
    layout: layout of `poses_3d` and of the 2D arrays.
    keypoints_2d: [T, J, 2] input pixels (joints with confidence 0 hidden).
    confidence: [T, J] of the input.
    projected_2d: [T, J, 2] the 3D reprojected (dashed).
    frames: [T] frame indices for the titles.
    frame_rate: playback frames per second.
    image_wh: (w, h) to frame the 2D panel as the image, else the data.

  Returns:
    The path written.
  """
  plt = _plt()
  from matplotlib import animation  # pylint: disable=g-import-not-at-top
  lay = skeleton.get_layout(layout)
  poses = _centre(np.asarray(poses_3d, np.float64), lay)
  t = len(poses)
  radius = max(float(np.nanmax(np.abs(_to_plot(poses)))), 0.1)
  frames = np.arange(t) if frames is None else np.asarray(frames)
  have_2d = keypoints_2d is not None or projected_2d is not None
  fig = plt.figure(figsize=(8 if have_2d else 4, 4))
  ax3 = fig.add_subplot(1, 2 if have_2d else 1, 1, projection='3d')
  ax2 = fig.add_subplot(1, 2, 2) if have_2d else None
  pts = [a for a in (keypoints_2d, projected_2d) if a is not None]
  if have_2d:
    if image_wh is not None:
      xlim, ylim = (0, float(image_wh[0])), (float(image_wh[1]), 0)
    else:
      allp = np.concatenate([np.asarray(a).reshape(-1, 2) for a in pts])
      allp = allp[np.isfinite(allp).all(-1)]
      if confidence is not None and keypoints_2d is not None:
        allp = np.concatenate([np.asarray(keypoints_2d)[confidence > 0]] + (
            [np.asarray(projected_2d).reshape(-1, 2)]
            if projected_2d is not None else []))
      lo, hi = allp.min(0), allp.max(0)
      pad = 0.1 * float((hi - lo).max() + 1)
      xlim, ylim = (lo[0] - pad, hi[0] + pad), (hi[1] + pad, lo[1] - pad)

  def draw(k):
    ax3.cla()
    _draw_3d(ax3, poses[k], lay, radius=radius)
    ax3.set_title(f'3D, frame {int(frames[k])}', fontsize=9)
    if ax2 is None:
      return
    ax2.cla()
    for child, parent in lay.bones:
      colour = _bone_colour(lay, child, parent)
      if keypoints_2d is not None:
        ok = (confidence is None or
              (confidence[k, child] > 0 and confidence[k, parent] > 0))
        if ok:
          ax2.plot(*np.asarray(keypoints_2d[k])[[child, parent]].T,
                   color=colour, linewidth=2)
      if projected_2d is not None:
        ax2.plot(*np.asarray(projected_2d[k])[[child, parent]].T,
                 color=colour, linewidth=1, linestyle='--', alpha=0.7)
    ax2.set_xlim(*xlim)
    ax2.set_ylim(*ylim)
    ax2.set_aspect('equal')
    ax2.set_title('input 2D (solid), 3D reprojected (dashed)', fontsize=9)

  anim = animation.FuncAnimation(fig, draw, frames=t, interval=1000.0 /
                                 max(frame_rate, 1e-3))
  p = pathlib.Path(path)
  anim.save(str(p), writer=animation.PillowWriter(fps=max(1, round(
      frame_rate))))
  plt.close(fig)
  return p
