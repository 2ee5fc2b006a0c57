import pytest


@pytest.fixture
def open_panel(qtbot, tmp_path, monkeypatch):
    """``open_panel(PanelClass)``: a main window holding just that workbench, shown, with
    throw-away settings; start-up jobs finished; jobs cancelled and drained afterwards."""
    monkeypatch.setenv("STUDIO_SETTINGS_ORG", f"NMSTest-{tmp_path.name}")
    windows = []

    def make(cls):
        from ui.main_window import MainWindow

        w = MainWindow(panels=[cls])
        qtbot.addWidget(w)
        w.show()
        qtbot.wait(50)  # start-up timers (default avatar, device list) fire and start jobs
        qtbot.waitUntil(lambda: w.ctx.runner.idle, timeout=60000)
        windows.append(w)
        return w.panels[cls.workbench]

    yield make
    for w in windows:
        w.ctx.runner.cancel_all()
        w.ctx.runner.wait(10000)
        for p in w.panels.values():
            p.shutdown()
