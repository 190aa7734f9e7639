"""Joint layouts and the joint maps between them.

Every skeleton the project touches (the Human3.6M-17 model layout, COCO-17
keypoints, SyRIP's LSP-14 3D, SyRIP's 12 limb joints, MINI-RGBD's 25 SMIL
joints) is described once here, as data: joint names, a kinematic tree, the
left/right pairs and the joints whose mean is the root. Conversions between
layouts are linear weight matrices `[J_dst, J_src]` (a row is a convex
combination of source joints: one-hot for a copied joint, 0.5/0.5 for a
midpoint), so one `einsum` converts 2D keypoints, 3D poses, and whole batches
alike, in numpy on the host or in jnp under `jit`.

Layouts:
  'h36m17'  Human3.6M 17 (VideoPose3D / ZeDO order), root = pelvis (0).
  'coco17'  COCO 17 keypoints, root = mid-hip (11, 12).
  'lsp14'   SyRIP 3D (LSP 14 order), root = mid-hip (2, 3).
  'syrip12' the 12 LSP limb joints ZeDO-i fits and evaluates on SyRIP, root =
            mid-hip (2, 3). `SYRIP12_PUBLISHED_ROOT` records the official
            code's (apparently buggy) choice.
  'smil25'  MINI-RGBD / SMIL 25 joints with SMPL parents, root = pelvis (0).
  2D detector layouts (root = mid-hip): 'body25', 'body25b', 'coco18'
  (OpenPose), 'halpe26' (AlphaPose), 'mediapipe33' (MediaPipe Pose).
"""

from __future__ import annotations

import dataclasses
import types
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax.errors import InputError


@dataclasses.dataclass(frozen=True)
class Layout:
  """A joint layout: names, kinematic tree, left/right pairs and root.

  Attributes:
    name: registry name, e.g. 'h36m17'.
    joint_names: one name per joint; left/right joints start with 'l_'/'r_'.
    parents: parent index per joint; -1 marks the (single) tree root. The
      tree only defines the bones; the pose root is `root_joints`.
    flip_pairs: (left, right) joint index pairs swapped by a mirror.
    root_joints: joints whose mean is the pose root (pelvis), e.g. (0,) for
      h36m17 or (2, 3) (mid-hip) for syrip12.
  """
  name: str
  joint_names: tuple[str, ...]
  parents: tuple[int, ...]
  flip_pairs: tuple[tuple[int, int], ...]
  root_joints: tuple[int, ...]

  def __post_init__(self):
    n = len(self.joint_names)
    if len(set(self.joint_names)) != n:
      raise ValueError(f'layout {self.name!r}: duplicate joint names')
    if len(self.parents) != n:
      raise ValueError(f'layout {self.name!r}: {len(self.parents)} parents '
                       f'for {n} joints')
    if sum(p == -1 for p in self.parents) != 1:
      raise ValueError(f'layout {self.name!r}: the tree needs exactly one '
                       'root (parent -1)')
    for j, p in enumerate(self.parents):
      if not -1 <= p < n or p == j:
        raise ValueError(f'layout {self.name!r}: bad parent {p} of joint {j}')
    # Every joint must reach the tree root, else `parents` has a cycle.
    for j in range(n):
      seen = set()
      while j != -1:
        if j in seen:
          raise ValueError(f'layout {self.name!r}: cycle in parents')
        seen.add(j)
        j = self.parents[j]
    flat = [i for pair in self.flip_pairs for i in pair]
    if any(not 0 <= i < n for i in flat) or len(set(flat)) != len(flat):
      raise ValueError(f'layout {self.name!r}: bad flip_pairs '
                       f'{self.flip_pairs}')
    if not self.root_joints or any(not 0 <= i < n for i in self.root_joints):
      raise ValueError(f'layout {self.name!r}: bad root_joints '
                       f'{self.root_joints}')

  @property
  def num_joints(self) -> int:
    return len(self.joint_names)

  @property
  def bones(self) -> tuple[tuple[int, int], ...]:
    """(child, parent) index pairs, one per non-root joint, in joint order."""
    return tuple((j, p) for j, p in enumerate(self.parents) if p >= 0)

  @property
  def left_joints(self) -> tuple[int, ...]:
    return tuple(left for left, _ in self.flip_pairs)

  @property
  def right_joints(self) -> tuple[int, ...]:
    return tuple(right for _, right in self.flip_pairs)

  @property
  def flip_index(self) -> tuple[int, ...]:
    """Permutation swapping left and right: `x[..., flip_index, :]`."""
    perm = list(range(self.num_joints))
    for left, right in self.flip_pairs:
      perm[left], perm[right] = right, left
    return tuple(perm)

  def index(self, name: str) -> int:
    """Index of the joint called `name`; ValueError naming the known ones."""
    try:
      return self.joint_names.index(name)
    except ValueError:
      raise ValueError(f'layout {self.name!r} has no joint {name!r}; joints: '
                       f'{", ".join(self.joint_names)}') from None


