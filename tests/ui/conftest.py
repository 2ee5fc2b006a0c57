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
        w.ctx.runner.wait(20000)
        qtbot.wait(20)
        windows.append(w)
        return w.panels[cls.workbench]

    yield make
    for w in windows:
        w.ctx.runner.cancel_all()
        w.ctx.runner.wait(10000)
        for p in w.panels.values():
            p.shutdown()
