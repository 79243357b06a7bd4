#!/usr/bin/env bash
# Installs Mesa's lavapipe (a software Vulkan driver) from Debian bookworm-backports, so that the `webgpu`
# npm package (Dawn) finds a WebGPU adapter on a CPU-only machine and the webgpu backend can be tested.
# Dawn refuses bookworm's own Mesa 22; backports carries Mesa ≥ 25.
#
# Idempotent and non-interactive; run as root (or with sudo available). Exits 0 at once when a lavapipe
# ≥ 25 is already installed. Prints the installed driver version.
#
#   sudo scripts/install-lavapipe.sh
set -euo pipefail

MIN_MAJOR=25
ICD_GLOB='/usr/share/vulkan/icd.d/lvp_icd*.json'

# shellcheck source=scripts/apt-preflight.sh
. "$(dirname "$0")/apt-preflight.sh"
apt_preflight install-lavapipe

installed_version() {
  dpkg-query -W -f='${db:Status-Status} ${Version}\n' mesa-vulkan-drivers 2>/dev/null |
    awk '$1 == "installed" { print $2 }'
}

have_lavapipe() {
  local v major
  v="$(installed_version)"
  [ -n "$v" ] || return 1
  major="${v%%.*}"
  major="${major##*:}" # drop an epoch, if any
  [ "$major" -ge "$MIN_MAJOR" ] 2>/dev/null || return 1
  compgen -G "$ICD_GLOB" >/dev/null && dpkg-query -W -f='${db:Status-Status}' libvulkan1 2>/dev/null | grep -q '^installed$'
}

report() {
  echo "install-lavapipe: mesa-vulkan-drivers $(installed_version), libvulkan1 $(dpkg-query -W -f='${Version}' libvulkan1)"
  echo "install-lavapipe: ICD $(compgen -G "$ICD_GLOB" | tr '\n' ' ')"
}

if have_lavapipe; then
  report
  exit 0
fi

if [ ! -r /etc/os-release ] || ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
  echo "install-lavapipe: expects Debian 12 (bookworm); found: $(grep -s '^PRETTY_NAME=' /etc/os-release || echo unknown)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Add bookworm-backports unless some apt source already names it.
if ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "install-lavapipe: adding bookworm-backports to apt sources"
  $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi

$SUDO apt-get update -qq
# -t bookworm-backports: take mesa-vulkan-drivers and what it needs (libvulkan1, LLVM, libdrm) from backports.
$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  mesa-vulkan-drivers libvulkan1

if ! have_lavapipe; then
  echo "install-lavapipe: installed mesa-vulkan-drivers $(installed_version), but no lavapipe ≥ $MIN_MAJOR was found" >&2
  exit 1
fi
report
