"""A fresh clone with nothing beside it: set up by the README's path, predict offline, run a sample of the suite.

The clone gets its own virtualenv made by ``scripts/setup.sh`` (the set-up path of ``make test`` and ``make
demo``). To keep this test to a minute, that venv (made without its own pip) sees this session's installed packages through a ``.pth``
file and pip may not reach an index (``PIP_NO_INDEX``): so setup.sh finds every dependency present, and only
the clone itself is installed. Then, with every socket refused, the clone writes the example clip, predicts it
on the lite model and describes it, as ``make demo`` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Put first on PYTHONPATH of the offline steps: any connection outside this machine fails at once.
_NO_NETWORK = '''
import socket

def _refuse(*args, **kwargs):
    raise OSError("the network is blocked in this test")

_connect = socket.socket.connect

def _connect_local(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")):
        return _connect(self, address)
    _refuse()

socket.socket.connect = _connect_local
socket.create_connection = _refuse
'''


def _run(args, cwd, env, timeout=600):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of the project")
    clone = tmp_path_factory.mktemp("isolated") / "nforge"
    _run(["git", "clone", "--quiet", str(REPO), str(clone)], cwd=clone.parent, env=dict(os.environ))
    assert sorted(p.name for p in clone.parent.iterdir()) == ["nforge"]  # nothing beside it, no ../shared
    return clone


@pytest.fixture(scope="module")
def clone_env(clone, tmp_path_factory):
    """The environment of a user of the clone: its venv, a private cache and home, no atlas folder."""
    home = tmp_path_factory.mktemp("home")
    blocker = tmp_path_factory.mktemp("no-network")
    (blocker / "sitecustomize.py").write_text(_NO_NETWORK)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("NFORGE_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))}
    env.update(HOME=str(home), NFORGE_CACHE_DIR=str(home / "cache"), PIP_NO_INDEX="1",
               PIP_NO_BUILD_ISOLATION="0", HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    venv = clone / ".venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=clone, env=env)
    purelib = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (purelib / "_this_session.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    setup = _run(["bash", "scripts/setup.sh"], cwd=clone, env=env)
    assert "ready: nforge" in setup.stdout
    return {**env, "PYTHONPATH": str(blocker), "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}"}


@pytest.mark.slow
def test_fresh_clone_predicts_offline_as_make_demo_does(clone, clone_env):
    located = _run(["python", "-c", "import nforge_app, sys; print(nforge_app.__file__)"], cwd=clone.parent,
                   env=clone_env)
    assert located.stdout.strip() == str(clone / "nforge_app" / "__init__.py")
    _run(["nforge", "example", "demo"], cwd=clone, env=clone_env)
    predicted = _run(["nforge", "predict", "demo/nforge_example_clip.mp4", "--roi", "V*", "*STS*", "A1", "--quiet",
                      "--out", "demo/example.nforge-lite.npz"], cwd=clone, env=clone_env)
    assert "baseline, not trained on fMRI" in predicted.stdout
    info = _run(["nforge", "info", "demo/example.nforge-lite.npz"], cwd=clone, env=clone_env)
    assert "nforge-lite" in info.stdout and "20 samples" in info.stdout
    assert not (Path(clone_env["NFORGE_CACHE_DIR"]) / "atlases").exists()  # the packaged atlases, nothing fetched


@pytest.mark.slow
def test_fresh_clone_runs_a_sample_of_its_suite(clone, clone_env):
    env = {**clone_env, "PYTHONPATH": ""}  # the suite blocks the network itself
    done = _run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/spaces/test_spaces_atlases.py",
                 "tests/test_cli.py", "tests/features/test_tribe_config.py"], cwd=clone, env=env)
    assert " passed" in done.stdout and "failed" not in done.stdout and "error" not in done.stdout.lower()
