"""Transitions between two clips: learned in-betweening (TransitionNet) and two baselines.

:func:`transition` joins clip A up to its out-point, ``n_frames`` generated in-between frames,
and clip B from its in-point, with B moved and turned on the ground so that its root carries
on from where the in-between ends::

    out = transition(walk, 30, run, 5, n_frames=20)           # method="model" (TransitionNet)
    out = transition(walk, 30, run, 5, 20, method="linear")   # linear root + SLERP rotations
    out.meta["transition"]  # {"out_frame": .., "first": .., "n_frames": .., "in_frame": ..}

Methods, all at the humanoid's 30 fps (other skeletons are retargeted, other rates resampled):

* ``"model"``: TransitionNet (``models/transition``, trained by
  ``models/recipes/transition/train.py``), after Harvey et al. 2020 "Robust Motion
  In-betweening": it sees the last :data:`CONTEXT` frames of A and B's in-pose (the target
  keyframe, pose and root) and fills the gap. A small transformer over the whole window
  (context, gap, target), every token carrying a time-to-arrival embedding; the gap tokens
  start from the linear/SLERP in-between and the model adds a correction. One ONNX call per
  transition (or per batch of transitions with the same gap).
* ``"linear"``: root position linear, every local rotation SLERPed, from A's out pose to B's
  in pose.
* ``"zero_velocity"``: hold A's out pose for the whole gap (then B starts).

Where B's in-point lands (``target``): by default A's root keeps moving at the mean of A's
end velocity and B's start velocity (ground velocity and turn rate, in the heading frame) for
``n_frames + 1`` frames; pass ``target=(forward, left, turn)`` (metres, metres, radians in A's
out-frame heading frame) to choose it.

Licence note: the shipped TransitionNet was trained on Bandai-Namco-Research-Motiondataset-1
(CC BY-NC 4.0), so it is for non-commercial use (its manifest says so).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.jobs import Job, JobContext, UserError
from studio.motion.core.clip import Clip
from studio.motion.learned import dataset as D
from studio.runtime import models

ROLE = models.TRANSITION
CONTEXT = 10
METHODS = ("model", "linear", "zero_velocity")



# -- the model -----------------------------------------------------------------------------------

def model_inputs(ctx_pos: np.ndarray, ctx_quat: np.ndarray, tgt_pos: np.ndarray,
                 tgt_quat: np.ndarray, n: int, mean: np.ndarray, std: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The model's three inputs for a batch of windows, plus the reference frames.

    ctx_pos (B, C, 3), ctx_quat (B, C, 13, 4), tgt_pos (B, 3), tgt_quat (B, 13, 4). Returns
    ``x`` (B, C + n + 1, 81) normalised placement features (gap frames: the linear/SLERP
    in-between), ``known`` (B, T, 1) 1 for context and target frames, ``tta`` (B, T, 1)
    frames to the target, and (ref_pos (B, 3), ref_heading (B,)) - the ground frame of the
    last context frame, which every feature is relative to."""
    b, c = ctx_pos.shape[:2]
    ref_pos, ref_h = D.ground_frame(ctx_pos[:, -1], ctx_quat[:, -1, 0])
    ipos, iquat = D.interpolate_batch(ctx_pos[:, -1], ctx_quat[:, -1], tgt_pos, tgt_quat, n)
    pos = np.concatenate([ctx_pos, ipos, tgt_pos[:, None]], axis=1)
    quat = np.concatenate([ctx_quat, iquat, tgt_quat[:, None]], axis=1)
    feats = D.placement_features(pos, quat, ref_pos, ref_h)
    x = ((feats - mean) / std).astype(np.float32)
    t = c + n + 1
    known = np.zeros((b, t, 1), np.float32)
    known[:, :c] = 1.0
    known[:, -1] = 1.0
    tta = np.broadcast_to((t - 1 - np.arange(t, dtype=np.float32))[None, :, None],
                          (b, t, 1)).copy()
    return x, known, tta, ref_pos, ref_h


