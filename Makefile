# Shortcuts for the scripts the README documents.
.PHONY: test demo demo-clean bench
test:
	./scripts/test.sh
demo:
	./scripts/demo.sh
demo-clean:
	./scripts/demo.sh clean
bench:
	./tests/perf/bench.sh
