"""Physics playback benchmark: pybullet's pretrained DeepMimic policies in studio.motion.physics.simulation.

Per policy, ``--episodes`` episodes of up to ``--seconds`` simulated seconds, each starting at
a different phase of the reference clip (drawn as the DeepMimic environment does, "reference
state initialisation", seeded so the run repeats), deterministic actions, no pushes:

- seconds before a fall (the environment's test: a body part other than the feet touches the
  ground; or the root below 0.25 m), per episode, and how many episodes kept their balance;
- tracking error: the mean distance between simulated and reference joint positions, each
  measured from its own root in its own heading frame (metres), over the steps before a fall;
- the critic's mean value;
- speed: policy steps/s (each = actor + critic through the SessionPool + eight 240 Hz physics
  steps), physics steps/s, and the factor over real time (30 policy steps per second);
- ``--env-check walk``: the same start phases in pybullet's own environment loop
  (PyBulletDeepMimicEnv) with the converted actor, to tell the policy's falls from the port's;
- push recovery (``--push-policies``, default walk and walk_COMenabled): a 0.1 s sideways push
  on the pelvis 2 s into an episode, per force, over 5 start phases: episodes still up 4 s later.

    python bench/bench_physics.py [--episodes 10] [--seconds 20] [--policies walk jump ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.motion.physics.simulation import POLICY_HZ, SIM_HZ, Simulation, policy_names  # noqa: E402


def run_policy(name: str, episodes: int, seconds: float, seed: int = 0,
               env_timing: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    sim = Simulation(name, record=False, env_timing=env_timing)
    falls, errors, values, starts = [], [], [], []
    steps, busy, cpu = 0, 0.0, 0.0
    n = int(round(seconds * POLICY_HZ))
    for _ in range(episodes):
        start = float(rng.uniform(0, sim.cycle_time))
        starts.append(start)
        sim.reset(start)
        errs, vals = [], []
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            info = sim.step()
            steps += 1
            if info.fallen:
                break
            errs.append(info.tracking_error)
            vals.append(info.value)
        busy += time.perf_counter() - t0
        cpu += time.process_time() - c0
        falls.append(sim.fall_time)
        errors.append(float(np.mean(errs)) if errs else float("nan"))
        values.append(float(np.mean(vals)) if vals else float("nan"))
    sim.close()
    survived = [f is None for f in falls]
    times = [seconds if f is None else f for f in falls]
    return {"policy": name, "episodes": episodes, "seconds": seconds, "starts": starts,
            "times": times, "kept_balance": int(sum(survived)),
            "tracking_error": float(np.nanmean(errors)), "value": float(np.nanmean(values)),
            "policy_steps_s": steps / busy, "sim_steps_s": steps * SIM_HZ / POLICY_HZ / busy,
            "realtime": steps / POLICY_HZ / busy, "realtime_cpu": steps / POLICY_HZ / cpu}


def env_loop(name: str, episodes: int, seconds: float, seed: int = 0) -> list[float]:
    """The same start phases in pybullet's own loop (PyBulletDeepMimicEnv as testrl.py drives
    it: a decision whenever env.t passes needs_update_time, world steps of 1/240 s), with the
    converted actor in place of the TF one: seconds before the env's own termination test."""
    import pybullet_data
    from pybullet_utils.arg_parser import ArgParser

    from studio.motion.physics import simulation as P

    P._import_env()
    from pybullet_envs.deep_mimic.env.pybullet_deep_mimic_env import (
        InitializationStrategy, PyBulletDeepMimicEnv)

    pol = P.load_policy(name)
    args = ArgParser()
    args.load_file(str(Path(pybullet_data.getDataPath()) / pol.args_file))
    with P._quiet_stdout():
        env = PyBulletDeepMimicEnv(args, False, init_strategy=InitializationStrategy.START)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(episodes):
        start = float(rng.uniform(0, env._humanoid.getCycleTime()))  # the same draws
        env.t = start
        env._humanoid.setSimTime(start)
        env._humanoid.resetPose()
        env._humanoid.resetPose()
        env.needs_update_time = env.t - 1
        fell = None
        while env.t - start < seconds:
            if env.need_new_action(0):
                env.set_action(0, pol.act(np.asarray(env.record_state(0), np.float32)))
            env.update(1.0 / SIM_HZ)
            if env._humanoid.terminates():
                fell = env.t - start
                break
        out.append(seconds if fell is None else fell)
    env._pybullet_client.disconnect()
    return out


def push_recovery(name: str, forces: list[float], episodes: int = 5, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed + 1)
    sim = Simulation(name, record=False)
    starts = [float(rng.uniform(0, sim.cycle_time)) for _ in range(episodes)]
    out = {}
    for force in forces:
        up = 0
        for start in starts:
            sim.reset(start)
            sim.push(force, at_time=2.0, duration=0.1)
            sim.run(6.0, stop_on_fall=True)
            up += not sim.fallen
        out[force] = up
    sim.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--policies", nargs="*", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exact-30hz", action="store_true",
                    help="decide every 8 physics steps instead of the environment's timing")
    ap.add_argument("--push-policies", nargs="*", default=["walk", "walk_COMenabled"],
                    help="policies for the push sweep (none: skip it)")
    ap.add_argument("--env-check", default="walk",
                    help="also run this policy in pybullet's own env loop ('' to skip)")
    ap.add_argument("--forces", type=float, nargs="*",
                    default=[0, 100, 200, 300, 400, 600, 800])
    args = ap.parse_args()
    names = args.policies or policy_names()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {load:.1f}; {args.episodes} episodes x {args.seconds:g} s per policy, "
          f"seed {args.seed}; decisions {'every 8 steps' if args.exact_30hz else 'as the env'}")
    print("| policy | kept balance | seconds before a fall (each episode) | tracking error | "
          "critic value | policy steps/s | physics steps/s | x real time | x real time per "
          "CPU-s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        r = run_policy(name, args.episodes, args.seconds, args.seed, not args.exact_30hz)
        times = " ".join(f"{t:.1f}" for t in r["times"])
        print(f"| {name} | {r['kept_balance']}/{r['episodes']} | {times} | "
              f"{100 * r['tracking_error']:.1f} cm | {r['value']:.2f} | "
              f"{r['policy_steps_s']:.0f} | {r['sim_steps_s']:.0f} | {r['realtime']:.1f} | "
              f"{r['realtime_cpu']:.1f} |", flush=True)
    if args.env_check:
        times = env_loop(args.env_check, args.episodes, args.seconds, args.seed)
        up = sum(t >= args.seconds for t in times)
        print(f"| {args.env_check}, pybullet's own env loop | {up}/{len(times)} | "
              + " ".join(f"{t:.1f}" for t in times) + " | | | | | | |", flush=True)
    for name in args.push_policies:
        rec = push_recovery(name, args.forces, seed=args.seed)
        print(f"\npush recovery, {name}: 0.1 s sideways push on the pelvis at 2 s, 5 start "
              "phases, episodes still up 4 s later (0 N: no push)")
        print("| force | " + " | ".join(f"{f:g} N" for f in rec) + " |")
        print("|---|" + "---|" * len(rec))
        print("| up | " + " | ".join(f"{v}/5" for v in rec.values()) + " |", flush=True)
    print(f"# load at the end {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "")


if __name__ == "__main__":
    main()
