"""Physics playback: the DeepMimic humanoid simulated in pybullet, driven by a pretrained policy.

pybullet ships trained DeepMimic policies (``pybullet_data/data/policies/humanoid3d``, converted
to ONNX by ``models/recipes/deepmimic_policies/convert.py`` into ``models/deepmimic/<policy>/``)
and the environment they were trained in (``pybullet_envs/deep_mimic``). This module runs that
environment's own humanoid code (``HumanoidStablePD``: URDF, stable PD gains and torque limits,
the 197-value state, action -> target pose, fall contacts) in a DIRECT (headless) pybullet
world at the environment's rates: physics at 240 Hz, a new action when the environment would
take one (nominally every 1/30 s, in practice mostly every 9 steps: see :meth:`Simulation.step`).
The actor and critic are opened by :func:`studio.runtime.models.pool`, like every model in
the app.

Actions are deterministic (the actor's mean, no exploration noise), so a rollout from the same
start time is repeatable. No Qt here: the UI and the CLI drive a :class:`Simulation` step by step.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.jobs import Job, JobContext, UserError
from studio.runtime import models
from studio.runtime.manifest import ModelError

ACTOR_ROLE = models.POLICY_ACTOR
CRITIC_ROLE = models.POLICY_CRITIC
POLICY_HZ = 30.0  # pybullet_deep_mimic_env.need_new_action: nominally an action every 1/30 s
SIM_HZ = 240.0  # the environment's time step (testrl.py update_timestep = 1/240)
STATE_SIZE = 197  # phase 1 + root height 1 + 15 links x (pos 3 + quat 4) + 15 x (lin 3 + ang 3)
ACTION_SIZE = 36  # 8 spherical joints x (angle + axis) + 4 hinges
# pybullet_deep_mimic_env.update: torque limits per DoF (the 7 root DoFs are unactuated)
MAX_FORCES = [0, 0, 0, 0, 0, 0, 0, 200, 200, 200, 200, 50, 50, 50, 50, 200, 200, 200, 200, 150,
              90, 90, 90, 90, 100, 100, 100, 100, 60, 200, 200, 200, 200, 150, 90, 90, 90, 90,
              100, 100, 100, 100, 60]
# humanoid_stable_pd.py: the 12 actuated joints in DeepMimic file order, and their DoFs
JOINT_INDICES = (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13)
JOINT_DOFS = (4, 4, 4, 1, 4, 4, 1, 4, 1, 4, 4, 1)
NUM_LINKS = 15
ROOT_FALL_HEIGHT = 0.25  # m: a root this low means the character lies on the ground


def policies_dir() -> Path:
    from studio.paths import MODELS_DIR

    return MODELS_DIR / "deepmimic"


def policy_names() -> list[str]:
    """The converted policies that ship (``walk``, ``jump``...), sorted."""
    d = policies_dir()
    return sorted(p.parent.parent.name for p in d.glob("*/actor/manifest.json"))


def _flush_c_stdio() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library handle (not Linux/macOS): nothing buffered
        pass


@contextlib.contextmanager
def _quiet_stdout(fds: tuple[int, ...] = (1,)):
    """Silence stdout (and any other ``fds``) at the file-descriptor level while the env code
    loads: pybullet's C++ URDF importer prints a warning per joint ("no axis element for
    Joint") straight to fd 1, and importing pybullet prints its build time on fd 2, which would
    flood the CLI's output. Python-level prints are caught too."""
    saved: list[tuple[int, int]] = []
    devnull = -1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in fds:
            saved.append((fd, os.dup(fd)))
            os.dup2(devnull, fd)
    except (OSError, ValueError, AttributeError):  # no real stdout (a GUI without a console)
        pass
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        _flush_c_stdio()  # C printf output still in libc's buffer belongs to the silence
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        if devnull >= 0:
            os.close(devnull)


def _import_env():
    """``pybullet_envs.deep_mimic.env`` without running ``pybullet_envs/__init__.py``, which
    imports gym (not a dependency) only to register gym environments we do not use."""
    if "pybullet_envs" not in sys.modules:
        spec = importlib.util.find_spec("pybullet_envs")
        if spec is None or not spec.submodule_search_locations:
            raise UserError("physics playback needs the 'pybullet' package (pybullet_envs), "
                            "which is not installed (pip install pybullet)")
        pkg = types.ModuleType("pybullet_envs")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["pybullet_envs"] = pkg
    from pybullet_envs.deep_mimic.env import humanoid_stable_pd, motion_capture_data

    return humanoid_stable_pd, motion_capture_data


