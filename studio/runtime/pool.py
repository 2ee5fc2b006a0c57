"""A pool of onnxruntime sessions for one model.

Several 1-thread sessions running side by side scale better on a few cores than one
session with many threads (measured in docs/benchmarks.md), and they keep latency per
call low. onnxruntime releases the GIL inside ``run``, so plain Python threads suffice.
Every model in the app goes through here: no module creates its own InferenceSession.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from studio.runtime.manifest import (Manifest, ModelError, batch_notes, check_against_session,
                                     check_inputs, fixed_batch, graph_shapes)
from studio.runtime.providers import Machine, ProviderChoice, choose, create_session, probe_machine
from studio.settings import EngineSettings, cpu_count

log = logging.getLogger(__name__)

_machine: Machine | None = None


def machine() -> Machine:
    """The probed machine, cached: probing loads the CUDA driver once."""
    global _machine
    if _machine is None:
        _machine = probe_machine()
    return _machine


@dataclass(frozen=True)
class PoolStats:
    model: str
    provider: str
    sessions: int
    threads_per_session: int
    calls: int
    mean_ms: float
    p95_ms: float


def _open_session(manifest: Manifest, choice: ProviderChoice, threads: int):
    path = manifest.model_path
    if not path.exists():
        raise ModelError(f"{path}: model file not found (named by {manifest.path})")
    data = path.read_bytes()
    if len(data) == 0:
        raise ModelError(f"{path}: the model file is empty")
    try:
        session, note = create_session(data, choice, intra_threads=threads)
    except Exception as exc:  # onnxruntime raises its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: not a loadable ONNX model (truncated, corrupt or another "
                         f"format): {first}") from None
    problems = check_against_session(manifest, session)
    if problems:
        raise ModelError(f"{path} does not match its manifest {manifest.path}:\n  - "
                         + "\n  - ".join(problems))
    return session, note


def _dummy_shape(declared: tuple[int, ...], graph: tuple) -> tuple[int, ...]:
    """A warm-up shape: the graph's fixed dims where it has them (a manifest may call a dim
    free that the export fixed), else the manifest's (free dims as 1)."""
    if len(graph) != len(declared):
        return declared
    return tuple(g if isinstance(g, int) and g > 0 else d for d, g in zip(declared, graph))


