"""Pieces the Motion panel and its tool tabs share: the licence notice, labels, job results."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

LICENCE_SHORT = ("Trained on Bandai-Namco Research Motion Dataset 1 — CC BY-NC 4.0, "
                 "non-commercial use only.")
LICENCE_TIP = ("TransitionNet, StyleVAE and the style classifier were trained on "
               "Bandai-Namco-Research-Motiondataset-1 (Bandai Namco Research Inc., "
               "CC BY-NC 4.0). Clips they make are for non-commercial use only; "
               "see docs/motion-models.md.")

METHOD_LABELS = {"model": "TransitionNet (learned)", "linear": "Linear / SLERP",
                 "zero_velocity": "Zero velocity (hold)"}
METHOD_SHORT = {"model": "model", "linear": "linear", "zero_velocity": "hold"}


def licence_note(text: str = LICENCE_SHORT) -> QLabel:
    """A small amber notice for wherever the Bandai-trained models are used."""
    lab = QLabel(f"⚠ {text}")
    lab.setObjectName("LicenceNote")
    lab.setWordWrap(True)
    lab.setToolTip(LICENCE_TIP)
    lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
    lab.setStyleSheet("QLabel#LicenceNote { color: #d9a441; font-size: 11px; "
                      "background: #2c2618; border: 1px solid #4a3d1f; border-radius: 6px; "
                      "padding: 5px 7px; }")
    return lab


def failed(ctx, title: str, result) -> bool:
    """True when a job did not succeed; a failure (not a cancel) is shown to the user."""
    if result.ok:
        return False
    from studio.jobs import JobStatus

    if result.status is not JobStatus.CANCELLED:
        ctx.feed.error.emit(title, result.error or "unknown error")
    return True
