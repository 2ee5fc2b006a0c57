"""The app theme (ui/theme.py + resources/style.qss) as drawn: spin boxes keep their arrows."""

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QDoubleSpinBox, QSpinBox, QStyle,
                               QStyleOptionSpinBox)


@pytest.fixture
def themed(qapp):
    """The theme on the test app, as ui.app.main applies it; the old look back afterwards."""
    from ui import theme

    style, palette, sheet = qapp.style().name(), qapp.palette(), qapp.styleSheet()
    theme.apply(qapp)
    yield qapp
    qapp.setStyleSheet(sheet)
    qapp.setStyle(style)
    qapp.setPalette(palette)


def arrow_pixels(box: QAbstractSpinBox) -> tuple[int, int]:
    """How many pixels in the up and in the down button stand out from the button (an arrow,
    bright when enabled, dimmer when disabled or at the end of the range)."""
    if box.width() < 60:
        box.resize(max(box.sizeHint().width(), 120), box.sizeHint().height())
    box.ensurePolished()
    img = box.grab().toImage()
    opt = QStyleOptionSpinBox()
    box.initStyleOption(opt)
    counts = []
    for sc in (QStyle.SC_SpinBoxUp, QStyle.SC_SpinBoxDown):
        r = box.style().subControlRect(QStyle.CC_SpinBox, opt, sc, box)
        counts.append(sum(QColor(img.pixel(x, y)).lightness() > 80
                          for x in range(max(0, r.left()), min(img.width(), r.right() + 1))
                          for y in range(max(0, r.top()), min(img.height(), r.bottom() + 1))))
    return counts[0], counts[1]


def test_the_arrow_check_tells_a_bare_frame_from_a_themed_box(themed, qtbot):
    box = QSpinBox()
    qtbot.addWidget(box)
    box.setRange(0, 10)
    box.setValue(5)
    up, down = arrow_pixels(box)
    assert up >= 6 and down >= 6
    # the sheet's frame rule alone (what the theme had before): Fusion draws no arrows
    sheet = themed.styleSheet()
    themed.setStyleSheet("QSpinBox { background: #181a1d; border: 1px solid #3a3d42; "
                         "border-radius: 5px; padding: 4px 6px; }")
    try:
        assert arrow_pixels(box) == (0, 0)
    finally:
        themed.setStyleSheet(sheet)


@pytest.mark.parametrize("cls", [QSpinBox, QDoubleSpinBox])
@pytest.mark.parametrize("enabled", [True, False])
def test_spin_boxes_show_their_arrows(themed, qtbot, cls, enabled):
    box = cls()
    qtbot.addWidget(box)
    box.setRange(0, 10)
    box.setValue(5)
    box.setEnabled(enabled)
    up, down = arrow_pixels(box)
    assert up >= 6 and down >= 6, (up, down)


def test_every_spin_box_in_the_workbenches_shows_its_arrows(themed, open_panel):
    """Each workbench's own spin boxes, as built (a local style sheet could hide them again)."""
    from ui.codec.panel import CodecPanel
    from ui.motion.panel import MotionPanel
    from ui.talk.panel import TalkPanel

    seen = 0
    for cls in (TalkPanel, MotionPanel, CodecPanel):
        panel = open_panel(cls)
        for box in panel.findChildren(QAbstractSpinBox):
            up, down = arrow_pixels(box)
            assert up >= 6 and down >= 6, (cls.__name__, box.objectName() or box.toolTip(), up, down)
            seen += 1
    assert seen >= 5    # codec: points, frames; motion: blend and transition settings
    QApplication.processEvents()
