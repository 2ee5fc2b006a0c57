"""A user's learned codec (a folder of rate points) as a first-class codec: in sweeps beside
the shipped one, stored in the project, and in `studio codec encode/decode --codec FOLDER`.

The user codec is a copy of the shipped model's q1 and q2 (real weights, tiny picture)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.codec import cli, encoders
from studio.codec.learned.model import shipped_dir

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "learned_codec"
pytestmark = pytest.mark.skipif(not (SHIPPED / "q2" / "codec.json").is_file(),
                                reason="the shipped learned codec is not installed")


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="studio")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _forget(key: str) -> None:
    """What a fresh process knows: the built-in codecs only."""
    encoders.CODECS.pop(key, None)


@pytest.fixture
def user_codec(tmp_path) -> Path:
    folder = tmp_path / "my codec"          # a space: the key is made file-name safe
    for q in ("q1", "q2"):
        shutil.copytree(SHIPPED / q, folder / q)
    yield folder
    _forget("learned:my-codec")


@pytest.fixture
def picture(tmp_path) -> Path:
    import cv2

    yy, xx = np.mgrid[0:48, 0:64].astype(np.float32)
    rgb = np.stack([xx / 64, yy / 48, 0.5 + 0.4 * np.sin(xx / 5) * np.cos(yy / 7)], -1)
    path = tmp_path / "pic.png"
    cv2.imwrite(str(path), np.rint(rgb * 255).astype(np.uint8)[..., ::-1])
    return path


def _sweep(src: Path, codecs: str, out: Path) -> list[str]:
    return ["codec", "sweep", str(src), "--codecs", codecs, "--points", "2", "--out", str(out),
            "--frames", "1", "--workers", "0", "--no-ms-ssim", "--no-vmaf"]


def test_user_learned_codec_sweeps_beside_the_shipped_one_and_reopens(
        user_codec, picture, tmp_path, capsys):
    from studio.codec import report
    from studio.codec.project import Project

    assert shipped_dir().resolve() == SHIPPED
    out = tmp_path / "proj"
    code = _run(_sweep(picture, f"learned,{user_codec}", out))
    text = capsys.readouterr()
    assert code == 0, text.out + text.err
    assert "learned:my-codec/default/crf" in text.out          # the BD table against learned
    proj = Project.load(out)
    try:
        curves = proj.curves("psnr_y")
        assert [c.key for c in curves] == ["learned/default/crf", "learned:my-codec/default/crf"]
        shipped, mine = curves
        assert shipped.label == encoders.CODECS["learned"].label
        assert mine.label == "Learned: learned_codec (my codec)"    # from its manifests' name
        assert [p.value for p in mine.points] == [1.0, 2.0] and len(shipped.points) == 2
        assert report.rate_axis(curves) == "bpp"
        assert all(p.bpp > 0 and p.backend == "learned" for c in curves for p in c.points)
        assert mine.points[0].encoder == str(user_codec.resolve())
        assert "--codec " + str(user_codec.resolve()) in mine.points[0].command
        (c1, _d1), (c2, _d2) = report.curve_styles(curves)
        assert c1 != c2                                             # a colour family of its own
        rows = report.bd_table(proj, "learned", "psnr_y")
        assert [r.curve for r in rows] == [mine.key]
        # the decoder budget reads the user's own codec.json
        from studio.codec.pershot import decoder_kmac_per_pixel
        cost = json.loads((user_codec / "q1" / "codec.json").read_text())["cost"]
        assert decoder_kmac_per_pixel(mine.points[0]) == \
            pytest.approx(cost["decoder_macs_per_pixel"] / 1000)    # + hyper-synthesis
        assert proj.point_rgb(mine.points[1].id, 0).shape == (48, 64, 3)
    finally:
        proj.close()
    stored = json.loads((out / "project.json").read_text())["user_codecs"]
    assert stored == {"learned:my-codec": {"path": str(user_codec.resolve()),
                                           "label": "Learned: learned_codec (my codec)",
                                           "qualities": [1, 2]}}

    # a fresh process: opening the project is enough to know the codec again
    _forget("learned:my-codec")
    proj = Project.load(out)
    try:
        assert encoders.codec_spec("learned:my-codec").encoder == str(user_codec.resolve())
        assert [c.label for c in proj.curves("psnr_y")][1] == "Learned: learned_codec (my codec)"
    finally:
        proj.close()
    # extending by key encodes nothing new
    assert _run(_sweep(picture, "learned,learned:my-codec", out)) == 0
    assert "0 points encoded, 4 already done" in capsys.readouterr().out

    # the folder moved: the finished points still show; encoding says what is missing
    gone = user_codec.with_name("elsewhere")
    user_codec.rename(gone)
    _forget("learned:my-codec")
    proj = Project.load(out)
    try:
        assert len(proj.curves("psnr_y")) == 2
        assert proj.curves("psnr_y")[1].label == "Learned: learned_codec (my codec)"
    finally:
        proj.close()
    assert _run(["codec", "sweep", str(picture), "--codecs", "learned:my-codec", "--points", "3",
                 "--out", str(out), "--frames", "1", "--workers", "0", "--no-ms-ssim",
                 "--no-vmaf"]) == 1
    err = capsys.readouterr().err
    assert str(user_codec.resolve()) in err and "no such learned-codec folder" in err


def test_a_fresh_worker_learns_the_user_codec_from_its_task(user_codec, picture, tmp_path):
    """Sweep workers are spawned processes: the task carries the codec's record."""
    from dataclasses import asdict

    from studio.codec.project import Point, point_id
    from studio.codec.reference import prepare_reference
    from studio.codec.sweep import PointTask, run_point

    key = encoders.resolve_codec(str(user_codec))
    record = encoders.user_codec_record(key)
    _forget(key)
    ref = prepare_reference(str(picture), tmp_path / "reference.y4m", 1, None, None)
    pt = Point(point_id(key, "default", "crf", 2), key, "default", "crf", 2.0)
    d = run_point(PointTask(str(tmp_path), asdict(pt), ref.to_dict(), 1, True, False, (),
                            {key: record}), lambda *_: None, lambda: None)
    assert d["status"] == "done", d["error"]
    assert d["encoder"] == str(user_codec.resolve()) and d["bytes"] > 0


