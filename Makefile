# oauth2-password: `make help` lists the targets.
GO        ?= go
BIN       := bin/oauth2-password
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0

.PHONY: help build test lint bench demo fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/oauth2-password
	$(GO) build -o $(BIN) ./cmd/oauth2-password

test: ## unit, store conformance (PostgreSQL + embedded) and end-to-end tests, with -race
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 9m ./...

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

clean: ## remove build output
	rm -rf bin
