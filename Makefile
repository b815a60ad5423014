# pgadvisor: `make demo` shows it, `make test` proves it.
GO       ?= go
BIN      := bin/advisor
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
ARGS     ?=
BENCH_SCALE ?= 1

.PHONY: build test fuzz lint bench bench-tpch-sf1 demo docker clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/advisor

test:
	$(GO) vet ./... && $(GO) test -race -timeout 45m ./...

# A short run of each fuzz target (CI runs it after the tests), bounded by
# executions, not by time: Go's fuzzing coordinator can fail a run with
# "context deadline exceeded" and no failing input when a time bound
# expires on a loaded machine (golang.org/issue/75804, fixed in Go 1.27).
# Inputs are not minimized: minimizing a large new input takes up to a
# minute; a failing input is still written to testdata/fuzz as found.
FUZZTIME ?= 20000x
FUZZFLAGS = -fuzztime $(FUZZTIME) -fuzzminimizetime 0
fuzz:
	$(GO) test ./explain -run '^$$' -fuzz '^FuzzParsePlan$$' $(FUZZFLAGS)
	$(GO) test ./explain -run '^$$' -fuzz '^FuzzSynthesizeParams$$' $(FUZZFLAGS)
	$(GO) test ./advisor -run '^$$' -fuzz '^FuzzCandidates$$' $(FUZZFLAGS)

# staticcheck finds unused code and suspicious constructs go vet does not;
# go run fetches the pinned version through the module proxy.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench:
	$(GO) run ./bench --scale $(BENCH_SCALE) $(BENCH_ARGS)

# TPC-H at SF 1, the scale of the index-selection literature (about half an
# hour: Q21 runs into the statement timeout without indexes).
bench-tpch-sf1:
	$(GO) run ./bench --scale 10 --workloads tpch --rounds 1 --statement-timeout 3m --sample10k=false --daemon-rss=false \
		--json bench/results/tpch-sf1.json --markdown bench/RESULTS-SF1.md $(BENCH_ARGS)

demo: build
	@scripts/demo-prereqs.sh
	$(BIN) demo $(ARGS)

docker:
	docker build -t pgadvisor:$(VERSION) .

clean:
	rm -rf bin
