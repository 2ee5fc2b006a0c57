"""``studio motion``: list the built-in clips, describe a clip, convert between formats, phase,
blend, learned transitions (TransitionNet) and style transfer (StyleVAE)."""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from studio.cli_progress import run_job_cli
from studio.jobs import Job, UserError


def _cmd_list(args: argparse.Namespace) -> int:
    from studio.motion.io.library import builtin_clips, clips_dir, load_builtin

    clips = builtin_clips()
    if not clips:
        print(f"no built-in clips found in {clips_dir()}")
        return 1
    print(f"{len(clips)} built-in clips (DeepMimic humanoid, from {clips_dir()}):")
    print(f"  {'name':<16}{'frames':>7}{'fps':>7}{'seconds':>9}  loop")
    for name in clips:
        c = load_builtin(name)
        print(f"  {name:<16}{c.n_frames:>7}{c.fps:>7.1f}{c.duration:>9.2f}  "
              f"{'yes' if c.loop else 'no'}")
    return 0


def describe(clip, source: str) -> list[str]:
    """The ``motion info`` text, as lines (the UI can show the same summary)."""
    from studio.motion.core.contacts import foot_contacts, foot_sliding
    from studio.motion.core.fk import root_trajectory, stats_pose

    sk = clip.skeleton
    ends = sk.end_sites
    lines = [
        f"clip:      {clip.name or source}",
        f"source:    {source}",
        f"frames:    {clip.n_frames}",
        f"fps:       {clip.fps:.3f}",
        f"duration:  {clip.duration:.3f} s" + ("  (loops)" if clip.loop else ""),
        f"joints:    {int((~ends).sum())} animated + {int(ends.sum())} end sites, "
        f"up axis {'XYZ'[sk.up]}",
        "            " + ", ".join(n for j, n in enumerate(sk.names) if not ends[j]),
    ]
    from studio.motion.core.units import estimate_units

    pose = stats_pose(clip)  # a long clip: window by window, positions only
    lines.append(f"units:     {estimate_units(clip, pose).label}")
    lines += [f"note:      {n}" for n in clip.meta.get("notes", ())]
    traj = root_trajectory(clip, pose)
    disp = traj.positions[-1] - traj.positions[0]
    lines.append(f"root:      travels {traj.distance:.3f} units along its path, "
                 f"{float((disp ** 2).sum()) ** 0.5:.3f} start to end")
    try:
        contacts = foot_contacts(clip, pose)
    except UserError as exc:
        lines.append(f"contacts:  not available ({exc})")
        return lines
    slide = foot_sliding(clip, contacts, pose)
    lines.append(f"contacts:  height < {contacts.height_threshold:.3g}, "
                 f"speed < {contacts.speed_threshold:.3g}/s")
    for foot, frac in contacts.fraction().items():
        segs = contacts.segments(foot)
        lines.append(f"  {foot:<6} {100 * frac:5.1f}% of frames, {len(segs)} contact"
                     f"{'s' if len(segs) != 1 else ''}, sliding "
                     f"{slide.per_foot[foot]:.3g} units/s")
    lines.append(f"  sliding overall {slide.relative:.3f} leg lengths/s")
    return lines


def _cmd_info(args: argparse.Namespace) -> int:
    from studio.motion.io.files import load_clip

    clip = load_clip(args.clip)
    print("\n".join(describe(clip, args.clip)))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from studio.cli_progress import exit_code
    from studio.motion.io.files import convert_job

    if args.fps is not None and not args.fps > 0:
        raise UserError(f"--fps must be positive, got {args.fps}")
    result = run_job_cli(convert_job(args.input, args.output, fps=args.fps,
                                     retarget=args.retarget), quiet=True)
    if result.ok:
        clip = result.value
        print(f"wrote {args.output}: {clip.n_frames} frames at {clip.fps:g} fps, "
              f"{len(clip.skeleton)} joints")
    return exit_code(result)


def _cmd_render(args: argparse.Namespace) -> int:
    from studio.cli_progress import exit_code
    from studio.motion.core.display import clip_display
    from studio.motion.io.files import load_clip
    from studio.motion.io.render import Camera, render_mp4

    if not args.fps > 0:
        raise UserError(f"--fps must be positive, got {args.fps}")
    if args.start < 0 or (args.seconds is not None and not args.seconds > 0):
        raise UserError("--start must be >= 0 and --seconds positive")

    def work(ctx):
        ctx.progress(0, 1, "reading")
        d = clip_display(load_clip(args.clip))
        return render_mp4(d, args.output, ctx, Camera(azimuth_deg=args.azimuth),
                          args.width, args.height, loops=args.loops, fps=args.fps,
                          start=args.start, seconds=args.seconds)

    result = run_job_cli(Job(f"Render {Path(args.output).name}", work), quiet=args.quiet)
    if result.ok:
        print(f"wrote {args.output}")
    return exit_code(result)


