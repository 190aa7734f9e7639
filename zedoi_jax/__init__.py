"""zedoi_jax: 3D infant pose from 2D keypoints with a diffusion pose prior.

A JAX/Flax reimplementation of ZeDO-i (zero-shot diffusion-based optimisation
adapted to infants). See README.md and docs/DESIGN.md.
"""

__version__ = '0.1.0'
