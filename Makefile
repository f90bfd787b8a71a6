# Common tasks. The README's two commands are `make quickstart` and `make test`.
GO ?= go

.PHONY: build quickstart test vet bench fuzz clean

build:
	$(GO) build -o bin/elt ./cmd/elt

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

# A short fuzzing pass over every parser (FUZZTIME each).
FUZZTIME ?= 15s
fuzz:
	@$(GO) list ./... | while read pkg; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
