"""Learned motion models and what uses them: DeepPhase phase tracks (``phase``) and
phase-aligned blending (``blend``), TransitionNet in-betweening (``transition``), StyleVAE
transfer (``style``) and the features and corpus they share (``dataset``). Models are opened
through :func:`studio.runtime.models.pool`."""
