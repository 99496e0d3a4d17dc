#!/usr/bin/env bash
# Installs the system programs the tests drive that pip cannot bring: Debian's Chromium
# (/usr/bin/chromium, for the `browser` tests). Safe to run again: it does nothing when
# Chromium is already there, and then skips `apt-get update` too.
#   usage: bash .ci/install-system.sh          (CI=true is how .ci/run calls it)
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
    echo "install-system: chromium already installed ($("$CHROMIUM" --version 2>/dev/null | head -n1))"
    exit 0
fi

if [[ "${CI:-}" != "true" ]]; then
    echo "install-system: $CHROMIUM is missing; installing Debian's chromium package"
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -E)
    else
        echo "install-system: need root (or sudo) to run apt-get install -y chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
started=$SECONDS
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 chromium >/dev/null
echo "install-system: installed $("$CHROMIUM" --version 2>/dev/null | head -n1) in $((SECONDS - started)) s"
