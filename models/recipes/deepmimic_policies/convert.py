"""Convert pybullet's pretrained DeepMimic policies (TensorFlow checkpoints) to ONNX.

    python3 -m venv .venv-tf
    .venv-tf/bin/pip install tensorflow-cpu onnx numpy        # or: pip install .[physics-recipe]
    .venv-tf/bin/python models/recipes/deepmimic_policies/convert.py [--app-python .venv/bin/python]

pybullet_data/data/policies/humanoid3d/*.ckpt hold five policies trained with
pybullet_envs/deep_mimic (PPO, learning/pg_agent.py). Each checkpoint has an actor and a critic:

    state s (197) -> (s - s_norm.mean) / s_norm.std
                  -> dense 1024, ReLU -> dense 512, ReLU          (nets/fc_2layers_1024units.py)
    actor:        -> dense 36  -> x * a_norm.std + a_norm.mean   (the action: PD targets)
    critic:       -> dense 1   -> x * val_norm.std + val_norm.mean  (the value)

The ONNX graphs are MatMul/Add/Relu with the normalisers folded into the first and last layer
(in float64, then stored as float32): actor (1, 197) -> (1, 36), critic (1, 197) -> (1, 1).

Steps (``all`` runs them in order; TensorFlow lives only in this venv, pybullet and
onnxruntime only in the app's, so the recipe calls the app's interpreter for two of them):

1. ``export``    (TF venv)  read each checkpoint's variables, write models/deepmimic/<policy>/
                            {actor,critic}/model.onnx + manifest.json.
2. ``record``    (app venv) roll each policy out in studio.motion.physics.simulation (the converted actor
                            drives the simulation; random start phases, pushes, falls) and store
                            the visited states.
3. ``reference`` (TF venv)  build the original TF graph (pg_agent's ops, variables restored by
                            name from the checkpoint with tf.compat.v1.train.Saver) and evaluate
                            actor and critic on the recorded states.
4. ``check``     (app venv) run the shipped ONNX on the same states through onnxruntime,
                            report the max abs error per model (must be < 1e-4), write it into
                            the manifests, and keep a few (state, action, value) triples for the
                            tests (tests/motion/data/deepmimic_tf_reference.npz).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "models" / "deepmimic"
WORK = Path(os.environ.get("DEEPMIMIC_WORK", Path(tempfile.gettempdir()) / "deepmimic_policies"))
# ^ intermediate arrays (recorded states, TF outputs), outside the repository
TEST_DATA = ROOT / "tests" / "motion" / "data" / "deepmimic_tf_reference.npz"
TOLERANCE = 1e-4
OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime the app supports

# policy -> (reference motion, run-args file naming the fall contact bodies)
POLICIES = {
    "walk": ("humanoid3d_walk.txt", "run_humanoid3d_walk_args.txt"),
    "walk_COMenabled": ("humanoid3d_walk.txt", "run_humanoid3d_walk_args.txt"),
    "jump": ("humanoid3d_jump.txt", "run_humanoid3d_jump_args.txt"),
    "backflip": ("humanoid3d_backflip.txt", "run_humanoid3d_backflip_args.txt"),
    "spinkick": ("humanoid3d_spinkick.txt", "run_humanoid3d_spinkick_args.txt"),
}
LICENSE = ("zlib (pybullet's licence, LICENSE.txt in the pybullet wheel; the checkpoints ship in "
           "pybullet_data). pybullet_envs.deep_mimic is a port of DeepMimic (Peng et al. 2018, "
           "MIT-licensed code).")


def _data_dir(app_python: str) -> Path:
    """pybullet_data's folder, asked of the app's interpreter (pybullet is not in this venv)."""
    try:
        import pybullet_data  # noqa: PLC0415 - present when run with the app's venv

        return Path(pybullet_data.getDataPath())
    except ImportError:
        out = subprocess.run([app_python, "-c", "import pybullet_data; "
                              "print(pybullet_data.getDataPath())"],
                             capture_output=True, text=True, check=True)
        return Path(out.stdout.strip())


def checkpoint(data: Path, policy: str) -> Path:
    return data / "data" / "policies" / "humanoid3d" / f"humanoid3d_{policy}.ckpt"


def read_variables(ckpt: Path) -> dict[str, np.ndarray]:
    import tensorflow as tf

    if not Path(f"{ckpt}.index").exists():
        raise SystemExit(f"{ckpt}.index: checkpoint not found")
    r = tf.train.load_checkpoint(str(ckpt))
    names = [f"agent/main/{net}/{layer}dense/{kind}" for net in ("actor", "critic")
             for layer in ("0/", "1/", "") for kind in ("kernel", "bias")]
    names += [f"agent/resource/{n}/{k}" for n in ("s_norm", "a_norm", "val_norm")
              for k in ("mean", "std")]
    have = r.get_variable_to_shape_map()
    missing = [n for n in names if n not in have]
    if missing:
        raise SystemExit(f"{ckpt}: not a DeepMimic PPO checkpoint, missing {missing}")
    return {n: np.asarray(r.get_tensor(n), dtype=np.float64) for n in names}


def folded_layers(v: dict[str, np.ndarray], net: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Three (W, b) layers with the state normaliser folded into the first and the output
    un-normaliser into the last, in float64."""
    g = lambda k: v[f"agent/main/{net}/{k}"]  # noqa: E731
    mean, std = v["agent/resource/s_norm/mean"], v["agent/resource/s_norm/std"]
    k0 = g("0/dense/kernel")
    w0, b0 = k0 / std[:, None], g("0/dense/bias") - (mean / std) @ k0
    out = "a_norm" if net == "actor" else "val_norm"
    om, os_ = v[f"agent/resource/{out}/mean"], v[f"agent/resource/{out}/std"]
    w2, b2 = g("dense/kernel") * os_[None, :], g("dense/bias") * os_ + om
    return [(w0, b0), (g("1/dense/kernel"), g("1/dense/bias")), (w2, b2)]