def test_a_folder_that_is_not_a_learned_codec_says_what_is_missing(
        user_codec, picture, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(_sweep(picture, f"learned,{empty}", tmp_path / "p1")) == 2
    err = capsys.readouterr().err
    assert f"{empty}: not a learned codec: no codec.json" in err
    (user_codec / "q2" / "synthesis" / "model.onnx").unlink()
    assert _run(_sweep(picture, f"learned,{user_codec}", tmp_path / "p2")) == 2
    err = capsys.readouterr().err
    assert f"{user_codec}: rate point q2 (quality 2) lacks synthesis/model.onnx" in err
    assert _run(_sweep(picture, "learned,nosuchcodec", tmp_path / "p3")) == 2
    assert "unknown codec 'nosuchcodec'" in capsys.readouterr().err
    assert _run(["codec", "encode", str(picture), "--codec", str(user_codec), "--quality", "1",
                 "--out", str(tmp_path / "x.nlc")]) == 1
    assert "lacks synthesis/model.onnx" in capsys.readouterr().err
    assert not (tmp_path / "x.nlc").exists()


def test_encode_decode_with_a_user_codec_folder_or_name_is_bit_exact(
        user_codec, picture, tmp_path, monkeypatch, capsys):
    import cv2

    from studio.codec.learned import decode_file, encode_pictures, resolve_model

    nlc, png = tmp_path / "a.nlc", tmp_path / "a.png"
    assert _run(["codec", "encode", str(picture), "--codec", str(user_codec), "--quality", "2",
                 "--out", str(nlc)]) == 0
    assert "learned_codec_q2" in capsys.readouterr().out
    assert _run(["codec", "decode", str(nlc), "--codec", str(user_codec),
                 "--out", str(png)]) == 0
    model = resolve_model(str(user_codec), 2)
    assert model.folder == (user_codec / "q2").resolve()
    rgb = cv2.imread(str(picture))[..., ::-1].astype(np.float32) / 255.0
    assert encode_pictures(model, [rgb]).to_bytes() == nlc.read_bytes()
    (dec,) = decode_file(nlc, [user_codec])
    assert np.array_equal(np.clip(np.rint(dec * 255), 0, 255).astype(np.uint8),
                          cv2.imread(str(png))[..., ::-1])
    # by name: a folder under <user data>/codecs/
    monkeypatch.setenv("STUDIO_USER_DATA", str(tmp_path / "data"))
    (tmp_path / "data" / "codecs").mkdir(parents=True)
    (tmp_path / "data" / "codecs" / "mine").symlink_to(user_codec, target_is_directory=True)
    try:
        assert encoders.resolve_codec("mine") == "learned:mine"
        assert encoders.resolve_codec("learned:mine") == "learned:mine"
        again = tmp_path / "b.nlc"
        assert _run(["codec", "encode", str(picture), "--codec", "learned:mine", "--quality",
                     "2", "--out", str(again)]) == 0
        assert again.read_bytes() == nlc.read_bytes()
    finally:
        _forget("learned:mine")
    assert _run(["codec", "encode", str(picture), "--codec", "x264", "--out",
                 str(tmp_path / "c.nlc")]) == 1
    assert "not a learned codec" in capsys.readouterr().err
