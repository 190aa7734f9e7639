r"""Video -> 3D with the bundled detector: speed and multi-view agreement.

Needs the video extra (`pip install -e '.[video]'`) and the `pose2sim`
package's demo (BSD-3-Clause; 4 synchronised-or-not cameras, 100 frames each,
60 fps, 1080x1920, Qualisys calibration):
  pip download --no-deps pose2sim==0.10.49 -d /tmp/p2s
  unzip -q /tmp/p2s/pose2sim-*.whl 'Pose2Sim/Demo_SinglePerson/*' -d /tmp/p2s

  # (1) a 10 s 1080p clip (600 frames) -> 3D in one command, timed:
  python experiments/video_lift.py --task=clip --demo=/tmp/p2s \
      --out=experiments/video_results.jsonl
  # (2) the 4 views of one recording lifted separately; PA-MPJPE between
  #     every pair of views, frame by frame:
  python experiments/video_lift.py --task=multiview --demo=/tmp/p2s \
      --out=experiments/video_results.jsonl

The clip of (1) is the demo's cam01, cam02 and cam03 each played forward then
backward (6 x 100 frames, 1080x1920 at 60 fps = 10.0 s), written with
OpenCV's mp4v codec. Both tasks print figures and append JSON lines to --out.
"""

import argparse
import itertools
import json
import os
import pathlib
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zedoi_jax import jsonio  # pylint: disable=g-import-not-at-top,wrong-import-position
from zedoi_jax import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position

DEMO = 'Pose2Sim/Demo_SinglePerson'


def qca_intrinsics(path: pathlib.Path) -> dict[str, np.ndarray]:
  """3x3 K per camera from a Qualisys .qca.txt (values in 1/64 px)."""
  root = ET.parse(path).getroot()
  out = {}
  for cam in root.findall('cameras/camera'):
    intr = cam.find('intrinsic')
    fov = cam.find('fov_video')
    fu, fv = (float(intr.get(k)) / 64 for k in ('focalLengthU',
                                                 'focalLengthV'))
    cu = float(intr.get('centerPointU')) / 64 - float(fov.get('left'))
    cv = float(intr.get('centerPointV')) / 64 - float(fov.get('top'))
    out[cam.get('serial')] = np.array([[fu, 0, cu], [0, fv, cv], [0, 0, 1]])
  return out


def qca_extrinsics(path: pathlib.Path) -> dict[str, tuple]:
  """(R, t) per camera, world (metres) -> OpenCV camera frame.

  Qualisys stores each camera's orientation matrix r_ij and position (mm);
  its camera axes have y up and z backward, so the OpenCV frame is that
  rotated by pi about x (as pose2sim's calib_qca_to_toml does).
  """
  root = ET.parse(path).getroot()
  flip = np.diag([1.0, -1.0, -1.0])
  out = {}
  for cam in root.findall('cameras/camera'):
    tr = cam.find('transform')
    m = np.array([[float(tr.get(f'r{i}{j}')) for j in (1, 2, 3)]
                  for i in (1, 2, 3)])
    c = np.array([float(tr.get(k)) for k in 'xyz']) / 1000.0
    r = flip @ m
    out[cam.get('serial')] = (r, -r @ c)
  return out


def triangulate(uv: np.ndarray, conf: np.ndarray, proj: np.ndarray,
                min_conf: float = 0.5) -> np.ndarray:
  """DLT per joint: uv [V, F, J, 2], conf [V, F, J], proj [V, 3, 4] ->
  [F, J, 3] (NaN with fewer than 2 confident views)."""
  v, f, j = conf.shape
  out = np.full((f, j, 3), np.nan)
  for fi in range(f):
    for ji in range(j):
      rows = []
      for vi in range(v):
        w = conf[vi, fi, ji]
        if w >= min_conf and np.isfinite(uv[vi, fi, ji]).all():
          u, vv = uv[vi, fi, ji]
          p = proj[vi]
          rows += [w * (u * p[2] - p[0]), w * (vv * p[2] - p[1])]
      if len(rows) >= 4:
        x = np.linalg.svd(np.asarray(rows))[2][-1]
        out[fi, ji] = x[:3] / x[3]
  return out


