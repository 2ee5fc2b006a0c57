import threading
import time

import numpy as np
import pytest

from studio.runtime.pool import SessionPool


def frames(n, size=32, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.random((1, 3, size, size), dtype=np.float32) for _ in range(n)]


def test_pool_matches_single_session_bit_for_bit(tiny_model):
    xs = frames(24)
    with SessionPool(tiny_model, sessions=1) as one, SessionPool(tiny_model, sessions=3) as pool:
        ref = [one.run(x)[0] for x in xs]
        got = [r[0] for r in pool.map([(x,) for x in xs])]
    for a, b in zip(ref, got):
        assert np.array_equal(a, b)


def test_imap_keeps_order_and_bounds_in_flight(tiny_model):
    xs = frames(20)
    with SessionPool(tiny_model, sessions=2) as pool:
        ref = [pool.run(x)[0] for x in xs]
        got = [r[0] for r in pool.imap(((x,) for x in xs), ahead=3)]
    assert all(np.array_equal(a, b) for a, b in zip(ref, got))


def test_imap_staged_keeps_order_and_leaves_sessions_to_inference(tiny_model):
    xs = frames(30)
    where = {"pre": set(), "post": set()}

    def pre(i):
        where["pre"].add(threading.current_thread().name)
        return (xs[i],), i

    def post(i, outputs):
        where["post"].add(threading.current_thread().name)
        return i, outputs[0]

    with SessionPool(tiny_model, sessions=2) as pool:
        ref = [pool.run(x)[0] for x in xs]
        got = list(pool.imap_staged(range(30), pre, post, ahead=4))
    assert [i for i, _ in got] == list(range(30))
    assert all(np.array_equal(ref[i], y) for i, y in got)
    names = where["pre"] | where["post"]
    assert names and all(n.startswith("stage-") for n in names)  # never a session's thread


@pytest.mark.parametrize("stage", ["pre", "model", "post"])
def test_imap_staged_raises_the_first_error_in_order(tiny_model, stage):
    xs = frames(12)

    def pre(i):
        if stage == "pre" and i == 5:
            raise ValueError("bad item 5")
        x = np.zeros((1, 3, 7, 7), np.float32) if stage == "model" and i == 5 else xs[i]
        return (x,), i

    def post(i, outputs):
        if stage == "post" and i == 5:
            raise ValueError("bad item 5")
        return i

    seen = []
    with SessionPool(tiny_model, sessions=2) as pool:
        with pytest.raises(Exception) as err:
            for i in pool.imap_staged(range(12), pre, post, ahead=3):
                seen.append(i)
    assert seen == [0, 1, 2, 3, 4]
    if stage != "model":
        assert "bad item 5" in str(err.value)


def test_imap_staged_stops_early_without_running_on(tiny_model):
    xs = frames(1)
    started = []

    def pre(i):
        started.append(i)
        return (xs[0],), i

    with SessionPool(tiny_model, sessions=2) as pool:
        gen = pool.imap_staged(range(10_000), pre, lambda c, o: c, ahead=4)
        assert [next(gen) for _ in range(3)] == [0, 1, 2]
        gen.close()
        n = len(started)
        time.sleep(0.1)
    assert len(started) == n <= 8


def test_run_batched_equals_per_frame(tiny_model):
    xs = np.concatenate(frames(10), axis=0)
    with SessionPool(tiny_model, sessions=2) as pool:
        batched = pool.run_batched(xs, batch=4)[0]
        single = np.concatenate([pool.run(x[None])[0] for x in xs])
    assert batched.shape == (10, 3, 32, 32)
    np.testing.assert_allclose(batched, single, atol=1e-6)


def test_more_callers_than_sessions_no_deadlock(tiny_model):
    xs = frames(4)
    pool = SessionPool(tiny_model, sessions=2)
    expected = [pool.run(x)[0] for x in xs]
    errors, results = [], {}

    def caller(k):
        try:
            for j in range(15):
                i = (k + j) % len(xs)
                out = pool.run(xs[i])[0]
                if not np.array_equal(out, expected[i]):
                    errors.append(f"caller {k}: wrong result for frame {i}")
            results[k] = True
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "pool deadlocked"
    assert not errors and len(results) == 8
    s = pool.stats()
    assert s.calls == 4 + 8 * 15 and s.sessions == 2
    assert s.mean_ms > 0 and s.p95_ms > 0


def test_stats_and_provider(tiny_model):
    with SessionPool(tiny_model, sessions=1, threads=1) as pool:
        assert pool.stats().calls == 0  # warm-up is not counted
        pool.run(frames(1)[0])
        s = pool.stats()
    assert s.calls == 1 and s.mean_ms > 0 and s.provider == "CPUExecutionProvider"


def test_shared_pool_follows_a_model_replaced_on_disk(tmp_path):
    """A long-running app whose model file is retrained or re-exported in place gets a pool
    of the new file on the next call, not the old session (same manifest path)."""
    from studio.runtime.manifest import Manifest
    from studio.runtime.pool import shared_pool
    from tests.fixtures.tiny_models import conv_net

    man = conv_net(tmp_path / "m", size=32, width=8, depth=2, seed=0)
    role = Manifest.load(man).role
    x = frames(1)[0]
    first = shared_pool(man, role)
    assert shared_pool(man, role) is first
    a = first.run(x)[0]
    conv_net(tmp_path / "m", size=32, width=8, depth=2, seed=5)     # same paths, new weights
    second = shared_pool(man, role)
    assert second is not first and shared_pool(man, role) is second
    assert not np.allclose(second.run(x)[0], a)
