"""Codec results: the BD-rate table against a chosen anchor curve."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QStyle, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)


class BDTable(QWidget):
    """Rows in (``show_rows`` / ``show_message``); the chosen anchor out."""

    anchor_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.anchor_combo = QComboBox()
        self.anchor_combo.currentIndexChanged.connect(lambda _i: self.anchor_changed.emit())
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Codec", "BD-rate", "BD-quality", "Note"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        bl = QVBoxLayout(self)
        bl.setContentsMargins(0, 0, 0, 0)
        at = QHBoxLayout()
        at.addWidget(QLabel("Anchor"))
        at.addWidget(self.anchor_combo)
        at.addStretch(1)
        bl.addLayout(at)
        bl.addWidget(self.table, 1)

    def anchor(self) -> str | None:
        return self.anchor_combo.currentData()

    def has_anchors(self) -> bool:
        return self.anchor_combo.count() > 0

    def set_anchors(self, curves) -> None:
        """Offer ``curves`` (key, label) as anchors, keeping the chosen one; emits nothing."""
        anchor = self.anchor_combo.currentData()
        self.anchor_combo.blockSignals(True)
        self.anchor_combo.clear()
        for c in curves:
            self.anchor_combo.addItem(c.label, c.key)
        i = self.anchor_combo.findData(anchor)
        self.anchor_combo.setCurrentIndex(i if i >= 0 else 0)
        self.anchor_combo.blockSignals(False)

    def clear(self) -> None:
        self.table.clearSpans()
        self.table.setRowCount(0)

    def show_message(self, text: str) -> None:
        """One row across the table (why there are no numbers, and how to get them)."""
        self.table.insertRow(0)
        self.table.setItem(0, 0, QTableWidgetItem(text))
        self.table.setSpan(0, 0, 1, self.table.columnCount())

    def show_rows(self, rows, names: dict[str, str], unit: str) -> None:
        """``rows``: studio.codec.report.bd_table rows. A row whose numbers deserve less trust
        (curves overlapping under 75 %, interpolation methods disagreeing) is tinted and its
        note has a warning icon, with every reason in the row's tooltip."""
        warn_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        tint = pg.mkColor(255, 170, 0, 70)
        for r in rows:
            i = self.table.rowCount()
            self.table.insertRow(i)
            note = r.note
            if r.warnings and not note:
                note = r.warnings[0] if len(r.warnings) == 1 else \
                    f"{len(r.warnings)} warnings: {r.warnings[0]}"
            cells = [names.get(r.curve, r.label or r.curve),
                     "–" if r.bd_rate is None else f"{r.bd_rate:+.1f} %",
                     "–" if r.bd_quality is None else f"{r.bd_quality:+.3f}{unit}", note]
            tip = "\n".join(f"⚠ {w}" for w in r.warnings)
            if r.bd_rate_by_method:
                tip += ("\n\n" if tip else "") + "BD-rate by interpolation: " + ", ".join(
                    f"{m} {v:+.2f} %" for m, v in r.bd_rate_by_method.items())
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 1 and r.bd_rate is not None:
                    item.setForeground(pg.mkColor("#51cf66" if r.bd_rate < 0 else "#ff8787"))
                if r.warnings:
                    item.setBackground(tint)
                    if j == 3:
                        item.setIcon(warn_icon)
                if tip:
                    item.setToolTip(tip)
                self.table.setItem(i, j, item)
