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

