#!/usr/bin/env bash
# make check: the suite's checks that need neither Docker nor Molecule (yamllint, ansible-lint,
# the generated variable reference, the changelog, unit tests, ansible-test sanity), the same
# stages scripts/test.sh starts with. A few minutes at most; installs only the harness virtualenv.
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
set -e
apt_install python3-venv ca-certificates
ensure_venv
ensure_collection_path
set +e
start=$SECONDS
run_checks
stage_summary "$start"
