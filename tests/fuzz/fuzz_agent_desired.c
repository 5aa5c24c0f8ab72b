/*
 * fuzz_agent_desired.c - libFuzzer target for agent/desired.h and
 * agent/runspec.h: the desired-state document an agent receives from the
 * server, with a `run` object per slot.
 *
 * Properties checked:
 *   - a refusal leaves the document empty (no rows, no allocation) and says why;
 *   - every accepted row has a valid slot, a 64-hex digest and a port 1..65535;
 *   - a row whose run parsed has a command and a 64-hex run digest, and
 *     parsing its canonical JSON again gives the same digest (a clone);
 *   - a row whose run did not parse carries a reason.
 * Any violation aborts. Corpus: tests/fuzz/corpus/agent_desired/.
 */
#include "agent/desired.h"
#include "agent/runspec.h"
#include "base/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_agent_desired: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_desired d;
	static int ready;
	size_t i;

	if (!ready) {
		sw_hash_global_init();
		ready = 1;
	}
	if (sw_desired_parse((const char *)data, size, &d, &err) < 0) {
		if (d.n || d.rows)
			fuzz_fail("refused document left rows behind");
		if (!err.msg[0])
			fuzz_fail("refusal without a message");
		return 0;
	}
	for (i = 0; i < d.n; i++) {
		const struct sw_desired_row *r = &d.rows[i];

		if ((r->slot != 'a' && r->slot != 'b') || !sw_is_sha256_hex(r->digest) || r->port < 1 || r->port > 65535)
			fuzz_fail("accepted a bad row");
		if (r->claim) {
			struct sw_runspec *copy;

			if (r->invalid)
				fuzz_fail("an invalid row with a run claim");
			if (!r->claim->command || !r->claim->command[0] || !sw_is_sha256_hex(r->claim->digest))
				fuzz_fail("accepted a run without command or digest");
			copy = sw_runspec_clone(r->claim, &err);
			if (!copy || strcmp(copy->digest, r->claim->digest) || sw_runspec_diff(copy, r->claim))
				fuzz_fail("a run does not survive its own canonical form");
			sw_runspec_free(copy);
		} else if (r->invalid && !r->error[0]) {
			fuzz_fail("a refused row without a reason");
		}
	}
	sw_desired_release(&d);
	return 0;
}
