import threading
import time

import pytest

from studio.jobs import Job, JobStatus, UserError, atomic_directory, atomic_path


def test_progress_and_result():
    seen = []

    def work(ctx):
        for i in range(5):
            ctx.progress(i + 1, 5, f"step {i}", force=True)
        return 42

    r = Job("count", work).run(seen.append)
    assert r.ok and r.value == 42
    assert [p.done for p in seen] == [1, 2, 3, 4, 5] and seen[-1].fraction == 1.0


def test_cancel_leaves_no_partial_file(tmp_path):
    out = tmp_path / "render.mp4"
    started = threading.Event()

    def work(ctx):
        with ctx.atomic_output(out) as tmp:
            with open(tmp, "wb") as fh:
                for i in range(1000):
                    fh.write(b"x" * 1000)
                    started.set()
                    ctx.progress(i, 1000)
                    time.sleep(0.002)
        return out

    job = Job("export", work)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", job.run()))
    t.start()
    started.wait(5)
    job.cancel()
    t.join(10)
    assert box["r"].status is JobStatus.CANCELLED
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # the temp file is gone too


def test_success_replaces_atomically(tmp_path):
    out = tmp_path / "a.txt"
    out.write_text("old")
    with atomic_path(out) as tmp:
        tmp.write_text("new")
        assert out.read_text() == "old"  # untouched until the block ends
    assert out.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_failure_keeps_old_output(tmp_path):
    out = tmp_path / "a.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_directory(tmp_path):
    target = tmp_path / "frames"
    with atomic_directory(target) as d:
        (d / "0001.png").write_bytes(b"1")
    assert (target / "0001.png").exists()
    with pytest.raises(ValueError):
        with atomic_directory(target) as d:
            (d / "0002.png").write_bytes(b"2")
            raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["0001.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_errors_are_reported_not_raised():
    def user(ctx):
        raise UserError("clip.wav: not an audio file")

    def bug(ctx):
        return 1 / 0

    r = Job("load", user).run()
    assert r.status is JobStatus.FAILED and r.error == "clip.wav: not an audio file" and not r.detail
    r = Job("load", bug).run()
    assert r.status is JobStatus.FAILED and "ZeroDivisionError" in r.error and "Traceback" in r.detail


def test_outputs_get_normal_permissions(tmp_path):
    import os

    umask = os.umask(0)
    os.umask(umask)
    with atomic_path(tmp_path / "a.mp4") as tmp:
        tmp.write_bytes(b"x")
    assert (tmp_path / "a.mp4").stat().st_mode & 0o777 == 0o666 & ~umask
