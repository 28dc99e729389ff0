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

.PHONY: skills clean-skills

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
