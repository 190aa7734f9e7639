"""Loading exported models into one `PoseModel` the fit and samplers use.

A `PoseModel` bundles what fitting and sampling need and nothing else: a pure
`score_fn(params, x, t)`, its `params`, the SDE, and the normalisation scale
(metres per model unit). Whether the score comes from the adult prior alone, a
fine-tuned prior or the prior plus a control branch is hidden behind it.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any, Callable

import jax

from zedoi_jax import checkpoint
from zedoi_jax import errors
from zedoi_jax import sde as sde_lib

SHIPPED = pathlib.Path(__file__).resolve().parents[1] / 'checkpoints'
# Name of the shipped adult prior (trained on the CMU takes).
SHIPPED_PRIOR = 'cmu_prior'

ScoreFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class PoseModel:
  """A score model ready for fitting and sampling.

  Attributes:
    score_fn: pure `score_fn(params, x [B, J, 3], t [B]) -> [B, J, 3]` in
      model units (poses divided by `scale`).
    params: the pytree `score_fn` takes.
    sde: the SDE the model was trained with.
    scale: metres per model unit.
    meta: model.json of the model (of the adaptation when there is one).
  """
  score_fn: ScoreFn
  params: Any
  sde: sde_lib.VPSDE
  scale: float
  meta: dict

  @property
  def num_joints(self) -> int:
    return int(self.meta['model'].get('num_joints', 17))


def resolve(path: str | os.PathLike, default: str) -> pathlib.Path:
  """'' -> the shipped model `default`; a bare shipped name -> its folder."""
  path = str(path) if path else default
  candidate = pathlib.Path(path)
  if not candidate.exists() and (SHIPPED / path).is_dir():
    return SHIPPED / path
  return candidate


def sde_from_meta(meta: dict) -> sde_lib.VPSDE:
  s = dict(meta['sde'])
  return sde_lib.get_sde(s.pop('name', 'subvp'), **s)


def load_pose_model(prior: str | os.PathLike = '',
                    adapted: str | os.PathLike = '') -> PoseModel:
  """Loads the prior (and optionally an adaptation of it).

  Args:
    prior: exported prior folder, a shipped name, or '' for the shipped
      adult prior.
    adapted: '' for none, or an exported 'control' / 'finetune' model.

  Returns:
    The PoseModel.
  """
  # Imported here so that loading only what is needed stays cheap.
  from zedoi_jax.models import score_net  # pylint: disable=g-import-not-at-top
  prior_dir = resolve(prior, SHIPPED_PRIOR)
  prior_params, prior_meta = checkpoint.load_model(
      prior_dir, kind=('prior', 'finetune'))
  sde = sde_from_meta(prior_meta)
  scale = float(prior_meta.get('scale', 1.0))
  if not adapted:
    model = score_net.ScoreNet(**prior_meta['model'])
    return PoseModel(score_net.make_score_fn(model, sde), prior_params, sde,
                     scale, prior_meta)
  adapted_dir = resolve(adapted, '')
  params, meta = checkpoint.load_model(adapted_dir,
                                       kind=('control', 'finetune'))
  if meta.get('prior_fingerprint') != prior_meta['fingerprint']:
    raise errors.InputError(
        f'adaptation belongs to prior {meta.get("prior_fingerprint")}, but '
        f'the prior {prior_dir} has fingerprint {prior_meta["fingerprint"]}; '
        'pass the prior it was trained on with --config.init.prior',
        source=str(adapted_dir / checkpoint.MODEL_JSON),
        field='prior_fingerprint')
  sde = sde_from_meta(meta)
  scale = float(meta.get('scale', scale))
  if meta['kind'] == 'finetune':
    model = score_net.ScoreNet(**meta['model'])
    return PoseModel(score_net.make_score_fn(model, sde), params, sde, scale,
                     meta)
  from zedoi_jax.models import control  # pylint: disable=g-import-not-at-top
  score_fn = control.make_controlled_score_fn(
      prior_model_kwargs=prior_meta['model'], control_kwargs=meta['control'],
      sde=sde)
  return PoseModel(score_fn, {'prior': prior_params, 'control': params}, sde,
                   scale, meta)
