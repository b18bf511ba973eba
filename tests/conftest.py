import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never touch the real per-user cache."""
    os.environ["TRANSFERLAB_CACHE_DIR"] = str(tmp_path_factory.mktemp("transferlab-cache"))
    yield