def onnx_model(layers, in_name: str, out_name: str, doc: str):
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    x = in_name
    for i, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"W{i}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{i}")]
        nodes.append(helper.make_node("MatMul", [x, f"W{i}"], [f"mm{i}"]))
        last = i == len(layers) - 1
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [out_name if last else f"z{i}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"z{i}"], [f"h{i}"]))
            x = f"h{i}"
    n_in, n_out = layers[0][0].shape[0], layers[-1][0].shape[1]
    graph = helper.make_graph(
        nodes, doc, [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [1, n_out])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="neural-media-studio deepmimic_policies/convert.py",
                              doc_string=doc)
    model.ir_version = IR_VERSION
    import onnx

    onnx.checker.check_model(model)
    return model


def manifest(policy: str, part: str, data: Path, n_out: int) -> dict:
    motion, args = POLICIES[policy]
    actor = part == "actor"
    return {
        "name": f"deepmimic_{policy}_{part}",
        "role": "motion.policy_actor" if actor else "motion.policy_critic",
        "version": "1",
        "description": (f"DeepMimic {policy} policy {part} (pybullet_envs.deep_mimic, PPO), the "
                        "state normaliser and the output un-normaliser folded into the graph. "
                        + ("Output: the mean action (deterministic), 36 PD targets as "
                           "humanoid_pose_interpolator.ConvertFromAction reads them."
                           if actor else "Output: the value (expected discounted imitation "
                           "reward, gamma 0.95) of the state.")),
        "license": LICENSE,
        "file": "model.onnx",
        "inputs": [{"name": "state", "shape": [1, 197], "dtype": "float32",
                    "description": "HumanoidStablePD.getState(): phase, root height, 15 links' "
                    "root-relative positions and quaternions (w, x, y, z) in the heading frame, "
                    "their linear and angular velocities"}],
        "outputs": [{"name": "action" if actor else "value", "shape": [1, n_out],
                     "dtype": "float32",
                     "description": ("per spherical joint (angle, axis x, y, z), per hinge an "
                                     "angle; chest, neck, right hip, knee, ankle, shoulder, "
                                     "elbow, left hip, knee, ankle, shoulder, elbow")
                     if actor else "the critic's value (un-normalised)"}],
        "constants": {
            "policy": policy,
            "checkpoint": f"data/policies/humanoid3d/humanoid3d_{policy}.ckpt",
            "motion_file": f"data/motions/{motion}",
            "args_file": f"args/{args}",
            "state_size": 197, "action_size": 36,
            "policy_hz": 30, "sim_hz": 240,
            "normalisers": "folded (s_norm into layer 0, a_norm / val_norm into the last layer)",
        },
        "training": {"recipe": "models/recipes/deepmimic_policies/convert.py",
                     "source": f"pybullet_data (pybullet) {checkpoint(data, policy).name}",
                     "layers": [197, 1024, 512, n_out], "activation": "relu"},
    }


def cmd_export(args) -> None:
    import onnx

    data = _data_dir(args.app_python)
    for policy in POLICIES:
        v = read_variables(checkpoint(data, policy))
        for part, out_name in (("actor", "action"), ("critic", "value")):
            layers = folded_layers(v, part)
            model = onnx_model(layers, "state", out_name, f"deepmimic_{policy}_{part}")
            folder = OUT / policy / part
            folder.mkdir(parents=True, exist_ok=True)
            onnx.save(model, str(folder / "model.onnx"))
            m = manifest(policy, part, data, layers[-1][0].shape[1])
            old = folder / "manifest.json"
            if old.exists():  # keep a previous verification until `check` rewrites it
                prev = json.loads(old.read_text()).get("training", {}).get("verification")
                if prev:
                    m["training"]["verification"] = prev
            old.write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
            size = (folder / "model.onnx").stat().st_size >> 10
            print(f"wrote {folder / 'model.onnx'} ({size} KiB)")


def cmd_record(args) -> None:
    """App venv: states visited by each policy in the simulation (several start phases, a
    push, and the states after a fall, so the check covers more than the happy path)."""
    sys.path.insert(0, str(ROOT))
    from studio.motion.physics.simulation import Simulation

    rng = np.random.default_rng(0)
    WORK.mkdir(parents=True, exist_ok=True)
    out = {}
    for policy in POLICIES:
        states = []
        sim = Simulation(policy, record=False)
        for ep in range(args.episodes):
            sim.reset(float(rng.uniform(0, sim.cycle_time)))
            if ep % 2 == 1:
                sim.push(float(rng.uniform(300, 900)), at_time=0.5, duration=0.2)
            for _ in range(int(args.seconds * 30)):
                states.append(sim.state())
                sim.step()
        sim.close()
        out[policy] = np.stack(states).astype(np.float32)
        print(f"{policy}: recorded {len(states)} states")
    np.savez_compressed(WORK / "states.npz", **out)


def cmd_reference(args) -> None:
    """TF venv: the original graph's ops on the recorded states."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    data = _data_dir(args.app_python)
    states = np.load(WORK / "states.npz")
    out = {}
    for policy in POLICIES:
        g = tf.Graph()
        with g.as_default(), tf1.Session(graph=g) as sess:
            s_tf = tf1.placeholder(tf.float32, [None, 197], name="s")

            def norm(name, size):
                with tf1.variable_scope(f"agent/resource/{name}"):
                    return (tf1.get_variable("mean", [size], tf.float32),
                            tf1.get_variable("std", [size], tf.float32))

            s_mean, s_std = norm("s_norm", 197)
            a_mean, a_std = norm("a_norm", 36)
            v_mean, v_std = norm("val_norm", 1)

            def dense(x, scope, units, act):
                with tf1.variable_scope(scope):
                    k = tf1.get_variable("kernel", [int(x.shape[-1]), units], tf.float32)
                    b = tf1.get_variable("bias", [units], tf.float32)
                y = tf.nn.bias_add(tf.matmul(x, k), b)
                return tf.nn.relu(y) if act else y

            def net(name, units):  # pg_agent._build_net_actor / _build_net_critic
                h = (s_tf - s_mean) / s_std
                h = dense(h, f"agent/main/{name}/0/dense", 1024, True)
                h = dense(h, f"agent/main/{name}/1/dense", 512, True)  # fc_net + build_net's relu
                return dense(h, f"agent/main/{name}/dense", units, False)

            actor = net("actor", 36) * a_std + a_mean
            critic = tf.reshape(net("critic", 1), [-1]) * v_std + v_mean
            tf1.train.Saver(tf1.global_variables()).restore(sess, str(checkpoint(data, policy)))
            s = states[policy]
            a, v = sess.run([actor, critic], {s_tf: s})
            out[f"{policy}/states"] = s
            out[f"{policy}/actions"] = a
            out[f"{policy}/values"] = v
            print(f"{policy}: TF graph on {len(s)} states, |action| max {np.abs(a).max():.2f}, "
                  f"value {v.min():.2f}..{v.max():.2f}")
    out["tensorflow"] = np.array(tf.__version__)
    np.savez_compressed(WORK / "tf_reference.npz", **out)


def cmd_check(args) -> None:
    """App venv: onnxruntime on the shipped graphs against the TF outputs."""
    import onnxruntime as ort

    ref = np.load(WORK / "tf_reference.npz")
    keep = {}
    worst = 0.0
    lines = []
    for policy in POLICIES:
        s = ref[f"{policy}/states"]
        errs = {}
        for part, key in (("actor", "actions"), ("critic", "values")):
            path = OUT / policy / part / "model.onnx"
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = np.concatenate([sess.run(None, {"state": s[i:i + 1]})[0] for i in range(len(s))])
            want = ref[f"{policy}/{key}"].reshape(got.shape)
            err = float(np.abs(got - want).max())
            errs[part] = err
            worst = max(worst, err)
            m_path = path.with_name("manifest.json")
            m = json.loads(m_path.read_text())
            m["training"]["verification"] = {
                "against": "the TensorFlow graph of pg_agent (variables restored from the "
                           f"checkpoint), TF {ref['tensorflow']}",
                "states": int(len(s)),
                "states_from": "rollouts of the converted policy in studio.motion.physics.simulation "
                               "(random start phases, pushes of 300-900 N, falls)",
                "max_abs_error": err, "tolerance": TOLERANCE}
            m_path.write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
        lines.append(f"{policy:<16} {len(s):>6} states  actor max |err| {errs['actor']:.2e}  "
                     f"critic max |err| {errs['critic']:.2e}")
        pick = np.linspace(0, len(s) - 1, 6).round().astype(int)
        keep[f"{policy}/states"] = s[pick]
        keep[f"{policy}/actions"] = ref[f"{policy}/actions"][pick]
        keep[f"{policy}/values"] = ref[f"{policy}/values"][pick]
    TEST_DATA.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(TEST_DATA, **keep)
    print("ONNX (onnxruntime) against the original TF graph:")
    print("\n".join("  " + ln for ln in lines))
    print(f"max abs error over all models: {worst:.2e} (tolerance {TOLERANCE:g}); "
          f"test triples: {TEST_DATA.relative_to(ROOT)}")
    if not worst < TOLERANCE:
        raise SystemExit(f"conversion error {worst:.2e} is above {TOLERANCE:g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", nargs="?", default="all",
                    choices=["all", "export", "record", "reference", "check"])
    ap.add_argument("--app-python", default=str(ROOT / ".venv" / "bin" / "python"),
                    help="the app's interpreter (pybullet, onnxruntime)")
    ap.add_argument("--episodes", type=int, default=4, help="record: episodes per policy")
    ap.add_argument("--seconds", type=float, default=4.0, help="record: seconds per episode")
    args = ap.parse_args()
    steps = {"export": cmd_export, "record": cmd_record, "reference": cmd_reference,
             "check": cmd_check}
    if args.step != "all":
        steps[args.step](args)
        return
    cmd_export(args)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    here = [args.app_python, __file__, "--episodes", str(args.episodes), "--seconds",
            str(args.seconds)]
    subprocess.run([*here[:2], "record", *here[2:]], check=True, env=env, cwd=ROOT)
    cmd_reference(args)
    subprocess.run([*here[:2], "check"], check=True, env=env, cwd=ROOT)


if __name__ == "__main__":
    main()
