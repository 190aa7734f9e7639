"""Tests for zedoi_jax.models.score_net."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import sde as sde_lib
from zedoi_jax.models import score_net

KW = dict(num_joints=17, hidden=32, num_blocks=2, embed_dim=16, num_groups=4,
          dropout=0.0)


def _randomise_output(params, rng):
  # The output layer is zero-initialised (eps_hat = 0 at init), which would
  # hide any dependence on the input; give it random weights for the tests.
  params = jax.tree.map(lambda a: a, params)
  k = params['output']['kernel']
  params['output']['kernel'] = 0.1 * jax.random.normal(rng, k.shape)
  return params


class ScoreNetTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.x = jax.random.normal(jax.random.key(0), (5, 17, 3))
    self.t = jnp.linspace(0.01, 1.0, 5)

  @parameterized.parameters('fourier', 'positional')
  def test_shape_finite_and_jit_matches_eager(self, embedding):
    model = score_net.ScoreNet(**KW, embedding=embedding)
    params = _randomise_output(
        score_net.init_params(model, jax.random.key(1)), jax.random.key(2))
    eager = model.apply({'params': params}, self.x, self.t)
    jitted = jax.jit(lambda p, x, t: model.apply({'params': p}, x, t))(
        params, self.x, self.t)
    chex.assert_shape(eager, (5, 17, 3))
    chex.assert_tree_all_finite(eager)
    chex.assert_trees_all_close(eager, jitted, atol=1e-5)
    # Different times must give different outputs (the embedding is used).
    other = model.apply({'params': params}, self.x, self.t[::-1])
    self.assertGreater(float(jnp.abs(other - eager).max()), 1e-4)

  def test_zero_output_init(self):
    model = score_net.ScoreNet(**KW)
    params = score_net.init_params(model, jax.random.key(1))
    out = model.apply({'params': params}, self.x, self.t)
    chex.assert_trees_all_equal(out, jnp.zeros_like(out))

  def test_param_names_are_stable(self):
    model = score_net.ScoreNet(**KW)
    params = score_net.init_params(model, jax.random.key(1))
    self.assertEqual(
        set(params),
        {'temb_dense', 'input', 'input_norm', 'block_0', 'block_1', 'output'})
    self.assertEqual(set(params['block_0']), {'dense_0', 'norm_0',
                                              'temb_proj', 'dense_1',
                                              'norm_1'})

  def test_block_residuals(self):
    model = score_net.ScoreNet(**KW)
    params = _randomise_output(
        score_net.init_params(model, jax.random.key(1)), jax.random.key(2))
    variables = {'params': params}
    base, blocks = model.apply(variables, self.x, self.t,
                               return_block_outputs=True)
    self.assertLen(blocks, 2)
    for b in blocks:
      chex.assert_shape(b, (5, 32))
    zeros = [jnp.zeros((5, 32))] * 2
    same = model.apply(variables, self.x, self.t, block_residuals=zeros)
    chex.assert_trees_all_equal(same, base)
    ones = [jnp.zeros((5, 32)), jnp.ones((5, 32))]
    moved = model.apply(variables, self.x, self.t, block_residuals=ones)
    self.assertGreater(float(jnp.abs(moved - base).max()), 1e-3)
    with self.assertRaises(ValueError):
      model.apply(variables, self.x, self.t, block_residuals=zeros[:1])

  def test_dropout_needs_train_flag(self):
    model = score_net.ScoreNet(**dict(KW, dropout=0.5))
    params = _randomise_output(
        score_net.init_params(model, jax.random.key(1)), jax.random.key(2))
    a = model.apply({'params': params}, self.x, self.t)
    b = model.apply({'params': params}, self.x, self.t, train=True,
                    rngs={'dropout': jax.random.key(3)})
    chex.assert_trees_all_equal(
        a, model.apply({'params': params}, self.x, self.t))
    self.assertGreater(float(jnp.abs(a - b).max()), 1e-4)

  def test_score_fn(self):
    model = score_net.ScoreNet(**KW)
    sde = sde_lib.get_sde('subvp')
    params = _randomise_output(
        score_net.init_params(model, jax.random.key(1)), jax.random.key(2))
    score_fn = score_net.make_score_fn(model, sde)
    s_inner = jax.jit(score_fn)(params, self.x, self.t)
    s_vars = score_fn({'params': params}, self.x, self.t)
    chex.assert_trees_all_close(s_inner, s_vars, rtol=1e-4)
    eps = model.apply({'params': params}, self.x, self.t)
    chex.assert_trees_all_close(
        s_inner, -eps / sde.std(self.t)[:, None, None], rtol=1e-4)

  def test_flops_match_dense_kernels(self):
    kw = dict(KW, num_blocks=3, hidden=64, num_groups=8)
    model = score_net.ScoreNet(**kw)
    params = score_net.init_params(model, jax.random.key(1))
    kernels = [leaf.size for path, leaf in
               jax.tree_util.tree_flatten_with_path(params)[0]
               if 'kernel' in jax.tree_util.keystr(path)]
    self.assertEqual(score_net.flops_per_call(kw), 2 * sum(kernels))
    self.assertEqual(score_net.count_params(params),
                     sum(np.size(a) for a in jax.tree.leaves(params)))

  @parameterized.parameters(
      dict(num_groups=5), dict(embed_dim=15), dict(embedding='other'),
      dict(dropout=1.0))
  def test_bad_kwargs(self, **override):
    model = score_net.ScoreNet(**dict(KW, **override))
    with self.assertRaises(ValueError):
      score_net.init_params(model, jax.random.key(0))

  def test_bad_input_shape(self):
    model = score_net.ScoreNet(**KW)
    params = score_net.init_params(model, jax.random.key(1))
    with self.assertRaises(ValueError):
      model.apply({'params': params}, jnp.zeros((2, 16, 3)), jnp.ones(2))


if __name__ == '__main__':
  absltest.main()
