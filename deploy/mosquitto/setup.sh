#!/usr/bin/env bash
# Secure Mosquitto on a Debian hub box, as root, after `bash deploy/install.sh hub`:
#
#   sudo bash deploy/mosquitto/setup.sh hub.example.org 10.20.0.5
#
# The arguments: the DNS names and addresses the devices reach the broker at (its certificate
# names them, with localhost and 127.0.0.1). Environment (defaults in brackets): HUB_CONFIG
# [/etc/humiao/hub-1.yaml], WORKERS, the number of hub workers hub.w1 … [2], HUB_USER, who the
# workers run as [humiao], HUMIAO, the humiao command [/opt/humiao/.venv/bin/humiao].
#
# It runs `humiao hub broker init` (the CA, the broker's certificate and key, the identities and
# rights in /etc/mosquitto/humiao, given to the mosquitto user but for the CA key; the hub's
# passwords and CA certificate in <data_dir>/broker, given to HUB_USER), puts humiao.conf and a
# link to the generated humiao-tls.conf into /etc/mosquitto/conf.d/ and restarts Mosquitto. Safe to
# run again (more workers, other names): the CA, passwords and enrolled devices are kept. To serve
# the venues, bind the listener to the venue-facing address: see humiao.conf.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
HUB_CONFIG=${HUB_CONFIG:-/etc/humiao/hub-1.yaml}
WORKERS=${WORKERS:-2}
HUB_USER=${HUB_USER:-humiao}
HUMIAO=${HUMIAO:-/opt/humiao/.venv/bin/humiao}
BROKER_DIR=/etc/mosquitto/humiao
MAIN=/etc/mosquitto/mosquitto.conf

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
id -u "$HUB_USER" >/dev/null || { echo "no user $HUB_USER (HUB_USER): the hub workers' user" >&2; exit 1; }
if ! [ -x /usr/sbin/mosquitto ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
fi
if ! grep -Eq '^include_dir[[:space:]]+/etc/mosquitto/conf\.d/?[[:space:]]*$' "$MAIN"; then
  echo "$MAIN does not include /etc/mosquitto/conf.d (Debian's does): add 'include_dir /etc/mosquitto/conf.d'" >&2
  exit 1
fi
if grep -Eq '^[[:space:]]*(listener|port|allow_anonymous|password_file|acl_file)[[:space:]]' "$MAIN"; then
  echo "$MAIN has its own listener or access settings: remove them (humiao.conf and humiao-tls.conf set them)" >&2
  exit 1
fi

args=(--config "$HUB_CONFIG" --broker-dir "$BROKER_DIR" --mosquitto-user mosquitto --name localhost --name 127.0.0.1)
for name in "$@"; do args+=(--name "$name"); done
for ((i = 1; i <= WORKERS; i++)); do args+=(--worker "hub.w$i"); done

# Mosquitto writes its dynamic-security file back whenever it changes: stopped, it cannot undo init
systemctl stop mosquitto
out=$("$HUMIAO" hub broker init "${args[@]}")
echo "$out"
secrets=$(sed -n 's/^hub secrets: //p' <<<"$out")
[ -n "$secrets" ] || { echo "init did not say where the hub's secrets are" >&2; exit 1; }
chown "$HUB_USER:" "$(dirname "$secrets")"
chown -R "$HUB_USER:" "$secrets"

mkdir -p /etc/mosquitto/conf.d
install -m 0644 "$HERE/humiao.conf" /etc/mosquitto/conf.d/humiao.conf
ln -sfn "$BROKER_DIR/humiao-tls.conf" /etc/mosquitto/conf.d/humiao-tls.conf
systemctl restart mosquitto
systemctl is-active --quiet mosquitto || { journalctl -u mosquitto -n 20 --no-pager >&2; exit 1; }
echo "Mosquitto: TLS with passwords and dynamic security ($BROKER_DIR); hub secrets in $secrets"
