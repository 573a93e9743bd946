#!/usr/bin/env bash
# Every benchmark behind the README's tables, on ../shared data; JSON and PNG into $OUT.
# Run from the repository root after `bash deploy/install.sh`:  bash benchmarks/run_all.sh [OUT]
set -euo pipefail
OUT=${1:-artifacts/bench}
FACES=../shared/data/faces
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
$PY -m benchmarks.alignment_parity --data $FACES/fgnet --data $FACES/utkface --landmarks facemesh --json "$OUT/parity_facemesh.json"
$PY -m benchmarks.alignment_parity --data $FACES/fgnet --data $FACES/utkface --landmarks blazeface --json "$OUT/parity_blazeface.json"
# every age model's output once per photo (both halves; single photos and simulated 6-frame tracks)
for set in fgnet utkface; do
  $PY -m benchmarks.age_features --data $FACES/$set --out "$OUT/features_${set}.npz"
done
$PY -m benchmarks.age_features --data $FACES/fgnet --views 6 --out "$OUT/features_fgnet_v6.npz"
$PY -m benchmarks.age_features --data $FACES/utkface --views 6 --limit 3000 --out "$OUT/features_utkface_v6.npz"
# the ensemble's weights and the levers, by cross-dataset validation on the fit halves
$PY -m benchmarks.age_select --features "$OUT/features_fgnet.npz" --features "$OUT/features_utkface.npz" \
  --tracks "$OUT/features_fgnet_v6.npz" --tracks "$OUT/features_utkface_v6.npz" --json "$OUT/age_select.json"
# (refitting the shipped calibrations for the chosen weights is a separate, deliberate step:
#  $PY -m benchmarks.calibrate --features "$OUT/features_fgnet.npz" --features "$OUT/features_utkface.npz" --profile east-asian|all)
for set in fgnet utkface; do
  $PY -m benchmarks.age_accuracy --data $FACES/$set --split test --views 1 --features "$OUT/features_${set}.npz" \
    --json "$OUT/age_${set}_single.json"
done
$PY -m benchmarks.age_accuracy --data $FACES/fgnet --split test --views 6 --features "$OUT/features_fgnet_v6.npz" \
  --json "$OUT/age_fgnet_track6.json"
$PY -m benchmarks.age_accuracy --data $FACES/utkface --split test --views 6 --limit 3000 \
  --features "$OUT/features_utkface_v6.npz" --json "$OUT/age_utkface_track6.json"
HUMIAO__MODELS__LANDMARKS=blazeface $PY -m benchmarks.age_accuracy --data $FACES/fgnet --split test --views 6 --json "$OUT/age_fgnet_track6_blazeface_align.json"
$PY -m benchmarks.detector_compare --data $FACES/fgnet --data $FACES/utkface --faces 100 --json "$OUT/detector_compare.json"
$PY -m benchmarks.edge_speed --json "$OUT/edge_speed.json"
# entrance streams per box: 1, 2, 4, 8 live 720p/10 fps cameras, no frame skipped while faces are in view; CPU vs decode-only
$PY -m benchmarks.edge_streams --json "$OUT/edge_streams.json"
# the running system: a private Mosquitto, the hub as its own process, PostgreSQL from HUMIAO_TEST_PG_URL
# the edges sign on their own boxes: signed before the clock (signature_cost in the JSON); and, for
# comparison, signed at publish time on the hub's two cores
$PY -m benchmarks.hub_ingest --alerts 50000 --presign --json "$OUT/hub_ingest.json"
$PY -m benchmarks.hub_ingest --alerts 50000 --json "$OUT/hub_ingest_signing_on_the_same_cores.json"
$PY -m benchmarks.end_to_end_latency --passes 3 --json "$OUT/end_to_end_latency.json"
$PY -m benchmarks.panel_latency --alerts 20 --json "$OUT/panel_latency.json"   # needs Debian's chromium
# the alarm list over 10,000 alarms: first render and filter response (Chromium), on SQLite and, when a server answers
# (HUMIAO_TEST_PG_URL or the local one), on PostgreSQL
$PY -m benchmarks.panel_load --alarms 10000 --reps 30 --json "$OUT/panel_load.json"
# a district's fleet: 5,000 devices (TLS, own identities, signed) through Mosquitto into two hub workers on
# PostgreSQL; a holiday compressed into 2 min, then a 10-min soak (broker restarted twice, a worker killed): ~15 min
$PY -m benchmarks.fleet_load --devices 5000 --minutes 2 --soak-minutes 10 --json "$OUT/fleet_load.json"
# reading the ID number from a card held to the counter's camera (fictitious cards rendered in memory)
$PY -m benchmarks.id_ocr --out "$OUT/id_ocr.json"
$PY -m benchmarks.table "$OUT"
