"""Blend clips with time-varying weights: naive crossfades and phase-aligned blends.

``blend_clips(clips, weights, mode, fps, ctx)`` is the one entry point (the UI and the CLI call
it on a worker, or through :func:`blend_job`). ``weights`` is a (T, N) curve (one column per
clip, normalised per frame) or a constant (N,) mix; the result has T frames at ``fps``.

How a frame is made, both modes:

* every clip is sampled at its own time ``tau_i`` (looping clips keep cycling, carrying their
  root forward each loop; other clips hold their last frame);
* local joint rotations: weighted nlerp of the clips' quaternions (each flipped into the
  hemisphere of the heaviest clip's, so N > 2 clips blend too);
* root: in a root-relative frame, so clips that face or travel different ways blend. Each
  clip's root is split into its ground heading ``h`` (from the thighs, ``fk.root_trajectory``),
  the ground displacement between consecutive samples expressed in that heading frame, the
  heading change, the root height and the root's rotation relative to the heading. The
  displacements, heading changes and heights are averaged with the weights and integrated; the
  relative rotations are nlerped. With one clip at weight 1 this rebuilds the clip exactly.

Modes:

* ``"naive"``: ``tau_i = t`` for every clip, a plain per-frame crossfade. Walk and run differ
  in cadence, so their feet soon disagree and the blend slides and shuffles.
* ``"aligned"``: the classic phase-registered blend (Rose et al. "verbs and adverbs"; Kovar and
  Gleicher's registration curves in their simplest form). A global phase ``Phi`` advances by
  the weighted mean of the clips' own phase advance per frame, and each clip is time-warped to
  the moment where its own phase equals ``Phi``: ``tau_i = phi_i^-1(Phi)``. So at any instant
  all clips are at the same point of their gait and the blended cadence moves smoothly between
  the clips' cadences. The per-clip phase ``phi_i`` comes from :mod:`studio.motion.learned.phase`
  (``phase="deepphase"``: the strongest DeepPhase channel that runs once per stride in all
  clips, see :func:`choose_channel`), or from foot contacts (``phase="contacts"``: the middle
  of each left-foot stance is a whole cycle and of each right-foot stance a half cycle, linear
  in between; used automatically when the DeepPhase model is not installed).

Non-humanoid clips are retargeted to the DeepMimic humanoid first unless every clip already
shares one skeleton (and none has animated joint translations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.jobs import Job, JobContext, UserError
from studio.motion.core.clip import Clip, normalised
from studio.motion.core.fk import forward_kinematics, root_trajectory
from studio.motion.core.sampling import about_up, frame_count, sample_clip

MODES = ("naive", "aligned")
PHASE_SOURCES = ("deepphase", "contacts")
_MIN_PHASE_STEP = 1e-4  # cycles per frame: keeps phase curves strictly increasing


# -- weights ----------------------------------------------------------------------------------

def normalise_weights(weights, n_clips: int, n_frames: int | None = None) -> np.ndarray:
    """(T, N) weights with rows summing to 1. ``weights`` is (T, N), or (N,) for a constant
    mix over ``n_frames`` frames. Negative weights or all-zero rows are a :class:`UserError`."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 1:
        if n_frames is None:
            raise ValueError("constant weights need n_frames")
        w = np.tile(w, (int(n_frames), 1))
    if w.ndim != 2 or w.shape[1] != n_clips:
        raise UserError(f"blend weights must be (frames, {n_clips}) or ({n_clips},), "
                        f"got shape {np.asarray(weights).shape}")
    if w.shape[0] == 0:
        raise UserError("blend weights: no frames")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise UserError("blend weights must be finite and non-negative")
    total = w.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise UserError(f"blend weights are all zero at frame {int(np.argmax(total[:, 0] <= 0))}")
    return w / total


