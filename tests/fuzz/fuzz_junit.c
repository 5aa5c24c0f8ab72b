/*
 * fuzz_junit.c - libFuzzer target for the JUnit XML report parser
 * (src/pipeline/junit.c): any input must parse or fail cleanly, and a
 * successful parse must give consistent counts.
 */
#include "pipeline/junit.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_junit j;
	struct sw_err err = SW_ERR_INIT;
	size_t i;

	sw_junit_init(&j);
	if (sw_junit_parse(&j, (const char *)data, size, "fuzz.xml", &err) == 0) {
		if (j.nnames > SW_JUNIT_MAX_NAMES || j.nnames + j.names_dropped != j.failed + j.errors)
			abort();
		for (i = 0; i < j.nnames; i++)
			if (strlen(j.names[i]) >= SW_JUNIT_NAME_MAX)
				abort();
	} else if (err.code != SW_EINPUT || err.msg[0] == '\0') {
		abort();
	}
	sw_junit_release(&j);
	return 0;
}
