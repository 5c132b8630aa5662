#!/usr/bin/env bash
# Build a wheelhouse for air-gapped gateways: one tar archive of every wheel pypx needs, for the
# Python and platform of one Debian release, so that the role (dicom_listener_wheelhouse) installs
# pypx on a gateway with no package index at all. Run it on a machine that can reach PyPI and runs
# Docker; the wheels are built inside a container of the target Debian release (scripts/image.sh),
# so compiled wheels match the gateway's Python. Where PyPI's seahash has no wheel for that Python
# (Debian 13), the role's pure-Python seahash wheel is added.
#
# Usage: scripts/wheelhouse.sh SUITE ARCHIVE [PYPX_VERSION]
#   SUITE: bullseye, bookworm or trixie (Debian 11, 12, 13), the gateways' release
#   ARCHIVE: the tar file to write; give its path to the role as dicom_listener_wheelhouse
#   PYPX_VERSION: default dicom_listener_pypx_version from the role's defaults
# Environment: PIP_CERT or PACSGATE_PIP_CA_BUNDLE, a CA bundle pip must trust (TLS-inspecting
# proxies); PIP_INDEX_URL, another index; PACSGATE_PIP_CACHE, a pip cache to mount.
# An archive already built by the same recipe (ARCHIVE.recipe) is kept as it is. The archive is
# the same byte for byte for the same wheels (sorted names, fixed dates and owners).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage="usage: scripts/wheelhouse.sh SUITE ARCHIVE [PYPX_VERSION]"
suite=${1:?$usage}
archive=${2:?$usage}
version=${3:-$(sed -n 's/^dicom_listener_pypx_version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$repo/roles/dicom_listener/defaults/main.yml")}
wheels="$repo/roles/dicom_listener/files/wheels"

recipe=$( { cat "$0"; echo "$suite $version"; cat "$wheels"/*.whl; } | sha256sum | cut -c1-12)
if [ -f "$archive" ] && [ "$(cat "$archive.recipe" 2>/dev/null)" = "$recipe" ]; then
  echo "$archive"
  exit 0
fi

image=$("$repo/scripts/image.sh" "$suite")
ca=${PACSGATE_PIP_CA_BUNDLE:-${PIP_CERT:-}}
mkdir -p "$(dirname "$archive")"
out=$(mktemp -d "$(dirname "$archive")/.wheelhouse.XXXXXX")
trap 'rm -rf "$out"' EXIT
args=(--rm -v "$out:/wheelhouse" -v "$wheels:/role-wheels:ro" -e "PYPX_VERSION=$version")
[ -n "$ca" ] && args+=(-v "$ca:/etc/pacsgate-ca.pem:ro" -e PIP_CERT=/etc/pacsgate-ca.pem)
[ -n "${PIP_INDEX_URL:-}" ] && args+=(-e "PIP_INDEX_URL=$PIP_INDEX_URL")
[ -n "${PACSGATE_PIP_CACHE:-}" ] && args+=(-v "$PACSGATE_PIP_CACHE:/root/.cache/pip:rw")

echo "wheelhouse.sh: building wheels for pypx $version on Debian $suite into $archive" >&2
docker run "${args[@]}" "$image" bash -euo pipefail -c '
  export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  python3 -m venv /tmp/build
  # Debian 11 and 12 bundle an old pip that builds sdists without pyproject.toml only with wheel.
  /tmp/build/bin/pip install -q --upgrade pip wheel setuptools
  find_links=()
  # PyPI has seahash 0.2.0 wheels for x86_64 and CPython 3.7 to 3.11 only (as the role knows).
  if ! /tmp/build/bin/python -c "import platform, sys; sys.exit(not (platform.machine() == \"x86_64\" and sys.version_info < (3, 12)))"; then
    cp /role-wheels/*.whl /wheelhouse/
    find_links=(--find-links /role-wheels)
  fi
  /tmp/build/bin/pip wheel -q --wheel-dir /wheelhouse "${find_links[@]}" "pypx==$PYPX_VERSION"
  chmod 0644 /wheelhouse/*.whl
'
ls "$out"/pypx-"$version"-*.whl >/dev/null
(cd "$out" && find . -maxdepth 1 -name '*.whl' -printf '%P\n' | LC_ALL=C sort \
  | tar --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=0644 -cf "$archive.tmp" -T -)
mv "$archive.tmp" "$archive"
echo "$recipe" > "$archive.recipe"
echo "$archive"
