"""Physics playback (studio.motion.physics.simulation): the converted DeepMimic policies against the
original TensorFlow graph, a short deterministic walk, pushes, export, and clear errors."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pybullet_data", reason="the humanoid and its policies ship with pybullet")

from studio.jobs import UserError  # noqa: E402
from studio.motion.physics import simulation as P  # noqa: E402
from studio.runtime.manifest import ModelError  # noqa: E402

DATA = Path(__file__).parent / "data" / "deepmimic_tf_reference.npz"
POLICIES = ("walk", "walk_COMenabled", "jump", "backflip", "spinkick")

pytestmark = pytest.mark.skipif(not (P.policies_dir() / "walk" / "actor").is_dir(),
                                reason="DeepMimic policies not converted (models/deepmimic)")


def test_all_ten_models_ship_with_their_verification():
    assert P.policy_names() == sorted(POLICIES)
    for name in POLICIES:
        for part, role in (("actor", P.ACTOR_ROLE), ("critic", P.CRITIC_ROLE)):
            m = json.loads((P.policies_dir() / name / part / "manifest.json").read_text())
            assert m["role"] == role
            assert m["inputs"][0]["shape"] == [1, 197]
            assert m["outputs"][0]["shape"] == [1, 36 if part == "actor" else 1]
            assert m["constants"]["checkpoint"].endswith(f"humanoid3d_{name}.ckpt")
            assert m["training"]["verification"]["max_abs_error"] < 1e-4
            assert "zlib" in m["license"]


@pytest.mark.parametrize("name", POLICIES)
def test_onnx_matches_the_tensorflow_graph(name):
    """Triples (state, action, value) computed by the original TF graph in the recipe."""
    ref = np.load(DATA)
    pol = P.load_policy(name)
    s = ref[f"{name}/states"]
    actions = np.stack([pol.act(x) for x in s])
    values = np.array([pol.value(x) for x in s])
    assert np.abs(actions - ref[f"{name}/actions"]).max() < 1e-4
    assert np.abs(values - ref[f"{name}/values"].reshape(-1)).max() < 1e-4


@pytest.fixture(scope="module")
def walk_run():
    sim = P.Simulation("walk")
    sim.run(2.0)
    yield sim
    sim.close()


def test_walk_two_seconds_stays_upright(walk_run):
    h = walk_run.history
    assert len(h.frames) == 60 and abs(h.times[-1] - 2.0) < 1e-9
    assert not walk_run.fallen and walk_run.fall_time is None
    heights = np.array([f[2] for f in h.frames])  # root y (Y up), metres
    assert heights.min() > 0.7
    assert np.mean(h.errors) < 0.15, np.mean(h.errors)
    assert np.isfinite(h.values).all() and np.mean(h.values) > 5  # the critic expects reward


def test_rollout_is_deterministic(walk_run):
    first = np.stack(walk_run.history.frames[:15])
    walk_run.reset()
    walk_run.run(0.5)
    assert np.array_equal(np.stack(walk_run.history.frames[:15]), first)


def test_a_hard_push_knocks_it_over():
    with P.Simulation("walk") as sim:
        sim.push(2500, at_time=0.3, duration=0.2)
        sim.run(2.0, stop_on_fall=True)
        assert sim.fallen and 0.3 < sim.fall_time < 2.0


def test_simulated_motion_exports_as_bvh(walk_run, tmp_path):
    from studio.motion.io.bvh import read_bvh, write_bvh

    clip = walk_run.to_clip()
    assert clip.fps == 30 and clip.n_frames == len(walk_run.history.frames)
    write_bvh(clip, tmp_path / "sim.bvh")
    back = read_bvh(tmp_path / "sim.bvh")
    assert back.n_frames == clip.n_frames
    pos = P.frame_positions(np.stack(walk_run.history.frames[:3]))
    assert pos.shape == (3, 18, 3) and 1.2 < pos[0, :, 2].max() < 1.9  # Z up, head height
    ghost = walk_run.to_clip("reference")
    assert ghost.n_frames == clip.n_frames


def _policy_with_state_size(tmp_path: Path, n: int) -> Path:
    """A copy of the walk policy's manifests with an actor that takes ``n`` state values."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    folder = tmp_path / "odd_policy"
    (folder / "actor").mkdir(parents=True)
    w = numpy_helper.from_array(np.zeros((n, 36), np.float32), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["state", "W"], ["action"])], "odd",
                          [helper.make_tensor_value_info("state", TensorProto.FLOAT, [1, n])],
                          [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, 36])],
                          initializer=[w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "actor" / "model.onnx"))
    m = json.loads((P.policies_dir() / "walk" / "actor" / "manifest.json").read_text())
    m["inputs"][0]["shape"] = [1, n]
    (folder / "actor" / "manifest.json").write_text(json.dumps(m))
    return folder