def lift_cmd(video: pathlib.Path, workdir: pathlib.Path, k_path, extra):
  cmd = [sys.executable, '-m', 'zedoi_jax.main', '--config=configs/lift.py',
         f'--config.lift.input={video}', f'--workdir={workdir}']
  if k_path:
    cmd.append(f'--config.lift.camera={k_path}')
  return cmd + list(extra)


def run(cmd, log_path: pathlib.Path) -> float:
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  t0 = time.perf_counter()
  with open(log_path, 'w') as log:
    rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=log,
                         stderr=subprocess.STDOUT)
  seconds = time.perf_counter() - t0
  if rc:
    sys.exit(f'failed ({rc}): {" ".join(map(str, cmd))}; see {log_path}')
  return seconds


def make_clip(demo: pathlib.Path, out: pathlib.Path) -> dict:
  import cv2  # pylint: disable=g-import-not-at-top
  writer = None
  n = 0
  for cam in ('cam01', 'cam02', 'cam03'):
    cap = cv2.VideoCapture(str(demo / DEMO / 'videos' / f'{cam}.mp4'))
    frames = []
    while True:
      ok, f = cap.read()
      if not ok:
        break
      frames.append(cv2.resize(f, (1080, 1920)))
    for f in frames + frames[::-1]:
      if writer is None:
        writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*'mp4v'),
                                 60.0, (1080, 1920))
      writer.write(f)
      n += 1
  writer.release()
  return {'frames': n, 'fps': 60.0, 'width': 1080, 'height': 1920,
          'seconds_of_video': n / 60.0}


def task_clip(args) -> dict:
  work = pathlib.Path(args.workdir)
  work.mkdir(parents=True, exist_ok=True)
  clip = work / 'clip_10s_1080x1920.mp4'
  info = make_clip(pathlib.Path(args.demo), clip)
  k = qca_intrinsics(pathlib.Path(args.demo) / DEMO / 'calibration' /
                     'Calib.qca.txt')['cam01']
  k_path = work / 'K_cam01.txt'
  np.savetxt(k_path, k)
  wd = work / 'clip_lift'
  extra = ['--config.init.adapted=', '--config.progress=True']
  seconds = run(lift_cmd(clip, wd, k_path, extra), work / 'clip_lift.log')
  doc = json.loads((wd / 'video_3d.json').read_text())
  lifted = json.loads((wd / 'lifted.json').read_text())
  progress_lines = sum('detect 2D:' in line for line in
                       open(work / 'clip_lift.log'))
  row = {'task': 'clip', **info, 'wall_seconds_one_command': round(seconds, 1),
         'detection_frames_per_second': doc['detection_frames_per_second'],
         'detection_cpu_ms_per_frame': doc['detection_cpu_ms_per_frame'],
         'load_average_1min_after': os.getloadavg()[0],
         'frames_lifted': doc['num_lifted'],
         'status_counts': doc['status_counts'],
         'lift_poses_per_second': round(
             lifted['timing'].get('poses_per_s', float('nan')), 2)
         if 'poses_per_s' in lifted['timing'] else None,
         'lift_timing': lifted['timing'],
         'progress_lines_logged': progress_lines,
         'outputs': sorted(p.name for p in wd.iterdir()),
         'machine': f'{os.cpu_count()} CPU cores, shared (loaded)',
         'model': 'adult prior (init.adapted=)'}
  print(f"10 s clip ({info['frames']} frames 1080x1920): one command "
        f"{seconds:.0f} s; detection {doc['detection_frames_per_second']:.1f}"
        f" frames/s; {doc['num_lifted']} frames lifted")
  return row


