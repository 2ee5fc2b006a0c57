"""Motion data and the maths on it: skeletons and joint roles (``skeleton``, ``rigmap``,
``units``), clips (``clip``), forward kinematics (``fk``), sampling at any time
(``sampling``), foot contacts (``contacts``), retargeting to the DeepMimic humanoid
(``retarget``) and what a viewer draws (``display``)."""
