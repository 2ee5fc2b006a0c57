"""Long clips: a long BVH is parsed once and memory-mapped afterwards; the viewer and the
renderer compute joint positions a window of frames at a time."""

from __future__ import annotations

import os
import time
import tracemalloc

import numpy as np
import pytest

from studio.motion.core.clip import Clip
from studio.motion.core.skeleton import Skeleton

FRAMES = 20_000


def _rig() -> Skeleton:
    """A small chain rig: a root with six channels, seven rotating joints, an end site."""
    names = ["Root"] + [f"J{k}" for k in range(1, 8)] + ["J7_End"]
    parents = [-1] + list(range(0, 7)) + [7]
    offsets = [[0, 90, 0]] + [[0, 10.0 + k, 2.0] for k in range(1, 8)] + [[0, 5, 0]]
    rot = ("Zrotation", "Xrotation", "Yrotation")
    channels = [("Xposition", "Yposition", "Zposition") + rot] + [rot] * 7 + [()]
    return Skeleton(names, parents, np.array(offsets, float), channels)


def _clip(frames: int = FRAMES, seed: int = 0) -> Clip:
    from scipy.spatial.transform import Rotation

    sk = _rig()
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 30.0
    rots = np.zeros((frames, len(sk), 4))
    rots[..., 3] = 1.0
    for j in range(8):
        ang = 30 * np.sin(t[:, None] * (1 + j) * 0.7 + rng.uniform(0, 6, 3)) + rng.normal(0, 2, (frames, 3))
        rots[:, j] = Rotation.from_euler("ZXY", ang, degrees=True).as_quat()
    root = np.stack([t * 50, 90 + 3 * np.sin(t), np.cos(t)], axis=1)
    return Clip(sk, 30.0, root, rots, name="long")


@pytest.fixture(scope="module")
def long_bvh(tmp_path_factory):
    from studio.motion.io.bvh import write_bvh

    path = tmp_path_factory.mktemp("long") / "long.bvh"
    write_bvh(_clip(), path, precision=4)
    return path


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _same(a: Clip, b: Clip) -> None:
    assert a.n_frames == b.n_frames and a.fps == b.fps
    assert a.skeleton.names == b.skeleton.names and a.skeleton.parents == b.skeleton.parents
    assert np.array_equal(a.skeleton.offsets, b.skeleton.offsets)
    assert a.skeleton.up == b.skeleton.up and a.skeleton.forward == b.skeleton.forward
    assert np.array_equal(a.root_pos, b.root_pos)
    assert np.array_equal(a.rotations, b.rotations)
    assert (a.translations is None) == (b.translations is None)


def test_second_open_is_served_from_the_cache(long_bvh, cache_dir, monkeypatch):
    from studio.motion.io import bvh
    from studio.motion.io.files import load_clip

    assert os.path.getsize(long_bvh) > 2_000_000  # long enough to be cached
    parsed = bvh.read_bvh(long_bvh)
    first = load_clip(long_bvh)
    assert "cached" not in first.meta
    _same(first, parsed)

    def no_parse(path):
        raise AssertionError("parsed again instead of using the cache")

    monkeypatch.setattr(bvh, "read_bvh", no_parse)
    t0 = time.perf_counter()
    second = load_clip(long_bvh)
    elapsed = time.perf_counter() - t0
    assert second.meta["cached"].startswith(str(cache_dir))
    _same(second, parsed)
    # memory-mapped: the frames are read from disk when touched, not loaded up front
    assert isinstance(second.rotations.base, np.memmap) or isinstance(
        getattr(second.rotations.base, "base", None), np.memmap)
    assert elapsed < 0.5, f"opening from the cache took {elapsed:.2f} s"
    # copy-on-write: editing the clip in place does not touch the cache
    second.root_pos[0] = 1e6
    assert np.array_equal(load_clip(long_bvh).root_pos[0], parsed.root_pos[0])


