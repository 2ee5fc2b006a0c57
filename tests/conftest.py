import os
import sys
from pathlib import Path

# Logic tests use Qt's offscreen platform; screenshot tests start their own process on the
# real X display (Xvfb) instead.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("STUDIO_SETTINGS_ORG", "NeuralMediaStudioTests")
# Caches (extracted avatars, parsed long BVH files, training checkpoints) go to a folder of
# the test run, never the user's own cache; subprocesses inherit it.
if "STUDIO_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["STUDIO_CACHE_DIR"] = _TEST_CACHE = tempfile.mkdtemp(prefix="nms-test-cache-")
else:
    _TEST_CACHE = None

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from ui.gl import configure_default_format  # noqa: E402

configure_default_format()  # before pytest-qt creates the QApplication


@pytest.fixture(autouse=True)
def _cycle_collection_on_the_gui_thread(request):
    """Qt tests run as the app does (ui.app.collect_garbage_in_gui_thread: no automatic
    cycle collection, which could destroy dead Qt objects on a job thread and deadlock),
    and their Qt garbage is collected on the GUI thread when they end; other tests run
    with automatic collection on."""
    import gc

    if not {"qtbot", "qapp"} & set(request.fixturenames):
        was = gc.isenabled()
        gc.enable()
        yield
        if not was:
            gc.disable()
        return
    from ui.app import collect_garbage_in_gui_thread

    request.getfixturevalue("qapp")
    collect_garbage_in_gui_thread()
    gc.disable()
    yield
    gc.collect()


@pytest.fixture
def tiny_model(tmp_path):
    from tests.fixtures.tiny_models import conv_net

    return conv_net(tmp_path / "tiny_conv", size=32, width=8, depth=2)


@pytest.fixture
def shared_data():
    from studio.paths import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA


def pytest_sessionfinish(session, exitstatus):
    if _TEST_CACHE:
        import shutil

        shutil.rmtree(_TEST_CACHE, ignore_errors=True)

