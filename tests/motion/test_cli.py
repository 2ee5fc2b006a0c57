import argparse

import numpy as np
import pytest

from studio.motion import cli
from studio.motion.io.bvh import read_bvh
from studio.motion.io.deepmimic import read_deepmimic
from studio.runtime import models

pytest.importorskip("pybullet_data", reason="the built-in clips ship with pybullet")


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_register_adds_motion_to_a_parser():
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["motion", "convert", "a.bvh", "b.txt", "--fps", "30",
                              "--retarget"])
    assert args.fps == 30 and args.retarget and callable(args.func)


def test_list(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert "walk" in out and "backflip" in out
    assert any(line.split()[:3] == ["walk", "39", "30.0"] for line in out.splitlines())


def test_info_builtin(capsys):
    code, out, _ = run(capsys, "info", "walk")
    assert code == 0
    assert "frames:    39" in out and "duration:  1.267 s" in out
    assert "left_knee" in out and "contacts:" in out and "left " in out


def test_info_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "info", str(tmp_path / "nope.bvh"))
    assert code == 1 and "nope.bvh: file not found" in err


def test_convert_round_trip_with_fps(capsys, tmp_path):
    bvh, txt = tmp_path / "walk.bvh", tmp_path / "walk.txt"
    code, out, _ = run(capsys, "convert", "walk", str(bvh), "--fps", "60")
    assert code == 0 and "77 frames at 60 fps" in out
    assert read_bvh(bvh).n_frames == 77
    code, _, _ = run(capsys, "convert", str(bvh), str(txt))
    assert code == 0
    back = read_deepmimic(txt)
    assert back.n_frames == 77 and back.fps == pytest.approx(60)


def test_convert_bandai_needs_retarget(capsys, tmp_path, bandai):
    src = bandai / "dataset-1_walk_normal_001.bvh"
    out = tmp_path / "w.txt"
    code, _, err = run(capsys, "convert", str(src), str(out))
    assert code == 1 and "--retarget" in err and not out.exists()
    code, text, _ = run(capsys, "convert", str(src), str(out), "--retarget", "--fps", "30")
    assert code == 0 and out.exists()
    clip = read_deepmimic(out)
    assert clip.n_frames == 195
    assert np.all(np.isfinite(clip.root_pos))


def test_convert_bad_bvh_reports_line(capsys, tmp_path):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0\n")
    code, _, err = run(capsys, "convert", str(bad), str(tmp_path / "o.txt"))
    assert code == 1 and "bad.bvh: line 4" in err


def test_studio_command_has_motion(capsys):
    from studio.cli import main

    assert main(["motion", "info", "run"]) == 0
    assert "frames:    25" in capsys.readouterr().out


def test_render_cli_writes_mp4(tmp_path):
    import av

    from studio.cli import main

    out = tmp_path / "jump.mp4"
    assert main(["motion", "render", "jump", str(out), "-q", "--width", "320", "--height", "180"]) == 0
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (320, 180)
        assert sum(1 for _ in c.decode(video=0)) > 10


def test_phase_and_blend_cli(tmp_path, capsys):
    from studio.cli import main
    from studio.motion.io.files import load_clip

    assert main(["motion", "phase", "run"]) == 0
    assert "dominant" in capsys.readouterr().out
    out = tmp_path / "b.bvh"
    assert main(["motion", "blend", "walk", "run", str(out), "--length", "4"]) == 0
    assert load_clip(out).n_frames == 120


def _needs(available: bool, what: str):
    if not available:
        pytest.skip(f"{what} not installed")


def test_transition_cli_model_and_linear(tmp_path, capsys):
    from studio.motion.io.files import load_clip
    from studio.motion.learned import transition as T

    _needs(models.available(T.ROLE), "models/transition")
    out = tmp_path / "t.bvh"
    code, text, _ = run(capsys, "transition", "walk", "20", "run", "5", "20", str(out), "-q")
    assert code == 0, text
    lines = text.strip().splitlines()
    # walk 0..20 (21 frames) + 20 generated + run 5..24 (20 frames)
    assert lines[0].startswith(f"wrote {out}: 61 frames at 30 fps")
    assert "20 in-between (model)" in lines[0]
    assert "non-commercial" in lines[1] and "CC BY-NC 4.0" in lines[1]
    assert load_clip(out).n_frames == 61
    code, text, _ = run(capsys, "transition", "walk", "20", "run", "5", "90", str(out),
                        "--method", "linear", "-q")
    assert code == 0 and "131 frames" in text and "(linear)" in text
    assert "non-commercial" not in text  # no model used


