# shellcheck shell=bash
# Shared set-up for the test suite and the demo. Every step installs what it needs on a fresh
# Debian machine (as root) and is quick when its work is already done. Caches are safe to lose and
# shared by every checkout on the machine (PACSGATE_CACHE, default ~/.cache/pacsgate): the
# virtualenv (one per hash of requirements/test.txt and lint.txt), pip's download cache of the
# gateway containers; and Docker images, tagged by the hash of their recipe.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$repo/.cache"
shared_cache="${PACSGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pacsgate}"
# The harness virtualenv: what the suite runs (requirements/test.txt) and its linters (lint.txt).
venv_requirements=("$repo/requirements/test.txt" "$repo/requirements/lint.txt")
venv="$shared_cache/venv-$(cat "${venv_requirements[@]}" | sha256sum | cut -c1-12)"
mkdir -p "$cache" "$shared_cache"

log() { printf '\n==> %s\n' "$*" >&2; }
# Seconds since a step began, for the step's closing line.
took() { echo "$((SECONDS - $1)) s"; }

# Stages of the suite and of `make check`: each runs whatever the others did, and is counted;
# stage_summary prints the closing line `stages: N passed, N failed` and fails if any failed.
passed=0 failed=0 failures=()
stage() {
  local name=$1; shift
  log "$name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "stage '$name' passed in $((SECONDS - t0)) s" >&2
  else
    failed=$((failed + 1)); failures+=("$name"); echo "stage '$name' FAILED after $((SECONDS - t0)) s" >&2
  fi
}
stage_summary() {
  echo >&2
  echo "wall time: $((SECONDS - $1)) s" >&2
  [ "$failed" -eq 0 ] || echo "failed stages: ${failures[*]}" >&2
  echo "stages: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local t0=$SECONDS
  log "Installing Debian packages: ${missing[*]} (first run only; about a minute)"
  if [ ! -f "$cache/apt-updated" ] || [ -n "$(find "$cache/apt-updated" -mmin +360)" ]; then
    apt-get update -qq && touch "$cache/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "installed in $(took $t0)" >&2
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
  apt_install dcmtk debootstrap python3-venv ca-certificates shellcheck
}

