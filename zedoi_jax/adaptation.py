"""The pieces of infant adaptation that are not the training loop.

Used by `--config.mode=adapt` (zedoi_jax/modes/adapt.py): freezing
expressed in the optimiser (big_vision style: regex rules over parameter
paths such as 'block_0/dense_0/kernel' label every leaf 'freeze' or
'train', the first full match wins, and a leaf that no rule matches, or a
rule that matches no leaf, is an error; frozen leaves get
`optax.set_to_zero()` and no Adam moments, through `optax.multi_transform`),
and batches that mix the infant poses with generated ones
(`make_mixed_batch_fn`).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import optax

METHODS = ('control', 'finetune', 'scratch')
LABELS = ('train', 'freeze')

Rules = Sequence[tuple[str, str]]


# ------------------------------------------------------------- freezing


def param_path(path: tuple[Any, ...]) -> str:
  """'block_0/dense_0/kernel' for a tree path of dict keys."""
  parts = []
  for k in path:
    parts.append(str(getattr(k, 'key', getattr(k, 'name', k))))
  return '/'.join(parts)


def partition_labels(params: Any, rules: Rules) -> Any:
  """Labels each leaf by the first rule whose regex fully matches its path.

  Args:
    params: parameter pytree (nested dicts).
    rules: [(regex, label)] with label in ('train', 'freeze'), tried in
      order against paths like 'block_0/dense_0/kernel'.

  Returns:
    A pytree of labels with `params`' structure.

  Raises:
    ValueError: a bad label or regex, a leaf matched by no rule (listing
      them), or a rule that matches no leaf (a typo would otherwise silently
      train everything).
  """
  compiled = []
  for pattern, label in rules:
    if label not in LABELS:
      raise ValueError(f'rule {pattern!r}: label must be one of {LABELS}, '
                       f'got {label!r}')
    try:
      compiled.append((re.compile(pattern), label, pattern))
    except re.error as e:
      raise ValueError(f'bad regex {pattern!r} in freezing rules: {e}') from e
  used = [False] * len(compiled)
  uncovered = []

  def label_of(path, _):
    name = param_path(path)
    for i, (rx, label, _) in enumerate(compiled):
      if rx.fullmatch(name):
        used[i] = True
        return label
    uncovered.append(name)
    return None

  labels = jax.tree_util.tree_map_with_path(label_of, params)
  if uncovered:
    raise ValueError(
        f'{len(uncovered)} parameter(s) match no freezing rule, e.g. '
        f'{uncovered[:5]}; rules: {[p for _, _, p in compiled]}. Add a '
        "catch-all rule such as ('.*', 'train').")
  unused = [p for (_, _, p), u in zip(compiled, used) if not u]
  if unused:
    raise ValueError(f'freezing rule(s) {unused} match no parameter; paths '
                     f'look like {param_path_examples(params)}')
  return labels


def param_path_examples(params: Any, n: int = 4) -> list[str]:
  leaves, _ = jax.tree_util.tree_flatten_with_path(params)
  return [param_path(p) for p, _ in leaves[:n]]


def freeze_rules(freeze: str = '', trainable: str = '.*'
                 ) -> list[tuple[str, str]]:
  """Rules from config strings: each of `freeze` (comma-separated) frozen,
  then `trainable` trained. An empty `trainable` adds no catch-all."""
  rules = [(r.strip(), 'freeze') for r in freeze.split(',') if r.strip()]
  if trainable:
    rules.append((trainable, 'train'))
  return rules


def make_partitioned_optimizer(tx: optax.GradientTransformation,
                               params: Any, rules: Rules
                               ) -> tuple[optax.GradientTransformation, Any]:
  """`tx` on the 'train' leaves, zero updates and no state on 'freeze' ones.

  Args:
    tx: the optimiser for trained leaves (clipping inside it sees only them).
    params: the parameter tree (for the labels).
    rules: see `partition_labels`.

  Returns:
    (partitioned optimiser, label tree).
  """
  labels = partition_labels(params, rules)
  return optax.multi_transform({'train': tx, 'freeze': optax.set_to_zero()},
                               labels), labels


# ------------------------------------------------------------------ data


def make_mixed_batch_fn(*, augment_fn, batch_size: int, ratio: float
                        ) -> Callable[[Any, jax.Array], jax.Array]:
  """Batches drawn from (infant poses, generated poses) at a fixed share.

  Args:
    augment_fn: `(rng, pose) -> pose` or None.
    batch_size: B.
    ratio: share of each batch drawn from the generated poses, in [0, 1).

  Returns:
    `batch_fn((infant [N, J, 3], generated [M, J, 3]), rng) -> [B, J, 3]`:
    round(ratio * B) generated poses, the rest infant poses (each uniform
    with replacement), then augmented.
  """
  if not 0.0 <= ratio < 1.0:
    raise ValueError(f'augment_ratio must be in [0, 1), got {ratio}')
  n_gen = int(round(ratio * batch_size))
  n_inf = batch_size - n_gen

  def batch_fn(poses, rng):
    infant, generated = poses
    i_rng, g_rng, a_rng = jax.random.split(rng, 3)
    x0 = infant[jax.random.randint(i_rng, (n_inf,), 0, infant.shape[0])]
    if n_gen:
      g = generated[jax.random.randint(g_rng, (n_gen,), 0,
                                       generated.shape[0])]
      x0 = jnp.concatenate([x0, g], axis=0)
    if augment_fn is not None:
      x0 = jax.vmap(augment_fn)(jax.random.split(a_rng, batch_size), x0)
    return x0

  return batch_fn




# ------------------------------------------------------------ the entry




