#!/usr/bin/env bash
# Run Molecule with the harness' environment, for working on one scenario by hand:
#   scripts/molecule.sh converge -s default      scripts/molecule.sh verify
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
prepare_environment bookworm bullseye trixie
cd "$repo"
exec molecule "$@"
