"""The Motion panel's clip card: facts about the shown clip and what can be done with it as
a whole (export BVH / MP4, fix the rig's joint roles)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ui.widgets.panel_parts import card, section


class ClipCard(QWidget):
    """The buttons are public: the panel connects them. :meth:`set_facts` fills the card."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.facts = QFormLayout()
        self.facts.setLabelAlignment(Qt.AlignLeft)
        self.facts.setVerticalSpacing(3)
        self.facts.setContentsMargins(0, 0, 0, 0)
        facts_w = QWidget()
        facts_w.setLayout(self.facts)
        self.export_button = QPushButton("Export BVH…")
        self.export_mp4_button = QPushButton("Export MP4…")
        self.export_mp4_button.setToolTip("Render the viewport's view of the clip to a video")
        self.roles_button = QPushButton("Joint roles…")
        self.roles_button.setToolTip("Which joint is the hips, each leg and arm: fix it for "
                                     "this rig (saved for every file of the same rig)")
        self.set_enabled(False)
        exports = QGridLayout()     # two rows: three buttons do not fit the column's width
        exports.setSpacing(6)
        exports.addWidget(self.export_button, 0, 0)
        exports.addWidget(self.export_mp4_button, 0, 1)
        exports.addWidget(self.roles_button, 1, 0, 1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(section("Clip"))
        lay.addWidget(card(facts_w))
        lay.addLayout(exports)

    def set_enabled(self, on: bool) -> None:
        for b in (self.export_button, self.export_mp4_button, self.roles_button):
            b.setEnabled(on)

    def set_facts(self, facts: dict[str, str]) -> None:
        while self.facts.rowCount():
            self.facts.removeRow(0)
        for k, v in facts.items():
            val = QLabel(v)
            val.setWordWrap(True)
            if k == "licence":  # made by the Bandai-trained models
                from ui.motion.common import LICENCE_TIP

                val.setToolTip(LICENCE_TIP)
                val.setStyleSheet("color: #d9a441;")
            self.facts.addRow(QLabel(k), val)
