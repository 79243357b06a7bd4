#!/usr/bin/env bash
# Installs Debian's Chromium (apt package `chromium`, /usr/bin/chromium) for the web page's end-to-end test
# (apps/examples/src/webPage.test.ts drives it headless through playwright-core; no browser is downloaded).
#
# Idempotent and non-interactive; run as root (or with sudo available). Exits 0 at once when /usr/bin/chromium
# exists. Prints the installed version.
#
#   sudo scripts/install-chromium.sh
set -euo pipefail

CHROMIUM=/usr/bin/chromium

report() {
  # Debian's wrapper script runs `[` on its own options first; keep only the version line
  echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null | grep -i chromium || echo "$CHROMIUM")"
}

if [ -x "$CHROMIUM" ]; then
  report
  exit 0
fi

# shellcheck source=scripts/apt-preflight.sh
. "$(dirname "$0")/apt-preflight.sh"
apt_preflight install-chromium

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Recommends (sandbox helper, desktop integration) are not needed headless; fontconfig brings a font for text.
$SUDO apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  chromium fonts-liberation

if [ ! -x "$CHROMIUM" ]; then
  echo "install-chromium: apt installed chromium, but there is no $CHROMIUM" >&2
  exit 1
fi
report
