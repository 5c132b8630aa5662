# Shortcuts for the scripts the README documents.
.PHONY: test demo demo-clean bench
# make test: the whole suite; make test S=NAME: only the Molecule scenario NAME.
test:
	./scripts/test.sh $(S)
demo:
	./scripts/demo.sh
demo-clean:
	./scripts/demo.sh clean
bench:
	./tests/perf/bench.sh
