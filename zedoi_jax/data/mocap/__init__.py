"""Motion-capture parsers (Acclaim ASF/AMC, Biovision BVH) and kinematics.

Users train the pose prior on their own mocap, so the project reads the two
formats CMU publishes itself and turns them into Human3.6M-17 joint
positions (`load_h36m17`, `load_take`). One module per format:
`asf_amc` (ASF skeletons, AMC motion) and `bvh` (BVH files and the CMU
naming styles); `common` holds the units, the Euler rotations (scipy) and
the H36M-17 assembly; `take` loads a file by its extension.

Forward kinematics is vectorised over frames: every joint costs a few batched
[T, 3, 3] matrix products, so a 2,700-frame take takes well under a second.

Conventions shared by both formats (each module gives its own rotation
convention):
- Lengths are multiplied by `scale`; the default 0.056444 (= 2.54 / 100 /
  0.45: CMU lengths are inches divided by the ASF `length 0.45` unit) turns
  CMU units into metres, for both the ASF/AMC and the BVH releases.
- Output is the file's world frame (CMU: Y up), not root-centred.

NaN policy: mocap has no notion of a missing joint, so NaN/inf in an
OFFSET, a length, a direction or a motion value is an `InputError` naming
the file and line, as are positions that overflow float32.
"""

from zedoi_jax.data.mocap.asf_amc import AsfBone
from zedoi_jax.data.mocap.asf_amc import AsfSkeleton
from zedoi_jax.data.mocap.asf_amc import asf_amc_positions
from zedoi_jax.data.mocap.asf_amc import asf_amc_to_h36m17
from zedoi_jax.data.mocap.asf_amc import parse_amc
from zedoi_jax.data.mocap.asf_amc import parse_asf
from zedoi_jax.data.mocap.bvh import BVH_STYLES
from zedoi_jax.data.mocap.bvh import BvhJoint
from zedoi_jax.data.mocap.bvh import BvhMotion
from zedoi_jax.data.mocap.bvh import BvhStyle
from zedoi_jax.data.mocap.bvh import bvh_positions
from zedoi_jax.data.mocap.bvh import bvh_to_h36m17
from zedoi_jax.data.mocap.bvh import detect_bvh_style
from zedoi_jax.data.mocap.bvh import parse_bvh
from zedoi_jax.data.mocap.common import CMU_AMC_HZ
from zedoi_jax.data.mocap.common import CMU_SCALE
from zedoi_jax.data.mocap.common import H36M17_JOINTS
from zedoi_jax.data.mocap.common import PathLike
from zedoi_jax.data.mocap.take import MocapTake
from zedoi_jax.data.mocap.take import load_h36m17
from zedoi_jax.data.mocap.take import load_take

__all__ = [
    'AsfBone', 'AsfSkeleton', 'BVH_STYLES', 'BvhJoint', 'BvhMotion',
    'BvhStyle', 'CMU_AMC_HZ', 'CMU_SCALE', 'H36M17_JOINTS', 'MocapTake',
    'PathLike', 'asf_amc_positions', 'asf_amc_to_h36m17', 'bvh_positions',
    'bvh_to_h36m17', 'detect_bvh_style', 'load_h36m17', 'load_take',
    'parse_amc', 'parse_asf', 'parse_bvh',
]
