# geostream — the two commands a new user needs are `make demo` and `make test`.
.PHONY: demo test quick lint build vet fmt ci

demo: ## run the whole pipeline on an embedded Redis (Ctrl-C stops it)
	scripts/demo

test: ## vet and test every module (integration tests start their own redis-server)
	scripts/test

quick: ## unit tests only (-short: no redis-server, no end-to-end), for the inner loop
	scripts/test -short

lint: ## staticcheck and deadcode over every module
	scripts/lint

build: ## build every binary into ./bin
	go build -o bin/ ./streamkit/cmd/embedded-redis ./streamkit/cmd/healthcheck ./ingest-svc/cmd/ingest-svc \
		./processor-svc/cmd/processor-svc ./simulator/cmd/simulator

vet:
	go vet $$(go list -f '{{.Dir}}/...' -m)

fmt:
	gofmt -w $$(git ls-files '*.go')

ci: ## what CI runs
	bash .ci/run

.PHONY: bench
bench: ## run the side-by-side benchmark (docs/performance.md)
	bench/run
