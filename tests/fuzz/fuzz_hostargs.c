/*
 * fuzz_hostargs.c - libFuzzer target for what a host's setup reads: host
 * addresses (base/netaddr.h: agent --address, the API's `address`), frontend
 * binds (traffic/haproxy_cfg.h: haproxy-config --bind), the join file's text
 * (agent/enroll.h) and the kernel's port range and reserved-port list
 * (agent/ports.h). The first byte picks the parser, the rest is its input.
 *
 * Properties checked (a violation aborts):
 *   - an accepted address or bind is one config word: no byte <= 0x20 or
 *     >= 0x7f, no '#', quote or '\'; an accepted address is < 256 bytes;
 *   - an accepted join token is non-empty, printable ASCII without white
 *     space, and a slice of the input; a refusal says why;
 *   - an accepted port range has 1 <= lo <= hi <= 65535; the reserved list
 *     answers -1, 0 or 1, and the same for any port of an accepted list.
 * Corpus: tests/fuzz/corpus/hostargs/.
 */
#include "agent/enroll.h"
#include "agent/ports.h"
#include "base/err.h"
#include "base/netaddr.h"
#include "traffic/haproxy_cfg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_word(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || c == '#' || c == '"' || c == '\'' || c == '\\')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[FUZZ_MAX + 1];
	struct sw_err err = SW_ERR_INIT;
	char tok[SW_JOIN_TOKEN_MAX];
	unsigned lo, hi;
	size_t n;
	int r;

	if (size < 1 || size - 1 > FUZZ_MAX)
		return 0;
	n = size - 1;
	memcpy(text, data + 1, n);
	text[n] = '\0';
	switch (data[0] % 5) {
	case 0:
		if (strlen(text) != n)
			return 0;
		if (sw_netaddr_kind(text) != SW_NETADDR_BAD) {
			fuzz_word(text);
			if (n >= SW_NETADDR_MAX)
				abort();
		}
		break;
	case 1:
		if (strlen(text) == n && sw_haproxy_cfg_bind_ok(text)) {
			fuzz_word(text);
			if (!strchr(text, ':'))
				abort();
		}
		break;
	case 2:
		r = sw_enroll_join_token_parse(text, n, tok, sizeof(tok), "fuzz", &err);
		if (r == 0) {
			size_t tl = strlen(tok);

			if (tl == 0 || !memmem(text, n, tok, tl))
				abort();
			for (size_t i = 0; i < tl; i++)
				if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f)
					abort();
		} else if (r != -1 || err.code != SW_EINPUT || !err.msg[0]) {
			abort();
		}
		break;
	case 3:
		if (sw_ports_parse_range(text, n, &lo, &hi) == 0 && (lo < 1 || lo > hi || hi > 65535))
			abort();
		break;
	default:
		r = sw_ports_reserved(text, n, n % 65536);
		if (r < -1 || r > 1)
			abort();
		if (r >= 0 && sw_ports_reserved(text, n, 1) < 0)
			abort();
		break;
	}
	return 0;
}