def crossfade_weights(n_frames: int, n_clips: int, start: int, stop: int, src: int = 0,
                      dst: int = 1) -> np.ndarray:
    """(T, N) weights: clip ``src`` alone until frame ``start``, a smoothstep crossfade to clip
    ``dst`` until ``stop``, then ``dst`` alone."""
    t = np.arange(n_frames, dtype=np.float64)
    x = np.clip((t - start) / max(stop - start, 1), 0.0, 1.0)
    s = x * x * (3.0 - 2.0 * x)
    w = np.zeros((n_frames, n_clips))
    w[:, src] = 1.0 - s
    w[:, dst] += s
    return w


# -- composing a blended clip from per-clip samples -------------------------------------------

def _nlerp(quats: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted nlerp of (N, T, J, 4) quaternions with (T, N) weights, each flipped into the
    hemisphere of the heaviest clip's quaternion."""
    ref = quats[np.argmax(w, axis=1), np.arange(quats.shape[1])]       # (T, J, 4)
    sign = np.where(np.sum(quats * ref[None], axis=-1) < 0.0, -1.0, 1.0)  # (N, T, J)
    acc = np.einsum("tn,ntj,ntjc->tjc", w, sign, quats)
    return acc / np.maximum(np.linalg.norm(acc, axis=-1, keepdims=True), 1e-12)


@dataclass(eq=False)
class _RootParts:
    ground: np.ndarray     # (T, 3) root on the ground plane
    heading: np.ndarray    # (T,) unwrapped radians
    height: np.ndarray     # (T,) up coordinate of the root
    relative: np.ndarray   # (T, 4) root rotation relative to its heading
    local_step: np.ndarray  # (T-1, 3) ground displacement to the next sample, heading frame


def _root_parts(clip: Clip) -> _RootParts:
    from scipy.spatial.transform import Rotation

    up = clip.skeleton.up
    traj = root_trajectory(clip, forward_kinematics(clip))
    head = about_up(traj.heading, up)
    rel = (head.inv() * Rotation.from_quat(clip.rotations[:, 0])).as_quat()
    ground = clip.root_pos.copy()
    ground[:, up] = 0.0
    step = head[:-1].inv().apply(np.diff(ground, axis=0)) if clip.n_frames > 1 \
        else np.zeros((0, 3))
    return _RootParts(ground, traj.heading, clip.root_pos[:, up].copy(), rel, step)


def _compose(samples: list[Clip], w: np.ndarray, fps: float, name: str) -> Clip:
    """Blend per-clip samples (all T frames, one skeleton) with (T, N) weights."""
    from scipy.spatial.transform import Rotation

    sk = samples[0].skeleton
    up = sk.up
    t = samples[0].n_frames
    parts = [_root_parts(s) for s in samples]
    ref = int(np.argmax(w[0]))
    heading = np.empty(t)
    ground = np.empty((t, 3))
    heading[0], ground[0] = parts[ref].heading[0], parts[ref].ground[0]
    if t > 1:
        dh = sum(w[:-1, i] * np.diff(p.heading) for i, p in enumerate(parts))
        step = sum(w[:-1, i, None] * p.local_step for i, p in enumerate(parts))
        heading[1:] = heading[0] + np.cumsum(dh)
        world = about_up(heading[:-1], up).apply(step)
        ground[1:] = ground[0] + np.cumsum(world, axis=0)
    height = sum(w[:, i] * p.height for i, p in enumerate(parts))
    quats = np.stack([s.rotations for s in samples])            # (N, T, J, 4)
    quats[:, :, 0] = np.stack([p.relative for p in parts])
    rots = _nlerp(quats, w)
    rots[:, 0] = (about_up(heading, up) * Rotation.from_quat(rots[:, 0])).as_quat()
    root = ground.copy()
    root[:, up] = height
    return Clip(sk, float(fps), root, normalised(rots), loop=False, name=name)


# -- the entry point --------------------------------------------------------------------------

def _same_skeleton(clips: list[Clip]) -> bool:
    first = clips[0].skeleton
    return all(c.skeleton.names == first.names and c.skeleton.parents == first.parents
               and np.allclose(c.skeleton.offsets, first.offsets, atol=1e-6)
               and c.skeleton.up == first.up and c.translations is None for c in clips)


def prepare_clips(clips: list[Clip]) -> list[Clip]:
    """The clips on one skeleton: unchanged when they share one (and carry no animated joint
    translations), else all on the DeepMimic humanoid (retargeted where needed)."""
    if not clips:
        raise UserError("blend: no clips given")
    for c in clips:
        c.check(c.name or "clip")
    if _same_skeleton(clips):
        return list(clips)
    from studio.motion.learned.phase import humanoid_clip

    return [humanoid_clip(c) for c in clips]


@dataclass
class BlendInfo:
    """What :func:`blend_clips` did (stored in the result's ``meta["blend"]``)."""

    mode: str
    phase_source: str = ""
    channel: int = -1
    clip_times: np.ndarray | None = None   # (N, T) seconds each clip was sampled at
    notes: tuple[str, ...] = ()
    weights: np.ndarray | None = None      # (T, N) normalised weights used


def blend_clips(clips: list[Clip], weights, mode: str = "aligned", fps: float = 30.0,
                ctx: JobContext | None = None, *, phase: str = "deepphase",
                n_frames: int | None = None, model=None) -> Clip:
    """Blend ``clips`` with ``weights`` into one clip at ``fps``.

    ``weights``: (T, N) per-frame weights (normalised per frame; see
    :func:`crossfade_weights`), or (N,) constant weights with ``n_frames`` frames (default:
    the longest clip's length). ``mode``: ``"naive"`` (per-frame crossfade) or ``"aligned"``
    (phase-aligned time warping; ``phase`` = ``"deepphase"`` or ``"contacts"``). Looping clips
    cycle as long as needed; other clips hold their last frame. ``model``: another DeepPhase
    manifest/folder, or an open ``SessionPool`` (default: the shipped model). Returns a new
    clip; ``meta["blend"]`` holds a :class:`BlendInfo` (sample times, weights, channel).
    """
    ctx = ctx or JobContext()
    if mode not in MODES:
        raise UserError(f"blend: unknown mode {mode!r} (use {' or '.join(MODES)})")
    if phase not in PHASE_SOURCES:
        raise UserError(f"blend: unknown phase source {phase!r} (use "
                        f"{' or '.join(PHASE_SOURCES)})")
    if not (np.isfinite(fps) and fps > 0):
        raise UserError(f"blend: frame rate must be positive, got {fps}")
    ctx.progress(0, 4, "preparing clips")
    prepared = prepare_clips(list(clips))
    if n_frames is None and np.asarray(weights).ndim == 1:
        n_frames = max(frame_count(c, fps) for c in prepared)
    w = normalise_weights(weights, len(prepared), n_frames)
    t = w.shape[0]
    name = "blend(" + ",".join(c.name or f"clip{i}" for i, c in enumerate(prepared)) + ")"
    info = BlendInfo(mode)
    if mode == "naive":
        times = np.tile(np.arange(t) / fps, (len(prepared), 1))
    else:
        ctx.progress(1, 4, "phases")
        times, info = _aligned_times(prepared, w, fps, phase, ctx, model)
    ctx.progress(2, 4, "sampling clips")
    samples = [sample_clip(c, times[i], fps) for i, c in enumerate(prepared)]
    ctx.progress(3, 4, "blending")
    out = _compose(samples, w, fps, name)
    info.clip_times = times
    info.weights = w
    out.meta["blend"] = info
    ctx.progress(4, 4, "done", force=True)
    return out


def blend_job(clips: list[Clip], weights, mode: str = "aligned", fps: float = 30.0,
              **kwargs) -> Job:
    """:func:`blend_clips` as a :class:`Job` for ``ui.workers``."""
    return Job(f"blend {mode}", lambda ctx: blend_clips(clips, weights, mode, fps, ctx, **kwargs))


# -- phase alignment --------------------------------------------------------------------------

_PAD_S = 1.5  # seconds of extra loop on each side when a looping clip's phase is computed


@dataclass(eq=False)
class PhaseCurve:
    """A clip's gait phase as a strictly increasing function of its own time: ``phase[k]``
    cycles at ``times[k]`` seconds. Outside the samples it continues at the mean rate."""

    times: np.ndarray
    phase: np.ndarray

    @property
    def rate(self) -> float:
        span = self.times[-1] - self.times[0]
        return float((self.phase[-1] - self.phase[0]) / span) if span > 0 else 0.0

    def _ext(self) -> tuple[np.ndarray, np.ndarray]:
        r = max(self.rate, 1e-3)
        far = 1e4
        return (np.concatenate([[self.times[0] - far], self.times, [self.times[-1] + far]]),
                np.concatenate([[self.phase[0] - far * r], self.phase,
                                [self.phase[-1] + far * r]]))

    def at(self, t: np.ndarray | float) -> np.ndarray:
        tt, pp = self._ext()
        return np.interp(t, tt, pp)

    def time_of(self, phase: np.ndarray | float) -> np.ndarray:
        tt, pp = self._ext()
        return np.interp(phase, pp, tt)


def _monotone(u: np.ndarray, fps: float) -> np.ndarray:
    """Strictly increasing version of an unwrapped phase (steps below a floor are raised)."""
    if len(u) < 2:
        return u
    step = np.maximum(np.diff(u), _MIN_PHASE_STEP)
    return u[0] + np.concatenate([[0.0], np.cumsum(step)])


def _extended(clip: Clip, need_s: float, fps: float) -> tuple[Clip, int]:
    """A looping clip cycled over [-pad, need + pad] seconds at ``fps`` (non-looping clips:
    resampled as they are). Returns (clip, index of t = 0)."""
    if not clip.loop:
        return sample_clip(clip, np.arange(frame_count(clip, fps)) / fps, fps), 0
    pad = int(round(_PAD_S * fps))
    n = int(np.ceil(max(need_s, clip.duration) * fps)) + 1
    ext = sample_clip(clip, np.arange(-pad, n + pad) / fps, fps)
    ext.name = clip.name
    return ext, pad


def _gait_events(clip: Clip, foot: str, key: str) -> np.ndarray:
    """Event times (frames, float) with their phase (cycles): (E, 2). ``key`` "touchdown":
    touch-downs of ``foot`` are whole cycles. "midstance": the middle of each stance of
    ``foot`` is a whole cycle and of the other foot a half cycle (when the feet alternate)."""
    from studio.motion.learned.phase import stances

    segs = stances(clip)
    if foot not in segs:
        foot = next(iter(segs))
    if key == "touchdown":
        t = np.array([a for a, _ in segs[foot] if a > 0], dtype=np.float64)
        return np.stack([t, np.arange(len(t), dtype=np.float64)], axis=1)
    last = clip.n_frames

    def mids(f):  # stances cut by the clip's ends have no reliable middle
        return np.array([(a + b - 1) / 2.0 for a, b in segs.get(f, []) if a > 0 and b < last])

    main = mids(foot)
    events = np.stack([main, np.arange(len(main), dtype=np.float64)], axis=1)
    other = [f for f in segs if f != foot]
    if other and len(main) >= 2:
        om = mids(other[0])
        slot = np.searchsorted(main, om)
        inner = (slot > 0) & (slot < len(main))
        # Use the other foot only where exactly one of its stances sits between two of ours.
        if inner.any() and len(np.unique(slot[inner])) == inner.sum():
            extra = np.stack([om[inner], slot[inner] - 0.5], axis=1)
            events = np.concatenate([events, extra])
            events = events[np.argsort(events[:, 0])]
    return events


def contact_phase_curve(clip: Clip, need_s: float, fps: float, foot: str = "left",
                        key: str = "midstance") -> PhaseCurve:
    """Phase from foot contacts (see :func:`_gait_events`), linear between events and at the
    mean rate beyond them."""
    ext, zero = _extended(clip, need_s, fps)
    ev = _gait_events(ext, foot, key)
    if len(ev) < 2 or ev[-1, 1] - ev[0, 1] < 1:
        raise UserError(f"{clip.name or 'clip'}: cannot find a gait cycle for phase alignment "
                        f"(fewer than two steps of the {foot} foot); use the naive blend")
    times = (np.arange(ext.n_frames) - zero) / fps
    et = (ev[:, 0] - zero) / fps
    rate = float((ev[-1, 1] - ev[0, 1]) / (et[-1] - et[0]))
    phase = np.interp(times, et, ev[:, 1])
    before, after = times < et[0], times > et[-1]
    phase[before] = ev[0, 1] + (times[before] - et[0]) * rate
    phase[after] = ev[-1, 1] + (times[after] - et[-1]) * rate
    keep = times >= 0
    return PhaseCurve(times[keep], _monotone(phase[keep], fps))


def mirror_shift(track, mirrored) -> np.ndarray:
    """(K,) median phase difference, in cycles folded to [0, 0.5], between a clip's track
    and its left/right mirror's. A symmetric gait mirrored is the same gait half a stride
    later, so a channel that runs once per stride shifts by ~0.5 and one that runs once per
    step (twice per stride) by ~0."""
    d = np.mod(mirrored.phase - track.phase, 1.0)
    d = np.minimum(d, 1.0 - d)
    return np.median(d, axis=0)


def choose_channel(tracks, mirrored=None) -> int:
    """The DeepPhase channel to align clips on: one that runs forward (in >= 90% of frames)
    and once per stride (mirror shift > 0.3, see :func:`mirror_shift`) in every clip, the
    strongest such (largest smallest mean amplitude over the clips). Aligning on a step-rate
    channel could put one clip's left foot with the other's right; when no channel passes
    both tests, the forward test alone decides, then amplitude alone."""
    from studio.motion.learned.phase import regularity

    k = tracks[0].n_channels
    forward = [all(regularity(tr, c).forward >= 0.9 for tr in tracks) for c in range(k)]
    stride = [True] * k
    if mirrored is not None:
        shifts = [mirror_shift(tr, m) for tr, m in zip(tracks, mirrored)]
        stride = [all(s[c] > 0.3 for s in shifts) for c in range(k)]
    cand = ([c for c in range(k) if forward[c] and stride[c]]
            or [c for c in range(k) if forward[c]] or list(range(k)))
    strength = {c: min(float(tr.amp[:, c].mean()) for tr in tracks) for c in cand}
    return max(cand, key=strength.get)


def deepphase_curves(clips: list[Clip], need_s: float, fps: float, ctx: JobContext,
                     model=None, channel: int | None = None) -> tuple[list[PhaseCurve], int]:
    """DeepPhase phase curves of ``clips`` on one shared channel (chosen by
    :func:`choose_channel` unless given); loops are cycled to cover ``need_s`` seconds,
    scaled per clip by how much faster than the others it must run."""
    from studio.motion.learned.phase import compute_phase, regularity

    pool = None
    if model is not None and not isinstance(model, (str, bytes)) and hasattr(model, "run"):
        pool, model = model, None
    first = [compute_phase(c, model=model, pool=pool) for c in clips]
    ctx.check()
    if channel is None:
        mirrored = [compute_phase(c, model=model, pool=pool, mirror=True) for c in clips]
        channel = choose_channel(first, mirrored)
    k = channel
    rates = [max(regularity(tr, k).rate, 1e-3) for tr in first]
    curves = []
    for c, tr, r in zip(clips, first, rates):
        track, zero = tr, 0
        if c.loop:  # cycled at the model's rate, so frame indices match the track's
            ext, zero = _extended(c, need_s * max(max(rates) / r, 1.0) + 1.0, tr.fps)
            track = compute_phase(ext, model=model, pool=pool)
        u = track.unwrapped(k)[zero:]
        curves.append(PhaseCurve(np.arange(len(u)) / track.fps, _monotone(u, track.fps)))
        ctx.check()
    return curves, k


def _aligned_times(clips: list[Clip], w: np.ndarray, fps: float, phase: str,
                   ctx: JobContext, model=None) -> tuple[np.ndarray, BlendInfo]:
    """Per-clip sample times (N, T) that keep every clip at the blend's common phase."""
    from studio.runtime import models

    t = w.shape[0]
    dt = 1.0 / fps
    need = (t - 1) * dt
    notes: list[str] = []
    channel = -1
    if phase == "deepphase" and not (model is not None or models.available(models.DEEPPHASE)):
        notes.append("DeepPhase model not installed: aligned on foot contacts")
        phase = "contacts"
    if phase == "deepphase":
        curves, channel = deepphase_curves(clips, need, fps, ctx, model)
    else:
        rough = [contact_phase_curve(c, 4.0, fps).rate for c in clips]
        curves = [contact_phase_curve(c, need * max(max(rough) / r, 1.0) + 1.0, fps)
                  for c, r in zip(clips, rough)]
    n = len(clips)
    times = np.zeros((n, t))
    ref = int(np.argmax(w[0]))
    big_phi = float(curves[ref].at(0.0))
    start = [float(cv.at(0.0)) for cv in curves]
    offsets = np.array([np.ceil(s - big_phi - 1e-9) for s in start])
    offsets[ref] = 0.0
    times[:, 0] = [cv.time_of(big_phi + m) for cv, m in zip(curves, offsets)]
    for f in range(t - 1):
        adv = 0.0
        for i, cv in enumerate(curves):
            if w[f, i] > 0:
                adv += w[f, i] * float(cv.at(times[i, f] + dt) - cv.at(times[i, f]))
        big_phi += adv
        for i, cv in enumerate(curves):
            times[i, f + 1] = cv.time_of(big_phi + offsets[i])
        if f % 256 == 0:
            ctx.check()
    return times, BlendInfo("aligned", phase, channel, None, tuple(notes))


# -- measuring a blend ------------------------------------------------------------------------

def source_contacts(result: Clip, clips: list[Clip]):
    """Foot contacts the blend *should* have: per frame and foot joint, the weighted vote of
    the source clips' own contacts at the times they were sampled (planted where clips with
    more than half of the weight plant it).
    ``result`` must come from :func:`blend_clips` (it reads ``meta["blend"]``), ``clips`` are
    the clips given to it."""
    from studio.motion.core.contacts import FootContacts, foot_contacts

    info: BlendInfo = result.meta["blend"]
    prepared = prepare_clips(list(clips))
    votes = None
    first = None
    for i, c in enumerate(prepared):
        fc = foot_contacts(sample_clip(c, info.clip_times[i], result.fps))
        first = first or fc
        v = fc.joint_mask.astype(np.float64) * info.weights[:, i, None, None]
        votes = v if votes is None else votes + v
    # Planted where most of the weight plants it (a tie counts only when all agree).
    jm = (votes > 0.5 + 1e-9) | (votes >= 1.0 - 1e-9)
    return FootContacts(first.feet, first.joints, jm.any(axis=2), jm, first.height_threshold,
                        first.speed_threshold, first.ground)


def blend_sliding(result: Clip, clips: list[Clip]) -> dict:
    """Foot sliding of a blend two ways (``contacts.foot_sliding``, m/s): ``"detected"`` over
    the contacts detected on the result itself (a foot that slides fast is not detected as
    planted, so this flatters bad blends), and ``"expected"`` over :func:`source_contacts`
    (where the sources plant their feet)."""
    from studio.motion.core.contacts import foot_sliding

    pose = forward_kinematics(result)
    return {"detected": foot_sliding(result, pose=pose),
            "expected": foot_sliding(result, contacts=source_contacts(result, clips), pose=pose)}
