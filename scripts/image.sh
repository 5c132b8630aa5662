#!/usr/bin/env bash
# Build (or reuse) a local Debian image with systemd as PID 1, for Molecule and the demo.
# No registry is needed: the root file system comes from Debian's packages via debootstrap.
# The tag carries a hash of this recipe, so a changed recipe builds a new image and an unchanged
# one is reused from Docker's image store (a cache that is safe to lose).
#
# Usage: scripts/image.sh [--cached] [SUITE[-minimal]]   (SUITE: bookworm (default), bullseye, trixie)
# Prints the image tag on stdout. With --cached it builds nothing: exit 1 when the image is missing.
# SUITE-minimal: a host as debootstrap's minbase with systemd leaves it, without dbus and sudo (and
# python3, which Ansible needs); the systemd-backend scenario converges one, connected as root.
set -euo pipefail

cached_only=false
if [ "${1:-}" = --cached ]; then cached_only=true; shift; fi
suite=${1:-bookworm}
mirror=${PACSGATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=python3,python3-apt,sudo,systemd,systemd-sysv,dbus,iproute2,procps,ca-certificates
name=debian-systemd
if [ "${suite%-minimal}" != "$suite" ]; then
  suite=${suite%-minimal}
  packages=python3,python3-apt,systemd,systemd-sysv,iproute2,procps,ca-certificates
  name=debian-minimal
fi

recipe_hash=$( { cat "$0"; echo "$suite $packages"; } | sha256sum | cut -c1-12)
tag="pacsgate/${name}:${suite}-${recipe_hash}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
$cached_only && exit 1

command -v debootstrap >/dev/null || {
  echo "image.sh: installing debootstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
}

root=$(mktemp -d /var/tmp/pacsgate-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "image.sh: debootstrap $suite into $root (about a minute)" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >&2

# Keep the image small and make systemd behave as a container's PID 1.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
# No package lists, dated long ago: apt's cache_valid_time then sees them as stale, as on a
# host that was never updated, and the first apt run fetches fresh ones.
touch -d @0 "$root/var/lib/apt/lists"
echo "deb $mirror $suite main" > "$root/etc/apt/sources.list"
# Units that make no sense in a container and only slow boot down.
for unit in systemd-udevd.service systemd-udev-trigger.service systemd-remount-fs.service \
            getty.target console-getty.service systemd-logind.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
: > "$root/etc/machine-id"

tar -C "$root" -c . | docker import \
  -c 'CMD ["/lib/systemd/systemd"]' \
  -c 'ENV container=docker' \
  - "$tag" >&2
echo "$tag"
