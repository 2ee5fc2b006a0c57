"""Per-frame audio feature stacking against a port of SyncTalk_2D's get_audio_features."""

from __future__ import annotations

import numpy as np
import pytest

from studio.talk.features import (MODES, FeatureMode, RowRing, align_rows, frame_feature,
                                  get_mode, stack_features)


def ref_get_audio_features(features: np.ndarray, index: int) -> np.ndarray:
    """SyncTalk_2D utils/inference get_audio_features, with numpy instead of torch."""
    left = index - 8
    right = index + 8
    pad_left = 0
    pad_right = 0
    if left < 0:
        pad_left = -left
        left = 0
    if right > features.shape[0]:
        pad_right = right - features.shape[0]
        right = features.shape[0]
    auds = features[left:right]
    if pad_left > 0:
        auds = np.concatenate([np.zeros_like(auds[:pad_left]), auds], axis=0)
    if pad_right > 0:
        auds = np.concatenate([auds, np.zeros_like(auds[:pad_right])], axis=0)
    return auds


REF_RESHAPE = {"hubert": (32, 32, 32), "wenet": (256, 16, 32), "ave": (32, 16, 16)}


def rows_for(mode: str, n: int, seed: int = 0) -> np.ndarray:
    m = MODES[mode]
    return np.random.default_rng(seed).standard_normal((n, *m.row_shape)).astype(np.float32)


def test_mode_table():
    assert MODES["ave"].row_shape == (512,) and MODES["ave"].target_shape == (32, 16, 16)
    assert MODES["hubert"].row_shape == (2, 1024) and MODES["hubert"].target_shape == (32, 32, 32)
    assert MODES["wenet"].row_shape == (16, 512) and MODES["wenet"].target_shape == (256, 16, 32)
    assert [MODES[k].fps for k in ("ave", "hubert", "wenet")] == [25, 25, 20]
    assert [MODES[k].row_delay for k in ("ave", "hubert", "wenet")] == [1, 0, 0]
    for m in MODES.values():
        assert m.window == 16 and m.left == 8 and m.right == 7
        assert m.row_size * m.window == int(np.prod(m.target_shape))
        assert REF_RESHAPE[m.name] == m.target_shape
    with pytest.raises(ValueError):
        FeatureMode("bad", (500,), 25, (32, 16, 16))
    assert get_mode("ave") is MODES["ave"] and get_mode(MODES["wenet"]) is MODES["wenet"]
    with pytest.raises(ValueError, match="unknown audio feature mode"):
        get_mode("whisper")


@pytest.mark.parametrize("mode,n", [("ave", 40), ("hubert", 30), ("wenet", 20)])
def test_matches_reference_for_every_frame(mode, n):
    rows = rows_for(mode, n)
    feats = stack_features(rows, mode)
    m = MODES[mode]
    assert feats.shape == (n, *m.target_shape) and feats.dtype == np.float32
    for i in range(n):
        ref = ref_get_audio_features(rows, i).reshape(REF_RESHAPE[mode])
        np.testing.assert_array_equal(feats[i], ref)


def test_window_layout_ave():
    rows = rows_for("ave", 30)
    f = stack_features(rows, "ave")
    flat0 = f[0].reshape(16, 512)
    assert not flat0[:8].any()                       # rows -8 .. -1 are zeros
    np.testing.assert_array_equal(flat0[8:], rows[0:8])
    flat = f[10].reshape(16, 512)
    np.testing.assert_array_equal(flat, rows[2:18])  # rows i-8 .. i+7
    last = f[29].reshape(16, 512)
    np.testing.assert_array_equal(last[:9], rows[21:30])
    assert not last[9:].any()
    # the reshape is a plain C-order one: element (c, h, w) is flat[c*256 + h*16 + w]
    np.testing.assert_array_equal(f[10][3, 5, 7], flat.reshape(-1)[3 * 256 + 5 * 16 + 7])


def test_hubert_and_wenet_rows_keep_their_inner_order():
    rows = rows_for("hubert", 20)
    f = stack_features(rows, "hubert")[12].reshape(16, 2, 1024)
    np.testing.assert_array_equal(f, rows[4:20])
    rows = rows_for("wenet", 20)
    f = stack_features(rows, "wenet")[8].reshape(16, 16, 512)
    np.testing.assert_array_equal(f, rows[0:16])