# The virtualenv with the pinned tools; its name carries the hash of requirements/test.txt and
# lint.txt. The stamp file is written last, so an interrupted install is redone.
ensure_venv() {
  if [ ! -f "$venv/.complete" ]; then
    local t0=$SECONDS
    log "Creating the virtualenv $venv from requirements/test.txt and lint.txt (first run only; about 1 to 3 minutes: Ansible, Molecule, pytest, pydicom, the linters)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --progress-bar off "${venv_requirements[@]/#/--requirement=}"
    touch "$venv/.complete"
    echo "virtualenv ready in $(took $t0)" >&2
  fi
  export PATH="$venv/bin:$PATH"
  export VIRTUAL_ENV="$venv"
}

# The benchmark's plotting libraries (requirements/bench.txt), added to the harness virtualenv
# once per hash of that file.
ensure_bench_requirements() {
  ensure_venv
  local stamp
  stamp="$venv/.bench-$(sha256sum "$repo/requirements/bench.txt" | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    log "Adding requirements/bench.txt (matplotlib) to $venv"
    "$venv/bin/pip" install -q --progress-bar off --requirement="$repo/requirements/bench.txt"
    touch "$stamp"
  fi
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

# The image of one Debian suite, built with debootstrap on first use (cached by tag).
ensure_image() {
  local suite=$1 tag t0=$SECONDS
  if ! tag=$("$repo/scripts/image.sh" --cached "$suite"); then
    log "Building the Debian $suite image with debootstrap (first run only; about a minute)"
    tag=$("$repo/scripts/image.sh" "$suite") || return 1
    echo "image $tag built in $(took $t0)" >&2
  fi
  echo "$tag"
}

# Everything the scenarios and the demo need in their environment, with the images of the given
# Debian suites only (all three supported ones when none is given).
prepare_environment() {
  local suites=("$@") suite var
  [ ${#suites[@]} -gt 0 ] || suites=(bookworm bullseye trixie)
  ensure_host_tools
  ensure_docker
  ensure_venv
  ensure_collection_path
  for suite in "${suites[@]}"; do
    var="PACSGATE_IMAGE_${suite^^}"
    var=${var//-/_}
    printf -v "$var" '%s' "$(ensure_image "$suite")"
    [ -n "${!var}" ] || { echo "cannot build the $suite image" >&2; return 1; }
    export "${var?}"
  done
  PACSGATE_IMAGE=$(ensure_image "${PACSGATE_SUITE:-bookworm}") || return 1
  PACSGATE_PIP_CA_BUNDLE=$(host_ca_bundle)
  PACSGATE_PIP_CACHE="$shared_cache/pip-gateway"
  mkdir -p "$PACSGATE_PIP_CACHE"
  # Where the airgap scenario builds (once per recipe) the wheelhouse of its gateway's release.
  PACSGATE_WHEELHOUSE="$shared_cache/wheelhouse-${PACSGATE_SUITE:-bookworm}.tar"
  # The address the gateway containers see the Docker host at: the test PACS sends from there.
  # Engines differ in what they report (scripts/docker_host_address.py tries three sources).
  PACSGATE_DOCKER_HOST_IP=$(python3 "$repo/scripts/docker_host_address.py" --verbose --image "$PACSGATE_IMAGE") || return 1
  # promtool, from Debian's prometheus package, checks the metrics the default scenario writes.
  ensure_promtool || return 1
  export PACSGATE_IMAGE PACSGATE_PIP_CA_BUNDLE PACSGATE_PIP_CACHE PACSGATE_DOCKER_HOST_IP PACSGATE_WHEELHOUSE
  export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
}

# ansible-test, from a virtualenv of its own with the ansible-core requirements/test.txt pins, so
# that the requirements it installs for its sanity tests stay out of the harness' virtualenv.
ensure_ansible_test() {
  local core pip_version
  core=$(grep -i '^ansible-core==' "$repo/requirements/test.txt")
  ansible_test_venv="$shared_cache/ansible-test-${core#*==}"
  if [ ! -f "$ansible_test_venv/.complete" ]; then
    log "Creating $ansible_test_venv for ansible-test"
    rm -rf "$ansible_test_venv"
    python3 -m venv "$ansible_test_venv"
    "$ansible_test_venv/bin/pip" install -q "$core"
    touch "$ansible_test_venv/.complete"
  fi
  # ansible-test bootstraps pip into its test environments with a script it downloads from a host
  # these machines cannot reach; give it one that uses the interpreter's ensurepip and the index.
  pip_version=$(grep -ohP "pip='\K[0-9.]+" "$ansible_test_venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py)
  mkdir -p "$HOME/.ansible/test/cache"
  cp "$repo/scripts/ansible-test-get-pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
}

# ansible-test wants the collection in a real ansible_collections/<namespace>/<name> directory,
# outside any git work tree (it would list the files of that tree instead).
ansible_test_tree() {
  local dest
  dest="$shared_cache/ansible-test-tree-$(printf '%s' "$repo" | sha256sum | cut -c1-8)/ansible_collections/pacsgate/listener"
  rm -rf "$dest"
  mkdir -p "$dest"
  (cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
  echo "$dest"
}

run_sanity() {
  ensure_ansible_test
  local tree python
  tree=$(ansible_test_tree)
  python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  (cd "$tree" && PATH="$ansible_test_venv/bin:$PATH" ansible-test sanity --requirements --python "$python" --color no)
}

# The changelog: fragments and changelogs/changelog.yaml pass antsibull-changelog's lints, and
# CHANGELOG.md and changelog.yaml are what `antsibull-changelog generate` makes of them (checked on
# a copy, so that the check changes nothing in the checkout).
check_changelog() {
  local tmp rc=0
  (cd "$repo" && antsibull-changelog lint && antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml) || return 1
  tmp=$(mktemp -d)
  cp -r "$repo/galaxy.yml" "$repo/CHANGELOG.md" "$repo/changelogs" "$tmp/"
  (cd "$tmp" && antsibull-changelog generate) || rc=1
  if [ "$rc" -eq 0 ] && ! { cmp -s "$tmp/CHANGELOG.md" "$repo/CHANGELOG.md" && cmp -s "$tmp/changelogs/changelog.yaml" "$repo/changelogs/changelog.yaml"; }; then
    echo "CHANGELOG.md or changelogs/changelog.yaml is not what antsibull-changelog generates; run 'antsibull-changelog generate'" >&2
    diff -u "$repo/CHANGELOG.md" "$tmp/CHANGELOG.md" | head -40 >&2
    rc=1
  fi
  rm -rf "$tmp"
  return "$rc"
}

# The checks that need neither Docker nor Molecule: `make check` (scripts/check.sh) and the first
# stages of the suite (scripts/test.sh), so that the two never differ.
run_checks() {
  cd "$repo" || return 1
  stage yamllint yamllint --strict .
  # ansible-lint installs the collection it lints: without ANSIBLE_COLLECTIONS_PATH into the
  # checkout's .ansible/; with it (set by ensure_collection_path) into ~/.ansible/collections, where
  # a stale copy would shadow every other checkout's, and it then lints fewer files.
  stage ansible-lint env -u ANSIBLE_COLLECTIONS_PATH ansible-lint --profile production
  stage "docs in sync" python scripts/argspec_docs.py --check
  stage changelog check_changelog
  stage "unit tests" run_unit_tests
  stage "ansible-test sanity" run_sanity
}

# Playbooks of the collection run against this host (tests/playbooks): the wheelhouse playbook
# builds a real wheelhouse (the package index and about a minute).
run_playbook_tests() {
  (cd "$repo" && python -m pytest -p no:cacheprovider -q "$repo/tests/playbooks")
}

# promtool, to check the metrics writer's output and the example alert rules: taken out of Debian's
# prometheus package without installing it (installing would start a Prometheus server), once, into
# the shared cache. The unit tests find it through PACSGATE_PROMTOOL.
ensure_promtool() {
  local dir="$shared_cache/promtool" work
  if [ ! -x "$dir/usr/bin/promtool" ]; then
    log "Extracting promtool from Debian's prometheus package (first run only; the package is not installed)"
    work=$(mktemp -d)
    if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
      apt-get update -qq && touch "$cache/apt-updated"
      (cd "$work" && apt-get download prometheus >/dev/null) || { rm -rf "$work"; return 1; }
    fi
    dpkg-deb -x "$work"/prometheus_*.deb "$work/root" || { rm -rf "$work"; return 1; }
    mkdir -p "$dir/usr/bin"
    cp "$work/root/usr/bin/promtool" "$dir/usr/bin/promtool.tmp" && mv "$dir/usr/bin/promtool.tmp" "$dir/usr/bin/promtool"
    rm -rf "$work"
  fi
  "$dir/usr/bin/promtool" --version >/dev/null 2>&1 || return 1
  export PACSGATE_PROMTOOL="$dir/usr/bin/promtool"
}

run_unit_tests() {
  # Without promtool the tests that need it fail (PACSGATE_PROMTOOL empty), they are not skipped.
  ensure_promtool || { echo "promtool could not be extracted from Debian's prometheus package" >&2; export PACSGATE_PROMTOOL=""; }
  (cd "$repo" && PYTHONPATH="$cache/collections" python -m pytest -p no:cacheprovider -q \
    "$cache/collections/ansible_collections/pacsgate/listener/tests/unit")
}
