/*
 * store.c - the backend-neutral half of the store (see store.h): URL
 * dispatch, transactions, appending events to the hash chain, the actor.
 * Calls base/, store/sqlite (the one backend so far), store/eventlog.
 * Stores returned by sw_store_open*() are freed with sw_store_close().
 */
#include "store/store.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/json.h"
#include "store/eventlog.h"
#include "store/sqlite.h"

#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int sw_store_open_url(const char *url, int readonly, struct sw_store **out, struct sw_err *err)
{
	const char *path = url;

	*out = NULL;
	if (!url || !*url)
		return sw_err_set(err, SW_EINPUT, "empty store URL");
	if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
		return sw_err_set(err, SW_EINPUT, "PostgreSQL store is not built yet");
	if (!strncmp(url, "sqlite:", 7)) {
		path = url + 7;
		if (!strncmp(path, "//", 2)) /* sqlite:///abs/path */
			path += 2;
	} else if (strstr(url, "://")) {
		return sw_err_set(err, SW_EINPUT,
				  "unsupported store URL '%s' (expected sqlite:PATH, a file path or postgres://...)", url);
	}
	if (!*path)
		return sw_err_set(err, SW_EINPUT, "store URL '%s' has no path", url);
	return sw_sqlite_open(path, url, readonly, out, err);
}

int sw_store_open(const char *url, struct sw_store **out, struct sw_err *err)
{
	return sw_store_open_url(url, 0, out, err);
}

int sw_store_open_readonly(const char *url, struct sw_store **out, struct sw_err *err)
{
	return sw_store_open_url(url, 1, out, err);
}

