#!/usr/bin/env bash
# One command for a new user: install, prepare the models, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install.sh demo
exec .venv/bin/humiao demo "$@"
