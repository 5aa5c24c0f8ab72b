/*
 * secrets.c - values of build.secrets (see secrets.h).
 * Calls libc, base/ and spec/spec.h.
 */
#include "pipeline/secrets.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/mem.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

long sw_secrets_index(const struct sw_spec *spec, const char *name)
{
	size_t i;

	for (i = 0; i < spec->nsecrets; i++)
		if (!strcmp(spec->secrets[i].name, name))
			return (long)i;
	return -1;
}

static void sw_secret_set(struct sw_secret_val *s, const char *v, size_t len)
{
	if (s->value) {
		explicit_bzero(s->value, s->len);
		free(s->value);
	}
	s->value = sw_xmalloc(len + 1);
	memcpy(s->value, v, len);
	s->value[len] = '\0';
	s->len = len;
}

static bool sw_env_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

/* --secret-file: KEY=VALUE lines; '#' comments and blank lines ignored. */
static int sw_read_secret_file(const struct sw_spec *spec, const char *path, struct sw_secret_val *over,
			       struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_SECRET_FILE_MAX_BYTES);
	const char *p, *end;
	unsigned long line = 0;
	int rc = 0;

	if (sw_fs_read_file(path, SW_SECRET_FILE_MAX_BYTES, &b, err) < 0) {
		sw_buf_release(&b);
		if (err)
			err->code = SW_EINPUT; /* the file the user named: bad input */
		return -1;
	}
	for (p = sw_buf_str(&b), end = p + b.len; p < end && rc == 0;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *eq;
		size_t n;
		long idx;

		line++;
		n = (size_t)(le - p);
		if (n && p[n - 1] == '\r')
			n--;
		while (n && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		if (n == 0 || *p == '#')
			goto next;
		eq = memchr(p, '=', n);
		if (!eq || !sw_env_name_ok(p, (size_t)(eq - p))) {
			rc = sw_err_setloc(err, SW_EINPUT, path, line, 1, "expected KEY=VALUE");
			break;
		}
		{
			char name[256];
			size_t kl = (size_t)(eq - p);

			if (kl >= sizeof(name)) {
				rc = sw_err_setloc(err, SW_EINPUT, path, line, 1, "secret name too long");
				break;
			}
			memcpy(name, p, kl);
			name[kl] = '\0';
			idx = sw_secrets_index(spec, name);
			if (idx < 0) {
				rc = sw_err_setloc(err, SW_EINPUT, path, line, 1,
						   "unknown secret '%s' (not declared in build.secrets of '%s')", name,
						   spec->path);
				break;
			}
			if (memchr(eq + 1, '\0', n - kl - 1)) {
				rc = sw_err_setloc(err, SW_EINPUT, path, line, 1, "secret '%s' contains a NUL byte", name);
				break;
			}
			sw_secret_set(&over[idx], eq + 1, n - kl - 1);
		}
	next:
		p = nl ? nl + 1 : end;
	}
	if (b.data)
		explicit_bzero(b.data, b.len);
	sw_buf_release(&b);
	return rc;
}

static int sw_resolve_secret(const struct sw_spec *spec, size_t i, const char *base_dir, struct sw_secret_val *out,
			     struct sw_err *err)
{
	const struct sw_spec_secret *sec = &spec->secrets[i];

	if (sec->source == SW_SECRET_ENV) {
		const char *v = getenv(sec->from);

		if (!v)
			return sw_err_set(err, SW_EINPUT, "secret '%s': environment variable '%s' is not set", sec->name,
					  sec->from);
		sw_secret_set(out, v, strlen(v));
		return 0;
	}
	{
		struct sw_buf b = SW_BUF_INIT(SW_SECRET_MAX_BYTES);
		char path[PATH_MAX];
		size_t n;
		int rc = 0;

		if (sec->from[0] == '/' ? sw_strlcpy(path, sec->from, sizeof(path)) < 0
					: sw_snprintf(path, sizeof(path), "%s/%s", base_dir, sec->from) < 0)
			return sw_err_set(err, SW_EINPUT, "secret '%s': path too long", sec->name);
		if (sw_fs_read_file(path, SW_SECRET_MAX_BYTES, &b, err) < 0) {
			sw_err_prefix(err, "secret '%s'", sec->name);
			if (err)
				err->code = SW_EINPUT;
			rc = -1;
		} else {
			n = b.len;
			if (n && b.data[n - 1] == '\n') {
				n--;
				if (n && b.data[n - 1] == '\r')
					n--;
			}
			if (memchr(sw_buf_str(&b), '\0', n))
				rc = sw_err_set(err, SW_EINPUT, "secret '%s': file '%s' contains a NUL byte", sec->name,
						path);
			else
				sw_secret_set(out, sw_buf_str(&b), n);
		}
		if (b.data)
			explicit_bzero(b.data, b.len);
		sw_buf_release(&b);
		return rc;
	}
}

int sw_secrets_load(struct sw_secrets *s, const struct sw_spec *spec, const bool *jobs, const char *base_dir,
		    const char *secret_file, struct sw_err *err)
{
	struct sw_secret_val *over = sw_xcalloc(spec->nsecrets ? spec->nsecrets : 1, sizeof(*over));
	bool *needed = sw_xcalloc(spec->nsecrets ? spec->nsecrets : 1, sizeof(*needed));
	size_t i, k;
	int rc = 0;

	s->n = spec->nsecrets;
	s->v = sw_xcalloc(spec->nsecrets ? spec->nsecrets : 1, sizeof(*s->v));
	if (secret_file)
		rc = sw_read_secret_file(spec, secret_file, over, err);
	for (i = 0; i < spec->njobs && rc == 0; i++) {
		if (!jobs[i])
			continue;
		for (k = 0; k < spec->jobs[i].nsecrets; k++) {
			long idx = sw_secrets_index(spec, spec->jobs[i].secrets[k]);

			if (idx < 0) {
				rc = sw_err_setloc(err, SW_EINPUT, spec->path, spec->jobs[i].loc.line,
						   spec->jobs[i].loc.col,
						   "job '%s' uses secret '%s', which build.secrets does not declare",
						   spec->jobs[i].name, spec->jobs[i].secrets[k]);
				break;
			}
			needed[idx] = true;
		}
	}
	for (i = 0; i < spec->nsecrets && rc == 0; i++) {
		if (over[i].value)
			sw_secret_set(&s->v[i], over[i].value, over[i].len);
		else if (needed[i])
			rc = sw_resolve_secret(spec, i, base_dir, &s->v[i], err);
	}
	for (i = 0; i < spec->nsecrets; i++) {
		if (over[i].value) {
			explicit_bzero(over[i].value, over[i].len);
			free(over[i].value);
		}
	}
	free(over);
	free(needed);
	if (rc < 0)
		sw_secrets_release(s);
	return rc;
}

const char *sw_secrets_value(const struct sw_secrets *s, const struct sw_spec *spec, const char *name, size_t *len)
{
	long idx = sw_secrets_index(spec, name);

	if (idx < 0 || (size_t)idx >= s->n || !s->v[idx].value)
		return NULL;
	if (len)
		*len = s->v[idx].len;
	return s->v[idx].value;
}

void sw_secrets_release(struct sw_secrets *s)
{
	size_t i;

	for (i = 0; s->v && i < s->n; i++) {
		if (s->v[i].value) {
			explicit_bzero(s->v[i].value, s->v[i].len);
			free(s->v[i].value);
		}
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