int sw_store_default_url(char *out, size_t size, struct sw_err *err)
{
	char home[PATH_MAX];

	if (sw_home_dir(home, sizeof(home), err) < 0)
		return -1;
	if (sw_path_join(out, size, home, "slipway.db") < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", home);
	return 0;
}

int sw_store_open_default(struct sw_store **out, struct sw_err *err)
{
	char home[PATH_MAX], path[PATH_MAX];

	*out = NULL;
	if (sw_home_subdir(home, sizeof(home), NULL, err) < 0)
		return -1;
	if (sw_path_join(path, sizeof(path), home, "slipway.db") < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", home);
	return sw_store_open(path, out, err);
}

void sw_store_close(struct sw_store *st)
{
	if (!st)
		return;
	if (st->in_tx)
		sw_store_rollback(st);
	st->ops->close(st);
}

int sw_store_begin(struct sw_store *st, struct sw_err *err)
{
	if (st->in_tx)
		return sw_err_set(err, SW_EINTERNAL, "store '%s': a transaction is already open", st->url);
	if (st->ops->begin(st, err) < 0)
		return -1;
	st->in_tx = 1;
	return 0;
}

int sw_store_commit(struct sw_store *st, struct sw_err *err)
{
	if (!st->in_tx)
		return sw_err_set(err, SW_EINTERNAL, "store '%s': commit without a transaction", st->url);
	if (st->ops->commit(st, err) < 0) {
		/* Nothing of a failed commit may stay: roll it all back. */
		st->ops->rollback(st);
		st->in_tx = 0;
		return -1;
	}
	st->in_tx = 0;
	return 0;
}

void sw_store_rollback(struct sw_store *st)
{
	if (!st->in_tx)
		return;
	st->ops->rollback(st);
	st->in_tx = 0;
}

/* Text for one event field: bounded, no control characters. */
static int sw_store_check_text(const char *name, const char *s, size_t min, size_t max, struct sw_err *err)
{
	size_t n, i;

	if (!s)
		return sw_err_set(err, SW_EINPUT, "event %s is missing", name);
	n = strlen(s);
	if (n < min)
		return sw_err_set(err, SW_EINPUT, "event %s is empty", name);
	if (n > max)
		return sw_err_set(err, SW_EINPUT, "event %s is longer than %zu bytes", name, max);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return sw_err_set(err, SW_EINPUT, "event %s '%.64s' contains a control character", name, s);
	return 0;
}

static int sw_store_check_kind(const char *kind, struct sw_err *err)
{
	const char *p;

	if (sw_store_check_text("kind", kind, 1, SW_EVENT_KIND_MAX, err) < 0)
		return -1;
	for (p = kind; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return sw_err_set(err, SW_EINPUT, "event kind '%s' may only hold a-z, 0-9, '.', '_' and '-'",
					  kind);
	return 0;
}

static int sw_store_append_tx(struct sw_store *st, struct sw_event *ev, char hash[SW_SHA256_HEX],
			      struct sw_err *err)
{
	char prev[SW_SHA256_HEX];
	int64_t last;

	if (st->ops->last_event(st, &last, prev, err) < 0)
		return -1;
	ev->seq = last + 1;
	ev->prev_hash = prev;
	sw_eventlog_hash(ev, hash);
	ev->hash = hash;
	return st->ops->insert_event(st, ev, err);
}

int sw_store_append(struct sw_store *st, const char *actor, const char *kind, const char *subject,
		    const json_t *payload, int64_t *seq, struct sw_err *err)
{
	struct sw_buf body = SW_BUF_INIT(SW_EVENT_PAYLOAD_MAX);
	char now[SW_TIME_STR_MAX], hash[SW_SHA256_HEX];
	struct sw_event ev;
	int own = 0, rc = -1;

	if (sw_store_check_text("actor", actor, 1, SW_EVENT_ACTOR_MAX, err) < 0 || sw_store_check_kind(kind, err) < 0 ||
	    sw_store_check_text("subject", subject ? subject : "", 0, SW_EVENT_SUBJECT_MAX, err) < 0)
		return -1;
	if (payload && !json_is_object(payload))
		return sw_err_set(err, SW_EINPUT, "event '%s': payload must be a JSON object", kind);
	if (payload ? sw_json_canonical(payload, &body) < 0 : sw_buf_puts(&body, "{}") < 0) {
		sw_buf_release(&body);
		return sw_err_set(err, SW_EINPUT, "event '%s': payload cannot be encoded or is larger than %zu bytes",
				  kind, SW_EVENT_PAYLOAD_MAX);
	}
	memset(&ev, 0, sizeof(ev));
	ev.time = sw_clock_format_utc(sw_clock_wall_ms(), now, sizeof(now));
	ev.actor = actor;
	ev.kind = kind;
	ev.subject = subject ? subject : "";
	ev.payload = sw_buf_str(&body);
	if (!st->in_tx) {
		if (sw_store_begin(st, err) < 0)
			goto out;
		own = 1;
	}
	if (sw_store_append_tx(st, &ev, hash, err) < 0)
		goto out;
	if (own && sw_store_commit(st, err) < 0) {
		own = 0; /* sw_store_commit rolled back */
		goto out;
	}
	own = 0;
	if (seq)
		*seq = ev.seq;
	rc = 0;
out:
	if (own)
		sw_store_rollback(st);
	sw_buf_release(&body);
	return rc;
}

int sw_store_scan(struct sw_store *st, int64_t after, size_t limit, sw_event_cb cb, void *ctx,
		  struct sw_err *err)
{
	return st->ops->scan_events(st, after, limit, cb, ctx, err);
}

int sw_store_scan_subject(struct sw_store *st, const char *subject, const char *kind, int64_t after, size_t limit,
			  sw_event_cb cb, void *ctx, struct sw_err *err)
{
	if (!subject)
		return sw_err_set(err, SW_EINPUT, "event subject is missing");
	if (after < 0)
		return sw_err_set(err, SW_EINPUT, "scan after seq %lld: expected 0 or more", (long long)after);
	if (!st->ops->scan_subject)
		return sw_err_set(err, SW_EINTERNAL, "the %s store has no scan_subject", st->ops->name);
	return st->ops->scan_subject(st, subject, kind, after, limit, cb, ctx, err);
}

int sw_store_scan_newest(struct sw_store *st, int64_t after, int64_t before, const char *kind, size_t limit,
			 sw_event_cb cb, void *ctx, struct sw_err *err)
{
	if (after < 0 || before < 0)
		return sw_err_set(err, SW_EINPUT, "scan between seq %lld and %lld: expected 0 or more", (long long)after,
				  (long long)before);
	if (!st->ops->scan_newest)
		return sw_err_set(err, SW_EINTERNAL, "the %s store has no scan_newest", st->ops->name);
	return st->ops->scan_newest(st, after, before, kind, limit, cb, ctx, err);
}

int sw_store_put_release(struct sw_store *st, const char *digest, const char *service, const char *version,
			 const char *manifest_json, const char *bundle_path, struct sw_err *err)
{
	if (!digest || !*digest || !service || !version || !manifest_json || !bundle_path)
		return sw_err_set(err, SW_EINPUT, "release record is missing a field");
	return st->ops->put_release(st, digest, service, version, manifest_json, bundle_path, err);
}

int sw_store_list_releases(struct sw_store *st, const char *service, json_t **arr, struct sw_err *err)
{
	*arr = NULL;
	return st->ops->list_releases(st, service, arr, err);
}

int sw_store_get_release(struct sw_store *st, const char *digest, char **manifest_json, char **bundle_path,
			 struct sw_err *err)
{
	if (manifest_json)
		*manifest_json = NULL;
	if (bundle_path)
		*bundle_path = NULL;
	return st->ops->get_release(st, digest, manifest_json, bundle_path, err);
}

const char *sw_store_actor(char *out, size_t size)
{
	const char *env = getenv("SLIPWAY_ACTOR"), *user = getenv("USER");
	char host[256], pwbuf[1024];
	struct passwd pw, *res = NULL;

	if (env && *env) {
		sw_strlcpy(out, env, size);
		return out;
	}
	if (!user || !*user) {
		if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
			user = res->pw_name;
		else
			user = "unknown";
	}
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if (!host[0])
		sw_strlcpy(host, "localhost", sizeof(host));
	if (sw_snprintf(out, size, "%s@%s", user, host) < 0)
		sw_strlcpy(out, user, size);
	return out;
}

/* ---- fleet and deployments: thin dispatch to the backend ---------------- */

#define SW_STORE_OP(op, ...)                                                                \
	do {                                                                                \
		if (!st->ops->op)                                                           \
			return sw_err_set(err, SW_EINTERNAL, "the %s store has no " #op,    \
					  st->ops->name);                                   \
		return st->ops->op(st, __VA_ARGS__);                                        \
	} while (0)

int sw_store_token_create(struct sw_store *st, const json_t *tok, struct sw_err *err)
{
	SW_STORE_OP(token_create, tok, err);
}

int sw_store_token_lookup(struct sw_store *st, const char *hash, json_t **tok, struct sw_err *err)
{
	SW_STORE_OP(token_lookup, hash, tok, err);
}

int sw_store_token_list(struct sw_store *st, json_t **arr, struct sw_err *err)
{
	SW_STORE_OP(token_list, arr, err);
}

int sw_store_token_revoke(struct sw_store *st, const char *id, struct sw_err *err)
{
	SW_STORE_OP(token_revoke, id, err);
}

int sw_store_join_create(struct sw_store *st, const char *hash, const json_t *labels, const char *replace,
			 int64_t expires_ms, struct sw_err *err)
{
	SW_STORE_OP(join_create, hash, labels, replace, expires_ms, err);
}

int sw_store_join_consume(struct sw_store *st, const char *hash, const char *host_id, int64_t now_ms,
			  json_t **labels, char *replace, size_t replace_size, struct sw_err *err)
{
	SW_STORE_OP(join_consume, hash, host_id, now_ms, labels, replace, replace_size, err);
}

int sw_store_host_create(struct sw_store *st, const json_t *host, struct sw_err *err)
{
	SW_STORE_OP(host_create, host, err);
}

int sw_store_host_lookup_token(struct sw_store *st, const char *token_hash, json_t **host, struct sw_err *err)
{
	SW_STORE_OP(host_lookup_token, token_hash, host, err);
}

int sw_store_host_get(struct sw_store *st, const char *id, json_t **host, struct sw_err *err)
{
	SW_STORE_OP(host_get, id, host, err);
}

int sw_store_host_list(struct sw_store *st, json_t **arr, struct sw_err *err)
{
	SW_STORE_OP(host_list, arr, err);
}

int sw_store_host_report(struct sw_store *st, const char *id, int64_t now_ms, const json_t *status,
			 int64_t generation_applied, struct sw_err *err)
{
	SW_STORE_OP(host_report, id, now_ms, status, generation_applied, err);
}

int sw_store_host_revoke(struct sw_store *st, const char *id, struct sw_err *err)
{
	SW_STORE_OP(host_revoke, id, err);
}

int sw_store_host_set_labels(struct sw_store *st, const char *id, const json_t *labels, struct sw_err *err)
{
	SW_STORE_OP(host_set_labels, id, labels, err);
}

int sw_store_deployment_save(struct sw_store *st, const json_t *dep, struct sw_err *err)
{
	SW_STORE_OP(deployment_save, dep, err);
}

int sw_store_deployment_get(struct sw_store *st, const char *id, json_t **dep, struct sw_err *err)
{
	SW_STORE_OP(deployment_get, id, dep, err);
}

int sw_store_deployment_list(struct sw_store *st, const char *service, const char *env, int active_only,
			     size_t limit, json_t **arr, struct sw_err *err)
{
	SW_STORE_OP(deployment_list, service, env, active_only, limit, arr, err);
}

int sw_store_desired_set(struct sw_store *st, const char *host_id, const char *service, const char *slot,
			 const json_t *want, struct sw_err *err)
{
	SW_STORE_OP(desired_set, host_id, service, slot, want, err);
}

int sw_store_desired_get(struct sw_store *st, const char *host_id, int64_t *generation, json_t **rows,
			 struct sw_err *err)
{
	SW_STORE_OP(desired_get, host_id, generation, rows, err);
}