def inbetween(ctx_pos: np.ndarray, ctx_quat: np.ndarray, tgt_pos: np.ndarray,
              tgt_quat: np.ndarray, n: int, method: str = "model", *, pool=None,
              model: str | Path | None = None, batch: int = 64
              ) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``n`` frames between context frames and a target, for a batch of windows.

    ctx_pos (B, C, 3) and ctx_quat (B, C, 13, 4) (C >= 1; the model uses the last
    :data:`CONTEXT`), tgt_pos (B, 3), tgt_quat (B, 13, 4); world coordinates. Returns
    root positions (B, n, 3) and local rotations (B, n, 13, 4)."""
    if method not in METHODS:
        raise UserError(f"transition method must be one of {', '.join(METHODS)}, got {method!r}")
    ctx_pos = np.asarray(ctx_pos, np.float64)
    ctx_quat = np.asarray(ctx_quat, np.float64)
    b = ctx_pos.shape[0]
    if n == 0:
        return np.zeros((b, 0, 3)), np.zeros((b, 0, D.N_ROT, 4))
    if method == "zero_velocity":
        return (np.repeat(ctx_pos[:, -1:], n, axis=1), np.repeat(ctx_quat[:, -1:], n, axis=1))
    if method == "linear":
        return D.interpolate_batch(ctx_pos[:, -1], ctx_quat[:, -1], np.asarray(tgt_pos),
                                   np.asarray(tgt_quat), n)
    pool = pool or models.pool(ROLE, model)
    c = pool.manifest.constants
    ctx_len = int(c.get("context", CONTEXT))
    lo, hi = int(c.get("min_gap", 1)), int(c.get("max_gap", 60))
    if not lo <= n <= hi:
        raise UserError(f"{pool.manifest.name}: the model fills gaps of {lo} to {hi} frames, "
                        f"asked for {n} (use method='linear' for other lengths)")
    if ctx_pos.shape[1] < ctx_len:  # too little of A: repeat its first frame
        pad = ctx_len - ctx_pos.shape[1]
        ctx_pos = np.concatenate([np.repeat(ctx_pos[:, :1], pad, 1), ctx_pos], axis=1)
        ctx_quat = np.concatenate([np.repeat(ctx_quat[:, :1], pad, 1), ctx_quat], axis=1)
    ctx_pos, ctx_quat = ctx_pos[:, -ctx_len:], ctx_quat[:, -ctx_len:]
    mean = np.asarray(c["mean"], np.float64)
    std = np.asarray(c["std"], np.float64)
    x, known, tta, ref_pos, ref_h = model_inputs(ctx_pos, ctx_quat, np.asarray(tgt_pos),
                                                 np.asarray(tgt_quat), n, mean, std)
    if b <= batch:
        y = pool.run(x, known, tta)[0]
    else:
        y = pool.run_batched(x, known, tta, batch=batch)[0]
    feats = y[:, ctx_len:ctx_len + n].astype(np.float64) * std + mean
    return D.placement_to_arrays(feats, ref_pos, ref_h)


# -- joining clips ------------------------------------------------------------------------------

def _frame_index(clip: Clip, frame: int, fps: float, n: int, what: str) -> int:
    if not 0 <= frame < clip.n_frames:
        raise UserError(f"{clip.name or 'clip'}: {what} {frame} is outside the clip "
                        f"(0..{clip.n_frames - 1})")
    return int(min(n - 1, round(frame * fps / clip.fps)))


def _mean_motion(root_pos: np.ndarray, quats: np.ndarray) -> np.ndarray:
    """(forward, left, turn) per frame: mean ground velocity in the heading frame and turn
    rate over the given frames (zero for a single frame)."""
    if len(root_pos) < 2:
        return np.zeros(3)
    f = D.motion_features(root_pos, quats)[:-1]
    return np.array([f[:, 1].mean(), f[:, 0].mean(), f[:, 3].mean()])


def target_placement(a_pos: np.ndarray, a_quat: np.ndarray, b_pos: np.ndarray,
                     b_quat: np.ndarray, n: int, target=None) -> tuple[np.ndarray, float]:
    """Where B's in-frame lands: ground point (3,) and heading. ``a_*`` are A's frames up to
    the out-point, ``b_*`` B's from the in-point; see the module notes."""
    p0, h0 = D.ground_frame(a_pos[-1], a_quat[-1, 0])
    h0 = float(h0)
    if target is not None:
        fwd, left, turn = (float(v) for v in target)
        # Heading frame: +Z forward, +X to the character's left (Y up, right-handed).
        return p0 + D.yaw(h0)[0].apply([left, 0.0, fwd]), h0 + turn
    k = 5
    va = _mean_motion(a_pos[-k - 1:], a_quat[-k - 1:])
    vb = _mean_motion(b_pos[:k + 1], b_quat[:k + 1])
    fwd, left, turn = 0.5 * (va + vb)
    p, h = p0.copy(), h0
    for _ in range(n + 1):
        p = p + D.yaw(h)[0].apply([left, 0.0, fwd])
        h += turn
    return p, h


