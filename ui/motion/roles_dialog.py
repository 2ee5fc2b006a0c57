"""Fix which joint plays which body part for the current clip's rig (saved per rig)."""

from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QVBoxLayout)

from studio.jobs import UserError

AUTO = "automatic"


class RolesDialog(QDialog):
    """One drop-down per role: "automatic" (what name/topology matching found, shown in the
    label) or a joint of the rig. Save validates and stores the mapping for every file of
    this rig (``studio.motion.core.rigmap``); Reset forgets it."""

    def __init__(self, skeleton, parent=None) -> None:
        super().__init__(parent)
        from studio.motion.core import rigmap
        from studio.motion.core.skeleton import CORE_ROLES, ROLES, find_roles

        self.setWindowTitle("Joint roles")
        self.skeleton = skeleton
        auto = find_roles(skeleton, overrides=False)
        try:
            saved = rigmap.load_mapping(skeleton) or {}
        except UserError as exc:
            saved = {}
            self._initial_error = str(exc)
        else:
            self._initial_error = ""
        joints = [n for j, n in enumerate(skeleton.names) if not skeleton.end_sites[j]]
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Rig of {len(skeleton)} joints. Choices are saved for every "
                             "file with the same joint names."))
        form = QFormLayout()
        self.combos: dict[str, QComboBox] = {}
        for role in ROLES:
            box = QComboBox()
            found = skeleton.names[auto[role]] if role in auto else "not found"
            box.addItem(f"{AUTO} ({found})", None)
            for n in joints:
                box.addItem(n, n)
            if role in saved and saved[role] in joints:
                box.setCurrentIndex(joints.index(saved[role]) + 1)
            self.combos[role] = box
            label = rigmap.ROLE_LABELS[role] + ("" if role in CORE_ROLES else " (optional)")
            form.addRow(QLabel(label), box)
        lay.addLayout(form)
        self.error = QLabel(self._initial_error)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #e5534b;")
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Reset
                                   | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.Reset).clicked.connect(self.reset)
        lay.addWidget(buttons)

    def mapping(self) -> dict[str, str]:
        """The roles the user set (automatic ones left out)."""
        return {r: b.currentData() for r, b in self.combos.items() if b.currentData()}

    def accept(self) -> None:
        from studio.motion.core import rigmap

        try:
            rigmap.save_mapping(self.skeleton, self.mapping())
        except UserError as exc:
            self.error.setText(str(exc))
            return
        super().accept()

    def reset(self) -> None:
        """Every role back to automatic, and the saved mapping forgotten."""
        from studio.motion.core import rigmap

        rigmap.clear_mapping(self.skeleton)
        for box in self.combos.values():
            box.setCurrentIndex(0)
        super().accept()
