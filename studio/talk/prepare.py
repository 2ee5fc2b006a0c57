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
    time ``start + k/fps`` takes the source frame nearest to it (frames are dropped or
    repeated when the source rate differs). Display rotation (phone videos) is applied.

    ``start``/``end`` (seconds from the first frame) pick a part of the video; frames before
    ``start`` are decoded but not converted to RGB. ``max_seconds`` caps the length kept."""

    def __init__(self, path: str | Path, fps: int = DEFAULT_FPS,
                 max_seconds: float | None = None, *, start: float = 0.0,
                 end: float | None = None) -> None:
        self.path = Path(path)
        self.fps = int(fps)
        p = self.path
        from studio.media.video_io import open_container

        start = float(start or 0.0)
        if not (math.isfinite(start) and start >= 0):
            raise UserError(f"--start must be a number of seconds >= 0, not {start}")
        if end is not None and not (math.isfinite(end) and end > start):
            raise UserError(f"--end ({end} s) must come after --start ({start} s)")
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
        if dur is not None and start >= dur:
            raise UserError(f"{p}: --start {start:g} s is past the end of the video "
                            f"({dur:.2f} s long)")
        self.start, self.end = start, end
        caps = []
        if max_seconds is not None:
            caps.append(max(1, int(round(float(max_seconds) * self.fps))))
        if end is not None:
            caps.append(max(1, int(round((end - start) * self.fps))))
        self.max_frames = min(caps) if caps else None
        est = int(round((dur - start) * self.fps)) if dur else None
        if self.max_frames is not None:
            est = min(est, self.max_frames) if est else self.max_frames
        self.estimated_frames = est

    def _decoded(self) -> Iterator[tuple[float, object]]:
        """(time, frame) pairs; ``frame`` is a PyAV frame, converted later only if used."""
        import av

        try:
            with av.open(str(self.path)) as c:
                s = c.streams.video[0]
                s.thread_type = "AUTO"
                for i, f in enumerate(c.decode(s)):
                    t = f.time if f.time is not None else (
                        i / self.source_fps if self.source_fps else i / self.fps)
                    yield float(t), f
        except av.error.FFmpegError as exc:
            raise UserError(f"{self.path}: decoding failed ({exc}); the file may be damaged "
                            "or truncated") from None

    @staticmethod
    def _rgb(f) -> np.ndarray:
        img = f.to_ndarray(format="rgb24")
        rot = int(round(getattr(f, "rotation", 0) or 0)) % 360
        if rot:
            img = np.ascontiguousarray(np.rot90(img, rot // 90))
        return img

    def __iter__(self) -> Iterator[np.ndarray]:
        step = 1.0 / self.fps
        k = 0
        t0 = None
        prev: list | None = None  # [time, av frame, rgb or None]
        src_step = 1.0 / self.source_fps if self.source_fps else step
        limit = self.max_frames

        def rgb(item: list) -> np.ndarray:
            if item[2] is None:
                item[2] = self._rgb(item[1])
            return item[2]

        for t, f in self._decoded():
            if t0 is None:
                t0 = t
            t -= t0 + self.start  # output time 0 is --start
            if prev is not None:
                mid = (prev[0] + t) / 2.0
                while k * step < mid - 1e-9:
                    yield rgb(prev)
                    k += 1
                    if limit is not None and k >= limit:
                        return
                src_step = max(t - prev[0], 1e-6)
            prev = [t, f, None]
        if prev is None:
            raise UserError(f"{self.path}: the video stream holds no frames")
        if prev[0] + src_step / 2.0 < 0:
            raise UserError(f"{self.path}: --start {self.start:g} s is past the last frame")
        while k * step < prev[0] + src_step / 2.0 - 1e-9 and (limit is None or k < limit):
            yield rgb(prev)
            k += 1


# --- the job -----------------------------------------------------------------------------------

MIN_FACE_FRAMES = 5  # fewer frames with a face than this (0.2 s) make no usable avatar


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
    skipped_start: int = 0          # frames without a face dropped before the first face
    skipped_end: int = 0            # ... and after the last one
    bridged: int = 0                # short misses between faces, landmarks interpolated
    face_width_px: float = 0.0      # median width of the face (landmark box), frame pixels
    crop_px: float = 0.0            # median side of the lip-sync crop box
    start_s: float = 0.0            # --start: where in the source the kept part begins
    first_frame_s: float = 0.0      # source time of the template's frame 0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def face_width_frac(self) -> float:
        """Face width as a fraction of the frame width."""
        return self.face_width_px / self.width if self.width else 0.0

    def summary(self) -> str:
        """Several lines for the command line: what was kept, dropped, and how well the
        face was tracked (so a bad source shows before a render does)."""
        f = self.fps

        def secs(n: int) -> str:
            return f"{n / f:.2f} s" if f else f"{n} frames"

        kept_from = self.first_frame_s
        lines = [
            f"avatar written to {self.path} in {self.seconds:.1f} s",
            f"  frames kept:     {self.num_frames} at {f} fps ({secs(self.num_frames)}, "
            f"{self.width}x{self.height}), source {kept_from:.2f}-"
            f"{kept_from + self.num_frames / max(f, 1):.2f} s",
            f"  skipped:         {self.skipped_start} frame(s) without a face at the start "
            f"({secs(self.skipped_start)}), {self.skipped_end} at the end "
            f"({secs(self.skipped_end)})"
            + (f"; {self.bridged} short miss(es) bridged" if self.bridged else ""),
            f"  face size:       {self.face_width_px:.0f} px wide, "
            f"{100 * self.face_width_frac:.1f} % of the frame width; lip-sync crop "
            f"{self.crop_px:.0f} px",
            f"  landmark jitter: {self.jitter_raw:.2f} px raw -> {self.jitter_smoothed:.2f} px "
            f"smoothed ({100 * self.jitter_smoothed / max(self.face_width_px, 1e-6):.2f} % of "
            f"the face width); face re-detected {self.redetections}x, lowest face score "
            f"{self.min_face_score:.2f}",
            f"  mouth opening:   {self.mouth_opening_range[0]:.1f}-"
            f"{self.mouth_opening_range[1]:.1f} px",
            f"  lip-sync models: {'copied in' if self.has_models else 'none (renders use the shipped pair, or --models); train its own: studio talk train --avatar ' + self.path}",
        ]
        if self.crop_px and self.crop_px < SMALL_CROP_PX:
            lines.append(f"  note: the lip-sync crop is only {self.crop_px:.0f} px; lip-sync "
                         "models work at 160-320 px, so it is upscaled and the mouth will look "
                         "soft: a closer or higher-resolution video gives a sharper result")
        return "\n".join(lines)

    def short(self) -> str:
        """One line for a status bar."""
        skipped = self.skipped_start + self.skipped_end
        return (f"{self.num_frames} frames, face {self.face_width_px:.0f} px "
                f"({100 * self.face_width_frac:.0f} % of the width)"
                + (f", {skipped} frame(s) without a face skipped "
                   f"({self.skipped_start} at the start, {self.skipped_end} at the end)"
                   if skipped else ""))


SMALL_CROP_PX = 128  # a lip-sync crop under this is upscaled a lot for 160-320 px models
AUDIO_FILE = "audio.wav"  # the kept part's sound, 16 kHz mono: what `studio talk train` learns from


def keep_audio(video_path: Path, folder: Path, start_s: float, seconds: float) -> bool:
    """Write the source's audio under the kept frames (``start_s`` .. + ``seconds``) as a
    16 kHz mono WAV in the avatar. Why: training the avatar's own lip-sync pair needs the
    speech that goes with its frames, and the source video may be gone by then. A video
    without sound just gets no audio.wav (training then asks for ``--audio``)."""
    import soundfile as sf

    from studio.media.audio_io import load_audio

    try:
        wav = load_audio(video_path, 16000).samples
    except UserError:
        return False
    a = int(round(start_s * 16000))
    b = a + int(round(seconds * 16000))
    part = np.zeros(b - a, np.float32)
    got = wav[a:b]
    part[:len(got)] = got
    if not np.any(part):
        return False
    sf.write(str(folder / AUDIO_FILE), part, 16000, subtype="PCM_16")
    return True


def prepare_avatar(video_path: str | Path, out_path: str | Path, ctx: JobContext | None = None,
                   max_seconds: float | None = None, models_from: str | Path | None = None,
                   *, fps: int = DEFAULT_FPS, frames_kind: str = "mp4",
                   detector: FaceDetector | None = None,
                   mesh: FaceMesh | None = None, start: float = 0.0,
                   end: float | None = None,
                   min_frames: int = MIN_FACE_FRAMES) -> PreparedAvatar:
    """Build an avatar template from a talking-face video (a job function: pass it as
    ``Job(title, lambda ctx: prepare_avatar(video, out, ctx))``).

    ``out_path``: a folder, or a file ending in ``.avatar`` for a single archive.
    ``start``/``end``: seconds into the video to use (default: all of it); ``max_seconds``:
    use at most this long from ``start``. Frames without a face at the start and end of
    that part (a title card, a black lead-in) are dropped, and counted in the result;
    fewer than ``min_frames`` frames with a face is an error. ``models_from``: a folder
    holding a lip-sync pair (``audio_encoder/`` and ``unet/``) to copy into the template.
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
    frames = VideoFrames(video_path, fps, max_seconds, start=start, end=end)
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
                                on_frame=lambda i, f: writer.write(f), skip_missing_ends=True,
                                min_frames=min_frames, fps=fps)
        finally:
            writer.close()
        ctx.progress(len(track), len(track), "writing template", force=True)
        width, height = track.frame_size
        crops = crop_boxes_from_landmarks(track.landmarks, track.frame_size)
        opening = mouth_opening(track.landmarks)
        face_px = float(np.median(track.boxes[:, 2] - track.boxes[:, 0]))
        crop_px = float(np.median(crops[:, 2] - crops[:, 0]))
        first_s = frames.start + track.skipped_start / fps
        write_template_meta(
            folder, fps=fps, num_frames=len(track), width=width, height=height,
            frames=writer.name, landmarks=track.landmarks, boxes=track.boxes, crop_boxes=crops,
            extra={"source": {"file": video_path.name, "fps": frames.source_fps,
                              "max_seconds": max_seconds, "start_s": frames.start,
                              "end_s": frames.end, "first_frame_s": first_s,
                              "skipped_start": track.skipped_start,
                              "skipped_end": track.skipped_end},
                   "tracking": {"redetections": int(track.detected.sum()),
                                "min_face_score": float(track.scores.min()),
                                "bridged": track.bridged,
                                "face_width_px": face_px,
                                "jitter_raw_px": jitter(track.raw_landmarks),
                                "jitter_smoothed_px": jitter(track.landmarks)}})
        if models_from is not None:
            copy_models(models_from, folder)
        audio_kept = keep_audio(video_path, folder, first_s, len(track) / fps)
        if audio_kept:  # noted in avatar.json so `studio talk train` finds it
            import json
            meta_path = folder / "avatar.json"
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            meta.setdefault("files", {})["audio"] = AUDIO_FILE
            meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
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
        time.perf_counter() - t_start, skipped_start=track.skipped_start,
        skipped_end=track.skipped_end, bridged=track.bridged, face_width_px=face_px,
        crop_px=crop_px, start_s=frames.start, first_frame_s=first_s)


