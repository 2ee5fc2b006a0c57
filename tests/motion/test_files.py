import numpy as np
import pytest

from studio.jobs import UserError
from studio.motion.files import convert_job, load_clip, save_clip


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