def place(root_pos: np.ndarray, quats: np.ndarray, frame: int, ground: np.ndarray,
          heading: float) -> tuple[np.ndarray, np.ndarray]:
    """Move and turn a clip on the ground so that ``frame`` stands at ``ground`` facing
    ``heading`` (root height kept)."""
    from scipy.spatial.transform import Rotation

    g, h = D.ground_frame(root_pos[frame], quats[frame, 0])
    turn = D.yaw(heading - float(h))[0]
    pos = turn.apply(root_pos - g) + ground * np.array([1.0, 0.0, 1.0])
    pos[:, 1] = root_pos[:, 1]
    q = quats.copy()
    q[:, 0] = (turn * Rotation.from_quat(quats[:, 0])).as_quat()
    return pos, q


def transition(clip_a: Clip, out_frame: int, clip_b: Clip, in_frame: int, n_frames: int,
               method: str = "model", *, model: str | Path | None = None, pool=None,
               target=None, ctx: JobContext | None = None) -> Clip:
    """A up to ``out_frame``, ``n_frames`` in-between frames, B from ``in_frame`` on.

    ``out_frame`` / ``in_frame`` index the given clips' own frames; the result is a humanoid
    clip at 30 fps (so with 30 fps inputs, frame ``out_frame`` of the result is A's out pose,
    frames ``out_frame + 1 .. out_frame + n_frames`` are generated and frame
    ``out_frame + n_frames + 1`` is B's in pose). ``method``: "model" (TransitionNet),
    "linear" or "zero_velocity". ``target``: optional (forward, left, turn) of B's in-point
    relative to A's out-point (metres, radians). ``meta["transition"]`` records the indices.
    """
    ctx = ctx or JobContext()
    if method not in METHODS:
        raise UserError(f"transition method must be one of {', '.join(METHODS)}, got {method!r}")
    n = int(n_frames)
    if n < 0:
        raise UserError(f"transition: n_frames must be 0 or more, got {n_frames}")
    ctx.progress(0, 3, "preparing clips")
    a = D.humanoid_clip(clip_a, clip_a.name or "clip A")
    b = D.humanoid_clip(clip_b, clip_b.name or "clip B")
    ia = _frame_index(clip_a, out_frame, a.fps, a.n_frames, "out frame")
    ib = _frame_index(clip_b, in_frame, b.fps, b.n_frames, "in frame")
    a_pos, a_quat = D.clip_arrays(a)
    b_pos, b_quat = D.clip_arrays(b)
    a_pos, a_quat = a_pos[:ia + 1], a_quat[:ia + 1]
    ground, heading = target_placement(a_pos, a_quat, b_pos[ib:], b_quat[ib:], n, target)
    b_pos, b_quat = place(b_pos, b_quat, ib, ground, heading)
    ctx.progress(1, 3, f"in-between ({method})")
    gp, gq = inbetween(a_pos[None, -64:], a_quat[None, -64:], b_pos[None, ib],
                       b_quat[None, ib], n, method, pool=pool, model=model)
    ctx.progress(2, 3, "joining")
    pos = np.concatenate([a_pos, gp[0], b_pos[ib:]])
    quat = np.concatenate([a_quat, gq[0], b_quat[ib:]])
    name = f"{clip_a.name or 'A'} -> {clip_b.name or 'B'}"
    meta = {"transition": {"method": method, "out_frame": ia, "first": ia + 1,
                           "n_frames": n, "in_frame": ia + 1 + n,
                           "b_in_frame": ib, "target": [float(ground[0]), float(ground[2]),
                                                        float(heading)]}}
    if method == "model":
        meta["license"] = "generated with TransitionNet (trained on CC BY-NC 4.0 data: " \
                          "non-commercial use)"
    out = D.arrays_to_clip(pos, quat, D.FPS, name, meta)
    ctx.progress(3, 3, "done", force=True)
    return out


