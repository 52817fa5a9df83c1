# The todo platform. `make` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO             ?= go
GOLANGCI_LINT  := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.6.2
STACK          ?= minikube
# The user of `make token`: USER=bob on the command line, or TOKEN_USER;
# never the shell's own $USER.
ifeq ($(origin USER),command line)
TOKEN_USER     := $(USER)
endif
TOKEN_USER     ?= alice

##@ Run

.PHONY: up
up: postgres-bin ## Run the whole platform locally (starts its own PostgreSQL unless DATABASE_URL is set)
	@$(GO) build -o bin/todo-local ./services/local/cmd/todo-local
	./bin/todo-local up

.PHONY: token
token: ## Print a development token: make token USER=alice [TTL=1h] (LOCAL_DATA_DIR as for make up)
	@$(GO) run ./services/local/cmd/todo-local token $(if $(TTL),-ttl $(TTL)) $(TOKEN_USER)

##@ Test

.PHONY: test
test: postgres-bin pgbouncer-bin web-check ## Run all tests (race detector on) against real PostgreSQL (and PgBouncer), and the web app's checks
	$(GO) test -race ./...

# npm ci when node_modules is missing or older than the lock file.
WEB_NPM_CI = cd services/web && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }

.PHONY: web-check
web-check: ## Type-check, lint and unit-test the web app (services/web; needs Node.js 20+)
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "web-check SKIPPED: Node.js 20+ and npm are not installed, so the web app's type-check, lint and unit tests did not run."; \
		echo "  install them (Debian: apt-get install nodejs npm; or https://nodejs.org/en/download) and run make test again."; \
		echo "  (the Go tests still check that services/web/dist is built from the current sources)"; \
	else \
		$(WEB_NPM_CI) && npm run --silent check; \
	fi

.PHONY: web-build
web-build: ## Rebuild the web app into services/web/dist (Node.js 20+), which is committed and embedded in taskapi
	$(WEB_NPM_CI) && npm run --silent build

.PHONY: test-e2e
test-e2e: tools postgres-bin chromium-bin node-bin ## Run the end-to-end tests with the real tools (a one-node Kubernetes, etcd, Pulumi engine, daprd, Chromium)
	@bash tests/tools/path.sh --check
	PATH="$$(bash tests/tools/path.sh):$$PATH" PULUMI_SKIP_UPDATE_CHECK=true $(GO) test -tags e2e -count=1 -timeout 60m ./tests/...

.PHONY: tools
tools: ## Build the heavy test tools once into ~/.cache/todo-platform/tools (about 30 minutes in all when cold on a quiet 2-core machine; instant when cached)
	bash tests/tools/build.sh

.PHONY: lint
lint: ## Run gofmt, go vet, golangci-lint and Redocly's lint of the OpenAPI documents
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(GOLANGCI_LINT) run ./...
	@$(MAKE) --no-print-directory openapi-lint

.PHONY: openapi-lint
openapi-lint: ## Lint the OpenAPI documents of taskapi, notifier and audit with Redocly CLI (tests/openapi; needs Node.js 20.19+)
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "openapi-lint SKIPPED: Node.js 20.19+ and npm are not installed, so Redocly's lint of the OpenAPI documents did not run."; \
		echo "  install them (Debian: apt-get install nodejs npm; or https://nodejs.org/en/download) and run make lint again."; \
	else \
		cd tests/openapi && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && \
		REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --no-install redocly lint --config redocly.yaml; \
	fi

# The transports make test-chaos runs, one run each (CHAOS_TRANSPORTS=kafka
# for the Kafka run alone).
CHAOS_TRANSPORTS ?= kafka dapr

.PHONY: test-chaos
test-chaos: postgres-bin ## Run the platform as separate processes under load, inject faults one at a time, and count the invariants: a run with the Kafka transport, then one with each service beside its daprd (`make tools`) (about 6 minutes)
	@if [[ " $(CHAOS_TRANSPORTS) " == *" dapr "* ]] && ! command -v daprd >/dev/null && ! bash tests/tools/path.sh --check dapr; then \
		echo "make test-chaos: its Dapr run needs daprd: run \`make tools\` once to build it (or CHAOS_TRANSPORTS=kafka for the Kafka run alone)" >&2; exit 1; \
	fi
	@$(GO) build -o bin/chaos ./tests/chaos
	@for t in $(CHAOS_TRANSPORTS); do echo "== chaos run with the $$t transport"; ./bin/chaos -transport $$t $(CHAOS_FLAGS) || exit 1; done

.PHONY: bench
bench: postgres-bin ## Benchmark the task API: 100 users x 10,000 tasks, open-loop mixed load (3-5 minutes)
	$(GO) run ./tests/load/taskbench $(BENCH_FLAGS)

.PHONY: bench-scale
bench-scale: postgres-bin ## Benchmark how a page's cost grows: users of 1,000 / 10,000 / 100,000 tasks in databases of 1 M and 5 M tasks (about 15 minutes, 8 GB of disk)
	$(GO) run ./tests/load/taskbench -scale $(BENCH_FLAGS)

.PHONY: bench-events
bench-events: postgres-bin ## Benchmark the event backbone: commit -> consumer delay via Kafka and via Dapr (daprd from `make tools`), relay throughput (about 2 minutes)
	$(GO) run ./tests/load/eventbench $(BENCH_FLAGS)

