"""Issue 22: shots, the per-shot optimiser, stitched outputs, decoder budgets, Dask."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from studio.codec.pershot import Candidate, OptimiseSpec, choose, hull, run_optimise
from studio.codec.project import Point, Project
from studio.codec.reference import ReferenceClip, prepare_reference
from studio.codec.shots import detect_shots
from studio.codec.sweep import SweepSpec, run_sweep
from studio.jobs import JobContext
from studio.media.video_io import planes_to_frame


def _shot_frame(kind: int, i: int, w: int, h: int) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == 0:      # smooth moving gradient
        y = 0.35 + 0.25 * np.sin((xx + 3 * i) / 7.0) * np.cos((yy - 2 * i) / 9.0)
        u, v = 0.45, 0.55
    elif kind == 1:    # bright panning texture
        rng = np.random.default_rng(1)
        y = 0.7 + 0.08 * np.roll(rng.standard_normal((h, w)), i, axis=1)
        u, v = 0.6, 0.4
    else:              # dark moving checkerboard
        y = np.full((h, w), 0.15)
        y[(yy // 8 + xx // 8 + i) % 2 == 0] = 0.5
        u, v = 0.35, 0.65
    ch, cw = h // 2, w // 2
    return [np.clip(np.rint(y * 255), 0, 255).astype(np.uint8),
            np.full((ch, cw), int(u * 255), np.uint8), np.full((ch, cw), int(v * 255), np.uint8)]


def write_shots(path: Path, lengths=(12, 12, 12), w: int = 96, h: int = 64, fade: int = 0) -> Path:
    """Three different shots cut together (or dissolved over ``fade`` frames)."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.options = {"preset": "ultrafast", "crf": "10"}
        n = 0
        for kind, length in enumerate(lengths):
            for i in range(length):
                p = _shot_frame(kind, i, w, h)
                if fade and kind > 0 and i < fade:
                    q = _shot_frame(kind - 1, lengths[kind - 1] + i, w, h)
                    a = (i + 1) / (fade + 1)
                    p = [np.rint(a * x + (1 - a) * y).astype(np.uint8) for x, y in zip(p, q)]
                f = planes_to_frame(p, "yuv420p")
                f.pts, f.time_base = n, Fraction(1, 25)
                n += 1
                for pkt in s.encode(f):
                    out.mux(pkt)
        for pkt in s.encode(None):
            out.mux(pkt)
    return path


@pytest.fixture(scope="module")
def shots_clip(tmp_path_factory) -> Path:
    return write_shots(tmp_path_factory.mktemp("shots") / "shots.mp4")


def _ref(src: Path, tmp: Path) -> ReferenceClip:
    info = prepare_reference(src, tmp / "ref.y4m")
    return ReferenceClip(tmp / "ref.y4m", info)


def test_cuts_are_found_within_one_frame(shots_clip, tmp_path):
    clip = _ref(shots_clip, tmp_path)
    bounds = [s.start for s in detect_shots(clip, "content")][1:]
    assert len(bounds) == 2 and abs(bounds[0] - 12) <= 1 and abs(bounds[1] - 24) <= 1
    clip.close()


def test_a_dissolve_is_cut_inside_the_fade(tmp_path):
    clip = _ref(write_shots(tmp_path / "fade.mp4", fade=6), tmp_path)
    bounds = [s.start for s in detect_shots(clip, "content")][1:]
    assert len(bounds) == 2
    assert 12 <= bounds[0] <= 12 + 6 + 1 and 24 <= bounds[1] <= 24 + 6 + 1
    clip.close()


def _cand(shot: int, bits: float, sse: float) -> Candidate:
    return Candidate(shot, Point(f"s{shot}_{bits}", "x264", "p", "crf", 0), bits, sse)


def test_hull_keeps_only_convex_undominated_points():
    pts = [_cand(0, b, d) for b, d in [(10, 100), (20, 60), (30, 55), (40, 20), (25, 90), (50, 19)]]
    h = hull(pts)
    assert [(c.bits, c.sse) for c in h] == [(10, 100), (20, 60), (40, 20), (50, 19)]


def test_choice_is_optimal_on_small_cases():
    rng = np.random.default_rng(3)
    for _ in range(30):
        shots = []
        for s in range(3):
            bits = np.sort(rng.uniform(10, 100, 5))
            sse = np.sort(rng.uniform(1, 100, 5))[::-1] * (1 + s)
            shots.append(hull([_cand(s, b, d) for b, d in zip(bits, sse)]))
        budget = float(rng.uniform(60, 250))
        got = choose(shots, budget)
        feasible = [combo for combo in itertools.product(*shots)
                    if sum(c.bits for c in combo) <= budget]
        if not feasible:
            continue
        best = min(sum(c.sse for c in combo) for combo in feasible)
        assert sum(c.bits for c in got) <= budget
        # over the hulls, the choice matches the exhaustive optimum (bit grid: within 1 %)
        assert sum(c.sse for c in got) <= best * 1.01 + 1e-9