def _cmd_roles(args: argparse.Namespace) -> int:
    from studio.motion.core import rigmap
    from studio.motion.core.skeleton import CORE_ROLES, ROLES, find_roles
    from studio.motion.io.files import load_clip

    sk = load_clip(args.clip).skeleton
    if args.clear:
        rigmap.clear_mapping(sk)
        print(f"cleared the saved mapping of this rig ({rigmap.mapping_path(sk)})")
    if args.set:
        mapping = dict(rigmap.load_mapping(sk) or {})
        for item in args.set:
            role, sep, joint = item.partition("=")
            if not sep:
                raise UserError(f"--set needs ROLE=JOINT, got {item!r}")
            mapping[role.strip()] = joint.strip()
        path = rigmap.save_mapping(sk, mapping)
        print(f"saved {len(mapping)} role(s) for this rig in {path}")
    saved = rigmap.load_mapping(sk) or {}
    roles = find_roles(sk)
    print(f"{args.clip}: {len(sk)} joints, rig {rigmap.rig_key(sk)}")
    for role in ROLES:
        j = roles.get(role)
        how = "saved" if role in saved else "auto"
        need = "" if role in CORE_ROLES else "  (optional)"
        print(f"  {role:<14} {sk.names[j] if j is not None else '-':<24} "
              f"{how if j is not None else 'missing'}{need}")
    missing = [r for r in CORE_ROLES if r not in roles]
    if missing:
        print("missing: " + ", ".join(missing))
        return 1
    return 0


def _cmd_phase(args: argparse.Namespace) -> int:
    import numpy as np

    from studio.motion.io.files import load_clip
    from studio.motion.learned.phase import compute_phase, contact_cadence, regularity

    clip = load_clip(args.clip)
    tr = compute_phase(clip)
    k = tr.dominant()
    reg = regularity(tr, k)
    print(f"{args.clip}: {tr.n_frames} frames at {tr.fps:g} fps, {tr.n_channels} phase channels")
    for c in range(tr.n_channels):
        mark = "  (dominant)" if c == k else ""
        print(f"  channel {c}: median freq {np.median(tr.freq[:, c]):.3f} Hz, "
              f"mean amplitude {tr.amp[:, c].mean():.3f}{mark}")
    print(f"  regularity of channel {k}: cv {reg.cv:.3f}, forward steps {100 * reg.forward:.1f}%, "
          f"rate {reg.rate:.3f} cycles/s")
    try:
        cad = contact_cadence(clip)
        print("  cadence from foot contacts: " + (f"{cad:.3f} strides/s" if np.isfinite(cad)
                                                  else "n/a (fewer than two strides)"))
    except UserError as exc:
        print(f"  cadence from foot contacts: n/a ({exc})")
    return 0


def _cmd_blend(args: argparse.Namespace) -> int:
    from studio.cli_progress import exit_code
    from studio.motion.io.files import load_clip, save_clip
    from studio.motion.learned.blend import blend_clips, blend_sliding, crossfade_weights

    fps = 30.0

    def work(ctx):
        a, b = load_clip(args.a), load_clip(args.b)
        n = int(round(args.length * fps))
        start = int(round(args.start * fps))
        w = crossfade_weights(n, 2, start, start + int(round(args.fade * fps)))
        out = blend_clips([a, b], w, args.mode, fps, ctx)
        save_clip(out, args.output)
        return out, blend_sliding(out, [a, b])

    result = run_job_cli(Job(f"Blend {args.a} -> {args.b}", work), quiet=True)
    if result.ok:
        out, sliding = result.value
        parts = ", ".join(f"{k} {v.mean_speed:.3f} m/s" for k, v in sliding.items())
        print(f"wrote {args.output}: {out.n_frames} frames ({args.mode}); foot sliding: {parts}")
    return exit_code(result)


LICENCE_NOTE = ("licence: {model} was trained on Bandai-Namco-Research-Motiondataset-1 "
                "(CC BY-NC 4.0): non-commercial use only")


def _cmd_transition(args: argparse.Namespace) -> int:
    from studio.cli_progress import exit_code
    from studio.motion.io.files import load_clip, save_clip
    from studio.motion.learned.transition import transition

    def work(ctx):
        a, b = load_clip(args.a), load_clip(args.b)
        a.name = a.name or Path(args.a).stem
        b.name = b.name or Path(args.b).stem
        out = transition(a, args.out_frame, b, args.in_frame, args.n, args.method, ctx=ctx)
        save_clip(out, args.output)
        return out

    result = run_job_cli(Job(f"Transition {args.a} -> {args.b}", work), quiet=args.quiet)
    if result.ok:
        out = result.value
        t = out.meta["transition"]
        print(f"wrote {args.output}: {out.n_frames} frames at {out.fps:g} fps = {args.a} "
              f"0..{t['out_frame']} + {t['n_frames']} in-between ({args.method}) + {args.b} "
              f"from {args.in_frame}")
        if args.method == "model":
            print(LICENCE_NOTE.format(model="TransitionNet"))
    return exit_code(result)


