#!/usr/bin/env bash
# Set NForge up from nothing: system packages when missing, a virtualenv, a CPU torch, the project.
#   scripts/setup.sh          what running the app needs
#   scripts/setup.sh --test   also the test tools and Debian's chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

apt_install() {
    # Install Debian packages that are missing; use sudo when not root; never fail the set-up for them.
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
    if ! command -v apt-get >/dev/null; then
        say "apt-get not found: please install ${missing[*]} yourself"; return 0
    fi
    say "installing ${missing[*]} (apt)"
    if ! { $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
           { $sudo apt-get update -q >/dev/null 2>&1 &&
             $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }; }; then
        say "could not install ${missing[*]}; features that need them will say so"
    fi
}

apt_install espeak-ng
[ $want_test -eq 1 ] && apt_install chromium

if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    # A plain `pip install torch` pulls a multi-GB CUDA build: take the CPU wheel instead.
    if ls "${PIP_FIND_LINKS:-/nonexistent}"/torch-${TORCH_VERSION}+cpu* >/dev/null 2>&1; then
        say "installing torch ${TORCH_VERSION} (local CPU wheel)"
        "${PIP[@]}" "torch==${TORCH_VERSION}"
    else
        say "installing torch ${TORCH_VERSION} (CPU build from download.pytorch.org)"
        "${PIP[@]}" "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu
    fi
fi

extras="ui"
[ $want_test -eq 1 ] && extras="ui,dev"
say "installing nforge-app[$extras]"
"${PIP[@]}" -e ".[$extras]"
say "ready: $("$VENV/bin/nforge" --version)"