def test_optimise_stitches_a_playable_file_at_the_target(shots_clip, tmp_path):
    spec = OptimiseSpec(str(shots_clip), 1.0, codecs=["x264"], presets={"x264": ["ultrafast"]},
                        values={"x264": [20, 24, 28, 32, 36, 40]}, workers=0, curve=False)
    # first learn the reachable range, then ask for a target inside it
    run_optimise(spec, tmp_path / "p", JobContext())
    proj = Project.load(tmp_path / "p")
    assert proj.shots == [[0, 12], [12, 24], [24, 36]]
    shot_pts = [p for p in proj.points.values() if p.is_shot]
    assert len(shot_pts) == 18 and all(p.decode_fps > 0 for p in shot_pts)
    assert [c.key for c in proj.curves()] .count("x264/ultrafast/crf") == 1   # shots: no curve
    dur = proj.reference.duration_s
    lo = sum(min(p.bytes for p in shot_pts if p.frame_range == s) for s in proj.shots)
    hi = sum(max(p.bytes for p in shot_pts if p.frame_range == s) for s in proj.shots)
    target = 8 * (lo + 0.6 * (hi - lo)) / dur / 1000
    proj.close()
    spec.target_kbps = round(target, 1)
    summary = run_optimise(spec, tmp_path / "p", JobContext())
    proj = Project.load(tmp_path / "p")
    pid = next(k for k in summary.chosen if k.endswith(f"_{spec.target_kbps:g}k"))
    pt = proj.point(pid)
    assert pt.mode == "pershot" and len(pt.shots) == 3
    assert abs(pt.bitrate_kbps - target) <= 0.05 * target
    frames = list(proj.decoded_frames(pid))
    assert len(frames) == 36                                  # every frame decodes
    # the whole-clip score equals the shots' own scores put together
    mse = np.concatenate([proj.point_frames(s["point"])["mse_y"] for s in pt.shots])
    assert np.allclose(proj.point_frames(pid)["mse_y"], mse, rtol=1e-9, atol=1e-9)
    assert proj.point_rgb(pid, 20).shape == (64, 96, 3)       # the viewer reads it
    proj.close()


def test_the_decoder_budget_is_never_broken(shots_clip, tmp_path):
    spec = OptimiseSpec(str(shots_clip), 60.0, codecs=["x264"], presets={"x264": ["ultrafast"]},
                        values={"x264": [20, 28, 36]}, workers=0, curve=False)
    run_optimise(spec, tmp_path / "p", JobContext())
    proj = Project.load(tmp_path / "p")
    speeds = sorted(p.decode_fps for p in proj.points.values() if p.is_shot)
    proj.close()
    # a budget that removes about half of the candidates (keeping one per shot at least)
    spec.min_decode_fps = speeds[len(speeds) // 2]
    spec.target_kbps = 61.0
    try:
        summary = run_optimise(spec, tmp_path / "p", JobContext())
    except Exception as exc:   # every candidate of a shot removed: a clear refusal is right
        assert "decoder budget" in str(exc)
        return
    proj = Project.load(tmp_path / "p")
    assert summary.removed_by_budget
    for parts in summary.chosen.values():
        for sid in parts:
            assert proj.point(sid).decode_fps >= spec.min_decode_fps
    proj.close()


def test_dask_local_cluster_gives_the_same_points_as_the_process_pool(shots_clip, tmp_path):
    pytest.importorskip("distributed")
    base = dict(codecs=["x264"], points=2, presets={"x264": ["ultrafast"]}, max_frames=12,
                ms_ssim=False, vmaf=False, workers=2)
    run_sweep(SweepSpec(str(shots_clip), **base), tmp_path / "pool", JobContext())
    run_sweep(SweepSpec(str(shots_clip), cluster="local:2", **base), tmp_path / "dask",
              JobContext())
    a, b = Project.load(tmp_path / "pool"), Project.load(tmp_path / "dask")
    assert sorted(a.points) == sorted(b.points) and len(a.points) == 2
    for pid in a.points:
        pa, pb = a.point(pid), b.point(pid)
        assert pb.status == "done" and pa.bytes == pb.bytes
        assert pa.metrics["psnr_y"] == pytest.approx(pb.metrics["psnr_y"], abs=1e-12)
    a.close()
    b.close()


def test_learned_codec_points_join_per_shot_and_its_mac_budget_holds(shots_clip, tmp_path):
    """Learned-codec candidates per shot; a kMAC/pixel budget below its decoder's cost
    removes every one of them (and says so), while the same run without it picks them."""
    from studio.codec import encoders
    from studio.codec.pershot import decoder_kmac_per_pixel
    from studio.jobs import UserError

    spec = encoders.CODECS["learned"]
    if not encoders.encoder_for(spec).available(spec)[0]:
        pytest.skip("no shipped learned codec")
    base = dict(codecs=["learned"], values={"learned": [1, 4]}, workers=0, curve=False,
                max_frames=24)
    summary = run_optimise(OptimiseSpec(str(shots_clip), 200.0, **base), tmp_path / "p",
                           JobContext())
    proj = Project.load(tmp_path / "p")
    pid = next(iter(summary.chosen))
    pt = proj.point(pid)
    assert pt.mode == "pershot" and pt.stream and (tmp_path / "p" / pt.stream).is_dir()
    assert len(list(proj.decoded_frames(pid))) == 24
    kmac = decoder_kmac_per_pixel(proj.point(summary.chosen[pid][0]))
    assert kmac is not None and kmac > 1
    proj.close()
    with pytest.raises(UserError, match="decoder budget"):
        run_optimise(OptimiseSpec(str(shots_clip), 200.0, max_kmac_per_pixel=kmac / 2, **base),
                     tmp_path / "p", JobContext())


def test_budget_parsing():
    from studio.codec.cli import parse_budget
    from studio.jobs import UserError

    assert parse_budget("60fps") == (60.0, None)
    assert parse_budget("20kmac") == (None, 20.0)
    assert parse_budget("30fps, 12.5kmac") == (30.0, 12.5)
    with pytest.raises(UserError):
        parse_budget("fast")