class SessionPool:
    """N sessions of one model with thread-safe check-out, warm-up and statistics."""

    def __init__(self, manifest: Manifest | str | Path, settings: EngineSettings | None = None,
                 *, sessions: int | None = None, threads: int | None = None,
                 choice: ProviderChoice | None = None, warmup: bool = True) -> None:
        self.manifest = manifest if isinstance(manifest, Manifest) else Manifest.load(manifest)
        settings = settings or EngineSettings()
        self.size = int(sessions or settings.sessions)
        self.threads = int(threads or settings.threads_per_session)
        self.choice = choice or choose(settings.provider, machine())
        self._free: "queue.Queue" = queue.Queue()
        self._sessions = []
        self.notes: list[str] = []
        for _ in range(self.size):
            sess, note = _open_session(self.manifest, self.choice, self.threads)
            if note and note not in self.notes:
                self.notes.append(note)
            self._sessions.append(sess)
            self._free.put(sess)
        used = self._sessions[0].get_providers()
        self.provider = used[0] if used else "CPUExecutionProvider"
        first = self._sessions[0]
        # what the graph itself says (manifests may declare a dim free that the graph fixes)
        self.input_shapes = graph_shapes(first.get_inputs())
        self.output_shapes = graph_shapes(first.get_outputs())
        self.fixed_batch: int | None = fixed_batch(self.manifest, first)
        self.batch_notes: list[str] = batch_notes(self.manifest, first)
        self._lock = threading.Lock()
        self._latencies: collections.deque[float] = collections.deque(maxlen=2000)
        self._calls = 0
        self._executor: ThreadPoolExecutor | None = None
        if warmup:
            self.warm_up()

    # -- single calls -------------------------------------------------------------
    def run(self, *inputs: np.ndarray, validate: bool = True) -> list[np.ndarray]:
        """Run one call on a free session, binding inputs by position."""
        if validate:
            check_inputs(self.manifest, inputs)
            fb = self.fixed_batch
            if fb is not None and inputs and inputs[0].ndim and inputs[0].shape[0] != fb:
                raise ModelError(f"{self.manifest.model_path}: input 0 '{self.manifest.inputs[0].name}'"
                                 f" has a batch of {inputs[0].shape[0]} but the graph fixes it at "
                                 f"{fb}; use run_batched (it splits the rows) or re-export the "
                                 "model with a dynamic batch axis")
        sess = self._free.get()
        try:
            feed = {node.name: arr for node, arr in zip(sess.get_inputs(), inputs)}
            t0 = time.perf_counter()
            out = sess.run(None, feed)
            dt = time.perf_counter() - t0
        finally:
            self._free.put(sess)
        with self._lock:
            self._calls += 1
            self._latencies.append(dt)
        return out

    def warm_up(self) -> None:
        """One call per session, so the first real frame does not pay for allocation."""
        graph = getattr(self, "input_shapes", [()] * len(self.manifest.inputs))
        dummy = tuple(np.zeros(_dummy_shape(t.warmup_shape(), g), dtype=t.dtype)
                      for t, g in zip(self.manifest.inputs, graph))
        for sess in self._sessions:
            feed = {node.name: arr for node, arr in zip(sess.get_inputs(), dummy)}
            sess.run(None, feed)

    # -- many calls ----------------------------------------------------------------
    def map(self, calls: Iterable[Sequence[np.ndarray]]) -> list[list[np.ndarray]]:
        """Run many calls spread over the pool; results come back in input order."""
        calls = list(calls)
        if self.size == 1 or len(calls) <= 1:
            return [self.run(*c) for c in calls]
        return list(self._pool().map(lambda c: self.run(*c), calls))

    def imap(self, calls: Iterable[Sequence[np.ndarray]], ahead: int | None = None):
        """Like :meth:`map` but lazy, keeping at most ``ahead`` calls in flight (bounded
        memory for long renders); yields results in order."""
        return self.imap_fn(lambda c: self.run(*c), calls, ahead)

    def imap_fn(self, fn, items: Iterable, ahead: int | None = None):
        """Apply ``fn(item)`` on the pool's threads (``fn`` calls :meth:`run` and may do
        pre/post-processing around it, which then runs in parallel too); ordered, lazy,
        at most ``ahead`` items in flight."""
        ahead = ahead or 2 * self.size
        pending: collections.deque = collections.deque()
        ex = self._pool()
        try:
            for item in items:
                pending.append(ex.submit(fn, item))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:  # a consumer that stops early (cancel) leaves nothing running
                f.cancel()

    def imap_staged(self, items: Iterable, pre, post, ahead: int | None = None,
                    helpers: int | None = None):
        """An ordered three-stage pipeline: ``pre(item) -> (inputs, carry)`` and
        ``post(carry, outputs) -> result`` run on helper threads, the model call on the pool's
        sessions. Unlike :meth:`imap_fn`, a session never waits for pre/post work, so with an
        accelerator (or a spare core) that work hides behind inference. Lazy, at most
        ``ahead`` items in flight; the first error (from any stage) is raised in order."""
        ahead = ahead or 2 * self.size + 2
        stop = threading.Event()
        sessions = self._pool()
        helper = ThreadPoolExecutor(max_workers=helpers or cpu_count(),
                                    thread_name_prefix=f"stage-{self.manifest.name}")

        def start(item) -> Future:
            out: Future = Future()

            def fail(exc: BaseException) -> None:
                try:
                    out.set_exception(exc)
                except InvalidStateError:  # already cancelled: the consumer left
                    pass

            def then(fut: Future, nxt) -> None:  # runs in whichever thread finished ``fut``
                try:
                    value = fut.result()
                except BaseException as exc:  # noqa: BLE001 - handed to the consumer, in order
                    fail(exc)
                    return
                if stop.is_set():
                    out.cancel()
                    return
                try:
                    nxt(value)
                except BaseException as exc:  # noqa: BLE001 - e.g. pre returned no (inputs, carry)
                    if stop.is_set():  # an executor shut down under us: the consumer left
                        out.cancel()
                    else:
                        fail(exc)

            def infer(prepared) -> None:
                inputs, carry = prepared
                sessions.submit(self.run, *inputs).add_done_callback(
                    lambda f: then(f, lambda outputs: finish(carry, outputs)))

            def finish(carry, outputs) -> None:
                helper.submit(post, carry, outputs).add_done_callback(
                    lambda f: then(f, out.set_result))

            helper.submit(pre, item).add_done_callback(lambda f: then(f, infer))
            return out

        pending: collections.deque = collections.deque()
        try:
            for item in items:
                pending.append(start(item))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            stop.set()
            for f in pending:
                f.cancel()
            helper.shutdown(wait=True, cancel_futures=True)

    def run_batched(self, *inputs: np.ndarray, batch: int = 8) -> list[np.ndarray]:
        """Split inputs along axis 0 into batches, run them over the pool, and concatenate.
        Needs a free first dimension in the manifest. A graph that fixes that dimension
        (see :attr:`fixed_batch`) gets exactly that many rows per call (the last call
        zero-padded, the padding dropped from the outputs) instead of failing."""
        n = int(inputs[0].shape[0])
        if n == 0:
            raise ValueError("run_batched: empty input")
        fb = self.fixed_batch
        if fb is not None:
            batch = fb
            rem = n % fb
            if rem:
                inputs = tuple(np.concatenate([a, np.zeros((fb - rem, *a.shape[1:]), a.dtype)])
                               for a in inputs)
        chunks = [tuple(a[i:i + batch] for a in inputs) for i in range(0, len(inputs[0]), batch)]
        results = self.map(chunks)
        return [np.concatenate([r[k] for r in results], axis=0)[:n] for k in range(len(results[0]))]

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.size,
                                                    thread_name_prefix=f"pool-{self.manifest.name}")
            return self._executor

    # -- bookkeeping --------------------------------------------------------------
    def stats(self) -> PoolStats:
        with self._lock:
            lat = np.array(self._latencies, dtype=np.float64) * 1000.0
            calls = self._calls
        return PoolStats(self.manifest.name, self.provider, self.size, self.threads, calls,
                         float(lat.mean()) if lat.size else 0.0,
                         float(np.percentile(lat, 95)) if lat.size else 0.0)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._sessions.clear()

    def __enter__(self) -> "SessionPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_shared: dict[Path, tuple[tuple, SessionPool]] = {}
_shared_lock = threading.Lock()


def _file_stamp(*paths: Path) -> tuple:
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def shared_pool(manifest_path: str | Path, role: str, *, what: str = "", sessions: int | None = None,
                threads: int = 1) -> SessionPool:
    """One long-lived pool per model for small helper models (phase, transition, style...),
    created on first use and checked to have the expected ``role``. A model file replaced on
    disk (retrained, re-exported) gets a new pool; the old one is left to the callers that
    still hold it."""
    manifest = Manifest.load(manifest_path)
    if manifest.role != role:
        raise ModelError(f"{manifest.path}: role is {manifest.role!r}, expected {role!r}"
                         + (f" (not a {what})" if what else ""))
    stamp = _file_stamp(manifest.path, manifest.model_path)
    with _shared_lock:
        hit = _shared.get(manifest.path)
        if hit is None or hit[0] != stamp:
            hit = (stamp, SessionPool(manifest, sessions=sessions, threads=threads))
            _shared[manifest.path] = hit
        return hit[1]