def _cmd_style(args: argparse.Namespace) -> int:
    from studio.cli_progress import exit_code
    from studio.motion.io.files import load_clip, save_clip
    from studio.motion.learned import style as S

    def work(ctx):
        content, style_clip = load_clip(args.content), load_clip(args.style)
        content.name = content.name or Path(args.content).stem
        style_clip.name = style_clip.name or Path(args.style).stem
        out = S.transfer(content, style_clip, args.strength, keep_root=args.keep_root, ctx=ctx)
        save_clip(out, args.output)
        verdict = None
        if S.model_available("classifier"):
            label, probs = S.classify(out)
            verdict = f"{label} ({100 * probs[label]:.0f}%)"
        return out, verdict

    result = run_job_cli(Job(f"Style transfer {args.content} as {args.style}", work),
                         quiet=args.quiet)
    if result.ok:
        out, verdict = result.value
        print(f"wrote {args.output}: {out.n_frames} frames at {out.fps:g} fps, {args.content} "
              f"in the style of {args.style} at strength {args.strength:g}"
              f"{', root path kept' if args.keep_root else ''}"
              + (f"; style classifier: {verdict}" if verdict else ""))
        print(LICENCE_NOTE.format(model="StyleVAE"))
    return exit_code(result)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from studio.cli_progress import exit_code
    from studio.motion.physics.simulation import parse_push, simulate_job

    pushes = tuple(parse_push(p) for p in args.push or ())
    result = run_job_cli(simulate_job(args.policy, args.seconds, args.out, pushes,
                                      start_time=args.start), quiet=args.quiet)
    if result.ok:
        sim = result.value
        h = sim.history
        fell = (f"fell at {sim.fall_time:.2f} s" if sim.fall_time is not None
                else f"kept its balance for {h.times[-1]:.2f} s")
        print(f"{args.policy}: {fell}; tracking error mean {sum(h.errors) / len(h.errors):.3f} m; "
              f"critic value mean {sum(h.values) / len(h.values):.2f}"
              + (f"; wrote {args.out}" if args.out else ""))
    return exit_code(result)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``motion`` with its actions to the ``studio`` command."""
    p = subparsers.add_parser("motion", help="motion clips: inspect, convert, phase, blend, "
                              "transition, style, simulate",
                              description="Motion clips: DeepMimic (.txt) and BVH.")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    ls = sub.add_parser("list", help="the built-in DeepMimic clips")
    ls.set_defaults(func=_cmd_list)
    info = sub.add_parser("info", help="frames, fps, duration, joints, foot contacts")
    info.add_argument("clip", help="a .bvh or DeepMimic .txt file, or a built-in clip name")
    info.set_defaults(func=_cmd_info)
    cv = sub.add_parser("convert", help="DeepMimic <-> BVH, optionally resampled or retargeted",
                        description="Convert by output suffix (.bvh or .txt). A BVH of "
                        "another skeleton needs --retarget to become a DeepMimic clip.")
    cv.add_argument("input", help="a .bvh or DeepMimic .txt file, or a built-in clip name")
    cv.add_argument("output", help="output path (.bvh or .txt)")
    cv.add_argument("--fps", type=float, default=None, help="resample to this frame rate")
    cv.add_argument("--retarget", action="store_true",
                    help="retarget onto the DeepMimic humanoid (by joint names)")
    cv.set_defaults(func=_cmd_convert)
    ph = sub.add_parser("phase", help="DeepPhase phase, frequency and regularity of a clip")
    ph.add_argument("clip", help="a .bvh or DeepMimic .txt file, or a built-in clip name")
    ph.set_defaults(func=_cmd_phase)
    bl = sub.add_parser("blend", help="crossfade clip A into clip B, phase-aligned or naive")
    bl.add_argument("a")
    bl.add_argument("b")
    bl.add_argument("output", help=".bvh or DeepMimic .txt to write")
    bl.add_argument("--mode", choices=["aligned", "naive"], default="aligned")
    bl.add_argument("--start", type=float, default=2.0, help="fade start, seconds")
    bl.add_argument("--fade", type=float, default=2.0, help="fade length, seconds")
    bl.add_argument("--length", type=float, default=8.0, help="result length, seconds")
    bl.set_defaults(func=_cmd_blend)
    tr = sub.add_parser("transition", help="clip A, generated in-between frames, clip B "
                        "(TransitionNet or a baseline)",
                        description="A up to OUT_FRAME, N generated frames, then B from "
                        "IN_FRAME (B is moved on the ground to carry on from A). The result is "
                        "a DeepMimic-humanoid clip at 30 fps. TransitionNet fills 5..60 frames. "
                        "Non-commercial: the model was trained on CC BY-NC 4.0 data.")
    tr.add_argument("a", help="clip A: a .bvh or DeepMimic .txt file, or a built-in clip name")
    tr.add_argument("out_frame", type=int, help="A's last frame before the gap (A's own index)")
    tr.add_argument("b", help="clip B")
    tr.add_argument("in_frame", type=int, help="B's first frame after the gap (B's own index)")
    tr.add_argument("n", type=int, help="frames to generate between them")
    tr.add_argument("output", help=".bvh or DeepMimic .txt to write")
    tr.add_argument("--method", choices=["model", "linear", "zero_velocity"], default="model",
                    help="model: TransitionNet (default); linear: root lerp + rotation SLERP; "
                    "zero_velocity: hold A's last pose")
    tr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_cmd_transition)
    st = sub.add_parser("style", help="perform a clip in the style of another (StyleVAE)",
                        description="CONTENT performed in the style of STYLE, on the "
                        "DeepMimic humanoid at 30 fps. Non-commercial: StyleVAE was trained on "
                        "CC BY-NC 4.0 data.")
    st.add_argument("content", help="the motion to restyle: a .bvh or .txt file, or a built-in "
                    "clip name")
    st.add_argument("style", help="the clip whose style to take")
    st.add_argument("output", help=".bvh or DeepMimic .txt to write")
    st.add_argument("--strength", type=float, default=1.0,
                    help="0: the content's own style .. 1: the style clip's (default 1)")
    st.add_argument("--keep-root", action=argparse.BooleanOptionalAction, default=True,
                    help="keep the content's ground path and turning (default: on)")
    st.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    st.set_defaults(func=_cmd_style)
    rd = sub.add_parser("render", help="render a clip to an MP4 (skeleton, grid, foot contacts)")
    rd.add_argument("clip", help="a .bvh or DeepMimic .txt file, or a built-in clip name")
    rd.add_argument("output", help="the .mp4 to write")
    rd.add_argument("--width", type=int, default=960)
    rd.add_argument("--height", type=int, default=540)
    rd.add_argument("--loops", type=int, default=1, help="play the clip this many times")
    rd.add_argument("--azimuth", type=float, default=-60.0, help="camera angle in degrees")
    rd.add_argument("--fps", type=float, default=30.0,
                    help="video frame rate; the clip is resampled to it (default 30)")
    rd.add_argument("--start", type=float, default=0.0,
                    help="start this many seconds into the clip (default 0)")
    rd.add_argument("--seconds", type=float, default=None,
                    help="render only this many seconds (default: the whole clip)")
    rd.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    rd.set_defaults(func=_cmd_render)

    ro = sub.add_parser("roles", help="which joint plays which body part; fix and save it",
                        description="Show how the rig's joints map to the roles the tools "
                        "need (hips, legs, arms...), and fix them: the mapping is saved per "
                        "rig (same joint names) in the user data folder.")
    ro.add_argument("clip", help="a .bvh file (or a built-in clip name)")
    ro.add_argument("--set", action="append", metavar="ROLE=JOINT",
                    help="use JOINT for ROLE (repeatable), e.g. --set left_arm=LeftShoulder")
    ro.add_argument("--clear", action="store_true", help="forget this rig's saved mapping")
    ro.set_defaults(func=_cmd_roles)

    si = sub.add_parser("simulate", help="the humanoid in pybullet, driven by a pretrained "
                        "DeepMimic policy (walk, jump, backflip, spinkick...)",
                        description="Simulate the DeepMimic humanoid in pybullet (240 Hz, stable "
                        "PD) with a pretrained policy choosing its targets 30 times a second, "
                        "optionally push it, and write the simulated motion.")
    si.add_argument("policy", help="a policy in models/deepmimic (walk, walk_COMenabled, jump, "
                    "backflip, spinkick) or a folder holding actor/ and critic/")
    si.add_argument("--seconds", type=float, default=10.0, help="simulated seconds (default 10)")
    si.add_argument("--push", action="append", metavar="NEWTONS@SECONDS",
                    help="a 0.1 s sideways push on the pelvis, e.g. 400@3 (repeatable)")
    si.add_argument("--start", type=float, default=0.0,
                    help="start this many seconds into the reference clip")
    si.add_argument("--out", help="write the simulated motion: .bvh, .txt (DeepMimic) or .mp4")
    si.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    si.set_defaults(func=_cmd_simulate)

    def usage(args: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(func=usage)


def main(argv: list[str] | None = None) -> int:
    """Run ``motion`` actions on their own (``python -m studio.motion.cli info walk``)."""
    parser = argparse.ArgumentParser(prog="studio")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["motion", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
