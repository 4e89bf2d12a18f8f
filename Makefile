# Atrium: `make run` to try it, `make test` to check it.
GO      ?= go
PKGS    := ./...
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: run build test test-pgbouncer test-dates bench generate css check-generated lint screenshots postgres-bin

## run: start the console (embedded PostgreSQL unless DATABASE_URL is set)
run: postgres-bin
	$(GO) run -ldflags "-X main.version=$(VERSION)" . serve

## build: build the atrium binary
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o atrium .

## test: the whole suite against a real PostgreSQL (and Chromium for browser tests), then the fuzz tests
test:
	$(GO) test -count=1 -timeout 20m -p 2 $(PKGS)
	@# Fuzz the console's and the API's input for a fixed number of requests each (a count, not a
	@# duration: a timed run can end in a spurious "context deadline exceeded" under load).
	$(GO) test -run '^$$' -fuzz '^FuzzConsoleInput$$' -fuzztime 300x -parallel 1 ./handlers
	$(GO) test -run '^$$' -fuzz '^FuzzAPIInput$$' -fuzztime 300x -parallel 1 ./handlers

## test-pgbouncer: the model and handler tests (tenant isolation, API, metering and the rest) with the
## runtime connections through a pgbouncer in transaction pooling mode that the tests start from the
## machine's binary (Debian: apt-get install pgbouncer); without it they fail
test-pgbouncer:
	TEST_PGBOUNCER=1 $(GO) test -count=1 -timeout 20m -p 2 ./models ./handlers

## test-dates: the model and handler tests again on a date years away and in a year's last minute
## (TEST_NOW moves the tests' clock and the test server's), so a dependency on today's date shows
TEST_DATES ?= 2034-06-15T12:00:00Z 2031-12-31T23:59:00Z
test-dates:
	@for d in $(TEST_DATES); do echo "TEST_NOW=$$d"; TEST_NOW=$$d $(GO) test -count=1 -timeout 20m -p 2 ./models ./handlers || exit 1; done

## bench: the load benchmark (bench/README.md); flags in BENCH_ARGS, e.g. make bench BENCH_ARGS="-d 20s"
bench: postgres-bin
	$(GO) run ./bench $(BENCH_ARGS)

## screenshots: photograph the demo console (desktop and phone) into docs/ for the README (needs Chromium)
screenshots:
	REQUIRE_BROWSER=1 ATRIUM_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run '^TestREADMEScreenshots$$' ./e2e

## generate: templ → Go
generate:
	$(GO) tool templ generate

## css: rebuild static/css/app.css from tailwind.config.js (needs `npm ci` once) and vendor htmx
css: node_modules
	npx tailwindcss -c tailwind.config.js -i static/src/app.css -o static/css/app.css --minify
	cp node_modules/htmx.org/dist/htmx.min.js static/js/htmx.min.js

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

## check-generated: fail when templ output or the built CSS is stale
check-generated: generate css
	@git diff --exit-code --stat -- '*_templ.go' static/ || (echo "generated files are stale: run 'make generate css' and commit" && exit 1)
	@test -z "$$(git status --porcelain -- '*_templ.go' static/)" || (git status --porcelain -- '*_templ.go' static/; echo "generated files are not committed" && exit 1)

## lint: gofmt, go vet, staticcheck (pinned in go.mod as a tool), Windows and macOS builds, a tidy go.mod
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'))" || (gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'); echo "gofmt needed"; exit 1)
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	GOOS=windows $(GO) build $(PKGS)
	GOOS=darwin $(GO) build $(PKGS)
	$(GO) mod tidy -diff

# The embedded cluster needs PostgreSQL's server binaries; install Debian's when we can.
postgres-bin:
	@if [ -z "$$DATABASE_URL" ] && ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing PostgreSQL server binaries (Debian package postgresql)…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else \
	    echo "PostgreSQL server binaries are missing: install them (Debian: sudo apt-get install postgresql) or set DATABASE_URL"; exit 1; \
	  fi; \
	fi
