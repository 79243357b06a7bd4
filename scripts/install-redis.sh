#!/usr/bin/env bash
# Installs Debian's Redis (apt package `redis-server`: /usr/bin/redis-server, and redis-cli through its dependency
# redis-tools) for the scale-out tests (packages/cli/src/e2e/scale.test.ts starts a redis-server of its own on a free
# loopback port; with CI=true those tests fail rather than skip when /usr/bin/redis-server is missing).
#
# Idempotent and non-interactive; run as root (or with sudo available). Exits 0 at once when /usr/bin/redis-server
# exists. Prints the installed version. Starts no Redis service and leaves none enabled: while apt runs, a
# policy-rc.d that refuses every service start is in place (Debian's mechanism, which invoke-rc.d and
# deb-systemd-invoke obey), and the package's service is disabled afterwards.
#
#   sudo scripts/install-redis.sh
set -euo pipefail

SERVER=/usr/bin/redis-server
POLICY=/usr/sbin/policy-rc.d
SAVED="$POLICY.install-redis"

report() {
  echo "install-redis: $("$SERVER" --version | cut -d" " -f1-3) (package $(dpkg-query -W -f='${Version}' redis-server 2>/dev/null || echo '?'))"
}

if [ -x "$SERVER" ]; then
  report
  exit 0
fi

# shellcheck source=scripts/apt-preflight.sh
. "$(dirname "$0")/apt-preflight.sh"
apt_preflight install-redis

# Refuse service starts while the package installs (its postinst would otherwise start redis-server on port 6379,
# through systemd or, without systemd, its /etc/init.d script). An existing policy is set aside and put back; one
# left aside by an interrupted earlier run is kept as the one to put back.
restore_policy() {
  if [ -e "$SAVED" ]; then $SUDO mv -f "$SAVED" "$POLICY"; else $SUDO rm -f "$POLICY"; fi
}
if [ -e "$POLICY" ] && [ ! -e "$SAVED" ]; then $SUDO mv "$POLICY" "$SAVED"; fi
trap restore_policy EXIT
printf '#!/bin/sh\n# written by scripts/install-redis.sh while it runs: start no service\nexit 101\n' |
  $SUDO tee "$POLICY" >/dev/null
$SUDO chmod 0755 "$POLICY"

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  redis-server

# The package enables its service for the next boot; the tests start their own servers, so disable it.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --quiet redis-server.service >/dev/null 2>&1 || true
elif command -v deb-systemd-helper >/dev/null 2>&1; then
  $SUDO deb-systemd-helper disable redis-server.service >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null 2>&1; then
  $SUDO update-rc.d redis-server disable >/dev/null 2>&1 || true
fi

if [ ! -x "$SERVER" ]; then
  echo "install-redis: apt installed redis-server, but there is no $SERVER" >&2
  exit 1
fi
if ! command -v redis-cli >/dev/null 2>&1; then
  echo "install-redis: apt installed redis-server, but there is no redis-cli (package redis-tools)" >&2
  exit 1
fi
report
