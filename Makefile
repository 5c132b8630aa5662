# Shortcuts for the repository's scripts (README.md, docs/testing.md).
.PHONY: check test demo demo-clean bench
check:
	./scripts/check.sh
# make test: the whole suite; make test S=NAME: only the Molecule scenario NAME.
test:
	./scripts/test.sh $(S)
demo:
	./scripts/demo.sh
demo-clean:
	./scripts/demo.sh clean
bench:
	./tests/perf/bench.sh