@dataclass
class Policy:
    """A converted DeepMimic policy: actor and critic pools and the facts from the manifest."""

    name: str
    actor: object  # SessionPool
    critic: object | None
    constants: dict

    @property
    def motion_file(self) -> str:
        return str(self.constants.get("motion_file", "data/motions/humanoid3d_walk.txt"))

    @property
    def args_file(self) -> str:
        return str(self.constants.get("args_file", "args/run_humanoid3d_walk_args.txt"))

    @property
    def state_size(self) -> int:
        shape = self.actor.manifest.inputs[0].shape
        return int(shape[-1]) if shape and isinstance(shape[-1], int) else -1

    @property
    def action_size(self) -> int:
        shape = self.actor.manifest.outputs[0].shape
        return int(shape[-1]) if shape and isinstance(shape[-1], int) else -1

    def act(self, state: np.ndarray) -> np.ndarray:
        """The deterministic action (the policy's mean) for one state."""
        return self.actor.run(state.reshape(1, -1).astype(np.float32))[0].reshape(-1)

    def value(self, state: np.ndarray) -> float:
        """The critic's estimate of the discounted return from this state (nan: no critic)."""
        if self.critic is None:
            return float("nan")
        return float(self.critic.run(state.reshape(1, -1).astype(np.float32))[0].reshape(-1)[0])


def load_policy(name_or_dir: str | Path) -> Policy:
    """A shipped policy by name (``walk``) or a folder holding ``actor/`` (and ``critic/``)."""
    p = Path(name_or_dir)
    folder = p if (p / "actor").is_dir() else policies_dir() / str(name_or_dir)
    actor_m = folder / "actor" / "manifest.json"
    if not actor_m.exists():
        have = ", ".join(policy_names()) or "none (run models/recipes/deepmimic_policies)"
        raise UserError(f"{name_or_dir}: no DeepMimic policy by that name ({actor_m} not "
                        f"found); have: {have}")
    actor = models.pool(ACTOR_ROLE, actor_m, sessions=1)
    critic_m = folder / "critic" / "manifest.json"
    critic = (models.pool(CRITIC_ROLE, critic_m, sessions=1)
              if critic_m.exists() else None)
    return Policy(folder.name, actor, critic, dict(actor.manifest.constants))


@dataclass(frozen=True)
class Push:
    """A horizontal force on the pelvis: ``force`` newtons (world frame, Y up) from ``at``
    seconds (simulation time since reset) for ``duration`` seconds."""

    force: tuple[float, float, float]
    at: float
    duration: float = 0.1

    def active(self, t: float) -> bool:
        return self.at <= t < self.at + self.duration


@dataclass(frozen=True)
class StepInfo:
    """What one step (1/30 s of simulated time) produced."""

    time: float  # seconds since reset
    value: float  # the critic's value of the state the action was chosen in
    tracking_error: float  # m, mean joint position error against the reference (root and
    #                        heading aligned, see Simulation.tracking_error)
    fallen: bool
    pushed: bool
    frame: np.ndarray  # (44,) the simulated pose, DeepMimic frame layout
    reference: np.ndarray  # (44,) the reference clip's pose at the same time


@dataclass
class History:
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    references: list[np.ndarray] = field(default_factory=list)


