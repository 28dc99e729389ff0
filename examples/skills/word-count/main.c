/*
 * word-count: a Komand skill in C (wasm32-wasi, built with clang and
 * Debian's wasi-libc), to show the ABI works without the Go SDK.
 *
 * Input  {"text": "...", "calls": N}   (calls: optional, host-call benchmark)
 * Output {"words": W}
 *
 * It reads JSON on stdin and writes JSON on stdout like every skill; it
 * calls the host module "komand" (config) N times when asked, which the
 * benchmarks use to measure a host-function round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((import_module("komand"), import_name("config"))) int komand_config(const char *key, int len);
__attribute__((import_module("komand"), import_name("result"))) int komand_result(char *buf, int len);

static char buf[1 << 16];

int main(void) {
	size_t n = fread(buf, 1, sizeof(buf) - 1, stdin);
	buf[n] = 0;
	long words = 0;
	const char *p = strstr(buf, "\"text\"");
	if (p && (p = strchr(p + 6, ':')) && (p = strchr(p, '"'))) {
		int in_word = 0;
		for (p++; *p && *p != '"'; p++) {
			int space = (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r');
			if (*p == '\\' && p[1]) {
				p++; /* an escape: \n, \t and \r are spaces, anything else a character */
				space = (*p == 'n' || *p == 't' || *p == 'r');
			}
			if (!space && !in_word) {
				words++;
			}
			in_word = !space;
		}
	}
	long calls = 0;
	const char *c = strstr(buf, "\"calls\"");
	if (c && (c = strchr(c + 7, ':'))) {
		calls = strtol(c + 1, NULL, 10);
	}
	char tmp[64];
	for (long i = 0; i < calls; i++) {
		if (komand_config("k", 1) >= 0) {
			komand_result(tmp, sizeof(tmp));
		}
	}
	printf("{\"words\":%ld}", words);
	return 0;
}