def _pairs(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
  """(l_x, r_x) index pairs found by name, in order of the left joints."""
  pairs = []
  for i, name in enumerate(names):
    if name.startswith('l_'):
      pairs.append((i, list(names).index('r_' + name[2:])))
  return tuple(pairs)


def _layout(name, joint_names, parents, root_joints) -> Layout:
  joint_names = tuple(joint_names)
  return Layout(name=name, joint_names=joint_names, parents=tuple(parents),
                flip_pairs=_pairs(joint_names),
                root_joints=tuple(root_joints))


# Human3.6M-17 as in VideoPose3D / MotionBERT / ZeDO / GFPose. Joint 9 is
# H36M's 'Neck/Nose' (the base of the head); parents follow the ZeDO/GFPose
# skeleton edges, so the shoulders hang from the thorax (8).
H36M17 = _layout(
    'h36m17',
    ('pelvis', 'r_hip', 'r_knee', 'r_ankle', 'l_hip', 'l_knee', 'l_ankle',
     'spine', 'thorax', 'neck_nose', 'head_top', 'l_shoulder', 'l_elbow',
     'l_wrist', 'r_shoulder', 'r_elbow', 'r_wrist'),
    (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    root_joints=(0,))

# COCO-17. COCO's own skeleton is a graph, not a tree; this tree keeps only
# COCO skeleton edges and stays left/right symmetric (nose -> eyes -> ears ->
# shoulders -> arms, shoulders -> hips -> legs). The pose root is mid-hip.
COCO17 = _layout(
    'coco17',
    ('nose', 'l_eye', 'r_eye', 'l_ear', 'r_ear', 'l_shoulder', 'r_shoulder',
     'l_elbow', 'r_elbow', 'l_wrist', 'r_wrist', 'l_hip', 'r_hip', 'l_knee',
     'r_knee', 'l_ankle', 'r_ankle'),
    (-1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    root_joints=(11, 12))

# SyRIP 3D (LSP-14 order). The tree is rooted at the neck, which joins the
# head, both shoulders and both hips (LSP has no pelvis joint).
LSP14 = _layout(
    'lsp14',
    ('r_ankle', 'r_knee', 'r_hip', 'l_hip', 'l_knee', 'l_ankle', 'r_wrist',
     'r_elbow', 'r_shoulder', 'l_shoulder', 'l_elbow', 'l_wrist', 'neck',
     'head_top'),
    (1, 2, 12, 12, 3, 4, 7, 8, 12, 12, 9, 10, -1, 12),
    root_joints=(2, 3))

# The 12 LSP limb joints ZeDO-i uses on SyRIP (LSP-14 without neck and head).
# Tree: legs hang from the hips, arms from the shoulders, each shoulder from
# its own hip, and the hips are joined (rooted at r_hip).
SYRIP12 = _layout(
    'syrip12',
    ('r_ankle', 'r_knee', 'r_hip', 'l_hip', 'l_knee', 'l_ankle', 'r_wrist',
     'r_elbow', 'r_shoulder', 'l_shoulder', 'l_elbow', 'l_wrist'),
    (1, 2, -1, 2, 3, 4, 7, 8, 2, 3, 9, 10),
    root_joints=(2, 3))

# The official SyRIP code takes the pelvis as the mean of syrip12 joints 0
# and 3 (r_ankle and l_hip). That looks like a bug (mid-hip is (2, 3), our
# default); kept here only to reproduce the published evaluation, e.g.
# `root_center(x, SYRIP12, root_joints=SYRIP12_PUBLISHED_ROOT)`.
SYRIP12_PUBLISHED_ROOT = (0, 3)

# MINI-RGBD / SMIL, names as in the dataset tooling (snake_case, 'l_'/'r_').
# They are SMPL *bone* names: the joint at index i is the start of bone i, so
# 'l_thigh' is the left hip joint, 'l_calf' the knee, 'l_foot' the ankle,
# 'l_toes' the ball of the foot, 'l_shoulder' the collar (sternoclavicular
# end), 'l_upper_arm' the shoulder joint, 'l_fore_arm' the elbow, 'l_hand'
# the wrist. Parents are SMPL's kinematic tree; the nose vertex hangs from
# the head.
SMIL25 = _layout(
    'smil25',
    ('pelvis', 'l_thigh', 'r_thigh', 'spine', 'l_calf', 'r_calf', 'spine1',
     'l_foot', 'r_foot', 'spine2', 'l_toes', 'r_toes', 'neck', 'l_shoulder',
     'r_shoulder', 'head', 'l_upper_arm', 'r_upper_arm', 'l_fore_arm',
     'r_fore_arm', 'l_hand', 'r_hand', 'l_fingers', 'r_fingers',
     'nose_vertex'),
    (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18,
     19, 20, 21, 15),
    root_joints=(0,))

# 2D detector layouts (zedoi_jax.data.detectors reads their files). Names
# follow the project's snake_case 'l_'/'r_' style; orders are the tools'.
# OpenPose BODY_25: 0 Nose, 1 Neck, 2-4 right arm, 5-7 left arm, 8 MidHip,
# 9-11 right leg, 12-14 left leg, 15-18 eyes and ears, 19-24 feet. Tree
# rooted at MidHip; the pose root is mid-hip (9, 12) as for COCO.
BODY25 = _layout(
    'body25',
    ('nose', 'neck', 'r_shoulder', 'r_elbow', 'r_wrist', 'l_shoulder',
     'l_elbow', 'l_wrist', 'mid_hip', 'r_hip', 'r_knee', 'r_ankle', 'l_hip',
     'l_knee', 'l_ankle', 'r_eye', 'l_eye', 'r_ear', 'l_ear', 'l_big_toe',
     'l_small_toe', 'l_heel', 'r_big_toe', 'r_small_toe', 'r_heel'),
    (1, 8, 1, 2, 3, 1, 5, 6, -1, 8, 9, 10, 8, 12, 13, 0, 0, 15, 16, 14, 19,
     14, 11, 22, 11),
    root_joints=(9, 12))

# OpenPose BODY_25B (experimental, Pose2Sim's default): joints 0-16 in
# COCO-17 order, 17 UpperNeck, 18 HeadTop, 19-24 feet (left then right).
BODY25B = _layout(
    'body25b',
    COCO17.joint_names + ('neck', 'head_top', 'l_big_toe', 'l_small_toe',
                          'l_heel', 'r_big_toe', 'r_small_toe', 'r_heel'),
    COCO17.parents + (0, 17, 15, 19, 15, 16, 22, 16),
    root_joints=(11, 12))

# OpenPose's COCO model (18 joints): BODY_25 without MidHip and the feet.
COCO18 = _layout(
    'coco18',
    ('nose', 'neck', 'r_shoulder', 'r_elbow', 'r_wrist', 'l_shoulder',
     'l_elbow', 'l_wrist', 'r_hip', 'r_knee', 'r_ankle', 'l_hip', 'l_knee',
     'l_ankle', 'r_eye', 'l_eye', 'r_ear', 'l_ear'),
    (1, -1, 1, 2, 3, 1, 5, 6, 1, 8, 9, 1, 11, 12, 0, 0, 14, 15),
    root_joints=(8, 11))

# AlphaPose / Halpe-26: COCO-17, then 17 Head (top of the head), 18 Neck,
# 19 Hip (mid-hip), 20/21 big toes, 22/23 small toes, 24/25 heels (left,
# right). The first 26 of Halpe-136 are the same.
HALPE26 = _layout(
    'halpe26',
    COCO17.joint_names + ('head_top', 'neck', 'mid_hip', 'l_big_toe',
                          'r_big_toe', 'l_small_toe', 'r_small_toe',
                          'l_heel', 'r_heel'),
    COCO17.parents + (0, 0, 18, 15, 16, 20, 21, 15, 16),
    root_joints=(11, 12))

# MediaPipe Pose / BlazePose, 33 landmarks ('mouth_left' = l_mouth,
# 'foot_index' = the toe tip).
MEDIAPIPE33 = _layout(
    'mediapipe33',
    ('nose', 'l_eye_inner', 'l_eye', 'l_eye_outer', 'r_eye_inner', 'r_eye',
     'r_eye_outer', 'l_ear', 'r_ear', 'l_mouth', 'r_mouth', 'l_shoulder',
     'r_shoulder', 'l_elbow', 'r_elbow', 'l_wrist', 'r_wrist', 'l_pinky',
     'r_pinky', 'l_index', 'r_index', 'l_thumb', 'r_thumb', 'l_hip', 'r_hip',
     'l_knee', 'r_knee', 'l_ankle', 'r_ankle', 'l_heel', 'r_heel',
     'l_foot_index', 'r_foot_index'),
    (-1, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0, 7, 8, 11, 12, 13, 14, 15, 16, 15, 16,
     15, 16, 11, 12, 23, 24, 25, 26, 27, 28, 27, 28),
    root_joints=(23, 24))

_LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (H36M17, COCO17, LSP14, SYRIP12, SMIL25, BODY25, BODY25B,
                   COCO18, HALPE26, MEDIAPIPE33)
}
# Read-only view of the registry.
LAYOUTS: Mapping[str, Layout] = types.MappingProxyType(_LAYOUTS)


def layout_names() -> tuple[str, ...]:
  """Names of the known layouts, sorted."""
  return tuple(sorted(_LAYOUTS))


def get_layout(name: str | Layout, *, source: str | None = None,
               field: str | None = 'layout') -> Layout:
  """Looks up a layout by name.

  Args:
    name: a layout name (see `layout_names()`), or a `Layout`, returned as is.
    source: where the name came from (a config file, a flag), for the error.
    field: the field holding the name, for the error.

  Returns:
    The `Layout`.

  Raises:
    InputError: unknown name; the message lists the known layouts.
  """
  if isinstance(name, Layout):
    return name
  try:
    return _LAYOUTS[name]
  except (KeyError, TypeError):
    raise InputError(f'unknown joint layout {name!r}; known layouts: '
                     f'{", ".join(layout_names())}',
                     source=source, field=field) from None


# ------------------------------------------------------------- joint maps
# A map is a sequence with one entry per destination joint (in destination
# order); each entry is a source joint name (copied) or a {name: weight}
# dict (a convex combination).
_Row = str | Mapping[str, float]


def _mid(*names: str) -> dict[str, float]:
  return {n: 1.0 / len(names) for n in names}


_COCO17_TO_H36M17 = (
    # MotionBERT's coco2h36m convention; joints 7, 8 and 10 are synthetic.
    _mid('l_hip', 'r_hip'),  # pelvis
    'r_hip', 'r_knee', 'r_ankle', 'l_hip', 'l_knee', 'l_ankle',
    # spine = mid(pelvis, thorax) = mean of both hips and both shoulders.
    _mid('l_hip', 'r_hip', 'l_shoulder', 'r_shoulder'),
    _mid('l_shoulder', 'r_shoulder'),  # thorax
    'nose',  # neck_nose
    _mid('l_eye', 'r_eye'),  # head_top
    'l_shoulder', 'l_elbow', 'l_wrist', 'r_shoulder', 'r_elbow', 'r_wrist',
)

_LSP14_TO_H36M17 = (
    # Ours: synthetic pelvis, spine, neck_nose (LSP has none of them).
    _mid('l_hip', 'r_hip'),  # pelvis
    'r_hip', 'r_knee', 'r_ankle', 'l_hip', 'l_knee', 'l_ankle',
    # spine = mid(pelvis, neck).
    {'l_hip': 0.25, 'r_hip': 0.25, 'neck': 0.5},
    'neck',  # thorax
    _mid('neck', 'head_top'),  # neck_nose
    'head_top',
    'l_shoulder', 'l_elbow', 'l_wrist', 'r_shoulder', 'r_elbow', 'r_wrist',
)

# The 12 limb joints by name: every source layout below names them alike.
_SYRIP12_ROWS = SYRIP12.joint_names

# ZeDO-i's published MINI-RGBD table: entry i is the SMIL joint used for
# H36M joint i. It takes the toes (10/11) for the ankles and the collars
# (13/14) for the shoulders.
_SMIL25_TO_H36M17_ZEDO = (0, 2, 5, 11, 1, 4, 10, 3, 9, 12, 15, 13, 18, 20, 14,
                          19, 21)
# The anatomical reading of the SMIL joints: ankle = foot (7/8), shoulder =
# upper arm (16/17); otherwise the same as the published table.
_SMIL25_TO_H36M17_ANATOMICAL = (0, 2, 5, 8, 1, 4, 7, 3, 9, 12, 15, 16, 18, 20,
                                17, 19, 21)

# Detector layouts -> COCO-17: every detector layout names the 17 COCO
# joints alike, so the COCO names select them.
_COCO17_ROWS = COCO17.joint_names


def _with(rows, **changes):
  """`rows` (an H36M-17 map) with some joints taken from other sources."""
  names = H36M17.joint_names
  return tuple(changes.get(n, r) for n, r in zip(names, rows))


# 'native' variants use the detector's own trunk/head joints where it has
# them instead of COCO-derived midpoints.
_BODY25_TO_H36M17_NATIVE = _with(
    _COCO17_TO_H36M17, pelvis='mid_hip', thorax='neck',
    spine={'mid_hip': 0.5, 'neck': 0.5})
_BODY25B_TO_H36M17_NATIVE = _with(_COCO17_TO_H36M17, head_top='head_top')
_HALPE26_TO_H36M17_NATIVE = _with(
    _COCO17_TO_H36M17, pelvis='mid_hip', head_top='head_top')

# (src, dst) -> {variant: rows}; the first variant listed is the default.
_MAPS: dict[tuple[str, str], dict[str, Sequence[_Row | int]]] = {
    ('coco17', 'h36m17'): {'motionbert': _COCO17_TO_H36M17},
    ('coco17', 'syrip12'): {'zedo': _SYRIP12_ROWS},
    ('lsp14', 'syrip12'): {'limbs': _SYRIP12_ROWS},
    ('h36m17', 'syrip12'): {'limbs': _SYRIP12_ROWS},
    ('lsp14', 'h36m17'): {'synthetic': _LSP14_TO_H36M17},
    ('smil25', 'h36m17'): {'anatomical': _SMIL25_TO_H36M17_ANATOMICAL,
                           'zedo': _SMIL25_TO_H36M17_ZEDO},
    # Detector layouts: default 'coco' = exactly the COCO-17 route (the same
    # 2D joints give the same model input whatever tool wrote them).
    ('body25', 'coco17'): {'names': _COCO17_ROWS},
    ('body25b', 'coco17'): {'names': _COCO17_ROWS},
    ('coco18', 'coco17'): {'names': _COCO17_ROWS},
    ('halpe26', 'coco17'): {'names': _COCO17_ROWS},
    ('mediapipe33', 'coco17'): {'names': _COCO17_ROWS},
    ('body25', 'h36m17'): {'coco': _COCO17_TO_H36M17,
                           'native': _BODY25_TO_H36M17_NATIVE},
    ('body25b', 'h36m17'): {'coco': _COCO17_TO_H36M17,
                            'native': _BODY25B_TO_H36M17_NATIVE},
    ('coco18', 'h36m17'): {'coco': _COCO17_TO_H36M17},
    ('halpe26', 'h36m17'): {'coco': _COCO17_TO_H36M17,
                            'native': _HALPE26_TO_H36M17_NATIVE},
    ('mediapipe33', 'h36m17'): {'coco': _COCO17_TO_H36M17},
}


def available_maps() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
  """(src, dst, variants) for every non-identity map; default variant first."""
  return tuple((s, d, tuple(v)) for (s, d), v in sorted(_MAPS.items()))


def _describe_maps() -> str:
  return ', '.join(f'{s}->{d} [{"|".join(v)}]' for s, d, v in available_maps())


def _build_matrix(rows: Sequence[_Row | int], src: Layout,
                  dst: Layout) -> np.ndarray:
  if len(rows) != dst.num_joints:
    raise ValueError(f'map {src.name}->{dst.name} has {len(rows)} rows for '
                     f'{dst.num_joints} joints')
  w = np.zeros((dst.num_joints, src.num_joints), np.float64)
  for i, row in enumerate(rows):
    if isinstance(row, (int, np.integer)):
      w[i, row] = 1.0
    elif isinstance(row, str):
      w[i, src.index(row)] = 1.0
    else:
      for name, weight in row.items():
        w[i, src.index(name)] += weight
  return w


def joint_map(src: str | Layout, dst: str | Layout,
              variant: str | None = None) -> np.ndarray:
  """The linear map from layout `src` to layout `dst`.

  Maps:
    * src == dst: identity.
    * coco17 -> h36m17 ('motionbert'): MotionBERT's convention. pelvis =
      mid-hips, thorax = mid-shoulders, spine = mid(pelvis, thorax), neck_nose
      <- nose, head_top = mid-eyes (synthetic: the eyes are not the head top),
      limbs copied.
    * coco17 -> syrip12 ('zedo'): ZeDO's `change_2d` order of limb joints.
    * lsp14 -> syrip12, h36m17 -> syrip12 ('limbs'): select the 12 limb
      joints (to evaluate H36M-17 predictions on SyRIP).
    * lsp14 -> h36m17 ('synthetic', ours): pelvis = mid-hips, limbs copied,
      thorax = neck, spine = mid(pelvis, neck), neck_nose = mid(neck,
      head_top), head_top = head_top. Joints 0, 7, 8, 9 are synthetic.
    * smil25 -> h36m17: variant 'anatomical' (default) takes ankle = SMIL
      foot (7/8) and shoulder = SMIL upper arm (16/17), where the joints are;
      variant 'zedo' is ZeDO-i's published table
      [0,2,5,11,1,4,10,3,9,12,15,13,18,20,14,19,21], which takes the toes
      (10/11) for the ankles and the collars (13/14) for the shoulders. Use
      'zedo' only to reproduce published MINI-RGBD numbers: the two give
      different errors.
    * body25, body25b, coco18, halpe26, mediapipe33 -> coco17 ('names'):
      the 17 COCO joints picked by name (BODY_25's 0 Nose, 16 LEye, 15 REye,
      18 LEar, 17 REar, 5 LShoulder, 2 RShoulder, ... 14 LAnkle, 11 RAnkle;
      MediaPipe's [0, 2, 5, 7, 8, 11, 12, ..., 27, 28]).
    * the same layouts -> h36m17: default 'coco' = the coco17 -> h36m17
      map on those 17 joints, so OpenPose's Neck and MidHip (and Halpe's
      Neck/Hip) are NOT used: pelvis = mid-hips, thorax = mid-shoulders,
      head_top = mid-eyes, as for COCO input, so one person seen by two
      detectors gets the same model input. Variant 'native' uses the
      detector's own joints: body25 pelvis = MidHip, thorax = Neck, spine
      = mid(MidHip, Neck); body25b head_top = HeadTop; halpe26 pelvis =
      Hip, head_top = Head.

  Args:
    src: source layout (name or `Layout`).
    dst: destination layout (name or `Layout`).
    variant: which convention, for pairs that have more than one; None = the
      pair's default.

  Returns:
    float64 `[J_dst, J_src]`, non-negative, each row summing to 1 (a copied
    joint is one-hot, a midpoint 0.5/0.5). A fresh array: safe to modify.

  Raises:
    InputError: unknown layout, no map for the pair, or unknown variant; the
      message lists what is available.
  """
  src_l = get_layout(src, field='src')
  dst_l = get_layout(dst, field='dst')
  if src_l.name == dst_l.name:
    if variant is not None:
      raise InputError(f'the identity map {src_l.name}->{dst_l.name} has no '
                       f'variants; got {variant!r}', field='variant')
    return np.eye(src_l.num_joints)
  variants = _MAPS.get((src_l.name, dst_l.name))
  if variants is None:
    raise InputError(f'no joint map from {src_l.name!r} to {dst_l.name!r}; '
                     f'available: identity, {_describe_maps()}', field='layout')
  if variant is None:
    variant = next(iter(variants))
  if variant not in variants:
    raise InputError(f'unknown variant {variant!r} for {src_l.name}->'
                     f'{dst_l.name}; variants: {", ".join(variants)}',
                     field='variant')
  return _build_matrix(variants[variant], src_l, dst_l)


def _is_jax(x) -> bool:
  # Tracers are jax.Arrays too, so this keeps jnp under jit.
  return isinstance(x, jax.Array)


def _float_dtype(xp, dtype):
  """Floating dtype for results: float32 for integers, else at least f32."""
  if not xp.issubdtype(dtype, xp.floating):
    return xp.float32
  return xp.result_type(dtype, xp.float32)


def _check_joints(x, axis: int, layout: Layout, what: str):
  if x.ndim < -axis or x.shape[axis] != layout.num_joints:
    raise ValueError(f'{what}: expected {layout.num_joints} joints '
                     f'({layout.name}) on axis {axis}, got shape {x.shape}')


def convert(x, src: str | Layout, dst: str | Layout,
            variant: str | None = None):
  """Converts joints (2D keypoints, 3D poses) from layout `src` to `dst`.

  Args:
    x: `[..., J_src, C]` numpy or jax array (any C: 2 for pixels, 3 for
      metres).
    src: source layout (name or `Layout`).
    dst: destination layout (name or `Layout`).
    variant: map variant (see `joint_map`).

  Returns:
    `[..., J_dst, C]`, a jax array for jax input (also under jit), else
    numpy; float32 for integer input, else the input's float dtype (at
    least float32).
  """
  w = joint_map(src, dst, variant)
  src_l = get_layout(src)
  if _is_jax(x):
    dtype = _float_dtype(jnp, x.dtype)
    _check_joints(x, -2, src_l, 'convert')
    return jnp.einsum('ij,...jc->...ic', jnp.asarray(w, dtype),
                      x.astype(dtype))
  x = np.asarray(x)
  dtype = _float_dtype(np, x.dtype)
  _check_joints(x, -2, src_l, 'convert')
  return np.einsum('ij,...jc->...ic', w.astype(dtype), x.astype(dtype))


def convert_confidence(conf, src: str | Layout, dst: str | Layout,
                       variant: str | None = None):
  """Converts per-joint confidences from layout `src` to `dst`.

  A derived joint is only as good as its worst source: its confidence is the
  minimum over the source joints with non-zero weight, so it is missing (0)
  when any of them is missing.

  Args:
    conf: `[..., J_src]` numpy or jax array in [0, 1]; 0 = missing.
    src: source layout (name or `Layout`).
    dst: destination layout (name or `Layout`).
    variant: map variant (see `joint_map`).

  Returns:
    `[..., J_dst]`, same array module as `conf`, floating dtype.
  """
  used = joint_map(src, dst, variant) > 0
  src_l = get_layout(src)
  xp = jnp if _is_jax(conf) else np
  conf = xp.asarray(conf)
  conf = conf.astype(_float_dtype(xp, conf.dtype))
  _check_joints(conf, -1, src_l, 'convert_confidence')
  expanded = xp.where(used, conf[..., None, :], xp.inf)
  return expanded.min(axis=-1)


def root_center(x, layout: str | Layout, *,
                root_joints: Sequence[int] | None = None):
  """Subtracts each pose's root (mean of the root joints).

  Args:
    x: `[..., J, C]` numpy or jax array.
    layout: layout of `x` (name or `Layout`).
    root_joints: overrides `layout.root_joints`, e.g.
      `SYRIP12_PUBLISHED_ROOT`.

  Returns:
    `[..., J, C]` root-relative, same array module as `x`.
  """
  layout = get_layout(layout)
  roots = list(layout.root_joints if root_joints is None else root_joints)
  xp = jnp if _is_jax(x) else np
  x = xp.asarray(x)
  _check_joints(x, -2, layout, 'root_center')
  return x - x[..., roots, :].mean(axis=-2, keepdims=True)


def bone_lengths(x, layout: str | Layout):
  """Lengths of the layout's bones.

  Args:
    x: `[..., J, 3]` numpy or jax array (metres).
    layout: layout of `x` (name or `Layout`).

  Returns:
    `[..., num_bones]` in the units of `x`, ordered as `layout.bones`.
  """
  layout = get_layout(layout)
  xp = jnp if _is_jax(x) else np
  x = xp.asarray(x)
  _check_joints(x, -2, layout, 'bone_lengths')
  child = [c for c, _ in layout.bones]
  parent = [p for _, p in layout.bones]
  return xp.linalg.norm(x[..., child, :] - x[..., parent, :], axis=-1)
