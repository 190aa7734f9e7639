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
import jax.numpy as jnp

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


def check_shapes(params: Any, expected: Any, directory: pathlib.Path) -> None:
  """Refuses parameters whose tree or shapes differ from the architecture.

  Args:
    params: the loaded parameters.
    expected: the architecture's parameter shapes (`jax.eval_shape`).
    directory: the export folder (for the error).

  Raises:
    errors.InputError: naming the folder and the first differing parameter
      (model.json's architecture and the saved parameters disagree).
  """
  def flat(tree):
    if isinstance(tree, dict) and set(tree) == {'params'}:
      tree = tree['params']
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(k): tuple(v.shape) for k, v in leaves}
  got, want = flat(params), flat(expected)
  for key in sorted(set(got) | set(want)):
    if got.get(key) != want.get(key):
      raise errors.InputError(
          f'parameter {key} has shape {got.get(key, "(missing)")} but the '
          f'architecture in model.json needs {want.get(key, "(none)")}: the '
          'parameters and model.json do not belong together (edited '
          "'model' fields such as 'hidden'?)",
          source=str(directory), field='model')


def _expected_score_net(model) -> Any:
  # Imported here so that loading only what is needed stays cheap.
  from zedoi_jax.models import score_net  # pylint: disable=g-import-not-at-top
  return jax.eval_shape(lambda: score_net.init_params(model,
                                                      jax.random.key(0)))


def _score_net(kwargs: dict, directory: pathlib.Path):
  from zedoi_jax.models import score_net  # pylint: disable=g-import-not-at-top
  try:
    return score_net.ScoreNet(**kwargs)
  except TypeError as e:
    raise errors.InputError(f'not a ScoreNet architecture: {e}',
                            source=str(directory / checkpoint.MODEL_JSON),
                            field='model') from None


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
  prior_model = _score_net(prior_meta['model'], prior_dir)
  check_shapes(prior_params, _expected_score_net(prior_model), prior_dir)
  if not adapted:
    model = prior_model
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
  # Same parameters: the complete fingerprint (architecture, SDE, scale).
  if (meta.get('prior_model_fingerprint') and
      meta['prior_model_fingerprint'] != prior_meta.get('model_fingerprint')):
    raise errors.InputError(
        'adaptation belongs to prior (complete fingerprint) '
        f'{meta["prior_model_fingerprint"]}, but the prior {prior_dir} has '
        f'{prior_meta.get("model_fingerprint")}; pass the prior it was '
        'trained on with --config.init.prior',
        source=str(adapted_dir / checkpoint.MODEL_JSON),
        field='prior_model_fingerprint')
  sde = sde_from_meta(meta)
  scale = float(meta.get('scale', scale))
  if meta['kind'] == 'finetune':
    model = _score_net(meta['model'], adapted_dir)
    check_shapes(params, _expected_score_net(model), adapted_dir)
    return PoseModel(score_net.make_score_fn(model, sde), params, sde, scale,
                     meta)
  from zedoi_jax.models import control  # pylint: disable=g-import-not-at-top
  if meta['model'] != prior_meta['model']:
    diff = sorted(k for k in set(meta['model']) | set(prior_meta['model'])
                  if meta['model'].get(k) != prior_meta['model'].get(k))
    raise errors.InputError(
        f'the control branch is for a prior with model {diff} = '
        f'{[meta["model"].get(k) for k in diff]}, but {prior_dir} has '
        f'{[prior_meta["model"].get(k) for k in diff]}',
        source=str(adapted_dir / checkpoint.MODEL_JSON),
        field=f'model.{diff[0]}')
  branch = control.make_branch(prior_meta['model'], meta['control'])
  j = int(prior_meta['model'].get('num_joints', 17))
  check_shapes(params, jax.eval_shape(lambda: branch.init(
      jax.random.key(0), jnp.zeros((1, j, 3)), jnp.ones((1,)))['params']),
               adapted_dir)
  score_fn = control.make_controlled_score_fn(
      prior_model_kwargs=prior_meta['model'], control_kwargs=meta['control'],
      sde=sde)
  return PoseModel(score_fn, {'prior': prior_params, 'control': params}, sde,
                   scale, meta)