def test_batches_equal_the_whole(mode="ave"):
    rows = rows_for(mode, 50, seed=3)
    whole = stack_features(rows, mode)
    parts = [stack_features(rows, mode, s, min(s + 16, 50)) for s in range(0, 50, 16)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    np.testing.assert_array_equal(stack_features(rows, mode, 7, 9), whole[7:9])
    assert stack_features(rows, mode, 5, 5).shape == (0, 32, 16, 16)
    past = stack_features(rows, mode, 55, 70)        # frames past the rows
    assert past.shape == (15, 32, 16, 16)
    np.testing.assert_array_equal(past[0].reshape(16, 512)[:3], rows[47:50])
    assert not past[0].reshape(16, 512)[3:].any() and not past[3:].any()  # 58+: no rows left
    with pytest.raises(ValueError):
        stack_features(rows, mode, 5, 4)


def test_short_clips_always_give_16_rows():
    """The reference's zeros_like(auds[:pad]) comes up short below 8 rows; we do not."""
    rows = rows_for("ave", 3)
    f = stack_features(rows, "ave").reshape(3, 16, 512)
    for i in range(3):
        assert not f[i][: 8 - i].any()
        np.testing.assert_array_equal(f[i][8 - i: 11 - i], rows)
        assert not f[i][11 - i:].any()
    assert len(ref_get_audio_features(rows, 0)) != 16  # the reference's shortfall


def test_empty_rows():
    assert stack_features(np.zeros((0, 512), np.float32), "ave").shape == (0, 32, 16, 16)


def test_wrong_row_shape():
    with pytest.raises(ValueError, match="expects encoder rows"):
        stack_features(np.zeros((10, 1024), np.float32), "ave")
    with pytest.raises(ValueError):
        stack_features(np.zeros((10, 512), np.float32), "hubert")


def test_frame_feature_equals_stack():
    rows = rows_for("hubert", 25, seed=5)
    whole = stack_features(rows, "hubert")
    for i in (0, 7, 8, 16, 24):
        np.testing.assert_array_equal(frame_feature(rows, i, "hubert"), whole[i])


def test_align_rows_reproduces_synctalk_padding():
    enc = rows_for("ave", 12, seed=9)
    # SyncTalk_2D: audio_feats = cat([outputs[:1], outputs, outputs[-1:]])
    synctalk = np.concatenate([enc[:1], enc, enc[-1:]])
    rows = align_rows(enc, "ave", n_frames=14)
    np.testing.assert_array_equal(rows, synctalk)
    np.testing.assert_array_equal(align_rows(enc, "ave"), synctalk[:12])
    np.testing.assert_array_equal(align_rows(enc, "ave", n_frames=20)[13:],
                                  np.repeat(enc[-1:], 7, 0))
    hu = rows_for("hubert", 5)
    np.testing.assert_array_equal(align_rows(hu, "hubert"), hu)
    assert align_rows(enc, "ave", n_frames=0).shape == (0, 512)
    with pytest.raises(ValueError):
        align_rows(np.zeros((0, 512), np.float32), "ave", n_frames=3)


# ---------------------------------------------------------------------- streaming

def test_ring_with_all_rows_equals_offline():
    rows = rows_for("ave", 40, seed=11)
    ring = RowRing("ave", capacity=64)
    ring.extend(rows)
    whole = stack_features(rows, "ave")
    for i in range(40):
        np.testing.assert_array_equal(ring.feature(i), whole[i])


def test_ring_zero_fills_the_future_while_streaming():
    rows = rows_for("wenet", 30, seed=12)
    ring = RowRing("wenet", capacity=24)
    for k, r in enumerate(rows):
        assert ring.push(r) == k
        arrived = rows[: k + 1]
        i = max(0, k - 3)                   # a frame whose future is partly missing
        np.testing.assert_array_equal(ring.feature(i), frame_feature(arrived, i, "wenet"))
        ready = ring.latest_ready()
        assert ready == k - 7
        if ready >= 0:                      # a complete window equals the offline feature
            np.testing.assert_array_equal(ring.feature(ready),
                                          stack_features(rows, "wenet")[ready])
    assert len(ring) == 24 and ring.next_index == 30 and ring.oldest_index == 6


def test_ring_missing_future_really_is_zero():
    rows = rows_for("ave", 10, seed=13)
    ring = RowRing("ave")
    ring.extend(rows[:5])
    f = ring.feature(4).reshape(16, 512)
    assert not f[:4].any()                  # rows -4 .. -1: before the start
    np.testing.assert_array_equal(f[4:9], rows[:5])
    assert not f[9:].any()                  # rows 5 .. 11: not arrived yet


def test_ring_dropped_rows_raise_and_reset():
    rows = rows_for("ave", 60, seed=14)
    ring = RowRing("ave", capacity=16)
    ring.extend(rows)
    with pytest.raises(LookupError):
        ring.feature(40)                    # needs rows 32.., ring holds 44..59
    np.testing.assert_array_equal(ring.feature(52), stack_features(rows, "ave")[52])
    ring.reset()
    assert len(ring) == 0 and ring.next_index == 0
    assert not ring.feature(0).any()
    with pytest.raises(ValueError):
        RowRing("ave", capacity=8)
    with pytest.raises(ValueError):
        ring.push(np.zeros(256, np.float32))
