# oauth2-password: `make help` lists the targets.
SHELL     := /bin/bash
GO        ?= go
BIN       := bin/oauth2-password
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0
# The Kubernetes checks (Helm chart, manifests) are a module of their own,
# so that Helm's and the Kubernetes modules stay out of the product's go.mod.
K8S       := tests/k8s

.PHONY: help build legacy test lint bench scale soak demo run example-nginx example-caddy example-haproxy fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/oauth2-password
	$(GO) build -o $(BIN) ./cmd/oauth2-password

# Kong 2.x: go-pluginserver and the plugin .so from the one module pdk/kong2,
# with this toolchain, so that both link the same go-pdk (v0.6.0) and codec.
LEGACY := bin/kong2
legacy: ## build bin/kong2/go-pluginserver and bin/kong2/oauth2-password.so for Kong 2.x
	cd pdk/kong2 && $(GO) build -o ../../$(LEGACY)/go-pluginserver github.com/Kong/go-pluginserver
	cd pdk/kong2 && $(GO) build -buildmode=plugin -o ../../$(LEGACY)/oauth2-password.so .

# The full -v log goes to bin/test.log; the terminal shows each package's
# result, the conformance suite per store, and on failure the whole log.
test: ## unit, store conformance (PostgreSQL + embedded) and end-to-end tests, with -race; the Helm chart and Kubernetes manifests (tests/k8s); checks .ci/packages first
	@.ci/check-packages
	$(GO) vet ./...
	@mkdir -p bin
	@set -o pipefail; $(GO) test -race -count=1 -timeout 9m -v ./... > bin/test.log 2>&1; rc=$$?; \
	(cd $(K8S) && $(GO) vet ./... && $(GO) test -count=1 -timeout 5m -v ./...) >> bin/test.log 2>&1 || rc=1; \
	grep -E '^(ok|FAIL|panic:|--- FAIL)' bin/test.log; \
	for s in postgres sqlite cached-postgres cached-sqlite; do \
	  echo "store conformance suite, $$s: $$(grep -cE "^ +--- PASS: TestConformance/$$s/" bin/test.log) passed, $$(grep -cE "^ +--- FAIL: TestConformance/$$s/" bin/test.log) failed"; done; \
	if [ $$rc -ne 0 ]; then echo "== go test failed; full log:"; grep -v '^=== \(RUN\|PAUSE\|CONT\|NAME\)' bin/test.log; fi; \
	exit $$rc

lint: ## gofmt, go vet, staticcheck (also of the modules pdk/kong2 and tests/k8s)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd pdk/kong2 && $(GO) vet ./... && $(STATICCHECK) ./...
	cd $(K8S) && $(GO) vet ./... && $(STATICCHECK) ./...

demo: ## build the plugin and walk through the password grant against it (no PostgreSQL needed)
	@echo "building the demo and the plugin (about a minute the first time)…"
	@$(GO) run ./tests/demo

# Built, then run, rather than `go run`: after Ctrl-C `go run` exits 1 even
# when the program stopped cleanly, and make then says "Error 1".
RUNNER := bin/run-examples
run: ## build and run `oauth2-password serve` (HTTPS, embedded store, example client in bin/run) behind a demo gateway; prints the curl lines; Ctrl-C stops
	@$(GO) build -o $(RUNNER) ./tests/run
	@$(RUNNER)

# The deploy/ examples with the real proxy, on loopback, from a prefix in
# bin/example-GATEWAY (docs/getting-started-gateways.md).
example-nginx: ## run deploy/nginx: nginx (HTTPS on 127.0.0.1:8443) in front of serve and an echo API; prints the curl lines; Ctrl-C stops
	@$(GO) build -o $(RUNNER) ./tests/run
	@$(RUNNER) -proxy nginx -dir bin/example-nginx
example-caddy: ## run deploy/caddy the same way with Caddy
	@$(GO) build -o $(RUNNER) ./tests/run
	@$(RUNNER) -proxy caddy -dir bin/example-caddy
example-haproxy: ## run deploy/haproxy the same way with HAProxy (bearer check over SPOE)
	@$(GO) build -o $(RUNNER) ./tests/run
	@$(RUNNER) -proxy haproxy -dir bin/example-haproxy

bench: ## benchmark table: socket cost vs the floor plugin, issuance vs raw lib/pq, engine hot paths, memory
	$(GO) run ./tests/bench

SCALE ?=
scale: ## load stores to 10^5..10^7 tokens and measure each request kind, size at rest, RSS, start-up, import-kong (not in CI; SCALE="-sizes 1e5,1e6" for a quicker run)
	$(GO) run ./tests/scale $(SCALE)

SOAK ?= 5m
soak: ## SOAK (5m) of mixed load with a PostgreSQL restart; fails on growth of RSS, heap, goroutines, connections, or a lost token (not in CI)
	$(GO) run ./tests/soak -duration $(SOAK)

FUZZTIME ?= 1m
fuzz: ## run every fuzz target for FUZZTIME each (their seed corpora also run in `make test`)
	@for t in $$($(GO) test -list '^Fuzz' ./plugin/ | grep ^Fuzz); do \
		echo "== $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./plugin/ || exit 1; done

clean: ## remove build output
	rm -rf bin
