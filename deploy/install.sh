#!/usr/bin/env bash
# Install Humiao into ./.venv on a Debian machine with Python 3.11, for one role:
#
#   bash deploy/install.sh edge   an edge box: `humiao[edge]` (vision pipeline, no web framework, ORM or
#                                 PDF library), a regular install; prepares the models
#   bash deploy/install.sh hub    a hub box: `humiao[hub]`, a regular install; the CJK font for PDF reports
#   bash deploy/install.sh demo   `humiao demo` on one machine: `humiao[demo]` editable, models, font
#   bash deploy/install.sh test   the default: `humiao[test]` editable (the test suite, benchmarks, lint),
#                                 insightface's sample images, models, font
#
# Used by deploy/demo.sh (demo) and .ci/run (test). Safe to run again: it upgrades the install in
# place (after a `git pull`, run it again). The models go to $HUMIAO_MODEL_DIR when it is set (the
# edge unit's /var/lib/humiao-edge/models), else ~/.cache/humiao/models.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,9s/^# \{0,1\}//p' "$0"; }
ROLE=${1:-test}
case "$ROLE" in
  edge | hub | demo | test) ;;
  -h | --help) usage; exit 0 ;;
  *) echo "unknown role '$ROLE': use one of edge, hub, demo, test" >&2; usage >&2; exit 2 ;;
esac
if [ $# -gt 1 ]; then
  echo "one role at a time (got: $*); demo and test include both edge and hub" >&2
  exit 2
fi

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

# A production box's environment holds only what its role needs, and pip never removes another
# role's packages: .venv remembers what it was installed for (edge, hub, or dev for demo and test,
# which share one editable install) and a different one asks for a new environment.
KIND=$ROLE
case "$ROLE" in demo | test) KIND=dev ;; esac
MARK=.venv/humiao-role
if [ -f "$MARK" ] && [ "$(cat "$MARK")" != "$KIND" ]; then
  echo ".venv holds the '$(cat "$MARK")' install, not '$KIND' (role $ROLE): remove it (rm -rf .venv) and run again" >&2
  exit 1
fi

PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
"${PIP[@]}" --upgrade pip
case "$ROLE" in
  # production boxes: a regular (non-editable) install, so the running code is the installed copy
  edge | hub) "${PIP[@]}" ".[$ROLE]" ;;
  *) "${PIP[@]}" -e ".[$ROLE]" ;;
esac
echo "$KIND" >"$MARK"

if [ "$ROLE" = test ]; then
  # Sample and test images ship inside the insightface wheel; the library itself is only needed for
  # the optional insightface pack. Its declared dependency on opencv-python (GUI build) would clash
  # with opencv-python-headless, so it is installed without dependencies, plus what it imports.
  echo "(pip may report that insightface 2.1 requires opencv-python: expected, the headless build serves it)"
  "${PIP[@]}" --no-deps "insightface==2.1"
  "${PIP[@]}" requests tqdm scipy
fi

if [ "$ROLE" != edge ]; then
  # PDF reports embed a CJK TrueType font from Debian (without it their Chinese text needs the
  # viewer's Asian font pack).
  if ! [ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null) ||
        echo "could not install fonts-wqy-zenhei; PDF reports fall back to a font viewers may lack" >&2
    else
      echo "for PDF reports with Chinese text: sudo apt-get install -y fonts-wqy-zenhei" >&2
    fi
  fi
fi

if [ "$ROLE" != hub ]; then
  # Models: from registry packages only (PyPI wheels, face-api's npm package), converted and
  # verified by sha256 (see models/README.md). npm fetches the face-api tarball once.
  if ! command -v npm >/dev/null && [ -z "${HUMIAO_NPM_TARBALLS:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
    else
      echo "npm is missing (sudo apt-get install -y npm): the face-api age model comes from an npm package" >&2
    fi
  fi
  .venv/bin/humiao models prepare
fi
echo "humiao installed for the role '$ROLE' in $(pwd)/.venv (commands in .venv/bin)"
