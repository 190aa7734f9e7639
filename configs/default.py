"""Default configuration: the full schema every other config overrides.

Every field has a comment. Variant configs (`syrip.py`, `cmu_prior.py`, ...)
start from `get_config()` here and override only what differs. Modules never
see this ConfigDict: `zedoi_jax.main` hands each one the plain keyword
arguments it needs (`config.model`, `config.sde`, `config.fit`, ...).

Run: python -m zedoi_jax.main --config=configs/default.py --workdir=DIR
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  """Returns the default configuration (SyRIP fit with the shipped prior)."""
  config = ml_collections.ConfigDict()
  # What main.py runs: 'train_prior' | 'adapt' | 'augment' | 'fit' | 'lift'.
  config.mode = 'fit'
  # Root PRNG seed; every other key is derived from it by split/fold_in.
  config.seed = 0
  # Show progress (rate, ETA) on long loops; off when stderr is not a tty.
  config.progress = True
  # Steps between log lines / metrics.jsonl rows in training loops.
  config.log_every = 100
  # JAX's persistent compilation cache: a rerun of the same fit, lift or
  # training step loads its compiled program from disk instead of
  # compiling again (issue 14: about 6 s -> under 1 s for the infant fit on
  # a 2-core CPU). 'auto' = $JAX_COMPILATION_CACHE_DIR if set, else
  # ~/.cache/zedoi_jax/jax_cache ($XDG_CACHE_HOME honoured); '' = off; or a
  # folder. Only programs that took >= 1 s to compile are stored. Like any
  # JAX cache it runs what it holds: keep it private to you.
  config.compilation_cache = 'auto'

  # ---------------------------------------------------------------- data
  config.data = ml_collections.ConfigDict()
  # Folder holding the datasets ('' = ZEDOI_DATA env var, else ../shared/data
  # beside the repository).
  config.data.root = ''
  # Dataset for fit/adapt: 'syrip' | 'cmu' | 'h36m' | 'mini_rgbd'.
  config.data.name = 'syrip'
  # fit on 'mini_rgbd': the npz `python -m zedoi_jax.prepare mini_rgbd` writes
  # ('' = data.root/mini_rgbd.npz), and the smil25 -> h36m17 joint map
  # applied to its arrays ('' = the npz's own; 'anatomical' | 'zedo'). The
  # MINI-RGBD splits: 'test' = sequences 11-12, 'train' = 01-10, 'all'.
  config.data.mini_rgbd_npz = ''
  config.data.joint_map = ''
  # Which split to evaluate on (SyRIP: 'test' = the 200 train200 images, as in
  # the ZeDO-i release, scored once per shipped model; 'val' = a fixed 100 of
  # the other 500, where every knob is chosen; 'adapt' = the remaining 400;
  # 'train' = all 500). See zedoi_jax/data/syrip.py:split_indices.
  config.data.split = 'test'
  # 2D input for fit: 'gt' or a detector name ('fidip' for SyRIP).
  config.data.input_2d = 'gt'
  # Use at most this many poses (0 = all); handy for quick runs.
  config.data.max_poses = 0
  # Mocap takes for prior training and the CMU fit, comma-separated: BVH
  # files, .amc files (subject .asf beside them), 'x.asf:x.amc' pairs,
  # folders (recursive) and glob patterns ('**' recursive); relative entries
  # not found as given are looked up under data.root (so 'cmu,cmu_extra'
  # names the shipped data folders). Empty = the CMU takes in data.root/cmu.
  config.data.mocap_files = config_dict.placeholder(str)
  # Which CMU subjects' takes (zedoi_jax/data/prior_data.py CMU_SPLITS: whole
  # subjects held out): 'all', 'train' (no held-out subject), 'val' (where
  # prior and fit knobs are chosen) or 'test' (scored once per shipped
  # prior). train_prior trains on this split and reports the DSM loss on
  # 'val' beside it when this is 'train'.
  config.data.prior_split = 'all'
  # Sample mocap by time: one frame every 1 / sample_hz s of each take, by
  # its own frame rate (BVH Frame Time; CMU AMC 120 Hz). 0 = one frame in
  # `subsample` (below), whatever the rate.
  config.data.sample_hz = 0.0
  # VideoPose3D-layout Human3.6M file for prior training (optional).
  config.data.h36m_npz = config_dict.placeholder(str)
  # Read h36m_npz at all: VideoPose3D's Human3.6M files are Python pickles,
  # and reading one EXECUTES CODE FROM THE FILE. Off by default; set True
  # only for a file from a source you trust.
  config.data.allow_pickle = False
  # Human3.6M subjects used when h36m_npz is set.
  config.data.h36m_subjects = 'S1,S5,S6,S7,S8'
  # Keep one training frame in this many (120 Hz mocap is near-duplicate).
  config.data.subsample = 4
  # Drop frames whose pose is closer than this (metres, mean joint distance)
  # to the last kept frame.
  config.data.min_pose_distance = 0.01
  # Metres per model unit: poses are divided by this before the network.
  config.data.scale = 1.0
  # Occlusion study (fit mode): drop this many visible joints per pose
  # (confidence 0, a wrong location inside the 2D box) ...
  config.data.drop_joints = 0
  # ... treat confidences below this as missing (e.g. FiDIP's low scores) ...
  config.data.min_score = 0.0
  # ... and False = the baseline that ignores confidences (weight 1 for
  # every joint that has a location). See zedoi_jax/occlusion.py.
  config.data.use_confidence = True

  # ---------------------------------------------------------- augmentation
  config.augment = ml_collections.ConfigDict()
  # Random rotation of training poses: 'so3' (any orientation: infants lie,
  # sit and crawl, and the camera can look down on them) | 'vertical' (about
  # the body's up axis only) | 'yaw_tilt' (vertical, then a bounded tilt:
  # max_tilt) | 'roll' (about the camera's optical axis only: bodies seen
  # from above keep how they face the camera) | 'none'.
  config.augment.rotation = 'so3'
  # Pitch and roll bound (degrees) of rotation 'yaw_tilt': a rotation about
  # the up axis, then a tilt of up to this much about x and z.
  config.augment.max_tilt = 30.0
  # Probability of a left/right mirror (x negated, joints swapped).
  config.augment.mirror_prob = 0.5
  # Global bone-length scale is drawn from [1 - s, 1 + s].
  config.augment.global_scale = 0.1
  # Per-bone length jitter, relative.
  config.augment.bone_scale = 0.05

  # --------------------------------------------------------------- model
  config.model = ml_collections.ConfigDict()
  # Joints in the model layout (Human3.6M-17).
  config.model.num_joints = 17
  # Hidden width of the residual MLP.
  config.model.hidden = 512
  # Residual blocks (two Dense+GroupNorm+SiLU layers each).
  config.model.num_blocks = 4
  # Time-embedding width.
  config.model.embed_dim = 128
  # GroupNorm groups.
  config.model.num_groups = 32
  # Dropout rate inside blocks (training only).
  config.model.dropout = 0.0
  # Time embedding: 'fourier' (Gaussian Fourier features) | 'positional'.
  config.model.embedding = 'fourier'

  # ----------------------------------------------------------------- sde
  config.sde = ml_collections.ConfigDict()
  # 'subvp' (as ZeDO) | 'vp'.
  config.sde.name = 'subvp'
  config.sde.beta_min = 0.1
  config.sde.beta_max = 20.0
  # Smallest diffusion time used in training and sampling.
  config.sde.eps = 1e-3

  # ------------------------------------------------------- prior training
  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 20000
  config.train.batch_size = 512
  config.train.learning_rate = 2e-4
  # Linear warm-up steps, then cosine decay to lr * final_lr_fraction.
  config.train.warmup_steps = 500
  config.train.final_lr_fraction = 0.05
  config.train.grad_clip = 1.0
  config.train.weight_decay = 0.0
  config.train.ema_rate = 0.999
  # Steps between Orbax checkpoints, and how many to keep.
  config.train.checkpoint_every = 1000
  config.train.max_to_keep = 2
  # Where the exported model (for fit/lift/adapt) is written ('' = workdir/model).
  config.train.export_dir = ''

  # ----------------------------------------------------------- init models
  config.init = ml_collections.ConfigDict()
  # Exported prior to use: a folder, a shipped name under
  # zedoi_jax/checkpoints/ ('cmu_prior', 'syrip_infant_prior'), or '' = the
  # shipped adult prior 'cmu_prior'.
  config.init.prior = ''
  # Exported adaptation of that prior (control branch or fine-tuned prior): a
  # folder, a shipped name ('syrip_control', 'syrip_finetune'), or '' = none.
  config.init.adapted = ''

  # ---------------------------------------------------------- adaptation
  config.adapt = ml_collections.ConfigDict()
  # 'control' (ControlNet-style branch, prior frozen) | 'finetune' (the whole
  # prior trains, freezing by rules below) | 'scratch' (a prior trained on the
  # infant poses only).
  config.adapt.method = 'control'
  config.adapt.num_steps = 4000
  config.adapt.batch_size = 256
  config.adapt.learning_rate = 1e-4
  # Use only this many infant training poses (0 = all).
  config.adapt.num_train_poses = 0
  # Which SyRIP split adaptation trains on: 'adapt' (400 images: the 500 of
  # validate500 less the 100 'val' ones that choose every knob) or 'train'
  # (all 500, as the ZeDO-i release did; then nothing is left to validate on).
  config.adapt.split = 'adapt'
  # Adapt on your own infant 3D instead of SyRIP: an .npy [N, J, 3] (or an
  # .npz with 'poses'), metres, any root (re-centred on the pelvis), best in
  # the camera frame; '' = SyRIP (adapt.split). Its joint layout:
  # 'h36m17' | 'lsp14' | 'coco17' | 'smil25' | ... (zedoi_jax/skeleton.py).
  config.adapt.data = ''
  config.adapt.layout = 'h36m17'
  # Optional npz of generated infant-like poses to mix in, and its share of
  # each batch.
  config.adapt.augment_with = ''
  config.adapt.augment_ratio = 0.5
  # Seed of the `num_train_poses` subset.
  config.adapt.subset_seed = 0
  # Finetune only: comma-separated regexes of parameter paths to freeze
  # (e.g. 'input.*,block_0/.*'); '' = nothing frozen.
  config.adapt.freeze = ''
  # Finetune only: regex of the parameters trained (the rule after the
  # freezing ones; every parameter must match some rule).
  config.adapt.trainable = '.*'
  # Control only: dropout inside the trainable trunk copy.
  config.adapt.control_dropout = 0.0
  # Metres per model unit for the infant poses (0 = the prior's scale).
  config.adapt.data_scale = 0.0

  # ------------------------------------------------- guided augmentation
  config.guided = ml_collections.ConfigDict()
  # Diffusion time the adult pose is noised to before guided denoising
  # (0.06: sub-VP std 3.4 cm, about a third of an infant bone; see
  # experiments/RESULTS.md for the sweep).
  config.guided.t_start = 0.06
  # Guidance weight w: s = s_infant + w * (s_infant - s_adult); 0 = the
  # infant model alone (unguided).
  config.guided.weight = 1.0
  config.guided.num_steps = 200
  # How many adult poses to convert (0 = all).
  config.guided.num_poses = 0
  # Rescale each adult pose to the infant training set's mean size first.
  config.guided.rescale = True

  # ------------------------------------------------------------- fitting
  config.fit = ml_collections.ConfigDict()
  # IPO: Adam steps on rotation + translation scale, and its learning rate.
  config.fit.ipo_steps = 500
  config.fit.ipo_lr = 0.1
  # Rotation axes IPO optimises: 'xyz' (infants) | 'y' (upright adults) .
  config.fit.rot_axes = 'xyz'
  # Initial distance along the pelvis ray (metres) and the scale clamp on it.
  config.fit.init_t = 1.0
  config.fit.min_scale_t = 0.5
  config.fit.max_scale_t = 8.0
  # OIL iterations; noise level goes linearly from t_max to t_min. The
  # paper's 1000 here (the adult path); the infant configs (syrip.py,
  # lift.py) use fewer, chosen on the SyRIP validation split (issue 14).
  config.fit.oil_steps = 1000
  config.fit.t_max = 0.1
  config.fit.t_min = 0.01
  # Final OIL iterations in which the translation is re-solved every step.
  config.fit.solve_t_last = 50
  # Hypotheses per pose (S).
  config.fit.num_hypotheses = 1
  # Reverse-SDE steps used to draw the initial poses from the prior. Fewer
  # cost accuracy (SyRIP validation, issue 14: 50 steps +5.6 mm MPJPE, 10
  # steps fail), so 100 stays.
  config.fit.init_sample_steps = 100
  # Initial pose: 'sample' (a prior sample per hypothesis, the reverse-SDE
  # steps above) | 'bank' (one bank of init_bank_size prior samples per
  # compiled batch; each hypothesis starts from the entry its key picks:
  # still exact prior samples, far fewer sampler calls for big batches).
  config.fit.init_pose = 'sample'
  config.fit.init_bank_size = 64
  # Poses per compiled batch (fixed shape; the last batch is padded).
  config.fit.batch_size = 256
  # Keep this many thinned trajectory frames for pictures (0 = none).
  config.fit.trajectory_frames = 0
  # OIL diffusion rule: 'em' (one noise-free reverse Euler-Maruyama step of
  # size em_dt after perturbing to t, the ZeDO release's rule) | 'tweedie'
  # (perturb to t, then the posterior mean). Measured: em is better.
  config.fit.denoise = 'em'
  # Step size of the 'em' rule (1/N with N = 1000 in the ZeDO release; the
  # infant fit, configs/syrip.py: 2.4e-2 with its 25 OIL steps, chosen on
  # SyRIP val; configs/lift.py: 4e-3 with 150).
  config.fit.em_dt = 1e-3
  # Pose re-initialisation after IPO: 'flat' (the paper: back-projected 2D at
  # the pelvis depth) | 'ipo_depth' (back-projected 2D with the IPO-posed
  # sample's depths) | 'none' (keep the IPO-posed sample).
  config.fit.reinit = 'ipo_depth'
  # Fraction of the way to its ray a joint moves per alignment step.
  config.fit.align_step = 1.0
  # Initial depth: 'fixed' (init_t along the pelvis ray) | 'size' (from the
  # 2D spread).
  config.fit.init_depth = 'fixed'
  # Sampler for the initial poses: 'em' | 'pc' ('ode' is unstable with the
  # shipped prior).
  config.fit.init_sample_method = 'em'
  # Fewest confident joints (confidence > 0, counted in the model layout,
  # Human3.6M-17) a pose needs to be fitted; fit and lift flag a pose with
  # fewer (its row is NaN, with status 'too_few_joints' and a reason) instead
  # of inventing one. The root is not required: the pelvis (root) is the
  # mid-hip, which from COCO/SyRIP input needs BOTH hips, and when it is
  # missing the fit aims its first translation through the mean keypoint; it
  # counts as one joint like any other. Rows whose confident keypoints all
  # sit on one pixel are flagged 'degenerate_2d'.
  config.fit.min_confident_joints = 4

  # -------------------------------------------------------------- lift
  config.lift = ml_collections.ConfigDict()
  # Input keypoints: a file or folder (see lift.format).
  config.lift.input = ''
  # Input format: 'auto' (from the content; a one-line error naming the file
  # when unsure) | 'openpose' (folder of per-frame JSON) | 'alphapose' |
  # 'mmpose' | 'mediapipe' | 'deeplabcut' (CSV) | 'coco' (COCO keypoint
  # JSON) | 'array' (.npy/.npz of [N, J, 2|3]). zedoi_jax/data/detectors.py.
  config.lift.format = 'auto'
  # Joint layout of array input ('coco17' | 'h36m17' | 'syrip12' | 'lsp14' |
  # 'body25' | 'body25b' | 'coco18' | 'halpe26' | 'mediapipe33'). Detector
  # files carry their own; it only settles what a file cannot tell
  # (BODY_25 vs BODY_25B when the geometry is unclear, DeepLabCut parts).
  config.lift.layout = 'coco17'
  # Camera: a 3x3 K (.npy/.json/.txt); an [N, 3, 3] .npy (one K per frame
  # of a detector file, or per pose of an array); an OpenCV / Pose2Sim
  # calibration .toml; or '' for a default from the image size (warning).
  config.lift.camera = ''
  # The camera to use from a calibration .toml (table key such as 'cam_01'
  # or its `name`); '' = the file's only camera.
  config.lift.camera_name = ''
  # Undistort the 2D with the calibration's OpenCV distortion coefficients.
  config.lift.undistort = True
  # Extra outputs, comma-separated: 'trc' (OpenSim/Pose2Sim markers), 'bvh'
  # (rotations on a fixed skeleton), 'csv', 'gif' (3D beside the input 2D);
  # one file per person track (zedoi_jax/export.py).
  config.lift.export = ''
  # Frames per second of the input video, for TRC/BVH time stamps and the
  # GIF (an assumption unless you set it: 30).
  config.lift.frame_rate = 30.0
  # TRC units: 'm' or 'mm'.
  config.lift.trc_units = 'm'
  # Image size (w, h) in pixels when the input does not carry it.
  config.lift.image_width = 0
  config.lift.image_height = 0
  # Write PNG pictures of the results.
  config.lift.pictures = True
  # Video / image-folder input (lift.input = a video file, an image or a
  # folder of images; needs the optional extra: pip install -e '.[video]'):
  # the bundled BlazePose detector's person threshold, every n-th frame, at
  # most this many frames (0 = all), and the side-by-side video
  # (workdir/lifted_video.mp4: frame + 2D | 3D skeleton).
  config.lift.detect_confidence = 0.5
  config.lift.frame_stride = 1
  config.lift.max_frames = 0
  config.lift.render_video = True

  # Sequence lifting (zedoi_jax/sequence.py): rows are person tracks over
  # video frames, each frame warm-started from the previous one's fit, with
  # temporal smoothing. On when True, or when the reader gives every row a
  # track id and frame index; an npy/npz [T, J, 2|3] is then one track.
  config.lift.sequence = False
  # Warm-started frames run this many IPO / OIL steps (the first frame of a
  # track runs fit.ipo_steps / fit.oil_steps), OIL from noise level
  # sequence_warm_t_max (0 = fit.t_max). Chosen on CMU takes 07_03, 08_02
  # (experiments/sequence_cmu.py, experiments/RESULTS.md "Sequences"): 25
  # steps from 0.1, whatever the first frame's fit.t_max (the infant lift
  # config starts its full fits at 0.3).
  config.lift.sequence_warm_ipo_steps = 0
  config.lift.sequence_warm_oil_steps = 25
  config.lift.sequence_warm_t_max = 0.1
  # The 'em' step of a warm frame's OIL (0 = fit.em_dt): measured, 25 steps
  # of 0.004 match 100 of 0.001 (what matters is steps x step).
  config.lift.sequence_warm_em_dt = 0.004
  # In-loop temporal term: after each OIL alignment every joint moves this
  # fraction of the way toward the previous frame's fit (0 = off).
  config.lift.sequence_anchor_weight = 0.0
  # Filter after the loop: 'rts' (constant-velocity Kalman + Rauch-Tung-
  # Striebel smoother on the camera-frame 3D) | 'none'.
  config.lift.sequence_smoother = 'rts'
  # The smoother's 3D measurement noise (metres) and acceleration noise
  # (metres / frame^2); a larger meas/accel ratio smooths more.
  config.lift.sequence_meas_std = 0.03
  config.lift.sequence_accel_std = 0.008
  # Frames with fewer joints of confidence > 0 are flagged as missed (not
  # lifted; the warm start carries over them).
  config.lift.sequence_min_joints = 6
  # Tracks per compiled call.
  config.lift.sequence_track_batch = 16

  # ------------------------------------------------------------ scaling
  config.parallel = ml_collections.ConfigDict()
  # Multi-host: '' auto-detects (Cloud TPU, Slurm, Open MPI) and otherwise
  # runs single-process; 'host:port' with num_processes and process_id starts
  # jax.distributed explicitly.
  config.parallel.coordinator_address = ''
  config.parallel.num_processes = 0
  config.parallel.process_id = -1
  # Simple route for big fit/lift jobs: this job handles rows
  # shard_index::num_shards of the input (merge the shards afterwards with
  # `python -m zedoi_jax.merge`).
  config.parallel.shard_index = 0
  config.parallel.num_shards = 1
  # fit/lift write results in chunks of this many poses, each atomically; a
  # restarted run skips the finished chunks.
  config.parallel.chunk_size = 4096

  # ---------------------------------------------------------- evaluation
  config.eval = ml_collections.ConfigDict()
  # Write PNG pictures in fit mode.
  config.eval.pictures = True
  # Number of poses shown in picture grids.
  config.eval.num_pictures = 8
  # Poses whose fit trajectory is drawn (a refit; the first also as a GIF).
  config.eval.num_trajectories = 3
  return config
