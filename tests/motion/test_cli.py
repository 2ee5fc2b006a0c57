import argparse

import numpy as np
import pytest

from studio.motion import cli
from studio.motion.deepmimic import read_deepmimic
from studio.motion.bvh import read_bvh

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
    from studio.motion.files import load_clip

    assert main(["motion", "phase", "run"]) == 0
    assert "dominant" in capsys.readouterr().out
    out = tmp_path / "b.bvh"
    assert main(["motion", "blend", "walk", "run", str(out), "--length", "4"]) == 0
    assert load_clip(out).n_frames == 120
