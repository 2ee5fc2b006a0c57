"""A simulation run in real time on a worker and steered from another thread (the UI).

:meth:`LiveRun.run` steps a :class:`~studio.motion.physics.simulation.Simulation` at the
policy's rate (one step per 1/30 s of wall time) until the job is cancelled; ``push`` and
``reset`` are requests the loop applies before its next step; :meth:`snapshot` hands out the
newest pose and the value / tracking-error trace. The simulation stays open between runs (BVH
and MP4 export read its history) until another policy is asked for or :meth:`close`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from studio.jobs import JobContext


@dataclass(frozen=True)
class Snapshot:
    """The newest step (``info``: a StepInfo; None before the first), its (2, J, 3) Z-up
    positions (the simulated body, then the reference ghost moved onto the body's root), and
    the (N, 3) trace of (seconds, critic value, tracking error in m) since the last reset."""

    info: object
    positions: np.ndarray | None
    trace: np.ndarray


class LiveRun:
    def __init__(self) -> None:
        self.sim = None  # the Simulation, made on the worker by run()
        self.steps = 0  # policy steps since the last reset
        self._lock = threading.Lock()
        self._latest = None  # (StepInfo, positions)
        self._trace: list[tuple[float, float, float]] = []
        self._requests: list[tuple[str, float]] = []  # ("push", newtons) / ("reset", 0)

    # -- from any thread -----------------------------------------------------------------
    def push(self, newtons: float) -> None:
        with self._lock:
            self._requests.append(("push", float(newtons)))

    def request_reset(self) -> None:
        with self._lock:
            self._requests.append(("reset", 0.0))

    def snapshot(self) -> Snapshot:
        with self._lock:
            info, pos = self._latest or (None, None)
            trace = np.array(self._trace, dtype=np.float64).reshape(-1, 3)
        return Snapshot(info, pos, trace)

    # -- while no run is going -----------------------------------------------------------------
    def reset(self) -> None:
        """Back to the start, now (not while :meth:`run` runs: use :meth:`request_reset`)."""
        if self.sim is not None:
            self.sim.reset()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._trace = []
            self._latest = None
        self.steps = 0

    def close(self) -> None:
        if self.sim is not None:
            self.sim.close()
            self.sim = None
        self.clear()

    def to_clip(self):
        """What was simulated, as a Clip (BVH / MP4 export)."""
        return self.sim.to_clip()

    # -- the worker ------------------------------------------------------------------------------
    def run(self, ctx: JobContext, policy: str) -> None:
        """Simulate ``policy`` in real time until ``ctx`` is cancelled (raises Cancelled)."""
        from studio.motion.physics.simulation import POLICY_HZ, Simulation, frame_positions

        if self.sim is None or self.sim.policy.name != policy:
            if self.sim is not None:
                self.sim.close()
            ctx.progress(0, 1, f"loading {policy}")
            self.sim = Simulation(policy)
        sim = self.sim
        tick = time.monotonic()
        while True:
            ctx.check()
            with self._lock:
                requests, self._requests = self._requests, []
            for kind, value in requests:
                if kind == "push":
                    sim.push(value)
                else:
                    sim.reset()
                    with self._lock:
                        self._trace = []
                    self.steps = 0
            info = sim.step()
            pos = frame_positions(np.stack([info.frame, info.reference]))
            pos[1, :, :2] += pos[0, 0, :2] - pos[1, 0, :2]  # the ghost stands where the body is
            with self._lock:
                self._latest = (info, pos)
                self._trace.append((info.time, info.value, info.tracking_error))
            self.steps += 1
            tick += 1.0 / POLICY_HZ  # real time: one policy step per 1/30 s
            wait = tick - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.25:  # fell behind (a busy machine): do not try to catch up
                tick = time.monotonic()