class Simulation:
    """The humanoid in a headless pybullet world, one policy, step by step.

    ``start_time`` is where in the reference clip the episode starts (seconds; the DeepMimic
    environment draws it at random, "reference state initialisation"). ``env_timing``: when
    the policy decides (see :meth:`step`). Not thread-safe: one thread drives it (the UI's
    worker, the CLI's job).
    """

    def __init__(self, policy: Policy | str | Path, start_time: float = 0.0,
                 record: bool = True, env_timing: bool = True) -> None:
        self.policy = policy if isinstance(policy, Policy) else load_policy(policy)
        self.record = record
        self.env_timing = env_timing
        with _quiet_stdout((1, 2)):  # importing pybullet prints its build time on fd 2
            hs, mc = _import_env()
            import pybullet
        from pybullet_utils import bullet_client
        from pybullet_utils.arg_parser import ArgParser

        from studio.motion.io.library import data_dir

        data = data_dir()
        args = ArgParser()
        args_path = data / self.policy.args_file
        if not args.load_file(str(args_path)):
            raise UserError(f"{args_path}: cannot read the DeepMimic arguments named by "
                            f"{self.policy.actor.manifest.path}")
        motion_path = data / self.policy.motion_file
        if not motion_path.exists():
            raise UserError(f"{motion_path}: reference motion named by "
                            f"{self.policy.actor.manifest.path} not found")
        with _quiet_stdout():  # the env code and pybullet's importer print as they load
            self._pb = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
            pbc = self._pb
            # pybullet_deep_mimic_env.reset, first call: ground, Y up, gravity, solver
            pbc.setAdditionalSearchPath(str(data))
            z2y = pbc.getQuaternionFromEuler([-math.pi * 0.5, 0, 0])
            self._plane = pbc.loadURDF("plane_implicit.urdf", [0, 0, 0], z2y,
                                       useMaximalCoordinates=True)
            pbc.setGravity(0, -9.8, 0)
            pbc.setPhysicsEngineParameter(numSolverIterations=10)
            pbc.changeDynamics(self._plane, linkIndex=-1, lateralFriction=0.9)
            self._mocap = mc.MotionCaptureData()
            self._mocap.Load(str(motion_path))
            self._h = hs.HumanoidStablePD(pbc, self._mocap, 1.0 / SIM_HZ, False, args)
            pbc.setTimeStep(1.0 / SIM_HZ)
            pbc.setPhysicsEngineParameter(numSubSteps=1)
        self._start = float(start_time)
        self.pushes: list[Push] = []
        self.reset(start_time)
        n = len(self._h.getState())
        if self.policy.state_size != n:
            raise ModelError(f"{self.policy.actor.manifest.path}: the policy takes "
                             f"{self.policy.state_size} state values but the pybullet DeepMimic "
                             f"humanoid gives {n}; this policy was trained for another character "
                             "or state layout")
        if self.policy.action_size != ACTION_SIZE:
            raise ModelError(f"{self.policy.actor.manifest.path}: the policy gives "
                             f"{self.policy.action_size} action values but the humanoid's PD "
                             f"targets need {ACTION_SIZE}")

    # -- episode ------------------------------------------------------------------------
    @property
    def cycle_time(self) -> float:
        """The reference clip's length in seconds."""
        return float(self._h.getCycleTime())

    def reset(self, start_time: float | None = None) -> None:
        """Back to the reference pose at ``start_time`` (default: the last start), at rest
        velocities of the reference; pending pushes are dropped."""
        if start_time is not None:
            self._start = float(start_time)
        self.t = self._start
        self.elapsed = 0.0
        self.fallen = False
        self.fall_time: float | None = None
        self.pushes = []
        self.decisions = 0
        self.value = float("nan")
        self._desired: list[float] = []
        self._next_decision = self.t - 1.0  # decide before the first physics step
        self._h.setSimTime(self.t)
        self._h.resetPose()  # twice, as the environment does: it clears contact points
        self._h.resetPose()
        self.history = History()
        self._update_reference()

    def push(self, force_newtons: float, at_time: float | None = None, duration: float = 0.1,
             direction: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> Push:
        """Schedule a horizontal push on the pelvis: ``force_newtons`` along ``direction``
        (world frame; +Z is the character's right at the start) at ``at_time`` seconds since
        reset (None: now) for ``duration`` seconds."""
        d = np.asarray(direction, dtype=np.float64)
        if not np.linalg.norm(d) > 0:
            raise UserError("push: the direction must not be zero")
        if not duration > 0:
            raise UserError(f"push: the duration must be positive, got {duration}")
        d = d / np.linalg.norm(d)
        p = Push(tuple(float(v) for v in d * force_newtons),
                 self.elapsed if at_time is None else float(at_time), float(duration))
        self.pushes.append(p)
        return p

    # -- stepping -----------------------------------------------------------------------
    def state(self) -> np.ndarray:
        return np.asarray(self._h.getState(), dtype=np.float32)

    def _decide(self) -> None:
        """Choose the PD targets for the current state (and the critic's value of it)."""
        h = self._h
        s = self.state()
        action = self.policy.act(s)
        self.value = self.policy.value(s)
        desired = list(h.convertActionToPose(action.astype(np.float64).tolist()))
        desired[0:7] = [0.0] * 7  # the root is not actuated (the env zeroes these too)
        self._desired = desired
        self.decisions += 1

    def step(self) -> StepInfo:
        """Simulate 1/30 s: eight 240 Hz steps of stable PD towards the policy's targets.

        With ``env_timing`` (the default) the policy decides exactly when pybullet's environment
        does: before a physics step once ``t >= t_last_decision + 1/30``, with ``t`` advanced by
        1/240 in floating point, so most decisions land 9 steps (37.5 ms) apart, not 8; the
        policies were trained in that loop (pybullet_deep_mimic_env.need_new_action). Without
        it, a decision every 8 steps (exactly 30 Hz)."""
        h, pbc = self._h, self._pb
        pushed = False
        sub = int(round(SIM_HZ / POLICY_HZ))
        dt = 1.0 / SIM_HZ
        for k in range(sub):
            if (self.t >= self._next_decision) if self.env_timing else k == 0:
                self._decide()
                self._next_decision = self.t + 1.0 / POLICY_HZ
            self.t += dt
            self.elapsed += dt
            h.setSimTime(self.t)
            h.computeAndApplyPDForces(self._desired, maxForces=MAX_FORCES)
            for p in self.pushes:
                if p.active(self.elapsed):
                    pos, _ = pbc.getBasePositionAndOrientation(h._sim_model)
                    pbc.applyExternalForce(h._sim_model, -1, p.force, pos, pbc.WORLD_FRAME)
                    pushed = True
            pbc.stepSimulation()
            if not self.fallen and self._fell():
                self.fallen = True
                self.fall_time = self.elapsed
        value = self.value
        self._update_reference()
        err = self.tracking_error()
        frame, ref = self.pose_frame(), self.reference_frame()
        if self.record:
            hist = self.history
            hist.times.append(self.elapsed)
            hist.values.append(value)
            hist.errors.append(err)
            hist.frames.append(frame)
            hist.references.append(ref)
        return StepInfo(self.elapsed, value, err, self.fallen, pushed, frame, ref)

    def run(self, seconds: float, ctx: JobContext | None = None,
            stop_on_fall: bool = False) -> None:
        """Step for ``seconds`` (reporting progress and honouring cancel through ``ctx``)."""
        n = int(round(seconds * POLICY_HZ))
        for i in range(n):
            self.step()
            if ctx is not None:
                ctx.progress(i + 1, n, f"{self.elapsed:5.2f} s" + ("  fallen" if self.fallen
                                                                  else ""))
            if stop_on_fall and self.fallen:
                break

    def _fell(self) -> bool:
        """The environment's test (a body part other than the feet touches the ground),
        plus the root height as a backstop."""
        if self._h.terminates():
            return True
        pos, _ = self._pb.getBasePositionAndOrientation(self._h._sim_model)
        return pos[1] < ROOT_FALL_HEIGHT

    # -- poses --------------------------------------------------------------------------
    def _update_reference(self) -> None:
        """Put the kinematic (ghost) model at the reference clip's pose for the current time."""
        h = self._h
        h.setSimTime(self.t)
        h.computePose(h._frameFraction)
        h.initializePose(h._poseInterpolator, h._kin_model, initBase=True)

    def _frame_of(self, body: int) -> np.ndarray:
        pbc = self._pb
        pos, orn = pbc.getBasePositionAndOrientation(body)
        out = [1.0 / POLICY_HZ, *pos, orn[3], orn[0], orn[1], orn[2]]
        for st, dofs in zip(pbc.getJointStatesMultiDof(body, list(JOINT_INDICES)), JOINT_DOFS):
            q = st[0]
            out.extend([q[0]] if dofs == 1 else [q[3], q[0], q[1], q[2]])
        return np.asarray(out, dtype=np.float64)

    def pose_frame(self) -> np.ndarray:
        """The simulated pose as a (44,) DeepMimic frame (see studio.motion.io.deepmimic)."""
        return self._frame_of(self._h._sim_model)

    def reference_frame(self) -> np.ndarray:
        """The reference clip's pose now, as a (44,) DeepMimic frame (the ghost)."""
        return self._frame_of(self._h._kin_model)

    def tracking_error(self) -> float:
        """Mean distance (m) between the simulated and the reference joint positions, each
        measured from its own root in its own heading frame (so a drift of the whole body in
        place or in facing direction does not count, a wrong pose does)."""
        pbc, h = self._pb, self._h
        idx = list(range(NUM_LINKS))
        sim = np.array([s[0] for s in pbc.getLinkStates(h._sim_model, idx)])
        ref = np.array([s[0] for s in pbc.getLinkStates(h._kin_model, idx)])
        sim = _heading_local(sim, *pbc.getBasePositionAndOrientation(h._sim_model))
        ref = _heading_local(ref, *pbc.getBasePositionAndOrientation(h._kin_model))
        return float(np.linalg.norm(sim - ref, axis=1).mean())

    def root_height(self) -> float:
        return float(self._pb.getBasePositionAndOrientation(self._h._sim_model)[0][1])

    def to_clip(self, which: str = "sim"):
        """The recorded poses (``"sim"`` or ``"reference"``) as a 30 fps humanoid Clip, for
        BVH / DeepMimic / MP4 export."""
        from studio.motion.io.deepmimic import frames_to_clip

        frames = self.history.frames if which == "sim" else self.history.references
        if not frames:
            raise UserError(f"{self.policy.name}: nothing simulated yet (step first)")
        label = "physics" if which == "sim" else "reference"
        clip = frames_to_clip(np.stack(list(frames)), POLICY_HZ, loop=False,
                              name=f"{self.policy.name} ({label})")
        clip.meta["physics"] = {"policy": self.policy.name, "start_time": self._start,
                                "fall_time": self.fall_time,
                                "pushes": [p.__dict__ for p in self.pushes]}
        return clip

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._pb.disconnect()

    def __enter__(self) -> "Simulation":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _heading_local(points: np.ndarray, root_pos, root_orn) -> np.ndarray:
    """``points`` (N, 3) relative to the root, turned so the root's heading (its +X projected
    on the ground, Y up) points along +X."""
    from scipy.spatial.transform import Rotation

    f = Rotation.from_quat(root_orn).apply([1.0, 0.0, 0.0])
    yaw = math.atan2(-f[2], f[0])  # rotation about +Y that takes +X to the heading
    c, s = math.cos(-yaw), math.sin(-yaw)
    undo = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return (np.asarray(points) - np.asarray(root_pos)) @ undo.T


def frame_positions(frames: np.ndarray) -> np.ndarray:
    """(N, 18, 3) joint positions (metres, Z up, ground at z = 0) of (N, 44) DeepMimic
    frames: what the 3-D viewport draws for a simulated or reference pose."""
    from studio.motion.core.display import to_z_up
    from studio.motion.core.fk import forward_kinematics
    from studio.motion.io.deepmimic import frames_to_clip

    f = np.atleast_2d(np.asarray(frames, dtype=np.float64))
    return to_z_up(forward_kinematics(frames_to_clip(f, POLICY_HZ)).positions, 1)


def parse_push(text: str) -> tuple[float, float]:
    """``NEWTONS@SECONDS`` (e.g. ``300@2.5``) -> (newtons, seconds)."""
    force, sep, at = text.partition("@")
    try:
        if not sep:
            raise ValueError
        return float(force), float(at)
    except ValueError:
        raise UserError(f"--push wants NEWTONS@SECONDS (e.g. 300@2.5), got {text!r}") from None


def simulate_job(policy: str, seconds: float, out: str | Path | None = None,
                 pushes: tuple[tuple[float, float], ...] = (), start_time: float = 0.0) -> Job:
    """Simulate ``seconds`` of ``policy`` (with pushes as (newtons, at seconds)) and write the
    simulated motion to ``out`` (.bvh, .txt or .mp4). The result is the Simulation."""
    if not seconds > 0:
        raise UserError(f"--seconds must be positive, got {seconds}")
    suffix = Path(out).suffix.lower() if out else ""
    if out and suffix not in (".bvh", ".txt", ".mp4"):
        raise UserError(f"{out}: the output must be a .bvh, .txt (DeepMimic) or .mp4 file")

    def work(ctx: JobContext) -> Simulation:
        ctx.progress(0, 1, "loading the policy")
        sim = Simulation(policy, start_time=start_time)
        for force, at in pushes:
            sim.push(force, at)
        try:
            sim.run(seconds, ctx)
            if out:
                clip = sim.to_clip()
                if suffix == ".mp4":
                    from studio.motion.core.display import clip_display
                    from studio.motion.io.render import render_mp4

                    render_mp4(clip_display(clip), out, ctx)
                else:
                    from studio.motion.io.files import save_clip

                    save_clip(clip, out)
        finally:
            sim.close()
        return sim

    return Job(f"Simulate {policy} for {seconds:g} s", work)
