"""Pose augmentations for training the prior: pure (rng, pose) -> pose.

Every transform takes one root-relative pose [J, 3] (camera frame: x right,
y down, z forward) and a typed key, uses only jnp, and can be vmapped over a
batch of keys and poses inside the jitted train step.

- Rotation. 'so3' (the default) draws a rotation uniformly over all of
  SO(3): infants lie on their back or front, sit and crawl, and the cameras
  that film them look down on cribs and mats, so an adult prior trained on
  upright mocap must learn every body orientation to be any use for them.
  'vertical' rotates only about the body's up axis (-y in the camera frame),
  the classic adult-H36M augmentation; 'yaw_tilt' is a vertical rotation
  followed by a bounded tilt (pitch about x and roll about z, each uniform
  in +-`max_tilt` degrees: upright bodies seen by cameras that look somewhat
  down or up); 'roll' turns the pose about the camera's optical axis (z)
  only: bodies seen from above (infants on a mat) lie at any angle in the
  image, but keep how they face the camera; 'none' keeps the pose as is.
- Mirror: with probability `mirror_prob`, negate x and swap left/right joints
  (`layout.flip_index`), so the result is again a valid left/right labelled
  pose.
- Bone scaling: one global factor in [1 - global_scale, 1 + global_scale]
  times a per-bone factor in [1 - bone_scale, 1 + bone_scale]; the pose is
  rebuilt along the kinematic tree (`layout.parents`), so each bone keeps its
  direction and the root joint stays where it was (0 for root-relative
  poses). The per-bone factor is shared by each left/right bone pair: a body
  stays left/right symmetric.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import skeleton

ROTATIONS = ('so3', 'vertical', 'yaw_tilt', 'roll', 'none')

AugmentFn = Callable[[jax.Array, jax.Array], jax.Array]


def _axis_matrix(axis: int, a: jax.Array) -> jax.Array:
  c, s = jnp.cos(a), jnp.sin(a)
  i, j = [k for k in range(3) if k != axis]
  m = jnp.eye(3)
  m = m.at[i, i].set(c).at[j, j].set(c)
  return m.at[i, j].set(-s).at[j, i].set(s)


def random_rotation_matrix(rng: jax.Array, kind: str,
                           max_tilt: float = 30.0) -> jax.Array:
  """A random 3x3 rotation.

  Args:
    rng: typed key.
    kind: 'so3' (uniform over SO(3), from a normalised Gaussian quaternion),
      'vertical' (uniform angle about the y axis), 'yaw_tilt' (that, then
      pitch and roll each uniform in +-max_tilt degrees), 'roll' (uniform
      angle about the z axis) or 'none'.
    max_tilt: degrees, for 'yaw_tilt'.

  Returns:
    [3, 3] rotation matrix (det +1).
  """
  if kind == 'none':
    return jnp.eye(3)
  if kind == 'vertical':
    a = jax.random.uniform(rng, (), minval=0.0, maxval=2.0 * jnp.pi)
    c, s = jnp.cos(a), jnp.sin(a)
    return jnp.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
  if kind == 'roll':
    a = jax.random.uniform(rng, (), minval=0.0, maxval=2.0 * jnp.pi)
    return _axis_matrix(2, a)
  if kind == 'yaw_tilt':
    y_rng, p_rng, r_rng = jax.random.split(rng, 3)
    yaw = jax.random.uniform(y_rng, (), minval=0.0, maxval=2.0 * jnp.pi)
    lim = jnp.deg2rad(max_tilt)
    pitch = jax.random.uniform(p_rng, (), minval=-lim, maxval=lim)
    roll = jax.random.uniform(r_rng, (), minval=-lim, maxval=lim)
    return _axis_matrix(0, pitch) @ _axis_matrix(2, roll) @ _axis_matrix(
        1, yaw)
  if kind == 'so3':
    # A normalised 4D Gaussian is a uniform unit quaternion, hence a uniform
    # (Haar) rotation.
    q = jax.random.normal(rng, (4,))
    w, x, y, z = q / jnp.linalg.norm(q)
    return jnp.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
  raise ValueError(f'unknown rotation {kind!r}; known {ROTATIONS}')


def rotate(rng: jax.Array, pose: jax.Array, kind: str,
           max_tilt: float = 30.0) -> jax.Array:
  """Rotates pose [J, 3] about the origin by a random rotation of `kind`."""
  return pose @ random_rotation_matrix(rng, kind, max_tilt).T


def mirror(pose: jax.Array, flip_index) -> jax.Array:
  """Left/right mirror of pose [J, 3]: x negated, left/right joints swapped."""
  flipped = pose[jnp.asarray(flip_index)]
  return flipped * jnp.array([-1.0, 1.0, 1.0], pose.dtype)


def random_mirror(rng: jax.Array, pose: jax.Array, flip_index,
                  prob: float) -> jax.Array:
  """Mirrors pose [J, 3] with probability `prob`."""
  do = jax.random.bernoulli(rng, prob)
  return jnp.where(do, mirror(pose, flip_index), pose)


def _ancestor_matrix(parents) -> np.ndarray:
  """A[j, k] = 1 if bone k (ending at joint k) lies on the path root -> j."""
  n = len(parents)
  a = np.zeros((n, n), np.float32)
  for j in range(n):
    k = j
    while parents[k] >= 0:
      a[j, k] = 1.0
      k = parents[k]
  return a


def scale_bones(pose: jax.Array, factors: jax.Array, parents) -> jax.Array:
  """Scales each bone of pose [J, 3] and rebuilds the pose along the tree.

  Args:
    pose: [J, 3].
    factors: [J] length factor of the bone ending at each joint (the tree
      root's entry is ignored).
    parents: parent index per joint, -1 for the tree root.

  Returns:
    [J, 3]: same bone directions, bone k scaled by factors[k]; the tree root
    keeps its position.
  """
  parents_np = np.asarray(parents)
  root = int(np.flatnonzero(parents_np < 0)[0])
  safe_parents = np.where(parents_np < 0, np.arange(len(parents_np)),
                          parents_np)
  offsets = pose - pose[jnp.asarray(safe_parents)]  # root offset is 0
  ancestors = jnp.asarray(_ancestor_matrix(parents_np), pose.dtype)
  return pose[root] + ancestors @ (factors[:, None] * offsets)


def make_augment_fn(*, rotation: str = 'so3', mirror_prob: float = 0.5,
                    global_scale: float = 0.1, bone_scale: float = 0.05,
                    max_tilt: float = 30.0,
                    layout: str | skeleton.Layout = 'h36m17') -> AugmentFn:
  """Composes scaling, mirroring and rotation into one transform.

  Args:
    rotation: 'so3' | 'vertical' | 'yaw_tilt' | 'roll' | 'none' (module
      docstring).
    mirror_prob: probability of a left/right mirror, in [0, 1].
    global_scale: s, global factor uniform in [1 - s, 1 + s]; in [0, 1).
    bone_scale: b, per-bone factor uniform in [1 - b, 1 + b] (shared by
      left/right pairs); in [0, 1).
    max_tilt: degrees of pitch and roll for 'yaw_tilt', in [0, 90].
    layout: joint layout of the poses (name or Layout).

  Returns:
    Pure `fn(rng, pose [J, 3]) -> [J, 3]`, vmappable.
  """
  if rotation not in ROTATIONS:
    raise ValueError(f'unknown rotation {rotation!r}; known {ROTATIONS}')
  if not 0.0 <= max_tilt <= 90.0:
    raise ValueError(f'max_tilt must be in [0, 90] degrees, got {max_tilt}')
  if not 0.0 <= mirror_prob <= 1.0:
    raise ValueError(f'mirror_prob must be in [0, 1], got {mirror_prob}')
  for name, v in (('global_scale', global_scale), ('bone_scale', bone_scale)):
    if not 0.0 <= v < 1.0:
      raise ValueError(f'{name} must be in [0, 1), got {v}')
  layout = skeleton.get_layout(layout)
  flip_index = np.asarray(layout.flip_index)
  parents = np.asarray(layout.parents)
  # Each joint's bone draws its jitter from the lower index of its
  # left/right pair, so paired bones get the same factor.
  canonical = np.minimum(np.arange(layout.num_joints), flip_index)

  def fn(rng: jax.Array, pose: jax.Array) -> jax.Array:
    if pose.shape != (layout.num_joints, 3):
      raise ValueError(f'pose must be [{layout.num_joints}, 3], got '
                       f'{pose.shape}')
    g_rng, b_rng, m_rng, r_rng = jax.random.split(rng, 4)
    if global_scale > 0 or bone_scale > 0:
      g = jax.random.uniform(g_rng, (), minval=1 - global_scale,
                             maxval=1 + global_scale)
      u = jax.random.uniform(b_rng, (layout.num_joints,),
                             minval=1 - bone_scale, maxval=1 + bone_scale)
      pose = scale_bones(pose, (g * u[canonical]).astype(pose.dtype), parents)
    if mirror_prob > 0:
      pose = random_mirror(m_rng, pose, flip_index, mirror_prob)
    if rotation != 'none':
      pose = rotate(r_rng, pose, rotation, max_tilt).astype(pose.dtype)
    return pose

  return fn
