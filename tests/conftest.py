"""Test set-up shared by every test: no network, a private cache per session, nothing read outside the repo."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"

# Set before nforge_app is imported by any test module.
os.environ.pop("NFORGE_ATLAS_DIR", None)  # the packaged atlases
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Every session gets an empty cache folder, so tests never see a user's cache."""
    cache = tmp_path_factory.mktemp("nforge-cache")
    old = os.environ.get("NFORGE_CACHE_DIR")
    os.environ["NFORGE_CACHE_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("NFORGE_CACHE_DIR", None)
    else:
        os.environ["NFORGE_CACHE_DIR"] = old


_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


def _is_local(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    return host is None or (isinstance(host, str) and (
        host in ("localhost", "::1", "0.0.0.0", "") or host.startswith("127.") or host.startswith("/")))


def _guarded_connect(self, address):
    if _is_local(address[0] if isinstance(address, tuple) else address):
        return _real_connect(self, address)
    raise OSError(f"tests must not use the network (tried to connect to {address!r})")


def _guarded_getaddrinfo(host, *args, **kwargs):
    if _is_local(host):
        return _real_getaddrinfo(host, *args, **kwargs)
    raise OSError(f"tests must not use the network (tried to look up {host!r})")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Block every name lookup and socket connection that does not stay on this machine."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)


@pytest.fixture()
def float32_features(monkeypatch):
    """Feature models in float32 whatever the CPU: tests that compare against a float32 reference need it
    (on CPUs with native bf16 the TRIBE extractors default to bfloat16)."""
    from nforge_app.features._hf import FEATURE_DTYPE_ENV

    monkeypatch.setenv(FEATURE_DTYPE_ENV, "float32")


@pytest.fixture
def one_torch_thread():
    """Tiny tensors run far faster on one thread than on cores shared with other tests."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_browser = pytest.mark.skip(reason="needs Debian's chromium (/usr/bin/chromium) and playwright")
    has_browser = shutil.which("chromium") is not None
    if not has_browser and os.environ.get("NFORGE_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError("NFORGE_REQUIRE_BROWSER=1 but chromium is not installed: the browser tests "
                                "would be skipped (scripts/setup.sh --test installs it)")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)
        if "browser" in item.keywords and not has_browser:
            item.add_marker(skip_browser)
