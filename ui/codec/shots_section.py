"""Codec results: a per-shot project's shots, their first frames, and what the per-shot point
shown as B chose for each."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from ui.codec.rd_section import BUDGET_COLOUR


class ShotsTable(QTableWidget):
    """Shots in (``show_shots``); a clicked shot's first frame out (``shot_clicked``)."""

    shot_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 5, parent)
        self.setHorizontalHeaderLabels(["Shot", "Frames", "First frame", "Over budget",
                                        "Chosen (B)"])
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.setEditTriggers(QTableWidget.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.setIconSize(QSize(96, 64))
        self._shots: list[tuple[int, int]] = []
        self._icons: dict[tuple, object] = {}
        self.cellClicked.connect(self._clicked)

    def show_shots(self, key: str, shots, chosen: list[dict], first_frame,
                   removed: dict[tuple[int, int], list[str]] | None = None) -> None:
        """``shots``: (first, end) frame ranges of project ``key``; ``chosen``: the per-shot
        point's choice for each (may be empty); ``first_frame(i)``: frame i as RGB (thumbnails
        are made once per project and shot, for the first 200); ``removed``: per shot range,
        the candidates the decoder budget removed (label: why)."""
        removed = removed or {}
        from PySide6.QtGui import QIcon, QImage, QPixmap

        self._shots = list(shots)
        self.setRowCount(len(self._shots))
        for row, (a, b) in enumerate(self._shots):
            icon = self._icons.get((key, a))
            if icon is None and row < 200:
                rgb = np.ascontiguousarray(first_frame(a)[::4, ::4])
                h, w = rgb.shape[:2]
                img = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
                icon = self._icons[(key, a)] = QIcon(QPixmap.fromImage(img))
            self.setItem(row, 0, QTableWidgetItem(str(row + 1)))
            self.setItem(row, 1, QTableWidgetItem(f"{a}–{b - 1}"))
            thumb = QTableWidgetItem()
            if icon is not None:
                thumb.setIcon(icon)
            self.setItem(row, 2, thumb)
            gone = removed.get((a, b), [])
            cell = QTableWidgetItem(f"{len(gone)} removed" if gone else "—")
            if gone:
                cell.setForeground(QColor(BUDGET_COLOUR))
                cell.setToolTip("Removed by the decoder budget (never chosen):\n" + "\n".join(gone))
            self.setItem(row, 3, cell)
            text = ""
            if row < len(chosen):
                c = chosen[row]
                what = " ".join(x for x in (c.get("codec", ""), c["preset"], f"{c['value']:g}") if x)
                text = (f"{what} · {c['kbps']:.0f} kbit/s · "
                        f"{c['decode_fps']:.0f} fps decode")
            self.setItem(row, 4, QTableWidgetItem(text or "—"))
        self.resizeRowsToContents()

    def _clicked(self, row: int, _col: int) -> None:
        if row < len(self._shots):
            self.shot_clicked.emit(self._shots[row][0])
