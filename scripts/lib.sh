# shellcheck shell=bash
# Shared set-up for the test suite and the demo. Every step installs what it needs on a fresh
# Debian machine (as root) and is quick when its work is already done. Caches are safe to lose and
# shared by every checkout on the machine (PACSGATE_CACHE, default ~/.cache/pacsgate): the
# virtualenv (one per requirements.txt hash), pip's download cache of the gateway containers; and
# Docker images, tagged by the hash of their recipe.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$repo/.cache"
shared_cache="${PACSGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pacsgate}"
venv="$shared_cache/venv-$(sha256sum "$repo/requirements.txt" | cut -c1-12)"
mkdir -p "$cache" "$shared_cache"

log() { printf '\n==> %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "Installing Debian packages: ${missing[*]}"
  if [ ! -f "$cache/apt-updated" ] || [ -n "$(find "$cache/apt-updated" -mmin +360)" ]; then
    apt-get update -qq && touch "$cache/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Docker engine from Debian's packages, started in the background if none answers.
ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  apt_install docker.io
  if ! docker info >/dev/null 2>&1; then
    log "Starting dockerd"
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
      systemctl start docker
    else
      setsid dockerd >/var/log/pacsgate-dockerd.log 2>&1 < /dev/null &
    fi
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/pacsgate-dockerd.log" >&2; return 1; }
  fi
}

# Host tools: dcmtk sends the test studies from outside the gateway; debootstrap builds images.
ensure_host_tools() {
  apt_install dcmtk debootstrap python3-venv ca-certificates
}

# The virtualenv with the pinned tools; its name carries the hash of requirements.txt. The stamp
# file is written last, so an interrupted install is redone.
ensure_venv() {
  if [ ! -f "$venv/.complete" ]; then
    log "Creating the virtualenv $venv from requirements.txt"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$repo/requirements.txt"
    touch "$venv/.complete"
  fi
  export PATH="$venv/bin:$PATH"
  export VIRTUAL_ENV="$venv"
}

# Make this checkout the collection pacsgate.listener for ansible-playbook and Molecule.
ensure_collection_path() {
  local root="$cache/collections/ansible_collections/pacsgate"
  mkdir -p "$root"
  ln -sfn "$repo" "$root/listener"
  export ANSIBLE_COLLECTIONS_PATH="$cache/collections"
}

# The CA bundle the host's pip trusts, handed to the gateways' pip (TLS-inspecting proxies).
host_ca_bundle() {
  local f
  for f in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
    [ -n "$f" ] && [ -f "$f" ] && { echo "$f"; return 0; }
  done
  echo ""
}

# Everything the scenarios and the demo need in their environment.
prepare_environment() {
  ensure_host_tools
  ensure_docker
  ensure_venv
  ensure_collection_path
  PACSGATE_IMAGE=$("$repo/scripts/image.sh" bookworm)
  PACSGATE_PIP_CA_BUNDLE=$(host_ca_bundle)
  PACSGATE_PIP_CACHE="$shared_cache/pip-gateway"
  mkdir -p "$PACSGATE_PIP_CACHE"
  export PACSGATE_IMAGE PACSGATE_PIP_CA_BUNDLE PACSGATE_PIP_CACHE
  export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
}
