"""Checkpoints: the only module that imports Orbax.

Two kinds of files:

- **Training checkpoints** (`TrainCheckpointer`): an Orbax `CheckpointManager`
  under `workdir/checkpoints`, saving the train state (a pytree of arrays,
  with the step inside) and a JSON side record. A killed run restores the
  latest one and continues; keys are derived from the step, so the data order
  and noise continue too.
- **Exported models** (`export_model` / `load_model`): what fit, lift and
  adaptation load. A folder with `params/` (Orbax, the network parameters
  only) and `model.json` (what the parameters are: kind, network and SDE
  hyperparameters, normalisation, joint layout, the fingerprint of the prior
  it belongs to, and how it was trained). Loading needs no training code.

Models identify themselves completely: besides `fingerprint` (the
parameters), model.json holds `identity` (a sha256 of every field that
changes what the model computes: `IDENTITY_KEYS`, flattened to dotted names
such as 'sde.beta_max') and `model_fingerprint` (sha256 of the parameter
fingerprint and those). Loading recomputes both, so a hand-edited
architecture, SDE or normalisation field is an error naming the folder and
the field. Exports of format 1 (no `model_fingerprint`) still load, with a
warning that those fields are unverified.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp

from zedoi_jax import errors

MODEL_JSON = 'model.json'
PARAMS_DIR = 'params'
FORMAT_VERSION = 2
KINDS = ('prior', 'control', 'finetune')
# model.json entries that change what a model computes (architecture, SDE,
# normalisation, joint layout, what it adapts); covered by `identity` and
# `model_fingerprint`. Descriptive entries ('training', 'prior' path) are not.
IDENTITY_KEYS = ('kind', 'model', 'sde', 'scale', 'normalization', 'layout',
                 'control', 'prior_fingerprint', 'prior_model_fingerprint',
                 'prior_scale')


def fingerprint(params: Any) -> str:
  """sha256 over the parameter tree's paths, shapes, dtypes and bytes."""
  h = hashlib.sha256()
  leaves, _ = jax.tree_util.tree_flatten_with_path(params)
  for path, leaf in sorted(leaves, key=lambda pl: jax.tree_util.keystr(pl[0])):
    arr = np.asarray(leaf)
    h.update(jax.tree_util.keystr(path).encode())
    h.update(str(arr.shape).encode() + str(arr.dtype).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
  return h.hexdigest()


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
  """Nested dicts -> {'a.b': leaf}; lists and scalars are leaves."""
  if isinstance(value, dict):
    if not value:
      return {prefix: {}}
    out = {}
    for k, v in value.items():
      out.update(_flatten(v, f'{prefix}.{k}'))
    return out
  return {prefix: value}


def identity_fields(meta: dict[str, Any]) -> dict[str, str]:
  """{dotted field: sha256 of its canonical JSON} over `IDENTITY_KEYS`."""
  flat = {}
  for key in IDENTITY_KEYS:
    if key in meta:
      flat.update(_flatten(meta[key], key))
  return {k: hashlib.sha256(json.dumps(v, sort_keys=True).encode()
                            ).hexdigest()[:16]
          for k, v in sorted(flat.items())}


def model_fingerprint(params_fingerprint: str,
                      fields: dict[str, str]) -> str:
  """sha256 of the parameter fingerprint and the identity fields."""
  h = hashlib.sha256(params_fingerprint.encode())
  h.update(json.dumps(fields, sort_keys=True).encode())
  return h.hexdigest()


def complete_meta(meta: dict[str, Any], params_fp: str) -> dict[str, Any]:
  """`meta` with format_version, fingerprint, identity, model_fingerprint."""
  meta = {k: v for k, v in meta.items()
          if k not in ('identity', 'model_fingerprint')}
  meta.update(format_version=FORMAT_VERSION, fingerprint=params_fp)
  fields = identity_fields(meta)
  meta['identity'] = fields
  meta['model_fingerprint'] = model_fingerprint(params_fp, fields)
  return meta


def verify_identity(meta: dict[str, Any], source: str) -> None:
  """Checks model.json's fields against its recorded `identity`.

  Raises:
    errors.InputError: naming `source` and the first field that was added,
      removed or changed since export, or a `model_fingerprint` that does not
      match.
  """
  if 'model_fingerprint' not in meta:
    logging.warning('%s: no model_fingerprint (format %s export): its '
                    'architecture, SDE and normalisation fields are not '
                    'verified; re-export it', source,
                    meta.get('format_version', 1))
    return
  recorded = meta.get('identity')
  if not isinstance(recorded, dict):
    raise errors.InputError('model_fingerprint without an identity record',
                            source=source, field='identity')
  now = identity_fields(meta)
  for key in sorted(set(recorded) | set(now)):
    if recorded.get(key) != now.get(key):
      what = ('was added' if key not in recorded else
              'was removed' if key not in now else 'was changed')
      raise errors.InputError(
          f'{what} after the model was exported (model.json edited by '
          'hand?); these parameters were trained with the recorded value: '
          'restore it or re-export the model', source=source, field=key)
  if model_fingerprint(meta['fingerprint'], now) != meta['model_fingerprint']:
    raise errors.InputError(
        'does not match the fingerprint and identity recorded in model.json '
        '(edited by hand?)', source=source, field='model_fingerprint')


class TrainCheckpointer:
  """Orbax CheckpointManager for a training run's state.

  Args:
    workdir: run directory; checkpoints go to `workdir/checkpoints`.
    max_to_keep: how many checkpoints to keep.
    save_interval_steps: save only steps that are multiples of this (a
      final save with `force=True` is always written).
  """

  def __init__(self, workdir: str | os.PathLike, *, max_to_keep: int = 2,
               save_interval_steps: int = 1):
    self.directory = pathlib.Path(workdir).resolve() / 'checkpoints'
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            save_interval_steps=save_interval_steps,
            # A killed run's half-written step folder; safe to remove, as
            # one run per workdir holds the workdir lock (zedoi_jax.locks).
            cleanup_tmp_directories=True,
            create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state: Any, record: dict[str, Any], *,
           force: bool = False) -> bool:
    """Saves `state` (a pytree of arrays) and a JSON `record` at `step`."""
    return self._manager.save(
        int(step),
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            record=ocp.args.JsonSave(record)),
        force=force)

  def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
    """Restores the state saved at `step` onto the structure of
    `abstract_state` (e.g. from `jax.eval_shape`), and its JSON record.

    Raises:
      errors.InputError: the checkpoint does not match the expected state
        (another model size, another kind of run) or cannot be read.
    """
    try:
      restored = self._manager.restore(
          int(step),
          args=ocp.args.Composite(
              state=ocp.args.StandardRestore(abstract_state),
              record=ocp.args.JsonRestore()))
    except Exception as e:  # Orbax raises many types; name the file.
      raise errors.InputError(
          f'cannot restore training checkpoint step {step}: {e}. Is it from '
          'another configuration (model size, adaptation method)? Use a '
          'fresh --workdir or the matching config.',
          source=str(self.directory)) from e
    return restored['state'], restored['record']

  def wait_until_finished(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def export_model(directory: str | os.PathLike, params: Any,
                 meta: dict[str, Any]) -> pathlib.Path:
  """Writes an exported model: `directory/params` and `directory/model.json`.

  Args:
    directory: target folder (created; an existing export is replaced).
    params: the network parameters (pytree of arrays).
    meta: JSON-serialisable description; must hold 'kind' (one of KINDS),
      'model' (network kwargs) and 'sde' (SDE kwargs).

  Returns:
    The export folder.
  """
  for key in ('kind', 'model', 'sde'):
    if key not in meta:
      raise ValueError(f'model meta needs {key!r}')
  if meta['kind'] not in KINDS:
    raise ValueError(f'unknown model kind {meta["kind"]!r}; known {KINDS}')
  directory = pathlib.Path(directory).resolve()
  directory.mkdir(parents=True, exist_ok=True)
  params = jax.tree.map(np.asarray, params)
  meta = complete_meta(meta, fingerprint(params))
  # Every process takes part in the Orbax save (it coordinates them); only
  # process 0 writes model.json.
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(directory / PARAMS_DIR, params, force=True)
  if jax.process_index() == 0:
    tmp = directory / f'{MODEL_JSON}.{os.getpid()}.tmp'
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + '\n')
    tmp.replace(directory / MODEL_JSON)
  return directory


