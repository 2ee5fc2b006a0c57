"""Physics: the pybullet DeepMimic humanoid driven by a policy's actor ONNX
(``simulation``), and that simulation run in real time and steered from the UI (``live``)."""
