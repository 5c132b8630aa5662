#!/usr/bin/env bash
# The whole test suite: lint, then Molecule in Docker with a real DICOM study.
# Works on a fresh Debian machine as root; installs what it needs (see scripts/lib.sh).
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
set -e
prepare_environment bookworm bullseye trixie
set +e
cd "$repo"

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

start=$SECONDS
stage yamllint yamllint --strict .
stage ansible-lint ansible-lint --profile production
stage "docs in sync" python scripts/argspec_docs.py --check
stage "unit tests" run_unit_tests
stage "ansible-test sanity" run_sanity
stage "molecule default" molecule test --scenario-name default
stage "molecule systemd-backend" molecule test --scenario-name systemd-backend
stage "molecule security" molecule test --scenario-name security
stage "molecule nosystemd" molecule test --scenario-name nosystemd
stage "molecule rolling" molecule test --scenario-name rolling
stage "molecule airgap" molecule test --scenario-name airgap

echo >&2
echo "suite wall time: $((SECONDS - start)) s" >&2
[ "$failed" -eq 0 ] || echo "failed stages: ${failures[*]}" >&2
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