def read_meta(directory: str | os.PathLike) -> dict[str, Any]:
  """Reads and checks `model.json` of an exported model."""
  directory = pathlib.Path(directory)
  path = directory / MODEL_JSON
  if not directory.is_dir():
    raise FileNotFoundError(f'exported model folder not found: {directory}')
  if not path.is_file():
    raise FileNotFoundError(
        f'{path} missing: {directory} is not an exported zedoi_jax model')
  try:
    meta = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise errors.InputError(f'corrupt JSON ({e})', source=str(path)) from e
  for key in ('kind', 'model', 'sde', 'fingerprint'):
    if key not in meta:
      raise errors.InputError('missing entry', source=str(path), field=key)
  if meta['kind'] not in KINDS:
    raise errors.InputError(f'unknown kind {meta["kind"]!r}; known {KINDS}',
                            source=str(path), field='kind')
  verify_identity(meta, str(path))
  return meta


def load_model(directory: str | os.PathLike, *,
               kind: str | tuple[str, ...] | None = None,
               verify: bool = True) -> tuple[Any, dict[str, Any]]:
  """Loads an exported model.

  Args:
    directory: the export folder.
    kind: accepted kind(s); None accepts any.
    verify: recompute the parameter fingerprint and compare with model.json
      (catches truncated or swapped parameter files).

  Returns:
    (params as numpy arrays, meta dict).
  """
  directory = pathlib.Path(directory).resolve()
  meta = read_meta(directory)
  if kind is not None:
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    if meta['kind'] not in kinds:
      raise errors.InputError(
          f'is a {meta["kind"]!r} model, expected {" or ".join(kinds)}',
          source=str(directory / MODEL_JSON), field='kind')
  params_dir = directory / PARAMS_DIR
  if not params_dir.is_dir():
    raise FileNotFoundError(f'parameters missing: {params_dir}')
  try:
    with ocp.StandardCheckpointer() as ckptr:
      params = ckptr.restore(params_dir)
  except Exception as e:  # Orbax raises many types; name the file.
    raise errors.InputError(f'cannot read parameters: {e}',
                            source=str(params_dir)) from e
  params = jax.tree.map(np.asarray, params)
  if verify and fingerprint(params) != meta['fingerprint']:
    raise errors.InputError(
        'parameters do not match the fingerprint recorded in model.json '
        '(corrupt or replaced files)', source=str(params_dir),
        field='fingerprint')
  return params, meta
