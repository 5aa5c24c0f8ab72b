/*
 * secrets.h - the values of build.secrets for one run.
 *
 * Sources, in order of precedence:
 *   1. --secret-file FILE: lines KEY=VALUE (value verbatim to the end of the
 *      line, a trailing '\r' dropped); blank lines and lines starting with
 *      '#' are ignored; a KEY not declared in build.secrets is an error
 *      naming FILE:line (typos would otherwise go unnoticed).
 *   2. build.secrets.<NAME>: { env: VAR } - the variable must be set (it
 *      may be empty); { file: PATH } - PATH relative to the spec's directory,
 *      at most SW_SECRET_MAX_BYTES, one trailing newline ("\n" or "\r\n")
 *      stripped.
 * Only the secrets of the jobs that will run are read (a missing deploy
 * token does not stop `slipway run lint`), plus every --secret-file value.
 * Values may not contain NUL bytes (they become environment variables).
 * Every error is SW_EINPUT. Values are wiped (explicit_bzero) on release.
 *
 * Calls libc, base/ and spec/spec.h. struct sw_secrets owns its values.
 */
#ifndef SW_SECRETS_H
#define SW_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "spec/spec.h"

#define SW_SECRET_MAX_BYTES 65536
#define SW_SECRET_FILE_MAX_BYTES (1u << 20)

struct sw_secret_val {
	char *value; /* NUL-terminated heap copy; NULL when not resolved */
	size_t len;
};

struct sw_secrets {
	struct sw_secret_val *v; /* parallel to spec->secrets */
	size_t n;
};

/* jobs[i]: job i of spec will run. On failure nothing is kept. */
int sw_secrets_load(struct sw_secrets *s, const struct sw_spec *spec, const bool *jobs, const char *base_dir,
		    const char *secret_file, struct sw_err *err);
/* The value of secret name (and its length), or NULL when not resolved. */
const char *sw_secrets_value(const struct sw_secrets *s, const struct sw_spec *spec, const char *name, size_t *len);
/* Index of name in spec->secrets, or -1. */
long sw_secrets_index(const struct sw_spec *spec, const char *name);
void sw_secrets_release(struct sw_secrets *s);

#endif
