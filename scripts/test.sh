#!/usr/bin/env bash
# The whole test suite: the checks of `make check`, then Molecule in Docker with a real DICOM study.
# Works on a fresh Debian machine as root; installs what it needs (see scripts/lib.sh).
#   scripts/test.sh                 everything (what CI runs through .ci/run)
#   scripts/test.sh NAME [NAME...]  only these Molecule scenarios (make test S=NAME)
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
set -e
prepare_environment bookworm bullseye trixie bookworm-minimal
set +e
cd "$repo"

start=$SECONDS
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  scenarios=(default systemd-backend chaos security nosystemd rolling airgap)
  # yamllint, ansible-lint, docs, changelog, unit tests, sanity: what `make check` runs.
  run_checks
  stage "wheelhouse playbook" run_playbook_tests
fi
for scenario in "${scenarios[@]}"; do
  stage "molecule $scenario" molecule test --scenario-name "$scenario"
done

stage_summary "$start"
