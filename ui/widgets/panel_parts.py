"""Small building blocks every workbench panel uses: header, section label, empty state."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QPushButton, QVBoxLayout, QWidget, QHBoxLayout


def header(title: str, subtitle: str) -> QWidget:
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 4)
    lay.setSpacing(2)
    t = QLabel(title)
    t.setObjectName("PanelTitle")
    s = muted(subtitle)
    lay.addWidget(t)
    lay.addWidget(s)
    return w


def muted(text: str = "") -> QLabel:
    """A wrapped, muted note (hints, status lines, read-outs under a control)."""
    lab = QLabel(text)
    lab.setObjectName("PanelSubtitle")
    lab.setWordWrap(True)
    return lab


def section(text: str) -> QLabel:
    lab = QLabel(text.upper())
    lab.setObjectName("SectionLabel")
    return lab


def form(*rows: tuple[str, QWidget]) -> QFormLayout:
    """A tool form (label, field) in the house spacing: left-aligned labels, 10/6 px gaps."""
    f = QFormLayout()
    f.setLabelAlignment(Qt.AlignLeft)
    f.setHorizontalSpacing(10)
    f.setVerticalSpacing(6)
    for label, widget in rows:
        f.addRow(label, widget)
    return f


def tool_column(owner: QWidget, rows: QFormLayout, *widgets: QWidget) -> QVBoxLayout:
    """A tool tab's layout on ``owner``: the form, then buttons and notes, then stretch."""
    lay = QVBoxLayout(owner)
    lay.setContentsMargins(12, 12, 12, 12)
    lay.setSpacing(8)
    lay.addLayout(rows)
    lay.addSpacing(2)
    for w in widgets:
        lay.addWidget(w)
    lay.addStretch(1)
    return lay


def card(*widgets: QWidget, spacing: int = 8) -> QFrame:
    f = QFrame()
    f.setObjectName("Card")
    lay = QVBoxLayout(f)
    lay.setContentsMargins(12, 12, 12, 12)
    lay.setSpacing(spacing)
    for w in widgets:
        lay.addWidget(w)
    return f


class EmptyState(QFrame):
    """A dashed drop area with a title, a hint and an optional action button."""

    def __init__(self, title: str, hint: str, action: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("EmptyState")
        lay = QVBoxLayout(self)
        lay.setAlignment(Qt.AlignCenter)
        lay.setSpacing(10)
        icon = QLabel("⤓")
        icon.setAlignment(Qt.AlignCenter)
        icon.setStyleSheet("font-size: 40px; color: #4a4f57;")
        self.title = QLabel(title)
        self.title.setObjectName("EmptyTitle")
        self.title.setAlignment(Qt.AlignCenter)
        self.hint = QLabel(hint)
        self.hint.setObjectName("EmptyHint")
        self.hint.setAlignment(Qt.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setMinimumWidth(460)
        lay.addWidget(icon)
        lay.addWidget(self.title)
        lay.addWidget(self.hint)
        self.button: QPushButton | None = None
        if action:
            row = QHBoxLayout()
            row.setAlignment(Qt.AlignCenter)
            self.button = QPushButton(action)
            self.button.setObjectName("Primary")
            row.addWidget(self.button)
            lay.addLayout(row)
