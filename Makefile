# Example skills: build them for wasip1 (Go) and wasm32-wasi (C), then pack
# and sign each with a publisher key (created on first use in $(KEY); the
# line to trust it is in $(KEY).pub). Packages land in $(OUT).
#
#   make skills
#   export $(cat komand-data/publisher.key.pub)      # Skills__TrustedPublishers=komand-official=…
#
# Then register them: komand skill register build/skills/<id>.kskill --tenant … --email …

OUT ?= build/skills
KEY ?= komand-data/publisher.key
GO_SKILLS = quote-builder web-fetch crm-contact-lookup
KOMAND = go run ./cmd/komand

.PHONY: skills clean-skills fuzz bench-attack

skills: $(KEY)
	@mkdir -p $(OUT)
	@for s in $(GO_SKILLS); do \
		GOOS=wasip1 GOARCH=wasm go build -trimpath -o $(OUT)/$$s.wasm ./examples/skills/$$s || exit 1; \
		$(KOMAND) skill pack --contract examples/skills/$$s/skill.json --module $(OUT)/$$s.wasm --key $(KEY) --out $(OUT)/$$s.kskill || exit 1; \
	done
	@if command -v clang >/dev/null 2>&1 && [ -f /usr/lib/wasm32-wasi/libc.a ]; then \
		clang --target=wasm32-wasi -O2 -Wl,--strip-all -o $(OUT)/word-count.wasm examples/skills/word-count/main.c && \
		$(KOMAND) skill pack --contract examples/skills/word-count/skill.json --module $(OUT)/word-count.wasm --key $(KEY) --out $(OUT)/word-count.kskill; \
	else echo "skipping word-count (C): apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"; fi

$(KEY):
	@mkdir -p $(dir $(KEY))
	$(KOMAND) skill keygen --out $(KEY) --publisher komand-official

clean-skills:
	rm -rf $(OUT)

# Fuzzing: every fuzz target of every package, one after the other, each
# for $(FUZZTIME) (CI's nightly mode runs this: KOMAND_CI_NIGHTLY=1 bash
# .ci/run). Targets are found with `go test -list`, so a new Fuzz function
# is picked up without editing this file. A failing input is written to the
# package's testdata/fuzz/<target>/ (commit it: it becomes a regression
# test); every target runs, and the target fails if any of them failed.
#
#   make fuzz                  # 60 s each
#   make fuzz FUZZTIME=10m     # longer
FUZZTIME ?= 60s

fuzz:
	@targets=$$(go test -list '^Fuzz' ./... | awk '/^Fuzz/ { names[n++] = $$1; next } /^ok/ { for (i = 0; i < n; i++) print $$2 "," names[i] } { n = 0 }'); \
	[ -n "$$targets" ] || { echo "no fuzz targets found" >&2; exit 1; }; \
	failed=""; \
	for t in $$targets; do \
		pkg=$${t%%,*}; name=$${t#*,}; \
		echo "== fuzz $$pkg $$name ($(FUZZTIME))"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || failed="$$failed $$pkg.$$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz failures:$$failed" >&2; exit 1; fi

# The end-to-end prompt-injection attack benchmark (bench/agentattack):
# every attack and benign task on the whole app with an obedient model,
# with the detector on and off; prints the tables and fails if any attack
# succeeded (about 15-40 s).
bench-attack:
	go test ./bench/agentattack -count=1 -run TestAgentAttack -v -args -report
