"""Probing and decoding inputs, and the reference clip made from them (good and bad files)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.codec.reference import ReferenceClip, Y4MReader, prepare_reference
from studio.jobs import UserError
from studio.media import video_io


def test_probe_small_clip(small_clip):
    info = video_io.probe(small_clip)
    assert (info.width, info.height, info.pix_fmt, info.bit_depth) == (64, 48, "yuv420p", 8)
    assert info.fps == 25 and info.frames == 6 and not info.vfr and info.rotation == 0
    assert info.codec == "h264" and info.chroma == "420"


def test_reference_is_bit_exact_copy_of_decoded_frames(small_clip, tmp_path, barcode):
    ref = prepare_reference(small_clip, tmp_path / "ref.y4m")
    assert (ref.width, ref.height, ref.frames, ref.pix_fmt) == (64, 48, 6, "yuv420p")
    decoded = [video_io.frame_planes(f) for f in video_io.iter_frames(small_clip)]
    reader = Y4MReader(tmp_path / "ref.y4m")
    assert len(reader) == 6
    for i, planes in enumerate(decoded):
        for a, b in zip(planes, reader.planes(i)):
            np.testing.assert_array_equal(a, b)
        assert barcode(reader.planes(i)[0]) == i
    reader.close()


def test_max_frames_and_seconds_limit_the_reference(small_clip, tmp_path):
    assert prepare_reference(small_clip, tmp_path / "a.y4m", max_frames=4).frames == 4
    assert prepare_reference(small_clip, tmp_path / "b.y4m", max_seconds=0.1).frames == 3


def test_odd_size_is_cropped_keeping_samples(clip, tmp_path, synth):
    # FFV1 stores odd sizes losslessly, so the decoded frames are exactly synth()'s planes.
    src = clip("odd.mkv", width=1279, height=719, frames=3, codec="ffv1")
    info = video_io.probe(src)
    assert (info.width, info.height) == (1279, 719)
    ref = prepare_reference(src, tmp_path / "odd.y4m")
    assert (ref.width, ref.height, ref.cropped) == (1278, 718, (1, 1))
    assert any("cropped to 1278x718" in n for n in ref.notes)
    planes = Y4MReader(tmp_path / "odd.y4m").planes(2)
    want = synth(2, 1279, 719)
    assert planes[0].shape == (718, 1278) and planes[1].shape == (359, 639)
    np.testing.assert_array_equal(planes[0], want[0][:718, :1278])
    np.testing.assert_array_equal(planes[1], want[1][:359, :639])


def test_ten_bit_source_stays_ten_bit(clip, tmp_path, barcode):
    src = clip("ten.mp4", pix_fmt="yuv420p10le", frames=3)
    info = video_io.probe(src)
    assert info.bit_depth == 10
    ref = prepare_reference(src, tmp_path / "ten.y4m")
    assert ref.pix_fmt == "yuv420p10le" and ref.bit_depth == 10
    y = Y4MReader(tmp_path / "ten.y4m").planes(1)[0]
    assert y.dtype == np.uint16 and y.max() > 255
    assert barcode(y, 10) == 1


def test_rgb_and_444_sources_are_converted_with_a_note(clip, tmp_path):
    src = clip("rgb.mov", codec="png", pix_fmt="rgb24", frames=2)
    ref = prepare_reference(src, tmp_path / "rgb.y4m")
    assert ref.pix_fmt == "yuv420p" and any("rgb24" in n for n in ref.notes)
    src = clip("444.mp4", pix_fmt="yuv444p", frames=2)
    ref = prepare_reference(src, tmp_path / "444.y4m")
    assert any("yuv444p" in n for n in ref.notes)


def test_variable_frame_rate_keeps_every_picture(clip, tmp_path, barcode):
    src = clip("vfr.mp4", frames=6, pts=[0, 10, 15, 30, 32, 50])   # ticks of 1/250 s
    info = video_io.probe(src)
    assert info.vfr
    ref = prepare_reference(src, tmp_path / "vfr.y4m")
    assert ref.frames == 6 and any("variable frame rate" in n for n in ref.notes)
    reader = Y4MReader(tmp_path / "vfr.y4m")
    assert [barcode(reader.planes(i)[0]) for i in range(6)] == list(range(6))


def test_rotated_phone_video(clip, tmp_path):
    src = clip("rot.mp4", frames=2, rotation=90)
    info = video_io.probe(src)
    assert info.rotation == 90
    ref = prepare_reference(src, tmp_path / "rot.y4m")
    clip_ = ReferenceClip(tmp_path / "rot.y4m", ref)
    assert clip_.rgb(0, rotate=False).shape == (48, 64, 3)
    shown = clip_.rgb(0)
    assert shown.shape == (64, 48, 3)
    np.testing.assert_array_equal(shown, np.rot90(clip_.rgb(0, rotate=False)))


def test_single_frame_video(clip, tmp_path):
    src = clip("one.mp4", frames=1)
    ref = prepare_reference(src, tmp_path / "one.y4m")
    assert ref.frames == 1


def test_audio_only_file_is_a_user_error(audio_only, tmp_path):
    with pytest.raises(UserError, match=r"speech.m4a: has no video stream \(it holds audio\)"):
        video_io.probe(audio_only)
    with pytest.raises(UserError, match="speech.m4a"):
        prepare_reference(audio_only, tmp_path / "a.y4m")


def test_truncated_mp4_without_index_names_the_file(clip, tmp_path):
    src = clip("full.mp4", frames=6)
    data = src.read_bytes()
    bad = tmp_path / "truncated.mp4"
    bad.write_bytes(data[: len(data) // 2])   # moov atom (the index) is at the end: now gone
    with pytest.raises(UserError, match="truncated.mp4"):
        video_io.probe(bad)
    with pytest.raises(UserError, match="truncated.mp4"):
        prepare_reference(bad, tmp_path / "x.y4m")
    assert not (tmp_path / "x.y4m").exists()


def test_truncated_faststart_mp4_keeps_the_frames_before_the_cut(clip, tmp_path):
    src = clip("fs.mp4", frames=12, width=64, height=48,
               container_options={"movflags": "faststart"})
    data = src.read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: int(len(data) * 0.6)])
    ref = prepare_reference(bad, tmp_path / "cut.y4m")
    assert 1 <= ref.frames < 12


def test_missing_empty_and_non_video_files(tmp_path):
    with pytest.raises(UserError, match="nothing.mp4: file not found"):
        video_io.probe(tmp_path / "nothing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(UserError, match="empty.mp4: file is empty"):
        video_io.probe(tmp_path / "empty.mp4")
    (tmp_path / "notes.txt").write_text("not a video at all\n" * 50)
    with pytest.raises(UserError, match="notes.txt: is a text file"):
        video_io.probe(tmp_path / "notes.txt")
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(UserError, match="junk.mp4"):
        video_io.probe(tmp_path / "junk.mp4")
