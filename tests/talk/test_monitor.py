import numpy as np

from studio.media.monitor import AudioMonitor


def test_monitor_waits_for_delay_then_plays_in_order():
    m = AudioMonitor(delay_s=0.1, sr=1000)  # 100 samples of delay
    m.push(np.arange(60, dtype=np.float32))
    assert not m.pull(10).any()  # below the delay: silence
    m.push(np.arange(60, 120, dtype=np.float32))
    out = np.concatenate([m.pull(50), m.pull(50)])
    assert np.array_equal(out, np.arange(100, dtype=np.float32))
    tail = m.pull(40)
    assert np.array_equal(tail[:20], np.arange(100, 120)) and not tail[20:].any()
    assert m.underruns == 1


def test_monitor_buffer_is_bounded():
    m = AudioMonitor(delay_s=0.05, sr=1000, max_s=0.2)
    for _ in range(100):
        m.push(np.ones(10, np.float32))
    assert m._held <= 200 and m.dropped > 0
