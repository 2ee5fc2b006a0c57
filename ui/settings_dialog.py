"""Settings: execution provider, pooled sessions, threads per session."""

from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QSpinBox, QVBoxLayout, QWidget)

from studio.runtime.pool import machine
from studio.runtime.providers import choose
from studio.settings import EngineSettings, cpu_count

CHOICES = [("Auto (best for this machine)", "auto"), ("CoreML (Apple Neural Engine)", "coreml"),
           ("CUDA (NVIDIA GPU)", "cuda"), ("CPU", "cpu")]


class SettingsDialog(QDialog):
    def __init__(self, settings: EngineSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(480)
        self.provider = QComboBox()
        for label, value in CHOICES:
            self.provider.addItem(label, value)
        self.provider.setCurrentIndex([v for _, v in CHOICES].index(settings.provider))
        self.sessions = QSpinBox()
        self.sessions.setRange(0, 64)
        self.sessions.setSpecialValueText(f"Auto (one per core: {cpu_count()})")
        self.sessions.setValue(settings.pool_size)
        self.threads = QSpinBox()
        self.threads.setRange(1, 64)
        self.threads.setValue(settings.threads_per_session)
        self.explain = QLabel()
        self.explain.setWordWrap(True)
        self.explain.setObjectName("PanelSubtitle")

        form = QFormLayout()
        form.addRow("Execution provider", self.provider)
        form.addRow("", self.explain)
        form.addRow("Pooled sessions per model", self.sessions)
        form.addRow("Threads per session", self.threads)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        note = QLabel("Several one-thread sessions usually beat one many-thread session on a "
                      "few cores. Changes apply to models loaded from now on.")
        note.setWordWrap(True)
        note.setObjectName("PanelSubtitle")
        lay.addWidget(note)
        lay.addWidget(buttons)
        self.provider.currentIndexChanged.connect(self._update_explain)
        self._update_explain()

    def _update_explain(self) -> None:
        c = choose(self.provider.currentData(), machine())
        self.explain.setText(f"→ {c.label}: {c.reason}")

    def value(self) -> EngineSettings:
        return EngineSettings(provider=self.provider.currentData(), pool_size=self.sessions.value(),
                              threads_per_session=self.threads.value())
