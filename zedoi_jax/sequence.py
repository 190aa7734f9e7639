"""Sequence lifting: a person track over video frames, fitted frame by frame.

A track's first usable frame is fitted cold (`zedo.fit_one`: prior sample,
IPO, OIL at the full step counts). Every later frame is warm-started from the
last usable frame's fit (`fit_one(init=...)`: its pose, rotation and
distance along this frame's root ray; no prior sample) and runs only
`warm_ipo_steps` IPO and `warm_oil_steps` OIL steps. Temporal coherence
comes from two optional parts, measured against each other in
experiments/sequence_cmu.py (experiments/RESULTS.md, "Sequences"):

- in the loop: `anchor_weight` > 0 pulls every joint, after each OIL
  alignment, that fraction of the way toward the previous frame's fit
  (`fit_one(anchor=...)`);
- after the loop: `smoother='rts'`, a constant-velocity Kalman filter and
  Rauch-Tung-Striebel smoother run on every joint coordinate of the
  camera-frame (absolute) poses; `meas_std` is the 3D measurement noise of a
  fit (metres; a joint missing in the 2D counts as 1 / max(conf, 0.1) times
  noisier) and `accel_std` the per-frame acceleration noise (metres /
  frame^2): their ratio sets the smoothing strength.

Missed frames: a frame with no detection (mask False) or fewer than
`min_joints` joints of confidence > 0 is flagged (valid False, pose NaN), is
never fabricated (the smoother predicts across it but does not output it),
and the warm start carries over it from the last usable frame. Dropped
joints (confidence 0) are handled by the fit as everywhere else.

Everything per track is one compiled function: `lax.scan` over frames with
the fit inside, vmapped over hypotheses and over a batch of tracks. Host-side
`group_rows` turns rows with (track id, frame index) into padded [tracks,
frames] index arrays; `lift_rows` runs a whole input and returns per-row
arrays shaped like `evaluate.fit_in_chunks`'s.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import zedo
from zedoi_jax import skeleton
from zedoi_jax.errors import InputError

SMOOTHERS = ('none', 'rts')
# Sweepable sequence knobs (array leaves of the sequence hparams).
SEQ_HPARAM_NAMES = ('warm_t_max', 'warm_em_dt', 'anchor_weight', 'meas_std',
                    'accel_std')
# Prior std of the velocity (metres / frame) when a track starts.
_V0_STD = 0.1


@dataclasses.dataclass(frozen=True)
class SequenceConfig:
  """Sequence settings (`config.lift.sequence_*`, prefix dropped).

  Attributes:
    warm_ipo_steps: IPO steps of a warm-started frame.
    warm_oil_steps: OIL steps of a warm-started frame.
    warm_t_max: first OIL noise level of a warm frame (0 = fit.t_max).
    warm_em_dt: the 'em' step of a warm frame's OIL (0 = fit.em_dt): fewer
      steps of a larger size move the pose as far along the prior.
    anchor_weight: in-loop pull toward the previous fit per OIL step (0 =
      none; the term is compiled in only when > 0).
    smoother: 'rts' (Kalman + RTS on the 3D) | 'none'.
    meas_std: the smoother's 3D measurement noise (metres).
    accel_std: the smoother's acceleration noise (metres / frame^2).
    min_joints: frames with fewer joints of confidence > 0 are missed.
    track_batch: tracks per compiled call.
  """
  warm_ipo_steps: int = 0
  warm_oil_steps: int = 25
  warm_t_max: float = 0.0
  warm_em_dt: float = 0.004
  anchor_weight: float = 0.0
  smoother: str = 'rts'
  meas_std: float = 0.03
  accel_std: float = 0.008
  min_joints: int = 6
  track_batch: int = 16

  def __post_init__(self):
    if self.warm_ipo_steps < 0 or self.warm_oil_steps < 1:
      raise ValueError('need lift.sequence_warm_ipo_steps >= 0 and '
                       'lift.sequence_warm_oil_steps >= 1, got '
                       f'{self.warm_ipo_steps}, {self.warm_oil_steps}')
    if self.smoother not in SMOOTHERS:
      raise ValueError(f'lift.sequence_smoother must be one of {SMOOTHERS}, '
                       f'got {self.smoother!r}')
    if not 0 <= self.anchor_weight < 1:
      raise ValueError('need 0 <= lift.sequence_anchor_weight < 1, got '
                       f'{self.anchor_weight}')
    if self.meas_std <= 0 or self.accel_std <= 0:
      raise ValueError('lift.sequence_meas_std and lift.sequence_accel_std '
                       'must be > 0')
    if self.min_joints < 1 or self.track_batch < 1:
      raise ValueError('lift.sequence_min_joints and '
                       'lift.sequence_track_batch must be >= 1')

  @classmethod
  def from_lift(cls, lift_config: Mapping[str, Any]) -> 'SequenceConfig':
    """From `config.lift`: every `sequence_<name>` field but `sequence`."""
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k[len('sequence_'):]: v for k, v in dict(lift_config).items()
              if k.startswith('sequence_')}
    unknown = sorted(set(kwargs) - known)
    if unknown:
      raise ValueError(f'unknown lift.sequence_* settings {unknown}')
    return cls(**kwargs)

  def warm_fit_config(self, cfg: zedo.FitConfig) -> zedo.FitConfig:
    """The fit settings of a warm-started frame."""
    return dataclasses.replace(
        cfg, ipo_steps=self.warm_ipo_steps, oil_steps=self.warm_oil_steps,
        solve_t_last=min(cfg.solve_t_last, self.warm_oil_steps // 2),
        trajectory_frames=0)

  def hparams(self, cfg: zedo.FitConfig) -> dict[str, jax.Array]:
    values = dict(dataclasses.asdict(self))
    values['warm_t_max'] = self.warm_t_max or cfg.t_max
    values['warm_em_dt'] = self.warm_em_dt or cfg.em_dt
    return {k: jnp.asarray(values[k], jnp.float32) for k in SEQ_HPARAM_NAMES}


# ------------------------------------------------------------ smoother


def rts_smooth(x: jax.Array, valid: jax.Array, meas_var: jax.Array,
               accel_var: jax.Array) -> jax.Array:
  """Constant-velocity Kalman filter + RTS smoother along axis 0.

  Every trailing element is an independent 1D track with state (position,
  velocity), time step 1 frame, white-noise acceleration of variance
  `accel_var` (discrete: Q = accel_var [[1/4, 1/2], [1/2, 1]]).

  Args:
    x: [T, ...] measurements (values at invalid frames are ignored).
    valid: [T] bool, frames that carry a measurement.
    meas_var: [T, ...] or broadcastable measurement variances.
    accel_var: [] acceleration variance.

  Returns:
    [T, ...] smoothed positions (also at invalid frames: predictions; the
    caller decides what to show there).
  """
  x = jnp.asarray(x, jnp.float32)
  shape = x.shape[1:]
  meas_var = jnp.broadcast_to(jnp.asarray(meas_var, jnp.float32), x.shape)
  f = jnp.array([[1., 1.], [0., 1.]], jnp.float32)
  q = accel_var * jnp.array([[.25, .5], [.5, 1.]], jnp.float32)
  first = jnp.argmax(valid)
  m0 = jnp.stack([x[first], jnp.zeros(shape, jnp.float32)], -1)  # [..., 2]
  p0 = jnp.broadcast_to(
      jnp.diag(jnp.array([1.0, _V0_STD**2], jnp.float32)), shape + (2, 2))

  def forward(carry, inp):
    m, p = carry
    z, ok, r = inp
    mp = m @ f.T
    pp = f @ p @ f.T + q
    s = pp[..., 0, 0] + r
    gain = pp[..., :, 0] / s[..., None]  # [..., 2]
    m_u = mp + gain * (z - mp[..., 0])[..., None]
    p_u = pp - gain[..., :, None] * pp[..., None, 0, :]
    m_new = jnp.where(ok, m_u, mp)
    p_new = jnp.where(ok, p_u, pp)
    return (m_new, p_new), (m_new, p_new, mp, pp)

  # The first step predicts from (m0, p0) at "frame -1": undo that by
  # starting one frame earlier with the inverse transition.
  finv = jnp.array([[1., -1.], [0., 1.]], jnp.float32)
  m_start = m0 @ finv.T
  p_start = finv @ p0 @ finv.T
  _, (mf, pf, mp, pp) = jax.lax.scan(forward, (m_start, p_start),
                                     (x, valid, meas_var))

  def backward(carry, inp):
    ms, ps = carry
    m, p, mp_next, pp_next = inp
    gain = p @ f.T @ jnp.linalg.inv(pp_next)
    ms_new = m + ((ms - mp_next)[..., None, :] @ jnp.swapaxes(gain, -1, -2)
                  )[..., 0, :]
    ps_new = p + gain @ (ps - pp_next) @ jnp.swapaxes(gain, -1, -2)
    return (ms_new, ps_new), ms_new[..., 0]

  _, smoothed = jax.lax.scan(
      backward, (mf[-1], pf[-1]), (mf[:-1], pf[:-1], mp[1:], pp[1:]),
      reverse=True)
  return jnp.concatenate([smoothed, mf[-1:, ..., 0]], 0)


def smooth_poses(pose: jax.Array, translation: jax.Array, valid: jax.Array,
                 confidence: jax.Array, *, meas_std, accel_std,
                 root_joints=(0,)) -> tuple[jax.Array, jax.Array]:
  """RTS-smooths a track's camera-frame joints; returns (pose, translation).

  Args:
    pose: [T, J, 3] root-relative; translation [T, 3]; valid [T];
      confidence [T, J] (a joint missing in 2D is trusted less).
  """
  absolute = pose + translation[:, None]
  r = meas_std**2 / jnp.maximum(confidence, 0.1)
  smoothed = rts_smooth(absolute, valid, r[..., None], accel_std**2)
  root = smoothed[:, jnp.array(list(root_joints))].mean(1)
  return smoothed - root[:, None], root


# ------------------------------------------------------------ compiled


def make_sequence_fn(*, score_fn: zedo.ScoreFn, sde, scale: float,
                     cfg: zedo.FitConfig, seq: SequenceConfig):
  """Builds the compiled track fit.

  Returns:
    `fit_tracks(rng, batch, params, hparams=None, seq_hparams=None) ->
    dict` where batch = {'keypoints' [B, T, J, 2], 'confidence' [B, T, J],
    'K' [B, T, 3, 3], 'mask' [B, T] bool (False = no detection), 'id' [B]
    int32 track keys}; the dict holds 'pose' [B, S, T, J, 3] (NaN at
    flagged frames), 'translation' [B, S, T, 3], 'rotation' [B, S, T, 3,
    3], 'reproj_error' [B, S, T] px, 'valid' [B, T], and 'pose_raw' /
    'translation_raw' (before the smoother). Track b's hypothesis h uses
    fold_in(fold_in(rng, id[b]), h) and frame t fold_in(that, t).
    `fit_tracks.num_traces()` counts compilations.
  """
  warm_cfg = seq.warm_fit_config(cfg)
  common = dict(score_fn=score_fn, sde=sde, scale=scale)
  cold = functools.partial(zedo.fit_one, cfg=cfg, **common)
  warm = functools.partial(zedo.fit_one, cfg=warm_cfg, **common)
  root = skeleton.get_layout(cfg.layout).root_joints
  use_anchor = seq.anchor_weight > 0
  traces = [0]

  def one_track(key, kp, conf, K, valid, params, hp, shp, bank):
    whp = dict(hp, t_max=jnp.maximum(shp['warm_t_max'], hp['t_min']),
               em_dt=shp['warm_em_dt'])
    first = jnp.argmax(valid)
    c = cold(jax.random.fold_in(key, first), kp[first], conf[first],
             K[first], params, hparams=hp, pose_bank=bank)
    state0 = (c.pose, c.translation, c.rotation)

    def step(state, inp):
      t, kp_t, conf_t, K_t, ok = inp
      init = {'pose': state[0], 'translation': state[1],
              'rotation': state[2]}
      anchor = ((state[0] + state[1], shp['anchor_weight'])
                if use_anchor else None)
      r = warm(jax.random.fold_in(key, t), kp_t, conf_t, K_t, params,
               hparams=whp, init=init, anchor=anchor)
      is_first = t == first
      res = jax.tree.map(lambda a, b: jnp.where(is_first, a, b),
                         (c.pose, c.translation, c.rotation, c.reproj_error),
                         (r.pose, r.translation, r.rotation, r.reproj_error))
      new = jax.tree.map(lambda a, b: jnp.where(ok, a, b), res[:3], state)
      return new, res

    t_idx = jnp.arange(kp.shape[0])
    _, (pose, trans, rot, err) = jax.lax.scan(
        step, state0, (t_idx, kp, conf, K, valid))
    nan = jnp.full((), jnp.nan, jnp.float32)
    out = {'pose_raw': jnp.where(valid[:, None, None], pose, nan),
           'translation_raw': jnp.where(valid[:, None], trans, nan),
           'rotation': rot}
    if seq.smoother == 'rts':
      pose, trans = smooth_poses(pose, trans, valid, conf,
                                 meas_std=shp['meas_std'],
                                 accel_std=shp['accel_std'],
                                 root_joints=root)
    out['pose'] = jnp.where(valid[:, None, None], pose, nan)
    out['translation'] = jnp.where(valid[:, None], trans, nan)
    out['reproj_error'] = jnp.where(valid, err, nan)
    return out

  def batched(rng, batch, params, hp, shp):
    traces[0] += 1
    kp = jnp.asarray(batch['keypoints'], jnp.float32)
    conf = jnp.asarray(batch['confidence'], jnp.float32)
    conf = jnp.where(jnp.isfinite(conf), conf, 0.0)
    mask = jnp.asarray(batch['mask'], bool)
    valid = mask & (jnp.sum(conf > 0, -1) >= seq.min_joints)
    conf = jnp.where(valid[..., None], conf, 0.0)
    # The first frames' starts with fit.init_pose 'bank' (else None).
    bank = zedo.initial_pose_bank(rng, params, score_fn=score_fn, sde=sde,
                                  scale=scale, cfg=cfg,
                                  num_joints=kp.shape[-2])

    def per_track(k, c, cam, v, track_id):
      keys = zedo.hypothesis_keys(rng, track_id, cfg.num_hypotheses)
      out = jax.vmap(lambda kk: one_track(kk, k, c, cam, v, params, hp, shp,
                                          bank))(keys)
      out['valid'] = v
      return out

    return jax.vmap(per_track)(kp, conf, batch['K'], valid, batch['id'])

  jitted = jax.jit(batched)
  default_hp = cfg.hparams()
  default_shp = seq.hparams(cfg)

  def fit_tracks(rng, batch, params, hparams=None, seq_hparams=None):
    return jitted(rng, batch, params,
                  default_hp if hparams is None else hparams,
                  default_shp if seq_hparams is None else seq_hparams)

  fit_tracks.num_traces = lambda: traces[0]
  fit_tracks.config = cfg
  fit_tracks.seq_config = seq
  fit_tracks.default_seq_hparams = default_shp
  # For ahead-of-time compilation (benchmarks): jitted(rng, batch, params,
  # hparams, seq_hparams).lower(...).compile().
  fit_tracks.jitted = jitted
  return fit_tracks


# ------------------------------------------------------------ host side


def group_rows(frame, track=None, *, source: str = 'input'
               ) -> dict[str, np.ndarray]:
  """Groups rows into tracks ordered by frame.

  Args:
    frame: [N] integer frame index of every row.
    track: [N] track id of every row (None = one track).
    source: the input's name, for errors.

  Returns:
    {'index' [B, T] int64: the row of track b at its frame first + t, -1
    where the track has no row (a missed frame); 'frame' [B, T] the frame
    numbers; 'track' [B] the track ids (sorted); 'length' [B] frames
    spanned}. T is the longest span.

  Raises:
    InputError: for non-integer or non-finite ids, or two rows with the
      same (track, frame).
  """
  frame = np.asarray(frame)
  n = len(frame)
  track = np.zeros(n, np.int64) if track is None else np.asarray(track)
  for name, v in (('frame', frame), ('track', track)):
    if v.shape != (n,):
      raise InputError(f'{name} ids must be [N] = [{n}], got {v.shape}',
                       source=source, field=name)
    vf = np.asarray(v, np.float64)
    if not np.isfinite(vf).all() or (vf != np.round(vf)).any():
      raise InputError(f'{name} ids must be finite integers', source=source,
                       field=name)
  frame = frame.astype(np.int64)
  track = track.astype(np.int64)
  ids = np.unique(track)
  spans = []
  for tid in ids:
    rows = np.nonzero(track == tid)[0]
    f = frame[rows]
    uniq, counts = np.unique(f, return_counts=True)
    if (counts > 1).any():
      raise InputError(f'track {tid} has {counts.max()} rows at frame '
                       f'{uniq[counts > 1][0]}: one row per (track, frame)',
                       source=source, field='frame')
    spans.append((rows, f, int(f.min()), int(f.max() - f.min() + 1)))
  t = max(s[3] for s in spans)
  index = np.full((len(ids), t), -1, np.int64)
  frames = np.zeros((len(ids), t), np.int64)
  for b, (rows, f, start, length) in enumerate(spans):
    index[b, f - start] = rows
    frames[b] = start + np.arange(t)
  return {'index': index, 'frame': frames, 'track': ids,
          'length': np.array([s[3] for s in spans], np.int64)}


def _round_up(n: int, m: int) -> int:
  return -(-n // m) * m


def lift_rows(fit_tracks, inputs: Mapping[str, np.ndarray], *,
              frame, track=None, rng: jax.Array, params: Any,
              hparams=None, seq_hparams=None, source: str = 'input',
              frame_multiple: int = 32) -> dict[str, Any]:
  """Lifts rows as tracks; returns per-row arrays.

  Args:
    fit_tracks: from `make_sequence_fn`.
    inputs: {'keypoints' [N, J, 2], 'confidence' [N, J], 'K' [N, 3, 3]} in
      the model layout (`zedo.prepare_inputs`).
    frame, track: [N] frame indices and track ids (see `group_rows`).
    rng, params, hparams, seq_hparams: as `fit_tracks`.
    frame_multiple: track lengths are padded to a multiple of this (fewer
      compilations across inputs).

  Returns:
    {'pose' [N, S, J, 3], 'translation' [N, S, 3], 'rotation' [N, S, 3, 3],
    'reproj_error' [N, S], 'valid' [N] bool (False = flagged: missed or too
    few joints; its pose is NaN), 'pose_raw' [N, S, J, 3] (before the
    smoother), 'translation_raw' [N, S, 3], 'pose_mean' [N, J, 3],
    'translation_mean' [N, 3], 'row' [N], 'track' [N], 'frame' [N],
    'timing' {'seconds', 'seconds_per_frame', 'num_tracks', ...}}.
  """
  groups = group_rows(frame, track, source=source)
  index = groups['index']
  num_tracks, span = index.shape
  t_pad = _round_up(span, frame_multiple)
  tb = min(fit_tracks.seq_config.track_batch, num_tracks)
  b_pad = _round_up(num_tracks, tb)
  idx = np.full((b_pad, t_pad), -1, np.int64)
  idx[:num_tracks, :span] = index
  safe = np.maximum(idx, 0)
  have = idx >= 0
  kp = np.asarray(inputs['keypoints'], np.float32)[safe]
  conf = np.where(have[..., None],
                  np.asarray(inputs['confidence'], np.float32)[safe], 0.0)
  # Frames without a row still need a camera: the track's nearest one is as
  # good as any (they are flagged and never shown).
  K = np.asarray(inputs['K'], np.float32)
  first_row = safe[np.arange(b_pad), np.argmax(have, 1)]
  cams = np.where(have[..., None, None], K[safe], K[first_row][:, None])
  n = len(np.asarray(inputs['keypoints']))
  outputs: dict[str, list[np.ndarray]] = {}
  t0 = time.perf_counter()
  first_s = 0.0
  for start in range(0, b_pad, tb):
    sl = slice(start, start + tb)
    batch = {'keypoints': kp[sl], 'confidence': conf[sl], 'K': cams[sl],
             'mask': have[sl],
             'id': np.arange(start, start + tb, dtype=np.int32)}
    res = jax.tree.map(np.asarray, fit_tracks(rng, batch, params, hparams,
                                              seq_hparams))
    for k, v in res.items():
      outputs.setdefault(k, []).append(v)
    if start == 0:
      first_s = time.perf_counter() - t0
  seconds = time.perf_counter() - t0
  res = {k: np.concatenate(v, 0) for k, v in outputs.items()}
  b_of, t_of = np.nonzero(idx >= 0)
  rows = idx[b_of, t_of]
  order = np.argsort(rows)
  b_of, t_of, rows = b_of[order], t_of[order], rows[order]
  out: dict[str, Any] = {}
  for k in ('pose', 'translation', 'rotation', 'reproj_error', 'pose_raw',
            'translation_raw'):
    v = res[k]  # [B, S, T, ...]
    out[k] = v[b_of, :, t_of]
  out['valid'] = res['valid'][b_of, t_of]
  out['pose_mean'] = out['pose'].mean(1)
  out['translation_mean'] = out['translation'].mean(1)
  out['row'] = rows
  out['track'] = groups['track'][b_of]
  out['frame'] = groups['frame'][b_of, t_of]
  out['timing'] = {'seconds': seconds, 'first_call_s': first_s,
                   'seconds_per_frame': seconds / max(n, 1),
                   'num_tracks': int(num_tracks),
                   'padded_frames': int(t_pad)}
  return out
