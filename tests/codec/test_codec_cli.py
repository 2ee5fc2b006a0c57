"""`studio codec sweep | bdrate | export` through argparse, as the app's CLI will call them."""

from __future__ import annotations

import argparse
import json

import pytest

from studio.codec import cli
from studio.jobs import UserError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio")
    cli.register(parser.add_subparsers(dest="command"))
    return parser


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def test_sweep_then_bdrate_then_export(clip, tmp_path, capsys):
    src = clip("in.mp4", frames=5)
    out = tmp_path / "report"
    code = _run(["codec", "sweep", str(src), "--codecs", "x264,x265", "--points", "3",
                 "--out", str(out), "--preset", "ultrafast", "--frames", "5", "--workers", "0",
                 "--no-ms-ssim"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "6 points encoded" in text and "x265/ultrafast/crf" in text
    assert (out / "report.csv").exists() and (out / "rd_psnr_y.svg").exists()

    assert _run(["codec", "bdrate", str(out), "--anchor", "x264", "--metric", "ssim_y"]) == 0
    text = capsys.readouterr().out
    assert "anchor: x264/ultrafast/crf" in text and "BD-ssim_y" in text

    assert _run(["codec", "export", str(out), "--json", str(tmp_path / "r.json"),
                 "--anchor", "x264"]) == 0
    assert len(json.loads((tmp_path / "r.json").read_text())["bd"]) == 1

    # extending the same folder re-encodes nothing that is done
    assert _run(["codec", "sweep", str(src), "--codecs", "x264", "--points", "3", "--out",
                 str(out), "--preset", "ultrafast", "--frames", "5", "--workers", "0",
                 "--no-ms-ssim"]) == 0
    assert "0 points encoded, 3 already done" in capsys.readouterr().out


def test_errors_give_exit_codes(tmp_path, capsys, audio_only):
    assert _run(["codec", "bdrate", str(tmp_path)]) == 1
    assert "no codec project here" in capsys.readouterr().err
    assert _run(["codec", "sweep", str(audio_only), "--out", str(tmp_path / "o"),
                 "--workers", "0"]) == 1
    assert "speech.m4a: has no video stream" in capsys.readouterr().err
    assert _run(["codec", "sweep", str(audio_only), "--out", str(tmp_path / "o"),
                 "--preset", "turbo"]) == 2


def test_preset_and_value_parsing():
    assert cli.parse_presets(["fast"], ["x264", "x265", "av1"]) == {"x264": ["fast"],
                                                                    "x265": ["fast"]}
    assert cli.parse_presets(["av1=6,8", "4"], ["av1", "vp9"]) == {"av1": ["6", "8"],
                                                                  "vp9": ["4"]}
    with pytest.raises(UserError, match="not valid for any"):
        cli.parse_presets(["turbo"], ["x264"])
    assert cli.parse_values(["22,27", "av1=30,40"]) == {"*": [22.0, 27.0], "av1": [30.0, 40.0]}
