"""Motion engine (no Qt), in four sub-packages:

* :mod:`studio.motion.core`: skeletons, clips, FK, sampling, foot contacts, retargeting,
  joint roles and units, and what a viewer draws (``display``);
* :mod:`studio.motion.io`: DeepMimic and BVH files, the built-in library, ``files.load_clip``
  / ``save_clip`` / ``convert_job``, the OpenCV MP4 renderer;
* :mod:`studio.motion.learned`: DeepPhase phase tracks and blending, TransitionNet
  in-betweening, StyleVAE transfer and the features they share (``dataset``);
* :mod:`studio.motion.physics`: the pybullet humanoid driven by DeepMimic policies.

``cli`` holds the ``studio motion`` sub-commands. The learned models are opened through
:mod:`studio.runtime.models`. The sub-packages import nothing on their own: import the module
you need (``from studio.motion.core.clip import Clip``). See docs/architecture.md.
"""
