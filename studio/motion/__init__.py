"""Motion engine: clips, DeepMimic and BVH files, FK, retargeting, foot contacts.

No Qt here. Entry points: ``files.load_clip`` / ``save_clip`` / ``convert_job``,
``library.builtin_clips`` / ``load_builtin``, ``fk.forward_kinematics``,
``clip.resample``, ``retarget.retarget``, ``contacts.foot_contacts`` / ``foot_sliding``.
See docs/motion-retarget.md.
"""
