# mxout — build, run and test. `make help` lists the targets.
GO      ?= go
BIN     ?= bin/mxout
# The version is the release tag (v1.2.3) on a tagged commit, else what
# git describe says (v1.2.3-4-gabc1234, or the commit before any tag).
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# SOURCE_DATE_EPOCH (reproducible builds) fixes the build date.
DATE    ?= $(shell if [ -n "$$SOURCE_DATE_EPOCH" ]; then date -u -d "@$$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ; else date -u +%Y-%m-%dT%H:%M:%SZ; fi)
# GOBUILDFLAGS and EXTRA_LDFLAGS: `make package` builds with -trimpath, -s -w.
GOBUILDFLAGS  ?=
EXTRA_LDFLAGS ?=
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(DATE) $(EXTRA_LDFLAGS)
# Fuzz time per target for `make fuzz`. `make test` runs only the fuzz
# targets' seed corpora (testdata/fuzz, as part of `go test`): exploring new
# inputs is random, and a test command whose result depends on luck cannot
# guard main. Crashers found by `make fuzz` are kept as seeds.
FUZZTIME ?= 2m

# Install locations; DESTDIR is prepended to all of them (packaging, tests).
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= /usr/sbin
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
STATEDIR    ?= /var/lib/mxout
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
# Every command reads $(SYSCONFDIR)/mxout/mxout.yaml when neither --config
# nor $MXOUT_CONFIG names a config file.
LDFLAGS += -X main.systemConfig=$(SYSCONFDIR)/mxout/mxout.yaml
# SENDMAIL_LINK=1 also links $(SBINDIR)/sendmail and $(BINDIR)/mailq to mxout.
SENDMAIL_LINK ?=
# Extra flags for `make bench`, e.g. BENCH_FLAGS='--runs 3 --drain-messages 100000'.
BENCH_FLAGS ?=
# Where `make package` puts the release artefacts.
DIST ?= dist
# The image `make image` builds, with podman (or buildah when podman is absent).
IMAGE ?= localhost/mxout:$(VERSION)

.PHONY: help build run test unit fuzz lint check clean install uninstall bench bench-micro man package image

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/mxout
	$(GO) build $(GOBUILDFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/mxout

run: build ## run the relay on the embedded defaults (127.0.0.1:2525, ./mxout-data)
	./$(BIN) serve $(if $(CONFIG),--config $(CONFIG))

test: lint unit ## everything CI runs: vet, gofmt, staticcheck, race tests (fuzz seed corpora included)

unit: ## go test with the race detector, shuffled
	$(GO) test -race -shuffle=on -count=1 -timeout 20m ./...

fuzz: ## explore every fuzz target for FUZZTIME each (default 2m); keep any crasher as a seed
	@./scripts/fuzz.sh $(FUZZTIME)

lint: ## go vet, gofmt, and staticcheck when installed
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "staticcheck not installed; skipped (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)"; fi

check: lint unit ## vet + gofmt + staticcheck + race tests

install: build ## install mxout, its systemd unit and user, man pages, shell completions, and (if absent) $(SYSCONFDIR)/mxout/mxout.yaml; SENDMAIL_LINK=1 links $(SBINDIR)/sendmail and $(BINDIR)/mailq
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/mxout
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/mxout
	sed -e 's|/usr/local/bin/mxout|$(BINDIR)/mxout|' -e 's|/etc/mxout/|$(SYSCONFDIR)/mxout/|g' -e 's|/var/lib/mxout|$(STATEDIR)|g' \
		packaging/mxout.service > $(DESTDIR)$(UNITDIR)/mxout.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/mxout.service
	sed 's|/var/lib/mxout|$(STATEDIR)|' packaging/mxout.sysusers > $(DESTDIR)$(SYSUSERSDIR)/mxout.conf
	chmod 0644 $(DESTDIR)$(SYSUSERSDIR)/mxout.conf
	install -d $(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/site-functions $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	$(BIN) completion bash > $(DESTDIR)$(DATADIR)/bash-completion/completions/mxout
	$(BIN) completion zsh > $(DESTDIR)$(DATADIR)/zsh/site-functions/_mxout
	$(BIN) completion fish > $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/mxout.fish
	install -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 docs/man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 docs/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	@conf=$(DESTDIR)$(SYSCONFDIR)/mxout/mxout.yaml; \
	if [ -e "$$conf" ]; then echo "kept the existing $$conf"; \
	else sed 's|^data_dir: ./mxout-data|data_dir: $(STATEDIR)|' configs/mxout.example.yaml > "$$conf" && chmod 0644 "$$conf" && echo "installed $$conf"; fi
	@if [ "$(SENDMAIL_LINK)" = 1 ]; then \
		for link in $(DESTDIR)$(SBINDIR)/sendmail $(DESTDIR)$(BINDIR)/mailq; do \
		if [ -e "$$link" -o -L "$$link" ] && [ "$$(readlink "$$link")" != "$(BINDIR)/mxout" ]; then \
			echo "$$link exists and is not a link to $(BINDIR)/mxout (another MTA's?): remove that MTA's package or the file first" >&2; exit 1; fi; done; \
		for link in $(DESTDIR)$(SBINDIR)/sendmail $(DESTDIR)$(BINDIR)/mailq; do \
		install -d "$$(dirname "$$link")" && ln -sfn $(BINDIR)/mxout "$$link" && echo "linked $$link -> $(BINDIR)/mxout"; done; fi
	@echo "next: systemd-sysusers && systemctl daemon-reload && systemctl enable --now mxout"

uninstall: ## remove what install put in place, but the config and the queue
	rm -f $(DESTDIR)$(BINDIR)/mxout $(DESTDIR)$(UNITDIR)/mxout.service $(DESTDIR)$(SYSUSERSDIR)/mxout.conf \
		$(DESTDIR)$(DATADIR)/bash-completion/completions/mxout $(DESTDIR)$(DATADIR)/zsh/site-functions/_mxout \
		$(DESTDIR)$(DATADIR)/fish/vendor_completions.d/mxout.fish
	cd docs/man && for p in *.5; do rm -f $(DESTDIR)$(MANDIR)/man5/$$p; done && for p in *.8; do rm -f $(DESTDIR)$(MANDIR)/man8/$$p; done
	@for link in $(DESTDIR)$(SBINDIR)/sendmail $(DESTDIR)$(BINDIR)/mailq; do if [ "$$(readlink "$$link")" = "$(BINDIR)/mxout" ]; then rm -f "$$link"; fi; done

man: ## regenerate docs/man (mxout(8) and a page per command, mxout.yaml(5) from docs/configuration.md); a test fails when they drift
	$(GO) test ./cmd/mxout -run '^TestManPages$$' -count=1 -update

package: ## release artefacts in $(DIST)/: a static linux tarball, a .deb and a .rpm (nfpm, a go.mod tool), SHA256SUMS
	GO='$(GO)' DIST='$(DIST)' VERSION='$(VERSION)' COMMIT='$(COMMIT)' ./scripts/package.sh

image: ## the container image $(IMAGE) (packaging/Containerfile: FROM scratch, a static build, a non-root user) with podman or buildah
	GO='$(GO)' DIST='$(DIST)' VERSION='$(VERSION)' COMMIT='$(COMMIT)' IMAGE='$(IMAGE)' ./scripts/image.sh

bench: build ## mxout beside Postfix through the whole relay, with two generators: its own Go clients and sinks, and Postfix's smtp-source and smtp-sink (installs Postfix; minutes; not in `make test`)
	@./scripts/postfix-bench.sh install
	$(GO) build -o bin/mxout-bench ./cmd/mxout-bench
	./bin/mxout-bench --mxout $(BIN) $(BENCH_FLAGS)

bench-micro: ## go test -bench with -benchmem for the queue and the DATA path
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./queue/ ./submission/

clean: ## remove build output
	rm -rf bin $(DIST)