def task_multiview(args) -> dict:
  demo = pathlib.Path(args.demo)
  work = pathlib.Path(args.workdir)
  work.mkdir(parents=True, exist_ok=True)
  ks = qca_intrinsics(demo / DEMO / 'calibration' / 'Calib.qca.txt')
  cams = sorted(ks)
  poses, status, det_fps, det_cpu, kp2d, conf2d = {}, {}, {}, {}, {}, {}
  model_flags = ([] if args.model == 'infant' else ['--config.init.adapted='])
  for cam in cams:
    k_path = work / f'K_{cam}.txt'
    np.savetxt(k_path, ks[cam])
    wd = work / f'{args.model}_{cam}'
    if not (args.reuse and (wd / 'video_3d.npz').is_file()):
      run(lift_cmd(demo / DEMO / 'videos' / f'{cam}.mp4', wd, k_path,
                   model_flags + ['--config.lift.render_video=False',
                                  '--config.lift.pictures=False']),
          work / f'{args.model}_{cam}.log')
    with np.load(wd / 'video_3d.npz') as z:
      poses[cam] = z['poses_3d'].astype(np.float64)
      status[cam] = list(z['status'])
      kp2d[cam] = z['keypoints_2d'].astype(np.float64)
      conf2d[cam] = z['confidence_2d'].astype(np.float64)
    vdoc = json.loads((wd / 'video_3d.json').read_text())
    det_fps[cam] = vdoc['detection_frames_per_second']
    det_cpu[cam] = vdoc.get('detection_cpu_ms_per_frame')
    print(f'{cam}: {status[cam].count("ok")}/{len(status[cam])} frames '
          f'with a person; detection {det_fps[cam]:.1f} frames/s')
  f = min(len(p) for p in poses.values())
  pairs = {}
  for a, b in itertools.combinations(cams, 2):
    pa, pb = poses[a][:f], poses[b][:f]
    same = metrics.pa_mpjpe(pa, pb)
    # Lag check (the views may not be frame-synchronised): the best
    # constant shift in [-15, 15] frames.
    lags = {}
    for lag in range(-15, 16):
      x = pa[max(0, lag):f + min(0, lag)]
      y = pb[max(0, -lag):f - max(0, lag)]
      lags[lag] = float(np.nanmean(metrics.pa_mpjpe(x, y))) * 1000
    best = min(lags, key=lags.get)
    pairs[f'{a}-{b}'] = {
        'pa_mpjpe_mm_lag0': float(np.nanmean(same)) * 1000,
        'pa_mpjpe_mm_lag0_median': float(np.nanmedian(same)) * 1000,
        'best_lag_frames': best, 'pa_mpjpe_mm_best_lag': lags[best],
        'frames_compared': int(np.isfinite(same).sum())}
  # Trivial baseline: every frame replaced by one fixed pose (the mean of
  # all views' lifts), compared with each view.
  allp = np.concatenate([poses[c][:f] for c in cams])
  mean_pose = np.nanmean(allp, 0)
  base = float(np.nanmean([np.nanmean(metrics.pa_mpjpe(
      np.broadcast_to(mean_pose, poses[c][:f].shape), poses[c][:f]))
                           for c in cams])) * 1000
  # Motion scale: how far one view's pose moves from its own mean pose.
  lag0 = np.mean([p['pa_mpjpe_mm_lag0'] for p in pairs.values()])
  bestl = np.mean([p['pa_mpjpe_mm_best_lag'] for p in pairs.values()])
  # Reference: the same detector's 2D triangulated from the 4 calibrated
  # views (lens distortion ignored), in H36M-17, root-relative; each
  # view's lift vs it, after Procrustes (PA-MPJPE) and in that camera's
  # frame with only the root aligned (MPJPE: depth and tilt errors count).
  ext = qca_extrinsics(demo / DEMO / 'calibration' / 'Calib.qca.txt')
  proj = np.stack([ks[c] @ np.concatenate([ext[c][0], ext[c][1][:, None]],
                                          1) for c in cams])
  uv = np.stack([kp2d[c][:f] for c in cams])
  cf = np.stack([conf2d[c][:f] for c in cams])
  tri = triangulate(uv, cf, proj)
  reproj = []
  for vi, c in enumerate(cams):
    xh = np.concatenate([tri, np.ones(tri.shape[:-1] + (1,))], -1) @ proj[vi].T
    d = np.linalg.norm(xh[..., :2] / xh[..., 2:] - uv[vi], axis=-1)
    reproj.append(np.nanmedian(np.where(cf[vi] >= 0.5, d, np.nan)))
  from zedoi_jax import skeleton  # pylint: disable=g-import-not-at-top
  vs_tri = {}
  for c in cams:
    r, t = ext[c]
    tri_cam = tri @ r.T + t
    ref = skeleton.convert(tri_cam, 'coco17', 'h36m17')
    ref = ref - ref[:, :1]
    ok = np.isfinite(ref).all((1, 2)) & np.isfinite(poses[c][:f]).all((1, 2))
    vs_tri[c] = {
        'pa_mpjpe_mm': float(np.mean(metrics.pa_mpjpe(poses[c][:f][ok],
                                                      ref[ok]))) * 1000,
        'mpjpe_mm_root_aligned': float(np.mean(metrics.mpjpe(
            poses[c][:f][ok], ref[ok]))) * 1000,
        'baseline_fixed_pose_pa_mpjpe_mm': float(np.mean(metrics.pa_mpjpe(
            np.broadcast_to(np.nanmean(ref[ok], 0), ref[ok].shape),
            ref[ok]))) * 1000,
        'frames': int(ok.sum())}
  row_tri = {'triangulation_median_reproj_px': [round(float(x), 2)
                                                for x in reproj],
             'vs_triangulated': vs_tri,
             'mean_pa_mpjpe_mm_vs_triangulated': round(float(np.mean(
                 [v['pa_mpjpe_mm'] for v in vs_tri.values()])), 1),
             'mean_mpjpe_mm_vs_triangulated_root_aligned': round(float(
                 np.mean([v['mpjpe_mm_root_aligned']
                          for v in vs_tri.values()])), 1),
             'baseline_fixed_pose_pa_mpjpe_mm_vs_triangulated': round(float(
                 np.mean([v['baseline_fixed_pose_pa_mpjpe_mm']
                          for v in vs_tri.values()])), 1)}
  print('triangulated reference (4 views, DLT): median reprojection '
        f'{row_tri["triangulation_median_reproj_px"]} px')
  for c, v in vs_tri.items():
    print(f"  {c} lift vs triangulated: PA-MPJPE {v['pa_mpjpe_mm']:.1f} mm, "
          f"MPJPE (root aligned, camera frame) "
          f"{v['mpjpe_mm_root_aligned']:.1f} mm; fixed-pose baseline "
          f"{v['baseline_fixed_pose_pa_mpjpe_mm']:.1f} mm")
  row = {'task': 'multiview', 'model': args.model, 'cameras': cams, **row_tri,
         'frames': f, 'pairs': pairs,
         'mean_pa_mpjpe_mm_lag0': round(float(lag0), 1),
         'mean_pa_mpjpe_mm_best_lag': round(float(bestl), 1),
         'baseline_fixed_mean_pose_pa_mpjpe_mm': round(base, 1),
         'detection_frames_per_second': det_fps,
         'detection_cpu_ms_per_frame': det_cpu,
         'load_average_1min_after': os.getloadavg()[0],
         'camera': 'K from the demo calibration (Calib.qca.txt)'}
  print(f'{args.model} model, {len(cams)} views x {f} frames: PA-MPJPE '
        f'between views {lag0:.1f} mm (same frame index), {bestl:.1f} mm '
        f'(best lag per pair); fixed mean pose baseline {base:.1f} mm')
  for name, p in pairs.items():
    print(f"  {name}: {p['pa_mpjpe_mm_lag0']:.1f} mm lag 0, "
          f"{p['pa_mpjpe_mm_best_lag']:.1f} mm at lag "
          f"{p['best_lag_frames']}")
  return row


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--task', choices=('clip', 'multiview'), required=True)
  ap.add_argument('--demo', required=True,
                  help='folder holding the unzipped pose2sim wheel')
  ap.add_argument('--model', choices=('adult', 'infant'), default='adult')
  ap.add_argument('--workdir', default='/tmp/zedoi_video_exp')
  ap.add_argument('--out', default='')
  ap.add_argument('--reuse', action='store_true',
                  help='multiview: reuse per-view lifts already in --workdir')
  args = ap.parse_args()
  row = task_clip(args) if args.task == 'clip' else task_multiview(args)
  row['date'] = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
  jsonio.append_line(args.out, row)


if __name__ == '__main__':
  main()
