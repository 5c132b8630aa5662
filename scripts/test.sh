#!/usr/bin/env bash
# The whole test suite: the checks of `make check`, then Molecule in Docker with a real DICOM study.
# Works on a fresh Debian machine as root; installs what it needs (see scripts/lib.sh).
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
set -e
prepare_environment bookworm bullseye trixie
set +e
cd "$repo"

start=$SECONDS
# yamllint, ansible-lint, docs, changelog, unit tests, sanity: what `make check` runs.
run_checks
stage "wheelhouse playbook" run_playbook_tests
stage "molecule default" molecule test --scenario-name default
stage "molecule systemd-backend" molecule test --scenario-name systemd-backend
stage "molecule security" molecule test --scenario-name security
stage "molecule nosystemd" molecule test --scenario-name nosystemd
stage "molecule rolling" molecule test --scenario-name rolling
stage "molecule airgap" molecule test --scenario-name airgap

stage_summary "$start"
