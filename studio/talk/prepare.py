"""``studio talk prepare VIDEO``: turn a talking-face video into an avatar template.

Decodes the video with PyAV (resampled to 25 fps by picking the nearest source frame),
tracks the face (:func:`studio.talk.face.track_faces`), writes the frames as they are
tracked, then the smoothed landmarks, face boxes and lip-sync crop boxes, and optionally
copies a lip-sync model pair in. The output (a folder, or one ``.avatar`` archive) appears
only when everything succeeded (written to a temporary path, then renamed).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from studio.jobs import JobContext, UserError
from studio.talk.avatar import (AVATAR_SUFFIX, DEFAULT_FPS, MODEL_PARTS, AvatarTemplate,
                                FramesWriter, copy_models, crop_boxes_from_landmarks,
                                pack_avatar, write_template_meta)
from studio.talk.face import FaceDetector, FaceMesh, jitter, mouth_opening, track_faces


# --- reading the source video ----------------------------------------------------------------

class VideoFrames:
    """Iterate a video's frames as (H, W, 3) uint8 RGB at a constant ``fps``: each output
    time k/fps takes the source frame nearest to it (frames are dropped or repeated when
    the source rate differs). Display rotation (phone videos) is applied."""

    def __init__(self, path: str | Path, fps: int = DEFAULT_FPS,
                 max_seconds: float | None = None) -> None:
        self.path = Path(path)
        self.fps = int(fps)
        p = self.path
        from studio.media.video_io import open_container

        with open_container(p) as c:  # names the file on missing/empty/unreadable input
            if not c.streams.video:
                raise UserError(f"{p}: has no video stream")
            s = c.streams.video[0]
            self.width, self.height = s.codec_context.width, s.codec_context.height
            rate = s.average_rate or s.guessed_rate
            self.source_fps = float(rate) if rate else None
            dur = (float(s.duration * s.time_base) if s.duration and s.time_base
                   else (c.duration / 1e6 if c.duration else None))
            self.duration_s = dur
        self.max_frames = (None if max_seconds is None
                           else max(1, int(round(float(max_seconds) * self.fps))))
        est = int(round(dur * self.fps)) if dur else None
        if self.max_frames is not None:
            est = min(est, self.max_frames) if est else self.max_frames
        self.estimated_frames = est

    def _decoded(self) -> Iterator[tuple[float, np.ndarray]]:
        import av

        try:
            with av.open(str(self.path)) as c:
                s = c.streams.video[0]
                s.thread_type = "AUTO"
                for i, f in enumerate(c.decode(s)):
                    t = f.time if f.time is not None else (
                        i / self.source_fps if self.source_fps else i / self.fps)
                    img = f.to_ndarray(format="rgb24")
                    rot = int(round(getattr(f, "rotation", 0) or 0)) % 360
                    if rot:
                        img = np.ascontiguousarray(np.rot90(img, rot // 90))
                    yield float(t), img
        except av.error.FFmpegError as exc:
            raise UserError(f"{self.path}: decoding failed ({exc}); the file may be damaged "
                            "or truncated") from None

    def __iter__(self) -> Iterator[np.ndarray]:
        step = 1.0 / self.fps
        k = 0
        t0 = None
        prev: tuple[float, np.ndarray] | None = None
        src_step = 1.0 / self.source_fps if self.source_fps else step
        limit = self.max_frames
        for t, img in self._decoded():
            if t0 is None:
                t0 = t
            t -= t0
            if prev is not None:
                mid = (prev[0] + t) / 2.0
                while k * step < mid - 1e-9:
                    yield prev[1]
                    k += 1
                    if limit is not None and k >= limit:
                        return
                src_step = max(t - prev[0], 1e-6)
            prev = (t, img)
        if prev is None:
            raise UserError(f"{self.path}: the video stream holds no frames")
        while k * step < prev[0] + src_step / 2.0 - 1e-9 and (limit is None or k < limit):
            yield prev[1]
            k += 1


# --- the job -----------------------------------------------------------------------------------

@dataclass
class PreparedAvatar:
    """What :func:`prepare_avatar` made."""
    path: str
    num_frames: int
    fps: int
    width: int
    height: int
    redetections: int
    min_face_score: float
    jitter_raw: float
    jitter_smoothed: float
    mouth_opening_range: tuple[float, float]
    has_models: bool
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def prepare_avatar(video_path: str | Path, out_path: str | Path, ctx: JobContext | None = None,
                   max_seconds: float | None = None, models_from: str | Path | None = None,
                   *, fps: int = DEFAULT_FPS, frames_kind: str = "mp4",
                   detector: FaceDetector | None = None,
                   mesh: FaceMesh | None = None) -> PreparedAvatar:
    """Build an avatar template from a talking-face video (a job function: pass it as
    ``Job(title, lambda ctx: prepare_avatar(video, out, ctx))``).

    ``out_path``: a folder, or a file ending in ``.avatar`` for a single archive.
    ``max_seconds``: use only the start of the video. ``models_from``: a folder holding a
    lip-sync pair (``audio_encoder/`` and ``unet/``) to copy into the template.
    """
    t_start = time.perf_counter()
    ctx = ctx or JobContext()
    video_path, out = Path(video_path), Path(out_path)
    if max_seconds is not None and not (max_seconds > 0 and math.isfinite(max_seconds)):
        raise UserError(f"--seconds must be a positive number, not {max_seconds}")
    archive = out.suffix.lower() == AVATAR_SUFFIX
    if not archive and out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is a file; give a folder or a {AVATAR_SUFFIX} path")
    if archive and out.is_dir():
        raise UserError(f"{out}: is a folder; a {AVATAR_SUFFIX} archive path must be a file")
    if models_from is not None:
        src = Path(models_from)
        missing = [p for p in MODEL_PARTS if not (src / p / "manifest.json").exists()]
        if missing:
            raise UserError(f"{src}: no {', '.join(p + '/manifest.json' for p in missing)}; "
                            "a lip-sync model pair needs audio_encoder/ and unet/")
    frames = VideoFrames(video_path, fps, max_seconds)
    ctx.progress(0, frames.estimated_frames or 1, "loading face models", force=True)
    detector = detector or FaceDetector()
    mesh = mesh or FaceMesh()

    with contextlib.ExitStack() as stack:
        if archive:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.stem}.", suffix=".part", dir=out.parent))
            stack.callback(shutil.rmtree, tmp, True)
            folder = tmp
        else:
            folder = stack.enter_context(ctx.atomic_dir(out))
        writer = FramesWriter(folder, fps, frames_kind)
        try:
            track = track_faces(iter(frames), ctx, source=str(video_path),
                                total=frames.estimated_frames, detector=detector, mesh=mesh,
                                on_frame=lambda i, f: writer.write(f))
        finally:
            writer.close()
        ctx.progress(len(track), len(track), "writing template", force=True)
        width, height = track.frame_size
        crops = crop_boxes_from_landmarks(track.landmarks, track.frame_size)
        opening = mouth_opening(track.landmarks)
        write_template_meta(
            folder, fps=fps, num_frames=len(track), width=width, height=height,
            frames=writer.name, landmarks=track.landmarks, boxes=track.boxes, crop_boxes=crops,
            extra={"source": {"file": video_path.name, "fps": frames.source_fps,
                              "max_seconds": max_seconds},
                   "tracking": {"redetections": int(track.detected.sum()),
                                "min_face_score": float(track.scores.min()),
                                "jitter_raw_px": jitter(track.raw_landmarks),
                                "jitter_smoothed_px": jitter(track.landmarks)}})
        if models_from is not None:
            copy_models(models_from, folder)
        ctx.check()
        tpl = AvatarTemplate.load(folder)  # validate what was written
        num_frames, has_models = tpl.num_frames, tpl.has_models
        if archive:
            with ctx.atomic_output(out) as part:
                pack_avatar(folder, part)
    return PreparedAvatar(
        str(out), num_frames, fps, width, height, int(track.detected.sum()),
        float(track.scores.min()), jitter(track.raw_landmarks), jitter(track.landmarks),
        (float(opening.min()), float(opening.max())), has_models,
        time.perf_counter() - t_start)


# --- command line ------------------------------------------------------------------------------

def add_prepare_parser(talk_subparsers) -> argparse.ArgumentParser:
    """Add ``prepare VIDEO --out AVATAR [--seconds N] [--models DIR]`` to the ``talk``
    command's sub-parsers."""
    p = talk_subparsers.add_parser(
        "prepare", help="build an avatar template from a talking-face video",
        description="Track the face in VIDEO and write an avatar template (frames at 25 fps, "
                    "face landmarks, lip-sync crop boxes) to a folder or a .avatar archive.")
    p.add_argument("video", metavar="VIDEO", help="a video with one clearly visible face")
    p.add_argument("--out", required=True, metavar="AVATAR",
                   help="output folder, or a file ending in .avatar for one archive")
    p.add_argument("--seconds", type=float, default=None, metavar="N",
                   help="use only the first N seconds of the video")
    p.add_argument("--models", default=None, metavar="DIR",
                   help="copy a lip-sync model pair (DIR/audio_encoder, DIR/unet) in")
    p.add_argument("--png", action="store_true",
                   help="store frames as lossless PNGs instead of frames.mp4")
    p.set_defaults(func=_cmd_prepare)
    return p


def _cmd_prepare(args: argparse.Namespace) -> int:
    from studio.cli_progress import exit_code, run_job_cli
    from studio.jobs import Job

    def fn(ctx: JobContext) -> PreparedAvatar:
        return prepare_avatar(args.video, args.out, ctx, max_seconds=args.seconds,
                              models_from=args.models, frames_kind="png" if args.png else "mp4")

    result = run_job_cli(Job(f"prepare {Path(args.video).name}", fn))
    if result.ok:
        r: PreparedAvatar = result.value
        print(f"avatar written to {r.path}: {r.num_frames} frames at {r.fps} fps "
              f"({r.width}x{r.height}), face re-detected {r.redetections}x, landmark jitter "
              f"{r.jitter_raw:.2f} -> {r.jitter_smoothed:.2f} px, "
              f"{'with' if r.has_models else 'without'} lip-sync models, {r.seconds:.1f} s")
    return exit_code(result)
