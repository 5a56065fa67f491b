# migrator: drain Lustre OSTs with lfs migrate and Slurm job arrays.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: build test bench demo lint clean package

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/migrator ./cmd/migrator
	$(GO) build -o bin/lfs-sim ./cmd/lfs-sim

# Every test: unit tests, the simulator contract, and the Slurm integration tests (which
# start the project's single-node Slurm when run as root; see ci/test.sh).
test: build
	ci/test.sh

# Benchmarks, each measured side by side with its baseline in one run.
bench: build
	ci/bench.sh

# A small simulated filesystem drained end to end with the local scheduler.
demo: build
	ci/demo.sh

# dist/migrator_*.deb and dist/migrator-*.rpm: the binary, man pages, bash completion,
# job templates and example alerting rules (ci/package.sh, with nfpm).
package:
	ci/package.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin dist
