"""Sweeps on a Dask distributed cluster: each point (encode + score) is one task.

``local:N`` starts a LocalCluster of N single-threaded worker processes on this machine;
``tcp://HOST:PORT`` joins a scheduler a user started elsewhere (`dask scheduler`, then
`dask worker tcp://HOST:PORT` on each machine). Workers read the project folder by its path,
so on other machines it must be on shared storage mounted at the same path (see
docs/codec.md). Results come back as the same dicts the process pool returns, so the points
are identical; cancel reaches the workers through a distributed Event checked between frames.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable

from studio.jobs import Cancelled, JobContext, UserError


def _remote_point(task, event_name: str) -> dict:
    """Runs on a worker: one point, cancellable through the named Event."""
    from distributed import Event

    from studio.codec.sweep import run_point

    ev = Event(event_name)
    last = [0.0]

    def check() -> None:
        now = time.monotonic()
        if now - last[0] > 0.5:          # an RPC per check: poll twice a second at most
            last[0] = now
            if ev.is_set():
                raise Cancelled()

    try:
        return run_point(task, lambda phase, n: None, check)
    except Cancelled:
        return {**task.point, "status": "pending", "error": "cancelled"}


def _client(cluster: str):
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise UserError("--cluster needs Dask: pip install 'dask[distributed]'") from exc
    if cluster.startswith("local:"):
        try:
            n = int(cluster.split(":", 1)[1])
        except ValueError:
            raise UserError(f"--cluster {cluster!r}: use local:N with a number of workers") from None
        lc = LocalCluster(n_workers=max(1, n), threads_per_worker=1, processes=True,
                          dashboard_address=None)
        return Client(lc), lc
    if cluster.startswith("tcp://"):
        try:
            return Client(cluster, timeout=15), None
        except (OSError, TimeoutError) as exc:
            raise UserError(f"cannot reach the Dask scheduler at {cluster} ({exc}); start one "
                            f"with `dask scheduler` and workers with `dask worker {cluster}`") from exc
    raise UserError(f"--cluster {cluster!r}: use local:N or tcp://HOST:PORT")


def run_on_cluster(tasks: list, cluster: str, bar, finish: Callable[[dict], None],
                   ctx: JobContext) -> None:
    from distributed import Event, as_completed

    client, local = _client(cluster)
    event_name = f"studio-cancel-{uuid.uuid4().hex}"
    ev = Event(event_name, client=client)
    try:
        futures = {client.submit(_remote_point, t, event_name, pure=False): t for t in tasks}
        pending = as_completed(list(futures))
        cancelled = False
        while True:
            try:
                ctx.check()
            except Cancelled:
                cancelled = True
                ev.set()
            batch = pending.next_batch(block=False) if not pending.is_empty() else None
            if batch is None and pending.is_empty():
                break
            for fut in batch or []:
                task = futures[fut]
                try:
                    d = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker lost mid-task: that point
                    d = {**task.point, "status": "failed",
                         "error": f"the Dask worker failed: {type(exc).__name__}: {exc}"}
                if d.get("status") != "pending":
                    finish(d)
                bar.push()
            if not batch:
                time.sleep(0.1)
        if cancelled:
            raise Cancelled()
    finally:
        client.close()
        if local is not None:
            local.close()
