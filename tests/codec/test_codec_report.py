"""Reports from hand-made projects (no encoding): BD table with warnings, exports, SVG."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

from studio.codec import report
from studio.codec.project import DONE, FAILED, Point, Project, point_id, write_json
from studio.jobs import UserError

NS = "{http://www.w3.org/2000/svg}"
RATES = [100.0, 200.0, 400.0, 800.0]
PSNR = [30.0, 33.5, 37.0, 40.0]


def _add(proj: Project, codec: str, preset: str, rates: list[float], psnr: list[float],
         frames: int = 3, **extra) -> None:
    for k, (r, q) in enumerate(zip(rates, psnr)):
        value = 22.0 + 5 * k
        pid = point_id(codec, preset, "crf", value)
        metrics = {"psnr_y": q, "psnr_y_global": q - 0.2, "ssim_y": 0.9 + q / 1000,
                   "cambi": 9.0 - q / 5, "my_new_metric": 1.5}
        metrics.update(extra.pop("metrics", {}) if k == 0 else {})
        frames_rel = f"frames/{pid}.json"
        write_json(proj.folder / frames_rel, {
            "psnr_y": [q - 0.5, q, q + 0.5][:frames], "frame_bytes": [900, 300, 310][:frames],
            "pict_type": ["I", "P", "B"][:frames], "vmaf": [None, 80.0, 81.0][:frames],
            "model": "vmaf_v0.6.1"})
        proj.points[pid] = Point(
            pid, codec, preset, "crf", value, status=DONE, frames=frames, frames_file=frames_rel,
            bitrate_kbps=r, bytes=int(r * 100), file_kbps=r * 1.02, metrics=metrics,
            backend="pyav", encoder=f"lib{codec}", encoder_version=f"{codec} 1.{k % 1}",
            options={"crf": f"{value:g}", "preset": preset},
            command=f"ffmpeg -i ref.y4m -c:v lib{codec} -crf {value:g}", **extra)


@pytest.fixture
def proj(tmp_path) -> Project:
    p = Project(tmp_path / "proj")
    p.source = "/videos/Big Clip.mp4"
    _add(p, "x264", "medium", RATES, PSNR)
    _add(p, "x264", "fast", [r * 1.1 for r in RATES], PSNR)
    _add(p, "av1", "8", [r * 0.7 for r in RATES], PSNR)
    # overlaps the anchor's quality range by 54 %
    _add(p, "vp9", "4", RATES, [q + 3 for q in PSNR])
    p.points["x265_medium_crf30"] = Point("x265_medium_crf30", "x265", "medium", "crf", 30.0,
                                          status=FAILED, error="encoder crashed")
    p.save()
    return p


def test_bd_table_defaults_to_first_codec_and_carries_warnings(proj):
    rows = {r.curve: r for r in report.bd_table(proj)}
    assert set(rows) == {"x264/fast/crf", "av1/8/crf", "vp9/4/crf"}
    assert all(r.anchor == "x264/medium/crf" for r in rows.values())
    av1, vp9 = rows["av1/8/crf"], rows["vp9/4/crf"]
    assert av1.bd_rate == pytest.approx(-30.0, abs=1e-6) and av1.warnings == []
    assert av1.label == "AV1 (SVT-AV1) preset 8" and av1.anchor_label.endswith("preset medium")
    assert set(av1.bd_rate_by_method) == {"pchip", "akima", "cubic"}
    assert len(vp9.warnings) == 1 and "overlap only 54%" in vp9.warnings[0]
    text = report.format_bd_table(list(rows.values()))
    assert "anchor: x264/medium/crf" in text and "method: pchip" in text
    assert "    ! quality ranges overlap only 54%" in text
    assert "1 warning" in text and "-30.00%" in text


def test_psnr_y_global_and_lower_is_better_metrics(proj):
    rows = {r.curve: r for r in report.bd_table(proj, "x264", "psnr_y_global")}
    assert rows["av1/8/crf"].bd_rate == pytest.approx(-30.0, abs=1e-6)
    cambi = {r.curve: r for r in report.bd_table(proj, "x264", "cambi")}
    # less banding for fewer bits: negative BD-rate, not a "monotonic" complaint
    assert cambi["av1/8/crf"].bd_rate == pytest.approx(-30.0, abs=1e-6)
    assert cambi["av1/8/crf"].warnings == []
    assert "lower is better" in report.format_bd_table(list(cambi.values()))
    assert "psnr_y_global" in report.BD_METRICS and "cambi" in report.LOWER_IS_BETTER
    assert "ciede2000" not in report.LOWER_IS_BETTER     # libvmaf: 45 - 20 log10(dE)


def test_missing_metric_says_how_to_add_it(proj):
    with pytest.raises(UserError, match=r"has VMAF \(vmaf\); add it without re-encoding: "
                                        r"studio codec score .*proj --metrics vmaf"):
        report.bd_table(proj, "x264", "vmaf")
    with pytest.raises(UserError, match="--metrics xpsnr"):
        report.bd_table(proj, "x264", "xpsnr_y")
    # a partly scored curve is compared on fewer points, and the row says so
    proj.points["av1_8_crf37"].metrics.pop("psnr_y_global")
    rows = {r.curve: r for r in report.bd_table(proj, "x264", "psnr_y_global")}
    assert rows["av1/8/crf"].warnings[0].startswith("only 3 of the 4 points of the test curve")
    assert rows["x264/fast/crf"].warnings == []
    proj.points[next(iter(proj.points))].metrics["vmaf"] = 90.0   # only one x264 point scored
    with pytest.raises(UserError, match="anchor 'av1' has no VMAF"):
        report.bd_table(proj, "av1", "vmaf")
    with pytest.raises(UserError, match="anchor 'hevc' not found; curves: x264/medium/crf"):
        report.bd_table(proj, "hevc", "vmaf")
    assert report.try_bd_table(proj, "x264", "vmaf_neg")[1].startswith("no point in")


def test_json_export_has_bd_versions_options_by_default(proj, tmp_path):
    report.export_json(proj, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["clip"] == "Big Clip.mp4"
    assert data["bd_anchor"] == "x264/medium/crf" and data["bd_metric"] == "psnr_y"
    assert {r["curve"] for r in data["bd"]} == {"x264/fast/crf", "av1/8/crf", "vp9/4/crf"}
    vp9 = next(r for r in data["bd"] if r["curve"] == "vp9/4/crf")
    assert vp9["warnings"] and vp9["bd_rate_by_method"]["cubic"] is not None
    assert set(data["bd_by_metric"]) == {"psnr_y", "psnr_y_global", "ssim_y", "cambi"}
    assert "vmaf_models" not in data          # no point has VMAF
    assert data["encoders"]["av1"] == {"backends": ["pyav"], "encoders": ["libav1"],
                                       "versions": ["av1 1.0"]}
    pt = next(p for p in data["points"] if p["codec"] == "av1")
    assert pt["options"] == {"crf": "22", "preset": "8"} and pt["command"].startswith("ffmpeg")
    assert pt["encoder_version"] == "av1 1.0" and pt["file_kbps"] > 0
    # a BD table that cannot be made is recorded, not fatal; and it can be left out
    report.export_json(proj, tmp_path / "v.json", metric="vmaf")
    v = json.loads((tmp_path / "v.json").read_text())
    assert v["bd"] == [] and "--metrics vmaf" in v["bd_error"] and len(v["points"]) == 17
    report.export_json(proj, tmp_path / "n.json", bd=False)
    assert "bd" not in json.loads((tmp_path / "n.json").read_text())
    # the VMAF model is named once a point has VMAF
    next(iter(proj.points.values())).metrics["vmaf"] = 91.0
    report.export_json(proj, tmp_path / "m.json", bd=False)
    assert set(json.loads((tmp_path / "m.json").read_text())["vmaf_models"]) == {"vmaf"}


def test_csv_export_has_companion_bd_csv_and_exact_options(proj, tmp_path):
    files = report.export_csv(proj, tmp_path / "points.csv", anchor="av1")
    assert files == [tmp_path / "points.csv", tmp_path / "points_bd.csv"]
    rows = list(csv.DictReader(io.StringIO(files[0].read_text())))
    assert len(rows) == 17
    av1 = next(r for r in rows if r["codec"] == "av1")
    assert json.loads(av1["options"]) == {"crf": "22", "preset": "8"}
    assert av1["encoder_version"] == "av1 1.0" and av1["command"].startswith("ffmpeg -i")
    assert av1["my_new_metric"] == "1.500000" and av1["psnr_y_global"] == "29.800000"
    assert next(r for r in rows if r["status"] == "failed")["error"] == "encoder crashed"
    bd = list(csv.DictReader(io.StringIO(files[1].read_text())))
    assert {r["anchor"] for r in bd} == {"av1/8/crf"} and len(bd) == 3
    vp9 = next(r for r in bd if r["curve"] == "vp9/4/crf")
    assert "overlap only" in vp9["warnings"] and vp9["bd_rate_cubic"]
    # no companion when no table can be made (the metric is missing)
    assert report.export_csv(proj, tmp_path / "v.csv", metric="vmaf") == [tmp_path / "v.csv"]


def test_frames_csv_one_row_per_point_per_frame(proj, tmp_path):
    n = report.export_frames_csv(proj, tmp_path / "frames.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "frames.csv").read_text())))
    assert n == len(rows) == 16 * 3
    assert list(rows[0])[:9] == ["point", "codec", "preset", "mode", "value", "frame",
                                 "ref_frame", "pict_type", "frame_bytes"]
    first = [r for r in rows if r["point"] == "x264_medium_crf22"]
    assert [r["pict_type"] for r in first] == ["I", "P", "B"]
    assert [r["frame_bytes"] for r in first] == ["900", "300", "310"]
    assert first[1]["psnr_y"] == "30.000000" and first[0]["vmaf"] == ""
    assert "model" not in rows[0]        # not a per-frame column


def test_frames_csv_counts_reference_frames_of_a_range(tmp_path):
    p = Project(tmp_path / "p")
    _add(p, "x264", "medium", RATES[:2], PSNR[:2], frames=2, frame_range=[10, 12])
    report.export_frames_csv(p, tmp_path / "f.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "f.csv").read_text())))
    assert [(r["frame"], r["ref_frame"]) for r in rows[:2]] == [("0", "10"), ("1", "11")]


def _svg(proj, metric="psnr_y"):
    return ET.fromstring(report.rd_svg(proj, metric))


def test_svg_title_colours_labels_legend(proj):
    svg = _svg(proj)
    assert "Big Clip.mp4" in svg.find(f"{NS}title").text
    texts = [t.text or "" for t in svg.iter(f"{NS}text")]
    assert any("Big Clip.mp4" in t for t in texts)
    assert "bitrate (kbit/s, log scale)" in texts
    assert "AV1 (SVT-AV1) preset 8" in texts and "VP9 (libvpx) cpu-used 4" in texts
    lines = svg.findall(f"{NS}polyline")
    assert len(lines) == 4 and len(svg.findall(f"{NS}circle")) == 16
    # both x264 presets share x264's colour, told apart by dashes; other codecs differ
    cols = [pl.get("stroke") for pl in lines]
    assert cols[0] == cols[1] == report.FAMILY_COLOURS["x264"] and len(set(cols)) == 3
    assert lines[0].get("stroke-dasharray") is None and lines[1].get("stroke-dasharray")
    # the legend sits right of the plot frame, and the picture is wide enough for it
    frame = next(r for r in svg.findall(f"{NS}rect") if r.get("stroke") == "#444")
    right = float(frame.get("x")) + float(frame.get("width"))
    legend = [t for t in svg.iter(f"{NS}text") if t.text and "preset" in t.text]
    assert legend and all(float(t.get("x")) > right for t in legend)
    assert float(svg.get("width")) >= right + 7 * max(len(t.text) for t in legend)
    # log axis: the tick labels are 1-2-5 per decade
    ticks = [t.text for t in svg.iter(f"{NS}text") if t.get("text-anchor") == "middle"]
    assert {"100", "200", "500"} <= set(ticks)


def test_svg_of_still_images_uses_bits_per_pixel(tmp_path):
    p = Project(tmp_path / "img")
    _add(p, "jpeg", "", [0.0, 0.0, 0.0, 0.0], PSNR, frames=1)
    for k, pt in enumerate(p.points.values()):
        pt.bpp = 0.25 * 2 ** k
    texts = [t.text or "" for t in _svg(p).iter(f"{NS}text")]
    assert "bits per pixel (log scale)" in texts and p.curves()[0].label in texts
    assert report.rate_axis(p.curves()) == "bpp"
    svg = report.rd_svg(p)
    assert "bits per pixel" in ET.fromstring(svg).find(f"{NS}title").text


# --- the CLI's bdrate / export on a hand-made project --------------------------------------------

def _cli(argv: list[str]) -> int:
    import argparse

    from studio.codec import cli

    parser = argparse.ArgumentParser(prog="studio")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_bdrate_warns_and_names_the_missing_metric(proj, capsys):
    assert _cli(["codec", "bdrate", str(proj.folder), "--metric", "psnr_y_global"]) == 0
    out = capsys.readouterr().out
    assert "anchor: x264/medium/crf" in out and "! quality ranges overlap only" in out
    assert "1 of 3 rows deserve less trust" in out
    assert _cli(["codec", "bdrate", str(proj.folder), "--anchor", "x264", "--metric", "vmaf"]) == 1
    err = capsys.readouterr().err
    assert f"studio codec score {proj.folder} --metrics vmaf" in err and "curves: none" not in err


def test_cli_export_writes_bd_by_default_and_frames_csv(proj, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli(["codec", "export", str(proj.folder), "--csv", str(out / "p.csv"), "--json",
                 str(out / "r.json"), "--svg", str(out / "rd.svg"), "--frames-csv",
                 str(out / "frames.csv")]) == 0
    assert "p_bd.csv" in capsys.readouterr().out
    assert json.loads((out / "r.json").read_text())["bd_anchor"] == "x264/medium/crf"
    assert (out / "p_bd.csv").exists() and (out / "frames.csv").stat().st_size > 0
    # a metric the project lacks: files still written, the reason on stderr, exit 0 (no
    # explicit anchor) or 1 (an anchor was asked for)
    assert _cli(["codec", "export", str(proj.folder), "--json", str(out / "v.json"),
                 "--metric", "vmaf"]) == 0
    assert "warning: no BD table" in capsys.readouterr().err
    assert _cli(["codec", "export", str(proj.folder), "--json", str(out / "v.json"),
                 "--metric", "vmaf", "--anchor", "x264"]) == 1
    assert "--metrics vmaf" in capsys.readouterr().err
