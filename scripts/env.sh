# shellcheck shell=bash
# The one step before running Molecule by hand: source it from the repository's top directory,
#   . scripts/env.sh
# It installs what is missing (Docker engine, images, the virtualenv; see scripts/lib.sh), puts the
# virtualenv first on PATH and exports what the scenarios read (.config/molecule/config.yml). Then
#   molecule test -s default        (or converge, verify, login ... of any scenario)
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
prepare_environment bookworm bullseye trixie bookworm-minimal
