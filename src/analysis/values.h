/*
 * values.h - struct sw_values: what one measurement measured, by name.
 *
 * A provider fills the values its conditions read; the names are exactly
 * those of sw_spec_provider_fields() (src/spec/: the loader checks
 * conditions against the same list), set up by sw_values_init(). Each
 * value is, after the provider ran, one of:
 *
 *   kind      Lua value seen by conditions     JSON in the measurement
 *   NUMBER    number (float)                   number; NaN/Inf as "NaN", "+Inf", "-Inf"
 *   INTEGER   integer                          integer
 *   BOOL      boolean                          true / false
 *   STRING    string                           string
 *   LIST      table {v1, v2, ...} of numbers   array (non-finite as above)
 *   ABSENT    reading it stops the condition   null
 *             with `verdict` and `why`
 *   UNSET     the provider did not fill it     null (a provider bug; tests check none is left)
 *
 * ABSENT is a value the provider knows but could not measure this time
 * ("no requests reached the canary in the last 1s"): a condition that
 * reads it gives that verdict (inconclusive or error) and reason, never a
 * guess. Setting a name the provider does not have is a bug (SW_BUG_ON).
 *
 * Owns: the strings and lists of its values (heap), freed by
 * sw_values_release(). Calls spec/ (the name table), base/, jansson.
 */
#ifndef SW_VALUES_H
#define SW_VALUES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "spec/spec.h"

/* The verdict of one measurement (also in analysis.h's table). */
enum sw_verdict { SW_VERDICT_SUCCESS, SW_VERDICT_FAILURE, SW_VERDICT_INCONCLUSIVE, SW_VERDICT_ERROR };

#define SW_VALUES_MAX 16      /* values of one provider */
#define SW_VALUES_WHY_MAX 256 /* bytes of an ABSENT value's reason */
#define SW_VALUES_LIST_MAX 1000

enum sw_value_kind {
	SW_VALUE_UNSET,
	SW_VALUE_ABSENT,
	SW_VALUE_NUMBER,
	SW_VALUE_INTEGER,
	SW_VALUE_BOOL,
	SW_VALUE_STRING,
	SW_VALUE_LIST
};

struct sw_value {
	const char *name; /* static, from the spec's table */
	enum sw_value_kind kind;
	double num;
	int64_t integer;
	bool boolean;
	char *str;          /* STRING: heap, NUL-terminated */
	size_t str_len;
	double *list;       /* LIST: heap */
	size_t nlist;
	enum sw_verdict verdict; /* ABSENT: what reading it makes of the measurement */
	char why[SW_VALUES_WHY_MAX];
	bool read;          /* a condition read it since sw_values_clear_read() */
};

struct sw_values {
	enum sw_provider provider;
	struct sw_value v[SW_VALUES_MAX];
	size_t n;
};

/* Every name of the provider, UNSET. */
void sw_values_init(struct sw_values *vs, enum sw_provider provider);
void sw_values_release(struct sw_values *vs);

/* The value of that name, or NULL if the provider has no such name. */
struct sw_value *sw_values_find(struct sw_values *vs, const char *name);

void sw_values_set_number(struct sw_values *vs, const char *name, double v);
void sw_values_set_integer(struct sw_values *vs, const char *name, int64_t v);
void sw_values_set_bool(struct sw_values *vs, const char *name, bool v);
void sw_values_set_string(struct sw_values *vs, const char *name, const char *s, size_t len);
/* At most SW_VALUES_LIST_MAX numbers are kept. */
void sw_values_set_list(struct sw_values *vs, const char *name, const double *v, size_t n);
void sw_values_set_absent(struct sw_values *vs, const char *name, enum sw_verdict verdict, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Every value still UNSET becomes ABSENT with this reason. */
void sw_values_absent_rest(struct sw_values *vs, enum sw_verdict verdict, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The first UNSET name, or NULL when the provider filled every one. */
const char *sw_values_first_unset(const struct sw_values *vs);
void sw_values_clear_read(struct sw_values *vs);

/* {"name": value-or-null, ...} (new reference). */
json_t *sw_values_json(const struct sw_values *vs);
/* A number for JSON: a real, or "NaN", "+Inf", "-Inf" (new reference). */
json_t *sw_values_number_json(double v);
/* "0.5", "12", "true", "'text'", "[3 values]", "no value" into out (always NUL-terminated). */
const char *sw_values_format(const struct sw_value *v, char *out, size_t size);

#endif
