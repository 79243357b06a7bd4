# Sourced by the scripts/install-*.sh: `apt_preflight <name>` sets SUDO ('' as root, 'sudo' otherwise) and exits
# with a message naming the script when it can neither be root nor install with apt-get (a non-Debian machine).
apt_preflight() {
  local name="$1"
  SUDO=''
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO='sudo'; else
      echo "$name: must run as root (or with sudo)" >&2
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$name: expects Debian (apt-get); found: $(grep -s '^PRETTY_NAME=' /etc/os-release || echo unknown)" >&2
    exit 1
  fi
}