# --- command line ------------------------------------------------------------------------------

def add_part_options(p: argparse.ArgumentParser) -> None:
    """``--start``/``--end``: shared by both ``prepare`` command lines."""
    p.add_argument("--start", type=float, default=0.0, metavar="S",
                   help="begin S seconds into the video (skip an intro)")
    p.add_argument("--end", type=float, default=None, metavar="S",
                   help="stop S seconds into the video (skip an outro)")


def add_prepare_parser(talk_subparsers) -> argparse.ArgumentParser:
    """Add ``prepare VIDEO --out AVATAR [--seconds N] [--start S] [--end S] [--models DIR]``
    to the ``talk`` command's sub-parsers."""
    p = talk_subparsers.add_parser(
        "prepare", help="build an avatar template from a talking-face video",
        description="Track the face in VIDEO and write an avatar template (frames at 25 fps, "
                    "face landmarks, lip-sync crop boxes) to a folder or a .avatar archive. "
                    "Frames without a face at the start or end are skipped.")
    p.add_argument("video", metavar="VIDEO", help="a video with one clearly visible face")
    p.add_argument("--out", required=True, metavar="AVATAR",
                   help="output folder, or a file ending in .avatar for one archive")
    p.add_argument("--seconds", type=float, default=None, metavar="N",
                   help="use at most N seconds (from --start)")
    add_part_options(p)
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
                              models_from=args.models, frames_kind="png" if args.png else "mp4",
                              start=args.start, end=args.end)

    result = run_job_cli(Job(f"prepare {Path(args.video).name}", fn))
    if result.ok:
        print(result.value.summary())
    return exit_code(result)