def test_transition_cli_errors(tmp_path, capsys):
    from studio.motion.learned import transition as T

    _needs(models.available(T.ROLE), "models/transition")
    out = tmp_path / "t.bvh"
    code, _, err = run(capsys, "transition", "walk", "20", "run", "5", "70", str(out), "-q")
    assert code == 1 and "5 to 60 frames" in err and not out.exists()
    code, _, err = run(capsys, "transition", "walk", "99", "run", "0", "10", str(out), "-q",
                       "--method", "zero_velocity")
    assert code == 1 and "out frame 99" in err and not out.exists()


def test_style_cli(tmp_path, capsys):
    from studio.motion.io.files import load_clip
    from studio.motion.learned import style as S

    _needs(S.model_available("vae"), "models/style_vae")
    out = tmp_path / "s.txt"
    code, text, _ = run(capsys, "style", "walk", "run", str(out), "--strength", "0.5", "-q")
    assert code == 0, text
    lines = text.strip().splitlines()
    assert lines[0].startswith(f"wrote {out}: 39 frames at 30 fps")
    assert "strength 0.5" in lines[0] and "root path kept" in lines[0]
    assert "non-commercial" in lines[1]
    assert load_clip(out).n_frames == 39
    code, text, _ = run(capsys, "style", "walk", "run", str(out), "--no-keep-root", "-q")
    assert code == 0 and "root path kept" not in text
    code, _, err = run(capsys, "style", "walk", "run", str(out), "--strength", "1.5", "-q")
    assert code == 1 and "between 0 and 1" in err


def test_transition_and_style_parse():
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    a = parser.parse_args(["motion", "transition", "a.bvh", "10", "b.bvh", "3", "15", "o.bvh",
                           "--method", "linear"])
    assert (a.out_frame, a.in_frame, a.n, a.method) == (10, 3, 15, "linear")
    s = parser.parse_args(["motion", "style", "c.bvh", "s.bvh", "o.bvh"])
    assert s.strength == 1.0 and s.keep_root is True
    s = parser.parse_args(["motion", "style", "c.bvh", "s.bvh", "o.bvh", "--no-keep-root",
                           "--strength", "0.25"])
    assert s.keep_root is False and s.strength == 0.25


def test_ctrl_c_during_render_cancels_cleanly(tmp_path):
    """SIGINT mid-encode: exit 130, no C++ abort, no hidden .part file, no output."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from studio.motion.io.bvh import write_bvh
    from tests.motion.rigs import make_clip

    src = tmp_path / "walk.bvh"
    write_bvh(make_clip("mixamo", frames=120), src)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "studio.cli", "motion", "render", str(src),
         str(out_dir / "walk.mp4"), "--loops", "100000", "--width", "160", "--height", "96",
         "-q"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not any(out_dir.glob(".walk.*.part.mp4")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "render never started"
            time.sleep(0.05)
        time.sleep(0.5)  # encoding, with FFmpeg's threads running
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = err.decode(errors="replace")
    assert proc.returncode == 130, err
    assert "terminate called" not in err and "Traceback" not in err
    assert "cancelled" in err
    assert list(out_dir.iterdir()) == []


def test_roles_cli_shows_fixes_and_clears_a_mapping(tmp_path, capsys):
    from studio.motion.io.bvh import write_bvh
    from tests.motion.rigs import make_clip

    src = tmp_path / "bio.bvh"
    write_bvh(make_clip("biovision"), src)
    code, out, _ = run(capsys, "roles", str(src))
    assert code == 0
    assert any(line.split()[:3] == ["left_arm", "LeftShoulder", "auto"]
               for line in out.splitlines())
    code, out, _ = run(capsys, "roles", str(src), "--set", "left_arm=LeftCollar")
    assert code == 0 and "saved 1 role(s)" in out
    assert any(line.split()[:3] == ["left_arm", "LeftCollar", "saved"]
               for line in out.splitlines())
    code, _, err = run(capsys, "roles", str(src), "--set", "left_arm=Nope")
    assert code == 1 and "no joint named 'Nope'" in err
    code, out, _ = run(capsys, "roles", str(src), "--clear")
    assert code == 0 and "cleared" in out
    assert any(line.split()[:3] == ["left_arm", "LeftShoulder", "auto"]
               for line in out.splitlines())