def test_a_policy_whose_state_does_not_fit_is_refused_clearly(tmp_path):
    folder = _policy_with_state_size(tmp_path, 100)
    with pytest.raises(ModelError) as exc:
        P.Simulation(folder)
    msg = str(exc.value)
    assert str(folder / "actor" / "manifest.json") in msg
    assert "100 state values" in msg and "gives 197" in msg


def test_unknown_policy_and_bad_push_are_user_errors():
    with pytest.raises(UserError, match="no DeepMimic policy by that name"):
        P.load_policy("moonwalk")
    with pytest.raises(UserError, match="NEWTONS@SECONDS"):
        P.parse_push("300")
    assert P.parse_push("300@2.5") == (300.0, 2.5)


def test_cli_simulate_writes_a_bvh(tmp_path, capsys):
    from studio.motion.cli import main

    out = tmp_path / "walk.bvh"
    assert main(["simulate", "walk", "--seconds", "1", "--push", "100@0.5", "--out", str(out),
                 "-q"]) == 0
    assert out.exists() and "kept its balance for 1.00 s" in capsys.readouterr().out
    assert main(["simulate", "walk", "--seconds", "1", "--out", str(tmp_path / "x.gif")]) == 1


@pytest.mark.slow
def test_walk_from_the_start_and_walk_com_from_any_phase_keep_balance_20s():
    """The long check (bench/bench_physics.py measures all policies): walk started at 0, as the
    app and the CLI start it, and walk_COMenabled from ten random phases stay up for 20 s."""
    with P.Simulation("walk", record=False) as sim:
        sim.run(20.0, stop_on_fall=True)
        assert not sim.fallen, sim.fall_time
    rng = np.random.default_rng(0)
    with P.Simulation("walk_COMenabled", record=False) as sim:
        for _ in range(10):
            sim.reset(float(rng.uniform(0, sim.cycle_time)))
            sim.run(20.0, stop_on_fall=True)
            assert not sim.fallen, sim.fall_time


def test_live_run_steps_until_cancelled_and_takes_requests():
    import threading

    from studio.jobs import Cancelled, CancelToken, JobContext
    from studio.motion.physics.live import LiveRun

    live, token = LiveRun(), CancelToken()
    errors = []

    def work():
        try:
            live.run(JobContext(token=token), "walk")
        except Cancelled:
            pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    try:
        deadline = 60.0
        while live.steps < 5 and deadline > 0 and t.is_alive():
            deadline -= 0.05
            threading.Event().wait(0.05)
        live.push(200.0)
        seen = live.steps
        while live.steps < seen + 3 and t.is_alive():
            threading.Event().wait(0.05)
    finally:
        token.cancel()
        t.join(30)
    assert not errors, errors
    snap = live.snapshot()
    assert snap.info is not None and snap.positions.shape[0] == 2 and snap.positions.shape[2] == 3
    assert len(snap.trace) == live.steps >= 8 and snap.trace.shape[1] == 3
    assert any(p.force[2] == 200 for p in live.sim.pushes)
    assert live.to_clip().n_frames >= 8
    live.reset()
    assert live.steps == 0 and live.snapshot().info is None
    live.close()
    assert live.sim is None
