import numpy as np
import pytest

from studio.jobs import UserError
from studio.motion.io.files import convert_job, load_clip, save_clip


def test_load_sniffs_content_without_suffix(walk, tmp_path):
    save_clip(walk, tmp_path / "a.bvh")
    save_clip(walk, tmp_path / "a.txt")
    (tmp_path / "a.bvh").rename(tmp_path / "bvh_noext")
    (tmp_path / "a.txt").rename(tmp_path / "dm_noext")
    assert "left_elbow_End" in load_clip(tmp_path / "bvh_noext").skeleton.names
    assert load_clip(tmp_path / "dm_noext").n_frames == walk.n_frames
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(UserError, match="junk: unknown motion format"):
        load_clip(tmp_path / "junk")


def test_save_needs_a_known_suffix(walk, tmp_path):
    with pytest.raises(UserError, match="out.fbx: cannot tell the output format"):
        save_clip(walk, tmp_path / "out.fbx")


def test_convert_job_reports_progress_and_failures(tmp_path):
    seen = []
    result = convert_job("run", tmp_path / "run.bvh", fps=20).run(seen.append)
    assert result.ok and result.value.fps == 20
    assert seen[-1].fraction == 1.0 and (tmp_path / "run.bvh").exists()
    bad = convert_job(tmp_path / "missing.bvh", tmp_path / "x.txt").run()
    assert not bad.ok and "missing.bvh: file not found" in bad.error
    assert not (tmp_path / "x.txt").exists()


def test_failed_write_leaves_no_file(walk, tmp_path):
    broken = walk.copy()
    broken.rotations[3, 2] = np.nan
    with pytest.raises(UserError, match="NaN"):
        save_clip(broken, tmp_path / "b.bvh")
    assert list(tmp_path.iterdir()) == []


def test_a_non_commercial_clip_keeps_its_licence_through_export(tmp_path):
    """A StyleVAE/TransitionNet export re-imported still says it is non-commercial."""
    from studio.motion.io.files import licence_path, load_clip, save_clip
    from studio.motion.io.library import load_builtin

    clip = load_builtin("walk")
    clip.meta["license"] = "generated with StyleVAE (trained on CC BY-NC 4.0 data): non-commercial"
    out = tmp_path / "styled.bvh"
    save_clip(clip, out)
    assert licence_path(out).exists()
    again = load_clip(out)
    assert "non-commercial" in again.meta["license"]
    plain = load_builtin("walk")
    save_clip(plain, out)                       # overwritten by a free clip: the mark goes
    assert not licence_path(out).exists() and "license" not in load_clip(out).meta
