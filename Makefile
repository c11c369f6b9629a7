# The two commands a fresh machine needs: `make run` and `make test`.
GO      ?= go
PKGS    := ./...
# Packages domain/ must never import: it is pure (DESIGN.md point 2).
# database/sql/driver is allowed: it holds only the Valuer/Scanner
# interfaces that shopspring/decimal and google/uuid implement; no driver,
# no connection. database/sql itself and every driver are refused.
FORBIDDEN_IN_DOMAIN := ^(net/http|database/sql|net/rpc)$$|nats-io|EventStore|jackc/pgx|lib/pq|google.golang.org/grpc

.PHONY: run demo test test-short vet depcheck build fmt bench bench-replay soak fuzz clean

run: ## payoutd on embedded defaults: API 127.0.0.1:8080, NATS 127.0.0.1:4222, data in ./data (docs/operations.md)
	$(GO) run ./cmd/payoutd

demo: ## a day across the five platforms through the API, on a virtual clock; prints the read models
	$(GO) run ./cmd/payoutdemo

build:
	$(GO) build $(PKGS)

test: vet depcheck ## every test, with the race detector
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	@if [ -z "$$PAYOUT_ESDB_URL" ]; then \
	  echo "NOTE: the EventStoreDB conformance suite did NOT run (no server here)."; \
	  echo "      Run it with PAYOUT_ESDB_URL='esdb://127.0.0.1:2113?tls=false' go test ./adapters/esdb/ -run Conformance -v (docs/eventstore-esdb.md)"; \
	fi

test-short:
	$(GO) test -count=1 -short $(PKGS)

bench: ## the command mix, then InitiatePayout alone (fsync and interval), in process and over HTTP vs raw JetStream publishes and batches (and a naive PostgreSQL payout), two runs (the mix about 5 min, the second about 10 min; tables + bench-results.json, bench-initiate.json; docs/performance.md)
	$(GO) run ./cmd/payoutbench
	$(GO) run ./cmd/payoutbench -mix initiate -sync always,interval -postgres=false -json bench-initiate.json

bench-replay: ## replay of a 1M-event log into each read-model store vs ReadAll of the same log, one run (table + bench-results.json; docs/performance.md)
	$(GO) run ./cmd/payoutbench -workload replay -events 1000000

# Long fault runs (docs/faults.md): many kill -9 cycles of payoutd, many
# node stops of a 3-node cluster. make test runs short versions of each.
soak:
	PAYOUT_SOAK=1 $(GO) test -race -count=1 -timeout 60m -v -run 'TestKill9UnderLoadLosesNothing' ./cmd/payoutd/
	PAYOUT_SOAK=1 $(GO) test -race -count=1 -timeout 60m -v -run 'TestNodeLossUnderLoadLosesNothing' ./adapters/jetstream/

vet:
	$(GO) vet $(PKGS)

# domain/ imports no infrastructure: checked on every `make test`.
depcheck:
	@bad=$$($(GO) list -deps ./domain/... | grep -E '$(FORBIDDEN_IN_DOMAIN)'); \
	if [ -n "$$bad" ]; then echo "domain/ depends on infrastructure:"; echo "$$bad"; exit 1; fi; \
	echo "depcheck: domain/ imports no NATS, event-store client, net/http, database/sql or SQL driver"

# Every decoder's fuzz target, FUZZTIME each (seed corpora run in make test).
FUZZTIME ?= 30s
FUZZ_TARGETS := ./domain:FuzzDecodeBody ./domain:FuzzFastDecodeBody ./adapters/jetstream:FuzzDecode ./adapters/esdb:FuzzDecodeMetadata \
	./eventstore/tailguard:FuzzLoad ./projections/reconcile:FuzzParseStatement ./adapters/tokens:FuzzVerify ./adapters/httpapi:FuzzCommandBody ./adapters/httpapi:FuzzRecordsQuery
fuzz: ## run every fuzz target for FUZZTIME
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "== $$fn ($$pkg, $(FUZZTIME))"; $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; done

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf ./data
