"""Lip-sync of the live modes against the offline render, on real speech with the shipped pair
(issue 23; the full measurement, with display times, is bench/eval_live_lipsync.py).

Content lag: frame ``i``'s lip gap (mouth opening measured from its pixels) against the speech
energy of audio bin ``i``, the pairing a recording plays back. The offline render's mouth
follows the sound at lag 0 (+-1); low-latency mode with look-ahead 0 trails it by >= 2 frames;
with the look-ahead the app's LiveSession uses it trails by at most 1 and keeps r at lag 0
within 0.1 of offline. Frames are rendered as fast as the machine goes (``drop_late=False``), so
no timing enters the numbers. On this 7 s clip (2026-12-02): offline r 0.44 at lag 0; look-ahead
0 ms: 0.19, lag 3; 40 ms: 0.28, lag 2; 80 ms: 0.37, lag 1; 120 ms: 0.43, lag 0.

The same checks hold for the face-mesh lip gap (:class:`studio.talk.eval_sync.FaceMeshGap`, the
inner-lip distance of the mesh run on each rendered frame), which reads lip geometry rather than
colours. On this clip (2026-12-03): offline 0.54 at lag 0 (it agrees with the pixel measure at
r 0.86); look-ahead 0 ms: 0.15, lag 3; 80 ms: 0.45, lag 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from studio.paths import SHARED_DATA
from studio.runtime.pool import SessionPool
from studio.talk import eval_sync as ev
from studio.talk.session import DEFAULT_AVATAR, DEFAULT_MODELS

CLIP = SHARED_DATA / "speech" / "sense_and_sensibility_01_austen_64kb-0870.wav"

pytestmark = pytest.mark.skipif(not (DEFAULT_MODELS / "unet" / "manifest.json").exists(),
                                reason="default talk models not built")


@pytest.fixture(scope="module")
def setup():
    from studio.media.audio_io import load_audio
    from studio.talk.avatar import AvatarTemplate
    from studio.talk.lipsync import LipSync
    from studio.talk.optimise import speech_energy

    if not CLIP.exists():
        pytest.skip(f"{CLIP} not available")
    wav = load_audio(CLIP, 16000).samples.astype(np.float32)
    avatar = AvatarTemplate.load(DEFAULT_AVATAR)
    ls = LipSync(SessionPool(DEFAULT_MODELS / "audio_encoder", sessions=1),
                 SessionPool(DEFAULT_MODELS / "unet", sessions=2, threads=1))
    n = len(wav) // 640
    try:
        offline, _, kept = ev.measure_render(ls, avatar, wav,
                                             keep=tuple(range(ls.frame_count(len(wav)))))
        mesh = ev.FaceMeshGap(avatar)
        offline_mesh = np.array([mesh(i, kept[i]) for i in range(len(offline))])
        yield ls, avatar, wav, speech_energy(wav, n, 25), offline, offline_mesh, mesh
    finally:
        ls.close()


def _live_gaps(ls, avatar, wav, mode, lookahead_s, mesh=None):
    """Per-frame pixel lip gaps (and face-mesh ones, measured after the run, with ``mesh``)."""
    from studio.talk.live import LiveEngine

    gap, got, crops = ev.LipGap(avatar), {}, {}

    def on_frame(f):
        got[f.index] = gap(f.index, f.rgb)
        if mesh is not None:
            crops[f.index] = mesh.crop(f.index, f.rgb)

    eng = LiveEngine(ls, avatar, mode, lookahead_s=lookahead_s, drop_late=False,
                     on_frame=on_frame)
    with eng:
        for s in range(0, len(wav), 320):
            eng.push_audio(wav[s:s + 320])
        assert eng.flush(120)
    pixels = np.array([got.get(i, np.nan) for i in range(max(got) + 1)])
    if mesh is None:
        return pixels
    return pixels, np.array([mesh.measure(i, crops[i]) if i in crops else np.nan
                             for i in range(max(got) + 1)])


def test_offline_mouth_follows_speech_at_lag_0(setup):

    _, _, _, energy, offline, _, _ = setup
    r0, lag, _ = ev.lagged_pearson(offline, energy, max_lag=10)
    assert abs(lag) <= 1 and r0 > 0.3, (r0, lag)


def test_face_mesh_lip_gap_follows_speech_and_agrees_with_pixels(setup):
    _, _, _, energy, offline, offline_mesh, _ = setup
    assert np.isfinite(offline_mesh).all()
    r0, lag, _ = ev.lagged_pearson(offline_mesh, energy, max_lag=10)
    assert abs(lag) <= 1 and r0 > 0.35, (r0, lag)
    # two independent readings of the same frames (lip geometry vs dark/teeth pixels)
    assert ev.pearson(offline_mesh, offline) > 0.6, ev.pearson(offline_mesh, offline)


def test_low_latency_lookahead_keeps_the_mouth_on_time(setup):
    from studio.talk.live import LOW_LATENCY_LOOKAHEAD_S

    ls, avatar, wav, energy, offline, offline_mesh, mesh = setup
    r_off = ev.lagged_pearson(offline, energy, max_lag=10)[0]
    bare, bare_mesh = _live_gaps(ls, avatar, wav, "low_latency", 0.0, mesh)
    tuned, tuned_mesh = _live_gaps(ls, avatar, wav, "low_latency", LOW_LATENCY_LOOKAHEAD_S, mesh)
    r_bare, lag_bare, _ = ev.lagged_pearson(bare, energy, max_lag=10)
    r_la, lag_la, _ = ev.lagged_pearson(tuned, energy, max_lag=10)
    msg = f"offline r {r_off:.3f}; look-ahead 0: r {r_bare:.3f} lag {lag_bare}; " \
          f"{LOW_LATENCY_LOOKAHEAD_S * 1000:.0f} ms: r {r_la:.3f} lag {lag_la}"
    assert lag_bare >= 2, msg                       # the cost of no look-ahead (causal windows)
    assert 0 <= lag_la <= 1 and r_la > r_off - 0.1, msg
    # the same on the face-mesh lip gap
    r_off = ev.lagged_pearson(offline_mesh, energy, max_lag=10)[0]
    r_bare, lag_bare, _ = ev.lagged_pearson(bare_mesh, energy, max_lag=10)
    r_la, lag_la, _ = ev.lagged_pearson(tuned_mesh, energy, max_lag=10)
    msg = f"face mesh: offline r {r_off:.3f}; look-ahead 0: r {r_bare:.3f} lag {lag_bare}; " \
          f"{LOW_LATENCY_LOOKAHEAD_S * 1000:.0f} ms: r {r_la:.3f} lag {lag_la}"
    assert lag_bare >= 2, msg
    assert 0 <= lag_la <= 1 and r_la > r_off - 0.1, msg