def transition_job(clip_a: Clip, out_frame: int, clip_b: Clip, in_frame: int, n_frames: int,
                   **kwargs) -> Job:
    """:func:`transition` as a :class:`Job` for ``ui.workers``."""
    return Job(f"transition {clip_a.name or 'A'} -> {clip_b.name or 'B'}",
               lambda ctx: transition(clip_a, out_frame, clip_b, in_frame, n_frames, ctx=ctx,
                                      **kwargs))


# -- metrics (Harvey et al. 2020) ---------------------------------------------------------------

def align_quat_signs(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Flip each quaternion of ``pred`` to the sign closest to ``ref`` (q and -q are the same
    rotation)."""
    s = np.sign(np.sum(pred * ref, axis=-1, keepdims=True))
    return pred * np.where(s == 0, 1.0, s)


def npss(target: np.ndarray, pred: np.ndarray) -> float:
    """Normalised power spectrum similarity (Gopalakrishnan et al. 2019) as computed in the
    LaFAN1 benchmark: (B, T, D) sequences (global quaternions, flattened), power-weighted
    earth mover's distance between normalised power spectra."""
    gt = np.square(np.real(np.fft.fft(target, axis=1)))
    pr = np.square(np.real(np.fft.fft(pred, axis=1)))
    gt_total = gt.sum(axis=1)
    pr_total = np.maximum(pr.sum(axis=1), 1e-12)
    weights = gt_total / np.maximum(gt_total.sum(axis=1, keepdims=True), 1e-12)
    gt_cdf = np.cumsum(gt / np.maximum(gt_total[:, None], 1e-12), axis=1)
    pr_cdf = np.cumsum(pr / pr_total[:, None], axis=1)
    emd = np.linalg.norm(pr_cdf - gt_cdf, ord=1, axis=1)
    return float(np.average(emd, weights=np.maximum(weights, 0) + 1e-12))


def window_metrics(gt_pos: np.ndarray, gt_quat: np.ndarray, pred_pos: np.ndarray,
                   pred_quat: np.ndarray, ref_pos: np.ndarray, ref_h: np.ndarray,
                   pos_mean: np.ndarray | None = None, pos_std: np.ndarray | None = None
                   ) -> dict[str, float]:
    """L2P, L2Q, NPSS (and MPJPE in cm) of predicted in-between frames.

    All arrays (B, n, ...) of root positions / local quaternions in world coordinates;
    ``ref_*`` the window's reference ground frame (last context frame). Global positions of
    all 18 humanoid joints are taken in that frame; L2P is the mean per-frame L2 norm of the
    (18 x 3) vector after standardising each coordinate with ``pos_mean``/``pos_std`` (the
    LaFAN1 recipe; metres when they are None). L2Q: mean per-frame L2 norm of the 13 animated
    joints' global quaternions (signs aligned with the ground truth). NPSS on those global
    quaternions."""
    b, n = gt_pos.shape[:2]

    def glob(pos, quat):
        p, q = D.global_pose(pos.reshape(-1, 3), quat.reshape(-1, D.N_ROT, 4))
        p = p.reshape(b, n, -1, 3)
        inv = np.swapaxes(D.yaw_matrix(ref_h), -1, -2)
        p = np.einsum("bij,btkj->btki", inv, p - ref_pos[:, None, None, :])
        return p, q.reshape(b, n, -1, 4)[:, :, D.ANIMATED_INDEX]

    gp, gq = glob(gt_pos, gt_quat)
    pp, pq = glob(pred_pos, pred_quat)
    gq = align_quat_signs(gq, np.array([0.0, 0.0, 0.0, 1.0]))
    pq = align_quat_signs(pq, gq)
    mpjpe = float(np.linalg.norm(pp - gp, axis=-1).mean() * 100.0)
    fp, fg = pp.reshape(b, n, -1), gp.reshape(b, n, -1)
    if pos_mean is not None and pos_std is not None:
        fp = (fp - pos_mean) / pos_std
        fg = (fg - pos_mean) / pos_std
    l2p = float(np.linalg.norm(fp - fg, axis=-1).mean())
    l2q = float(np.linalg.norm((pq - gq).reshape(b, n, -1), axis=-1).mean())
    return {"L2P": l2p, "L2Q": l2q, "NPSS": npss(gq.reshape(b, n, -1), pq.reshape(b, n, -1)),
            "MPJPE_cm": mpjpe}


def heldout_windows(records, n: int, context: int = CONTEXT, stride: int = 20,
                    limit: int | None = None):
    """Evaluation windows (context + n + 1 frames) from ``records`` (use the held-out split):
    returns (pos (B, T, 3), quat (B, T, 13, 4)) at every ``stride`` frames."""
    length = context + n + 1
    ps, qs = [], []
    for r in records:
        for s in range(0, r.n_frames - length + 1, stride):
            ps.append(r.root_pos[s:s + length])
            qs.append(r.quats[s:s + length])
    if limit is not None:
        ps, qs = ps[:limit], qs[:limit]
    return np.stack(ps), np.stack(qs)


def evaluate(records, gaps=(5, 15, 30), methods=METHODS, *, pool=None, model=None,
             pos_stats: tuple[np.ndarray, np.ndarray] | None = None, stride: int = 20,
             limit: int | None = None) -> dict[int, dict[str, dict[str, float]]]:
    """Metrics table {gap: {method: {L2P, L2Q, NPSS, MPJPE_cm, windows}}} on held-out clips."""
    out: dict[int, dict[str, dict[str, float]]] = {}
    for n in gaps:
        pos, quat = heldout_windows(records, n, CONTEXT, stride, limit)
        ctx_p, ctx_q = pos[:, :CONTEXT], quat[:, :CONTEXT]
        tgt_p, tgt_q = pos[:, -1], quat[:, -1, :]
        gt_p, gt_q = pos[:, CONTEXT:CONTEXT + n], quat[:, CONTEXT:CONTEXT + n]
        ref_pos, ref_h = D.ground_frame(ctx_p[:, -1], ctx_q[:, -1, 0])
        out[n] = {}
        for m in methods:
            pp, pq = inbetween(ctx_p, ctx_q, tgt_p, tgt_q, n, m, pool=pool, model=model)
            res = window_metrics(gt_p, gt_q, pp, pq, ref_pos, ref_h,
                                 *(pos_stats if pos_stats else (None, None)))
            res["windows"] = int(len(pos))
            out[n][m] = res
    return out


def position_stats(records, n: int = 30, context: int = CONTEXT, stride: int = 20
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate mean/std of in-between global positions (reference frame) over
    windows of ``records`` (the training split): the L2P normalisation."""
    pos, quat = heldout_windows(records, n, context, stride)
    ref_pos, ref_h = D.ground_frame(pos[:, context - 1], quat[:, context - 1, 0])
    b = len(pos)
    gp, _ = D.global_pose(pos[:, context:context + n].reshape(-1, 3),
                          quat[:, context:context + n].reshape(-1, D.N_ROT, 4))
    gp = gp.reshape(b, n, -1, 3)
    inv = np.swapaxes(D.yaw_matrix(ref_h), -1, -2)
    gp = np.einsum("bij,btkj->btki", inv, gp - ref_pos[:, None, None, :]).reshape(b * n, -1)
    return gp.mean(axis=0), np.maximum(gp.std(axis=0), 1e-3)