.PHONY: bench-reminders
bench-reminders: postgres-bin ## Benchmark reminder firing: 100,000 reminders due in one minute, two notifier replicas (about 90 seconds)
	$(GO) run ./tests/load/reminderbench $(BENCH_FLAGS)

.PHONY: bench-realtime
bench-realtime: postgres-bin ## Benchmark realtime: up to 50,000 WebSocket connections, memory per connection, fan-out, commit -> client delay (about 1 minute)
	$(GO) run ./tests/load/realtimebench $(BENCH_FLAGS)

.PHONY: bench-web
bench-web: postgres-bin chromium-bin ## Benchmark the web app: first-load JS per route, first 50 of 10,000 tasks, tab-to-tab delay, quick-add parse time (about 2 minutes)
	$(WEB_NPM_CI) && npx vitest bench --run
	$(GO) run ./tests/load/webbench $(BENCH_FLAGS)

##@ Platform as code (infra/README.md)

.PHONY: preview
preview: ## Preview a stack: make preview STACK=minikube|local|aks|gke|doks
	PATH="$$(bash tests/tools/path.sh 2>/dev/null):$$PATH" $(GO) run ./infra/cmd/stack preview -s $(STACK)

.PHONY: deploy
deploy: ## Deploy a stack: make deploy STACK=minikube|local|aks|gke|doks
	PATH="$$(bash tests/tools/path.sh 2>/dev/null):$$PATH" $(GO) run ./infra/cmd/stack up -s $(STACK)

.PHONY: destroy
destroy: ## Destroy a stack: make destroy STACK=... (cloud stacks also need YES=1)
	PATH="$$(bash tests/tools/path.sh 2>/dev/null):$$PATH" $(GO) run ./infra/cmd/stack destroy -s $(STACK) $(if $(YES),-yes)

##@ Local Kubernetes (no Docker; infra/README.md, "local")

.PHONY: cluster
cluster: tools node-bin postgres-bin ## Start the one-node Kubernetes cluster on this machine (background; prints the KUBECONFIG line); then: make deploy STACK=local
	@$(GO) build -o bin/todo-cluster ./tests/cluster/cmd/todo-cluster
	./bin/todo-cluster up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and remove everything it added to the machine (its data stay in .data/cluster)
	@$(GO) build -o bin/todo-cluster ./tests/cluster/cmd/todo-cluster
	./bin/todo-cluster down

##@ Helpers

# APT_INSTALL installs Debian packages, as root or through sudo; it fails
# (for the caller to say what to do instead) where neither can.
APT_INSTALL = { { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt=(); } || \
	{ command -v sudo >/dev/null && command -v apt-get >/dev/null && apt=(sudo); }; } && \
	"$${apt[@]}" apt-get update -qq && "$${apt[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

.PHONY: node-bin
node-bin: ## Install what a Kubernetes node needs when missing (Debian: containerd, runc, CNI plugins, iptables, conntrack, ipset)
	@missing=""; for c in containerd containerd-shim-runc-v2 runc iptables conntrack ip ipset; do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	[ -x /usr/lib/cni/bridge ] || missing="$$missing cni-plugins"; \
	if [ -n "$$missing" ]; then \
		echo "node packages missing ($$missing): installing containerd runc containernetworking-plugins iptables conntrack iproute2 ipset"; \
		pkgs="containerd runc containernetworking-plugins iptables conntrack iproute2 ipset"; \
		$(APT_INSTALL) $$pkgs >/dev/null || { echo "cannot install them here: install $$pkgs" >&2; exit 1; }; \
	fi

.PHONY: postgres-bin
postgres-bin: ## Install the PostgreSQL server binaries when missing (Debian), unless DATABASE_URL is set
	@if [ -z "$$DATABASE_URL$$TEST_DATABASE_URL" ] && ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "PostgreSQL server binaries not found: installing the Debian package postgresql"; \
		$(APT_INSTALL) postgresql >/dev/null || { echo "cannot install PostgreSQL here: install its server (initdb, pg_ctl) or set DATABASE_URL / TEST_DATABASE_URL" >&2; exit 1; }; \
	fi

.PHONY: pgbouncer-bin
pgbouncer-bin: ## Install PgBouncer when missing (Debian): the tests put it in front of PostgreSQL as production's pooler
	@if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ] && [ -z "$$PGBOUNCER" ]; then \
		echo "PgBouncer not found: installing the Debian package pgbouncer"; \
		$(APT_INSTALL) pgbouncer >/dev/null || { echo "cannot install PgBouncer here: install it or set PGBOUNCER to its path" >&2; exit 1; }; \
	fi

.PHONY: chromium-bin
chromium-bin: ## Install Chromium for the browser tests when missing (Debian)
	@if ! command -v chromium >/dev/null 2>&1 && [ -z "$$CHROMIUM" ]; then \
		echo "Chromium not found: installing the Debian package chromium"; \
		$(APT_INSTALL) chromium >/dev/null || { echo "cannot install Chromium here: install it or set CHROMIUM to its path" >&2; exit 1; }; \
	fi

FUZZTIME ?= 25s
.PHONY: fuzz
fuzz: postgres-bin ## Run every fuzz target (each func Fuzz* under pkg/ and services/) for FUZZTIME each (default 25s)
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' pkg services | sort); do \
	  dir=./$$(dirname $$f); \
	  for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
	    echo "== $$t ($$dir, $(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
		/^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)
