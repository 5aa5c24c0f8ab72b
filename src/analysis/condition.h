/*
 * condition.h - the Lua sandbox that judges a measurement.
 *
 * sw_condition_eval() runs one condition (a Lua 5.4 expression, as written
 * in slipway.yml's `success:` / `failure:`) over a struct sw_values:
 *
 *   - a fresh lua_State per evaluation, made with our own allocator that
 *     refuses to pass SW_CONDITION_MAX_MEMORY bytes (1 MiB);
 *   - the chunk is `return (\n<expr>\n)`, loaded as text only (no
 *     bytecode), and its _ENV is a table holding only `math` (without
 *     random/randomseed: a verdict must not depend on chance); every other
 *     name goes to an __index function that hands out the measured values
 *     (marking them read) and refuses the rest. No string library (so no
 *     string methods), no io, os, require, load, dofile, print, pcall;
 *     assigning a global is an error;
 *   - a count hook stops it after SW_CONDITION_MAX_INSTRUCTIONS (100k)
 *     virtual machine instructions: "condition ran too long".
 *
 * Outcomes (enum sw_condition_outcome):
 *
 *   TRUE / FALSE   it returned a boolean
 *   ABSENT         it read a value the provider could not measure this
 *                  time; out->verdict is that value's verdict
 *                  (inconclusive or error), out->msg names it and why
 *   ERROR          a run-time error, a name the provider does not measure
 *                  ("condition refers to 'p95_ms', which the haproxy
 *                  provider does not measure"), too long, too much memory,
 *                  or a result that is not a boolean
 *
 * sw_condition_verdict() applies both conditions of an analysis:
 *
 *   failure true                          -> FAILURE
 *   else success true                     -> SUCCESS
 *   success false, no failure condition   -> FAILURE
 *   success false, failure false          -> INCONCLUSIVE
 *   no success condition, failure false   -> SUCCESS
 *   either ABSENT / ERROR (failure first) -> its verdict (INCONCLUSIVE / ERROR)
 *
 * The message says which condition decided and the values it read
 * ("failure condition 'error_rate > 0.05' is true (error_rate = 0.5)").
 *
 * Calls liblua5.4, analysis/values, spec/ (struct sw_spec_analysis), base/.
 * Nothing is kept between calls; no memory is returned.
 */
#ifndef SW_CONDITION_H
#define SW_CONDITION_H

#include <stddef.h>

#include "analysis/values.h"
#include "spec/spec.h"

#define SW_CONDITION_MAX_INSTRUCTIONS 100000u
#define SW_CONDITION_MAX_MEMORY ((size_t)1 << 20)
#define SW_CONDITION_MSG_MAX 512

enum sw_condition_outcome { SW_CONDITION_TRUE, SW_CONDITION_FALSE, SW_CONDITION_ABSENT, SW_CONDITION_ERROR };

struct sw_condition_result {
	enum sw_condition_outcome outcome;
	enum sw_verdict verdict;          /* ABSENT: the value's verdict; ERROR: SW_VERDICT_ERROR */
	char msg[SW_CONDITION_MSG_MAX];   /* ABSENT and ERROR: why */
};

/*
 * Run expr over vs. Limits may be 0 for the defaults above (tests pass
 * smaller ones). Marks the values it reads (struct sw_value.read).
 */
enum sw_condition_outcome sw_condition_eval(const char *expr, struct sw_values *vs, size_t max_memory,
					    unsigned max_instructions, struct sw_condition_result *out);

/* The verdict of a measurement by a's conditions; msg gets the reason. */
enum sw_verdict sw_condition_verdict(const struct sw_spec_analysis *a, struct sw_values *vs, char *msg, size_t size);

#endif
