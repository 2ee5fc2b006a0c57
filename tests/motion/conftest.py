import pytest


@pytest.fixture
def bandai(shared_data):
    """Folder of the Bandai-Namco BVH files (read in place; CC BY-NC, never copied)."""
    folder = shared_data / "mocap" / "bandai-1" / "data"
    if not folder.is_dir():
        pytest.skip(f"Bandai-Namco mocap not found at {folder}")
    return folder


@pytest.fixture(scope="session")
def walk():
    pytest.importorskip("pybullet_data", reason="the built-in clips ship with pybullet")
    from studio.motion.io.library import load_builtin

    return load_builtin("walk")


@pytest.fixture(autouse=True)
def _user_data(tmp_path_factory, monkeypatch):
    """Keep saved joint mappings (studio.motion.core.rigmap) out of the real user data folder."""
    monkeypatch.setenv("STUDIO_USER_DATA", str(tmp_path_factory.mktemp("user-data")))
