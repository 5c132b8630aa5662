#!/usr/bin/env bash
# make bench: the benchmark (not part of make test). Installs what it needs like the test suite
# (scripts/lib.sh) plus requirements/bench.txt, runs tests/perf/bench.py, and removes its
# pacsgate-perf-bench-* containers.
# Arguments go to bench.py (--help lists them); it takes 20-40 minutes on 2 cores.
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "$0")/../../scripts/lib.sh"
prepare_environment bookworm
ensure_bench_requirements
cd "${repo:?}"
cleanup() {
  docker ps -aq --filter 'name=^/pacsgate-perf-bench-' | xargs -r docker rm -f >/dev/null 2>&1 || true
}
trap cleanup EXIT
python tests/perf/bench.py "$@"
