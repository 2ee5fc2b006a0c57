"""The Motion panel's clip library: built-in clips, opened files and clips made in the studio
(blends, transitions, styles), and every combo that lists them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ui.widgets.panel_parts import section


class ClipLibrary(QWidget):
    """``chosen(name)`` fires when an entry is selected; :meth:`source_of` says what it is."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clips: dict[str, Path | None] = {}  # every entry: a file's path, None when made here
        self.made: dict[str, object] = {}  # clips made here (blends, transitions, styles), by name
        self._new_files: dict[str, QListWidgetItem] = {}  # dropped, not opened yet
        self._combos: list[tuple[QComboBox, str]] = []  # combos listing the library
        self.list = QListWidget()
        self.list.setSpacing(2)
        self.list.currentItemChanged.connect(self._selected)
        lay = QVBoxLayout(self)
        lay.setSpacing(8)
        lay.addWidget(section("Clip library"))
        lay.addWidget(self.list, 1)

    # -- entries ----------------------------------------------------------------------------
    def fill_builtin(self) -> str:
        """List pybullet's built-in clips; returns the problem when there are none ("" if fine)."""
        try:
            from studio.motion.io.library import builtin_clips

            clips = builtin_clips()
        except Exception as exc:  # noqa: BLE001 - a missing package must not stop the app
            return f"built-in clips unavailable: {exc}"
        for name, path in clips.items():
            self._add_item(name, path, builtin=True)
        return ""

    def source_of(self, name: str):
        """A library entry: a Clip made here, or the path of a file / built-in clip (read it
        on a worker with studio.motion.io.files.load_source)."""
        return self.made.get(name) or self.clips.get(name)

    def unique_name(self, base: str) -> str:
        name, k = base, 2
        while name in self.clips:
            name, k = f"{base} #{k}", k + 1
        return name

    def register_combo(self, combo: QComboBox, default: str = "") -> None:
        """Keep ``combo`` listing every library clip (selecting ``default`` when it comes)."""
        self._combos.append((combo, default))
        for name in self.clips:
            self._add_to_combo(combo, name, default)

    def open_path(self, path: Path) -> None:
        """A dropped or opened file: a new entry (or the same file's entry again), selected.
        Until :meth:`file_done` says it opened, a failure removes the entry again."""
        name = path.stem if self.clips.get(path.stem) in (None, path) else \
            self.unique_name(path.stem)
        found = self.list.findItems(name, Qt.MatchExactly)
        if found and self.clips.get(name) == path:
            item = found[0]                        # the same file again: reopen it
        else:
            item = self._add_item(name, path)
            self._new_files[str(path)] = item
        self.list.setCurrentItem(item)

    def file_done(self, path: Path, ok: bool) -> None:
        """A file entry finished opening; one that failed leaves no entry (nor combo entry)."""
        item = self._new_files.pop(str(path), None)
        if item is not None and not ok:
            self._remove(item.text())

    def put_made(self, clip, select: bool = True, quiet: bool = False) -> str:
        """A made clip into the library: made again with the same name (the same tool and
        settings), it replaces its entry instead of adding "name #2". ``quiet`` selects it
        without firing ``chosen``. Returns its name."""
        clip.name = clip.name or "clip"
        item = None
        if clip.name in self.made:
            found = self.list.findItems(clip.name, Qt.MatchExactly)
            item = found[0] if found else None
        elif clip.name in self.clips:               # a file or built-in of that name
            clip.name = self.unique_name(clip.name)
        self.made[clip.name] = clip
        if item is None:
            item = self._add_item(clip.name, None)
        if select:
            blocker = self.list.blockSignals(quiet)
            try:
                self.list.setCurrentItem(item)
            finally:
                self.list.blockSignals(blocker)
        return clip.name

    # -- internals ------------------------------------------------------------------------------
    def _add_item(self, name: str, path: Path | None, builtin: bool = False) -> QListWidgetItem:
        self.clips[name] = path
        for combo, default in self._combos:
            self._add_to_combo(combo, name, default)
        item = QListWidgetItem(name)
        item.setData(Qt.UserRole, str(path) if path else "")
        item.setToolTip(("built-in DeepMimic clip: " if builtin else "")
                        + (str(path) if path else "made in the studio"))
        self.list.addItem(item)
        return item

    @staticmethod
    def _add_to_combo(combo: QComboBox, name: str, default: str) -> None:
        if combo.findText(name) < 0:
            combo.addItem(name)
            if name == default:
                combo.setCurrentIndex(combo.count() - 1)

    def _remove(self, name: str) -> None:
        self.clips.pop(name, None)
        self.made.pop(name, None)
        for item in self.list.findItems(name, Qt.MatchExactly):
            self.list.takeItem(self.list.row(item))
        for combo, _ in self._combos:
            i = combo.findText(name)
            if i >= 0:
                combo.removeItem(i)

    def _selected(self, item: QListWidgetItem | None, _prev=None) -> None:
        if item is not None:
            self.chosen.emit(item.text())
