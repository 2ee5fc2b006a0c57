"""VideoWriter: x264 in a child process (``separate_process=True``) writes the same MP4
(H.264 yuv420p + AAC) as the in-process default; the child's errors are clear; abort leaves
no process."""

import av
import numpy as np
import pytest

from studio.media.video_writer import EncoderError, VideoWriter, to_i420


def frames(n=12, h=96, w=130):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return [np.roll(base, 3 * i, axis=1) for i in range(n)]


def read(path):
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio
        info = (v.codec_context.name, v.codec_context.pix_fmt, v.width, v.height,
                a[0].codec_context.name if a else None)
        pics = [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]
    return info, pics


def test_child_process_writes_what_the_in_process_path_writes(tmp_path):
    audio = np.sin(np.arange(48000) / 20).astype(np.float32) * 0.2
    outs = {}
    for sep in (True, False):
        out = tmp_path / f"{sep}.mp4"
        with VideoWriter(out, 25, 130, 96, audio=audio, container_format="mp4",
                         separate_process=sep) as w:
            assert w.in_process is (not sep)
            for f in frames():
                w.write(f)
        outs[sep] = read(out)
        if sep:
            assert w.encode_cpu_s is not None and w.encode_cpu_s > 0
    info, pics = outs[True]
    assert info == ("h264", "yuv420p", 130, 96, "aac")  # odd sides are cropped to even
    assert outs[False][0] == info and len(pics) == 12
    for a, b in zip(pics, outs[False][1]):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("sep", [False, True])
def test_audio_handed_over_at_close(tmp_path, sep):
    """Live recording gives the track only at close (``writer.audio = ...``)."""
    out = tmp_path / "late.mp4"
    w = VideoWriter(out, 25, 64, 64, audio=np.zeros(0, np.float32), container_format="mp4",
                    separate_process=sep)
    for f in frames(25, 64, 64):
        w.write(f)
    w.audio = np.full(48000, 0.1, np.float32)
    w.close()
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert abs(float(a.duration * a.time_base) - 1.0) <= 0.04


def test_child_error_is_clear(tmp_path):
    out = tmp_path / "missing_dir" / "x.mp4"
    with pytest.raises(EncoderError, match="x.mp4"):
        with VideoWriter(out, 25, 64, 64, container_format="mp4", separate_process=True) as w:
            for f in frames(200, 64, 64):
                w.write(f)


def test_abort_ends_the_child(tmp_path):
    w = VideoWriter(tmp_path / "a.mp4", 25, 64, 64, container_format="mp4", separate_process=True)
    proc = w._proc
    assert proc is not None
    for f in frames(5, 64, 64):
        w.write(f)
    w.abort()
    assert proc.poll() is not None and w._proc is None


def test_i420_matches_swscale_luma():
    import cv2

    f = cv2.GaussianBlur(frames(1, 64, 64)[0], (0, 0), 3)  # smooth, like a picture
    ref = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p").to_ndarray()
    got = to_i420(f, 64, 64)
    assert got.shape == ref.shape == (96, 64)
    assert np.abs(got[:64].astype(int) - ref[:64]).max() <= 1
    assert np.abs(got[64:].astype(int) - ref[64:]).mean() < 1.5  # chroma: a 2x2 mean vs swscale's filter
