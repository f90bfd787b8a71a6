# Common tasks. The README's two commands are `make quickstart` and `make test`.
GO ?= go

.PHONY: build build-static quickstart test vet bench fuzz clean tools

build:
	$(GO) build -o bin/elt ./cmd/elt

# A fully static binary (glibc, libstdc++ and DuckDB linked in, pure-Go DNS
# and user lookups): no dynamic loader or relocations at start, ~25% fewer
# page faults. DuckDB's own home-folder and network lookups then use glibc's
# static stubs; keep `build` when a project loads DuckDB extensions.
build-static:
	$(GO) build -tags netgo,osusergo -ldflags '-linkmode external -extldflags "-static"' -o bin/elt ./cmd/elt

quickstart:
	$(GO) run ./cmd/elt -C examples/quickstart run

test:
	$(GO) test ./...

vet:
	$(GO) vet ./...

# Benchmarks behind the figures in the issues' notes. BENCH narrows them.
BENCH ?= .
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./...

# A fuzzing pass over every fuzz target (FUZZTIME each, 30 s by default).
# A finding is written under the package's testdata/fuzz/; commit it with its fix
# as a regression input (plain `go test` replays it).
FUZZTIME ?= 30s
FUZZPKGS ?= ./...
fuzz:
	@$(GO) list $(FUZZPKGS) | while read pkg; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# The real tools elt is tested against (pinned in tools/requirements.txt), in .venv/:
# dbt-core + dbt-duckdb, dlt with DuckDB, Python's duckdb, the duckdb CLI (which Sling's
# DuckDB connector drives; DUCKDB_PATH points Sling at it) and the Sling binary itself
# (from the sling-linux-amd64 package, linked as .venv/bin/sling). Nothing downloads at
# run time. Re-running is quick when the requirements have not changed.
PYTHON ?= python3
VENV := .venv
tools: $(VENV)/.tools-installed

$(VENV)/.tools-installed: tools/requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r tools/requirements.txt
	ln -sf "$$($(VENV)/bin/python -c 'import sling_linux_amd64, os; print(os.path.join(os.path.dirname(sling_linux_amd64.__file__), "bin", "sling-linux-amd64"))')" $(VENV)/bin/sling
	$(VENV)/bin/sling --version
	$(VENV)/bin/dbt --version | head -n 6
	$(VENV)/bin/duckdb --version
	$(VENV)/bin/python -c 'import dlt, duckdb; print("dlt", dlt.__version__, "duckdb", duckdb.__version__)'
	touch $@

clean:
	rm -rf bin