def test_a_changed_file_is_parsed_again(tmp_path, cache_dir):
    from studio.motion.io.bvh import read_bvh, write_bvh
    from studio.motion.io.files import load_clip

    path = tmp_path / "edit.bvh"
    write_bvh(_clip(seed=1), path, precision=4)
    load_clip(path)
    assert "cached" in load_clip(path).meta
    st = os.stat(path)
    write_bvh(_clip(seed=2), path, precision=4)  # same size or not: a new mtime
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    fresh = load_clip(path)
    assert "cached" not in fresh.meta  # not the stale entry
    _same(fresh, read_bvh(path))
    assert "cached" in load_clip(path).meta


def test_short_files_are_not_cached(tmp_path, cache_dir):
    from studio.motion.io.bvh import write_bvh
    from studio.motion.io.files import load_clip

    path = tmp_path / "short.bvh"
    write_bvh(_clip(frames=200), path)
    load_clip(path)
    assert "cached" not in load_clip(path).meta
    assert not (cache_dir / "motion").exists()


def test_windowed_positions_match_full_fk_and_stay_small(long_bvh, cache_dir):
    from studio.motion.core import display as D
    from studio.motion.core.fk import forward_kinematics, joint_positions, window_positions
    from studio.motion.io.files import load_clip

    load_clip(long_bvh)
    clip = load_clip(long_bvh)  # memory-mapped
    full = forward_kinematics(clip).positions
    assert np.allclose(joint_positions(clip, window=777), full, rtol=0, atol=1e-9)
    assert np.array_equal(joint_positions(clip, window=777), joint_positions(clip))
    assert np.array_equal(window_positions(clip, 12_345, 12_400),
                          joint_positions(clip)[12_345:12_400])

    d = D.clip_display(clip)
    assert isinstance(d.positions, D.WindowedPositions)
    assert d.n_frames == FRAMES and d.focus_path.shape == (FRAMES, 3)
    # the same numbers as the dense display of a short clip
    dense = D.to_z_up(joint_positions(clip), clip.skeleton.up) * d.units.to_metres
    dense[..., 2] -= d.positions.lift
    for i in (0, 511, 512, 19_999, -1):
        assert np.array_equal(d.positions[i], dense[i])
    assert np.array_equal(d.positions[100:140], dense[100:140])
    assert np.array_equal(d.focus_path, dense[:, d.focus])

    # the viewer stepping through the whole clip: one window of FK at a time
    del full, dense
    d.positions._cache.clear()
    d.positions.windows_computed = 0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for i in range(0, FRAMES, 97):
            d.positions[i]
        windowed_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        forward_kinematics(clip)
        full_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    window_bytes = D.VIEW_WINDOW * clip.n_joints * 3 * 8
    assert windowed_peak < 20 * window_bytes + 200_000, windowed_peak
    assert windowed_peak * 5 < full_peak, (windowed_peak, full_peak)
    assert d.positions.windows_computed == FRAMES // D.VIEW_WINDOW + 1


def test_render_a_part_of_a_long_clip_computes_only_its_frames(long_bvh, cache_dir, tmp_path):
    from studio.motion.core.display import VIEW_WINDOW, clip_display
    from studio.motion.io.files import load_clip
    from studio.motion.io.render import render_mp4

    d = clip_display(load_clip(long_bvh))
    out = render_mp4(d, tmp_path / "part.mp4", width=160, height=96, start=300.0, seconds=0.5)
    assert out.stat().st_size > 0
    # 15 video frames around source frame 9000: one or two windows, not 40
    assert 1 <= d.positions.windows_computed <= 2
    assert d.positions._cache and min(d.positions._cache) == 9000 // VIEW_WINDOW


def test_streamed_bvh_write_equals_the_text(long_bvh, cache_dir, tmp_path):
    from studio.motion.io.bvh import bvh_text, write_bvh
    from studio.motion.io.files import load_clip

    load_clip(long_bvh)
    clip = load_clip(long_bvh)
    out = tmp_path / "copy.bvh"
    write_bvh(clip, out, precision=4)
    assert out.read_text("utf-8") == bvh_text(clip, precision=4)
    assert out.read_bytes() == long_bvh.read_bytes()  # the same writer, the same numbers
