"""Running over many devices and hosts: meshes, process slices, gathers.

Two routes, both for jobs whose poses are independent (fit, lift):

- **Multi-controller JAX** (one process per host or GPU, `jax.distributed`):
  `initialize` starts it (auto-detected on Cloud TPU, Slurm and Open MPI, or
  explicit coordinator flags), `data_mesh` spans every global device on one
  `('data',)` axis, each process loads only its rows (`process_rows`),
  `to_global` turns them into one sharded `jax.Array`
  (`jax.make_array_from_process_local_data`), and `to_host` gathers a result
  on every process (`multihost_utils.process_allgather`); files are written
  by process 0.
- **Independent shards** (`shard_rows`): N unrelated jobs each take rows
  `shard_index::num_shards`; `zedoi_jax.merge` joins their outputs. Nothing
  to set up, nothing to fail in between: often the sturdier choice on a busy
  GPU cluster.
"""

from __future__ import annotations

import os

from absl import logging
import jax
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

DATA_AXIS = 'data'


def _cluster_env() -> str | None:
  """Names the multi-process launcher found in the environment, if any."""
  if int(os.environ.get('SLURM_NTASKS', '1')) > 1:
    return 'slurm'
  if int(os.environ.get('OMPI_COMM_WORLD_SIZE', '1')) > 1:
    return 'openmpi'
  if ',' in os.environ.get('TPU_WORKER_HOSTNAMES', ''):
    return 'cloud_tpu'
  return None


def _cpu_collectives() -> None:
  """Cross-process collectives on CPU need an implementation (gloo).

  Set unconditionally: asking for the backend here (jax.default_backend())
  would start it before jax.distributed, which then refuses to initialise;
  the setting only affects the CPU client, so GPU/TPU runs are unchanged.
  """
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')


def initialize(*, coordinator_address: str = '', num_processes: int = 0,
               process_id: int = -1) -> bool:
  """Starts multi-controller JAX when asked for or when a cluster is found.

  Must run before any other JAX call touches the devices.

  Args:
    coordinator_address: 'host:port' of process 0; '' = auto-detect.
    num_processes: total processes (explicit mode).
    process_id: this process's index (explicit mode).

  Returns:
    True if jax.distributed was initialised.
  """
  if coordinator_address:
    if num_processes < 1 or not 0 <= process_id < num_processes:
      raise ValueError(
          'an explicit coordinator_address needs num_processes >= 1 and '
          f'0 <= process_id < num_processes, got {num_processes}, '
          f'{process_id}')
    _cpu_collectives()
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes,
                               process_id=process_id)
  else:
    env = _cluster_env()
    if env is None:
      return False
    logging.info('multi-process launch detected (%s)', env)
    _cpu_collectives()
    jax.distributed.initialize()
  logging.info('jax.distributed: process %d of %d, %d global devices',
               jax.process_index(), jax.process_count(), jax.device_count())
  return True


def process_index() -> int:
  """This process's index (0 when single-process)."""
  return jax.process_index()


def process_count() -> int:
  """Number of JAX processes in the job."""
  return jax.process_count()


def data_mesh() -> Mesh:
  """A 1-D mesh over every global device, axis 'data'."""
  return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over the mesh, the rest replicated."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def round_up(n: int, multiple: int) -> int:
  """Smallest multiple of `multiple` that is >= n (and >= multiple)."""
  return max(multiple, -(-n // multiple) * multiple)


def shard_rows(num_rows: int, shard_index: int, num_shards: int) -> np.ndarray:
  """Row indices an independent shard job handles: shard_index::num_shards."""
  if num_shards < 1 or not 0 <= shard_index < num_shards:
    raise ValueError(f'need 0 <= shard_index < num_shards, got '
                     f'{shard_index}, {num_shards}')
  return np.arange(shard_index, num_rows, num_shards)


def process_rows(global_batch: int) -> slice:
  """This process's contiguous rows of a global batch of `global_batch`.

  The global batch must split evenly over processes; each process's rows
  land on its own local devices (the layout `to_global` expects).
  """
  count = jax.process_count()
  if global_batch % count:
    raise ValueError(f'global batch {global_batch} does not split over '
                     f'{count} processes')
  per = global_batch // count
  start = jax.process_index() * per
  return slice(start, start + per)


def to_global(tree, mesh: Mesh):
  """Process-local arrays (leading axis = this process's rows) -> global
  `jax.Array`s sharded over the mesh's 'data' axis."""
  sharding = batch_sharding(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding,
                                                       np.asarray(x)), tree)


def to_host(tree):
  """Global arrays -> full numpy arrays on every process."""
  if jax.process_count() == 1:
    return jax.tree.map(np.asarray, tree)
  return jax.tree.map(
      lambda x: np.asarray(multihost_utils.process_allgather(x, tiled=True)),
      tree)


def replicate(tree, mesh: Mesh):
  """Host values (identical on every process) -> replicated global arrays.

  jit with a replicated in-sharding over a multi-process mesh needs global
  `jax.Array`s; numpy values and single-device arrays (e.g. loaded
  parameters) are not accepted there. Typed PRNG keys go through their raw
  key data.
  """
  sharding = replicated(mesh)

  def one(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(
        x.dtype, jax.dtypes.prng_key):
      impl = jax.random.key_impl(x)
      data = one(jax.random.key_data(x))
      return jax.random.wrap_key_data(data, impl=impl)
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda i: x[i])

  return jax.tree.map(one, tree)


def broadcast_from_main(value: np.ndarray) -> np.ndarray:
  """Process 0's value of a small numpy array, on every process."""
  if jax.process_count() == 1:
    return np.asarray(value)
  return np.asarray(multihost_utils.broadcast_one_to_all(np.asarray(value)))


def is_main_process() -> bool:
  """True on process 0, the one that writes files."""
  return jax.process_index() == 0
