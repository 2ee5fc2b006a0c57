"""DeepPhase: per-frame phase, frequency and amplitude of any clip (Starke et al. 2022).

The shipped model (``models/deepphase``, trained by ``models/recipes/deepphase/train.py``) is
the encoder of a Periodic Autoencoder. It reads a 2-second window of joint velocities centred
on a frame and describes each of its K latent channels as a sinusoid: phase (as a 2-D vector),
frequency (Hz), amplitude and offset. Sliding the window over a clip gives a phase track per
channel; plotted as ``amp * (cos 2 pi phase, sin 2 pi phase)`` each channel draws a circle-like
"phase manifold" for periodic motion.

Use::

    track = compute_phase(clip)           # any clip: DeepMimic or BVH (retargeted), any fps
    track.phase      # (T, K) cycles in [0, 1)
    track.freq       # (T, K) Hz
    track.amp        # (T, K)
    track.manifold() # (T, K, 2) points to plot
    track.dominant() # channel with the largest mean amplitude

``T`` counts frames at the model's rate (``track.fps``, 30), covering the clip's duration
(``track.times`` gives their times in seconds; :meth:`PhaseTrack.sample` interpolates).

Input features (shared with the training recipe, so they cannot drift apart): humanoid joint
positions relative to the root's ground point, turned into the root's heading frame, and
differentiated (m/s); for the root joint itself its own velocity in that frame. Looping clips
are cycled so that windows near their ends see the next/previous loop; other clips are padded
with zero velocity (standing still).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial.transform import Rotation

from studio.jobs import Job, JobContext, UserError
from studio.motion.core.clip import Clip
from studio.motion.core.fk import forward_kinematics, root_trajectory
from studio.motion.core.sampling import frame_count, sample_clip
from studio.runtime import models

ROLE = models.DEEPPHASE



# -- the track --------------------------------------------------------------------------------

@dataclass(eq=False)
class PhaseTrack:
    """Per-frame DeepPhase parameters of a clip, at ``fps`` frames per second.

    ``phase`` (T, K) in cycles, [0, 1); ``freq`` (T, K) in Hz; ``amp`` (T, K) and ``offset``
    (T, K) in the latent's units (comparable between channels and clips, not physical).
    """

    phase: np.ndarray
    freq: np.ndarray
    amp: np.ndarray
    offset: np.ndarray
    fps: float
    name: str = ""

    @property
    def n_frames(self) -> int:
        return int(self.phase.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.phase.shape[1])

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.n_frames) / self.fps

    def manifold(self) -> np.ndarray:
        """(T, K, 2) phase-manifold points ``amp * (cos 2 pi phase, sin 2 pi phase)``."""
        ang = 2.0 * np.pi * self.phase
        return np.stack([self.amp * np.cos(ang), self.amp * np.sin(ang)], axis=-1)

    def dominant(self) -> int:
        """The channel with the largest mean amplitude."""
        return int(np.argmax(self.amp.mean(axis=0)))

    def unwrapped(self, channel: int | None = None) -> np.ndarray:
        """(T,) continuous phase of one channel in cycles (each step taken the short way
        round, so it can go backwards where the model is unsure)."""
        k = self.dominant() if channel is None else channel
        step = np.diff(self.phase[:, k])
        step = step - np.round(step)
        return self.phase[0, k] + np.concatenate([[0.0], np.cumsum(step)])

    def sample(self, times: np.ndarray) -> "PhaseTrack":
        """The track at other times (seconds): phase interpolated the short way round,
        the rest linearly; times outside the track hold its ends."""
        t = np.clip(np.asarray(times, dtype=np.float64), 0.0, self.times[-1])
        src = self.times

        def cols(a: np.ndarray) -> np.ndarray:
            return np.stack([np.interp(t, src, a[:, k]) for k in range(a.shape[1])], axis=1)

        unw = np.stack([self.unwrapped(k) for k in range(self.n_channels)], axis=1)
        fps = 1.0 / np.median(np.diff(t)) if len(t) > 1 else self.fps
        return PhaseTrack(_cycles(cols(unw)), cols(self.freq), cols(self.amp),
                          cols(self.offset), float(fps), self.name)


def _cycles(x: np.ndarray) -> np.ndarray:
    """``x`` mod 1 in [0, 1) (numpy's mod gives 1.0 for tiny negative numbers)."""
    out = np.mod(np.asarray(x, dtype=np.float64), 1.0)
    out[out >= 1.0] = 0.0
    return out


# -- features ---------------------------------------------------------------------------------

def humanoid_clip(clip: Clip, source: str = "") -> Clip:
    """``clip`` on the DeepMimic humanoid (retargeted when it is not already)."""
    from studio.motion.core.retarget import retarget
    from studio.motion.io.deepmimic import is_humanoid

    clip.check(source or clip.name or "clip")
    if is_humanoid(clip.skeleton):
        return clip
    return retarget(clip, source=source or clip.name)


def velocity_features(clip: Clip) -> np.ndarray:
    """(T, 3 J) root-relative joint velocities in the heading frame (m/s; root joint: its own
    velocity), for a humanoid clip. Frame layout: joint-major, (x, y, z) per joint, in
    ``HUMANOID.names`` order; in the heading frame +Z is forward and Y is up."""
    from scipy.spatial.transform import Rotation

    sk = clip.skeleton
    pose = forward_kinematics(clip)
    traj = root_trajectory(clip, pose)
    up = sk.up
    to_local = Rotation.from_rotvec(-traj.heading[:, None] * np.eye(3)[up])
    t = pose.positions.shape[0]
    rel = _apply_each(to_local, pose.positions - traj.positions[:, None, :])
    dt = clip.dt
    vel = np.gradient(rel, dt, axis=0) if t > 1 else np.zeros_like(rel)
    root_v = np.gradient(clip.root_pos, dt, axis=0) if t > 1 else np.zeros((t, 3))
    vel[:, 0] = to_local.apply(root_v)
    return vel.reshape(t, -1).astype(np.float32)


def _apply_each(rot: Rotation, v: np.ndarray) -> np.ndarray:
    """Apply rotation t to every vector of frame t: rot (T,), v (T, J, 3)."""
    m = rot.as_matrix()  # (T, 3, 3)
    return np.einsum("tab,tjb->tja", m, v)


def mirror_features(feats: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Left/right mirror of :func:`velocity_features` output (swap sides, negate sideways x)."""
    t = feats.shape[0]
    v = feats.reshape(t, len(names), 3).copy()
    idx = [names.index(n.replace("left_", "#").replace("right_", "left_").replace("#", "right_"))
           for n in names]
    v = v[:, idx]
    v[..., 0] *= -1.0
    return v.reshape(t, -1)


def clip_features(clip: Clip, fps: float, pad: int) -> tuple[np.ndarray, int]:
    """Velocity features of ``clip`` resampled to ``fps`` with ``pad`` extra frames on each
    side (cycled for looping clips, zero velocity otherwise). Returns ((n + 2 pad, C), n)."""
    n = frame_count(clip, fps)
    if clip.loop and clip.n_frames > 1:
        times = np.arange(-pad, n + pad) / fps
        return velocity_features(sample_clip(clip, times, fps)), n
    feats = velocity_features(sample_clip(clip, np.arange(n) / fps, fps))
    return np.pad(feats, ((pad, pad), (0, 0))), n


def windows(feats: np.ndarray, window: int) -> np.ndarray:
    """(n + window - 1, C) padded features -> (n, C, window) windows, one per frame (a view)."""
    return np.lib.stride_tricks.sliding_window_view(feats, window, axis=0)


# -- running it -------------------------------------------------------------------------------

def compute_phase(clip: Clip, *, model: str | Path | None = None, pool=None,
                  ctx: JobContext | None = None, source: str = "",
                  batch: int = 64, mirror: bool = False) -> PhaseTrack:
    """DeepPhase track of ``clip`` (any skeleton the retargeter understands, any fps).

    ``model``: a DeepPhase manifest/folder (default: the shipped ``models/deepphase``), or pass
    an open ``pool``. ``source`` names the file in error messages. ``mirror``: the track of the
    left/right mirrored motion (for a symmetric gait, a stride-rate channel shifts by half a
    cycle and a step-rate channel by a whole one). Reports progress and checks cancellation
    through ``ctx``."""
    ctx = ctx or JobContext()
    name = source or clip.name or "clip"
    ctx.progress(0, 3, "preparing")
    if pool is None:
        pool = models.pool(ROLE, model)
    c = pool.manifest.constants
    fps, window = float(c["fps"]), int(c["window"])
    mean = np.asarray(c["mean"], dtype=np.float32)
    std = np.asarray(c["std"], dtype=np.float32)
    hum = humanoid_clip(clip, name)
    feats, n = clip_features(hum, fps, window // 2)
    if mirror:
        feats = mirror_features(feats, hum.skeleton.names)
    if feats.shape[1] != mean.shape[0]:
        raise UserError(f"{pool.manifest.path}: model expects {mean.shape[0]} input channels, "
                        f"the features have {feats.shape[1]}")
    feats = (feats - mean) / std
    wins = windows(feats.astype(np.float32), window)
    ctx.progress(1, 3, "running DeepPhase")
    outs = []
    for i in range(0, n, batch * pool.size):
        ctx.check()
        chunk = np.ascontiguousarray(wins[i:i + batch * pool.size])
        outs.append(pool.run_batched(chunk, batch=batch))
        ctx.progress(1 + (i + len(chunk)) / n, 3, "running DeepPhase")
    xy, freq, amp, off = (np.concatenate([o[k] for o in outs], axis=0) for k in range(4))
    phase = _cycles(np.arctan2(xy[..., 1], xy[..., 0]) / (2.0 * np.pi))
    ctx.progress(3, 3, "done", force=True)
    return PhaseTrack(phase.astype(np.float64), freq.astype(np.float64),
                      amp.astype(np.float64), off.astype(np.float64), fps, clip.name)


def phase_or_none(clip: Clip, ctx: JobContext | None = None) -> PhaseTrack | None:
    """The DeepPhase track of ``clip``, or None when the model is not installed or the clip
    cannot be mapped to the humanoid (a viewer still shows the clip, without phases)."""
    if not models.available(ROLE):
        return None
    try:
        return compute_phase(clip, ctx=ctx)
    except UserError:
        return None


def phase_job(clip: Clip, **kwargs) -> Job:
    """:func:`compute_phase` as a :class:`Job` for ``ui.workers``."""
    return Job(f"DeepPhase {clip.name or 'clip'}", lambda ctx: compute_phase(clip, ctx=ctx,
                                                                             **kwargs))


# -- measures ---------------------------------------------------------------------------------

@dataclass
class PhaseRegularity:
    """How cleanly one channel's phase advances: ``cv`` = std / mean of the per-frame phase
    increment (0 for a perfect clock), ``forward`` = fraction of increments > 0, ``rate`` =
    mean advance in cycles per second (the channel's effective frequency)."""

    channel: int
    cv: float
    forward: float
    rate: float


def regularity(track: PhaseTrack, channel: int | None = None, trim: int = 0) -> PhaseRegularity:
    """Phase regularity of ``channel`` (default: dominant), ignoring ``trim`` frames at
    each end."""
    k = track.dominant() if channel is None else channel
    u = track.unwrapped(k)
    if trim:
        u = u[trim:-trim]
    step = np.diff(u)
    mean = float(step.mean()) if step.size else 0.0
    cv = float(step.std() / abs(mean)) if step.size and mean != 0 else float("inf")
    return PhaseRegularity(k, cv, float((step > 0).mean()) if step.size else 0.0,
                           mean * track.fps)


def stances(clip: Clip, contacts=None, min_gap: float = 0.2) -> dict[str, list[tuple[int, int]]]:
    """Per foot, its stance phases as (first, stop) frame ranges: contact segments with lifts
    shorter than ``min_gap`` seconds (a toe flicking up for a frame) merged away."""
    from studio.motion.core.contacts import foot_contacts

    fc = contacts or foot_contacts(clip)
    out: dict[str, list[tuple[int, int]]] = {}
    for foot in fc.feet:
        merged: list[list[int]] = []
        for start, stop in fc.segments(foot):
            if merged and (start - merged[-1][1]) / clip.fps < min_gap:
                merged[-1][1] = stop
            else:
                merged.append([start, stop])
        out[foot] = [(a, b) for a, b in merged]
    return out


def touchdowns(clip: Clip, contacts=None, min_gap: float = 0.2) -> dict[str, np.ndarray]:
    """Frames where each foot touches down: the starts of :func:`stances` (a foot already
    down in frame 0 has no touch-down there)."""
    return {foot: np.array([a for a, _ in segs if a > 0], dtype=int)
            for foot, segs in stances(clip, contacts, min_gap).items()}


def contact_cadence(clip: Clip, contacts=None) -> float:
    """Strides per second from foot contacts: per foot, (touch-downs - 1) over the time from
    the first to the last touch-down; the mean over the feet that touch down at least twice.
    NaN when no foot does."""
    rates = []
    for starts in touchdowns(clip, contacts).values():
        if len(starts) >= 2:
            rates.append((len(starts) - 1) / ((starts[-1] - starts[0]) / clip.fps))
    return float(np.mean(rates)) if rates else float("nan")
