"""`studio talk ...`: prepare avatars from videos, render audio to talking-head video."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.cli_progress import exit_code, run_job_cli
from studio.jobs import Job


def _render(args: argparse.Namespace) -> int:
    import sys

    from studio.settings import EngineSettings
    from studio.talk.render import render_to_file
    from studio.talk.session import open_session

    fmt = "png" if args.png else "silent" if args.silent else "mp4"
    settings = EngineSettings(pool_size=args.sessions or 0, threads_per_session=args.threads)

    def work(ctx):
        ctx.progress(0, 1, "loading avatar and models", force=True)
        session = open_session(args.avatar, args.models, settings)
        if session.warning:  # e.g. the shipped (astronaut) pair on someone else's face
            print(f"warning: {session.warning}", file=sys.stderr, flush=True)
        try:
            return render_to_file(session.lipsync, session.template, args.audio, args.out, ctx,
                                  fmt=fmt, crf=args.crf)
        finally:
            session.close()

    result = run_job_cli(Job(f"Render {Path(args.out).name}", work), quiet=args.quiet)
    if result.ok:
        print(f"wrote {args.out}: {result.value.summary()}")
    return exit_code(result)


def _demo(args: argparse.Namespace) -> int:
    """The headless main job: the shipped avatar says the shipped sample sentence."""
    from studio.paths import RESOURCES_DIR

    out = Path(args.out)
    args.audio = str(RESOURCES_DIR / "audio" / "hello.wav")
    args.out = str(out / "talk_demo.mp4")
    args.avatar = args.models = None
    args.png = args.silent = False
    args.crf, args.sessions, args.threads = 18, 0, 1
    return _render(args)


def _prepare(args: argparse.Namespace) -> int:
    from studio.talk.prepare import prepare_avatar

    def work(ctx):
        return prepare_avatar(args.video, args.out, ctx, max_seconds=args.seconds,
                              models_from=args.models, start=args.start, end=args.end)

    result = run_job_cli(Job(f"Prepare {Path(args.video).name}", work), quiet=args.quiet)
    if result.ok:
        print(result.value.summary())
    return exit_code(result)


def _optimise(args: argparse.Namespace) -> int:
    from studio.talk.optimise import optimise_pair

    def work(ctx):
        return optimise_pair(args.models, args.out, avatar=args.avatar, audio=args.audio,
                             precision=args.precision, force=args.force,
                             reduce_range=args.reduce_range, ctx=ctx)

    result = run_job_cli(Job(f"Optimise {Path(args.models).name}", work), quiet=args.quiet)
    if result.ok:
        print(result.value.summary())
    return exit_code(result)


def _train(args: argparse.Namespace) -> int:
    import sys

    from studio.talk.train import INSTALL_HINT, torch_available, train_avatar

    if not torch_available():  # an optional extra: say how to get it, no traceback
        print(f"studio talk train: {INSTALL_HINT}", file=sys.stderr)
        return 2

    def work(ctx):
        return train_avatar(args.avatar, ctx, minutes=args.minutes, resume=args.resume,
                            audio=args.audio, base=args.base, batch=args.batch,
                            device=args.device, hold_out=args.hold_out)

    result = run_job_cli(Job(f"Train {Path(args.avatar).name}", work), quiet=args.quiet)
    if result.ok:
        print(result.value.summary())
    elif result.status.value == "cancelled":
        print("training cancelled: the avatar is unchanged; continue with --resume",
              file=sys.stderr)
    return exit_code(result)


def register(sub) -> None:
    p = sub.add_parser("talk", help="talking-head lip-sync: prepare avatars, render audio to video")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    r = acts.add_parser("render", help="render an audio file with an avatar to MP4 (or PNGs)")
    r.add_argument("--audio", required=True, help="WAV, MP3, FLAC, M4A, or a video's audio track")
    r.add_argument("--out", required=True, help="output .mp4 (or folder with --png)")
    r.add_argument("--avatar", help="avatar template folder or .avatar file (default: the shipped one)")
    r.add_argument("--models", help="folder with audio_encoder/ and unet/ (default: the avatar's, "
                                    "else the shipped pair)")
    fmt = r.add_mutually_exclusive_group()
    fmt.add_argument("--png", action="store_true", help="write a PNG image sequence instead")
    fmt.add_argument("--silent", action="store_true", help="write an MP4 without audio")
    r.add_argument("--crf", type=int, default=18, help="H.264 quality (lower is better, default 18)")
    r.add_argument("--sessions", type=int, default=0, help="pooled U-Net sessions (default: one per core)")
    r.add_argument("--threads", type=int, default=1, help="threads per session (default 1)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_render)

    d = acts.add_parser("demo", help="render the shipped avatar saying a sample sentence")
    d.add_argument("--out", default="out", help="folder for talk_demo.mp4 (default: out/)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_demo)

    pr = acts.add_parser("prepare", help="build an avatar template from a talking-face video")
    pr.add_argument("video", help="a video with one visible face (frames without a face at "
                                  "the start or end are skipped)")
    pr.add_argument("--out", required=True, help="template folder (or .avatar file) to write")
    pr.add_argument("--seconds", type=float, default=None,
                    help="use at most this many seconds (from --start)")
    # the same options as studio.talk.prepare.add_part_options (not imported here: the
    # parser is built for every command, the face models' imports are not needed for it)
    pr.add_argument("--start", type=float, default=0.0, metavar="S",
                    help="begin S seconds into the video (skip an intro)")
    pr.add_argument("--end", type=float, default=None, metavar="S",
                    help="stop S seconds into the video (skip an outro)")
    pr.add_argument("--models", help="copy this lip-sync model pair into the template")
    pr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=_prepare)

    t = acts.add_parser("train", help="fine-tune a lip-sync pair on an avatar's own video and "
                                      "audio (needs the train extra: pip install '.[train]')")
    t.add_argument("--avatar", required=True, help="avatar folder or .avatar file (from prepare)")
    t.add_argument("--minutes", type=float, default=5.0,
                   help="training time of this run (default 5; longer is sharper)")
    t.add_argument("--resume", action="store_true",
                   help="continue the last checkpoint (after a cancel, or to train longer)")
    t.add_argument("--audio", help="the avatar's speech, if it has no audio.wav (older avatars): "
                                   "its source video or a WAV")
    t.add_argument("--base", help="pair to start from (default: the shipped pair)")
    t.add_argument("--batch", type=int, default=4, help="crops per step (default 4)")
    t.add_argument("--device", default="auto", help="auto (a CUDA GPU when torch sees one), "
                                                    "cpu or cuda")
    t.add_argument("--hold-out", type=float, default=0.0, metavar="F",
                   help="keep the last fraction F of the clip out of training and score it")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)

    o = acts.add_parser("optimise", help="write an INT8 (CPU) or FP16 (GPU/CoreML) copy of a "
                                         "lip-sync pair, checked against the FP32 original")
    o.add_argument("--models", required=True, help="folder with audio_encoder/ and unet/ (kept as is)")
    o.add_argument("--out", required=True, help="new folder for the optimised pair")
    o.add_argument("--avatar", help="avatar whose crops calibrate and judge it (default: the shipped one)")
    o.add_argument("--audio", help="speech for the audio windows (default: the shipped sample)")
    o.add_argument("--precision", choices=("int8", "fp16"), default="int8",
                   help="int8: static QDQ quantisation for CPUs (default); fp16: for CUDA/CoreML")
    o.add_argument("--force", action="store_true",
                   help="skip the quality gate (e.g. speed tests of random-weight models)")
    o.add_argument("--reduce-range", action="store_true",
                   help="7-bit weights: for x86 CPUs without VNNI if the gate fails")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    o.set_defaults(func=_optimise)
