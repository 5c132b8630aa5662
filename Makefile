# Shortcuts for the repository's scripts (README.md, docs/testing.md).
.PHONY: check test demo demo-clean bench
check:
	./scripts/check.sh
test:
	./scripts/test.sh
demo:
	./scripts/demo.sh
demo-clean:
	./scripts/demo.sh clean
bench:
	./tests/perf/bench.sh
