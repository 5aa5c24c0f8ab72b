/*
 * server.c - `slipway server` start-up, shutdown, the store lock and the
 * long-poll notifier (see server.h).
 */
#include "server/server.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "rollout/controller.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/logreq.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- lock and notifier -------------------------------------------------- */

void sw_server_lock(struct sw_server *s)
{
	pthread_mutex_lock(&s->store_lock);
}

void sw_server_unlock(struct sw_server *s)
{
	pthread_mutex_unlock(&s->store_lock);
}

/* The controller committed events: wake the long-polls (controller thread, no store lock held). */
static void sw_server_notify_cb(void *ctx)
{
	sw_server_notify(ctx);
}

void sw_server_notify(struct sw_server *s)
{
	pthread_mutex_lock(&s->notify_lock);
	s->notify_seq++;
	pthread_cond_broadcast(&s->notify_cond);
	pthread_mutex_unlock(&s->notify_lock);
}

uint64_t sw_server_seq(struct sw_server *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->notify_lock);
	v = s->notify_seq;
	pthread_mutex_unlock(&s->notify_lock);
	return v;
}

int sw_server_wait(struct sw_server *s, uint64_t seen, uint64_t deadline_ms)
{
	uint64_t now = sw_clock_mono_ms(), until;
	struct timespec ts;

	if (atomic_load(&s->stopping) || now >= deadline_ms)
		return 1;
	until = deadline_ms < now + SW_SERVER_POLL_MS ? deadline_ms : now + SW_SERVER_POLL_MS;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)((until - now) / 1000);
	ts.tv_nsec += (long)((until - now) % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->notify_lock);
	while (s->notify_seq == seen && !atomic_load(&s->stopping))
		if (pthread_cond_timedwait(&s->notify_cond, &s->notify_lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&s->notify_lock);
	return atomic_load(&s->stopping) ? 1 : 0;
}

void sw_server_poll_begin(struct sw_server *s)
{
	atomic_fetch_add(&s->polls, 1);
}

void sw_server_poll_end(struct sw_server *s)
{
	atomic_fetch_sub(&s->polls, 1);
}

void sw_server_kick(struct sw_server *s)
{
	if (s->ctl)
		sw_controller_kick(s->ctl);
}

/* ---- trusted keys ------------------------------------------------------- */

static int sw_server_add_key(struct sw_server *s, const char *path, struct sw_err *err)
{
	struct sw_buf text = SW_BUF_INIT(SW_MINISIGN_FILE_MAX);
	struct sw_minisign_pubkey pk;
	struct sw_trusted_key *k;
	size_t i;

	if (sw_fs_read_file(path, SW_MINISIGN_FILE_MAX, &text, err) < 0 ||
	    sw_minisign_pubkey_parse(text.data, text.len, path, &pk, err) < 0) {
		sw_buf_release(&text);
		return -1;
	}
	for (i = 0; i < s->nkeys; i++)
		if (!memcmp(s->keys[i].pk.keynum, pk.keynum, sizeof(pk.keynum)) && !memcmp(s->keys[i].pk.pk, pk.pk, 32)) {
			sw_buf_release(&text);
			return 0; /* the same key twice */
		}
	s->keys = sw_xreallocarray(s->keys, s->nkeys + 1, sizeof(*s->keys));
	k = &s->keys[s->nkeys++];
	memset(k, 0, sizeof(*k));
	k->pk = pk;
	sw_minisign_key_id(pk.keynum, k->id);
	sw_strlcpy(k->path, path, sizeof(k->path));
	k->text = sw_buf_detach(&text, NULL);
	if (!k->text)
		k->text = sw_xstrdup("");
	sw_info("trusted key id=%s file=%s", k->id, path);
	return 0;
}

static int sw_server_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int sw_server_load_keys(struct sw_server *s, const struct sw_server_config *cfg, struct sw_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char **names = NULL;
	size_t n = 0, i;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	for (i = 0; i < cfg->ntrust; i++)
		if (sw_server_add_key(s, cfg->trust[i], err) < 0)
			return -1;
	if (sw_path_join(dir, sizeof(dir), s->data_dir, "trusted") < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", s->data_dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : sw_err_set(err, SW_EIO, "cannot read '%s': %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".pub"))
			continue;
		names = sw_xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = sw_xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), sw_server_name_cmp);
	for (i = 0; i < n && rc == 0; i++) {
		if (sw_path_join(path, sizeof(path), dir, names[i]) < 0)
			rc = sw_err_set(err, SW_EINPUT, "path too long under '%s'", dir);
		else
			rc = sw_server_add_key(s, path, err);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ---- first start: the admin token --------------------------------------- */

static int sw_server_has_admin(struct sw_server *s, int *has, struct sw_err *err)
{
	json_t *arr = NULL, *t;
	size_t i;

	*has = 0;
	if (sw_store_token_list(s->store, &arr, err) < 0)
		return -1;
	json_array_foreach(arr, i, t)
	{
		const char *role = json_string_value(json_object_get(t, "role"));

		if (role && !strcmp(role, "admin") && !json_is_true(json_object_get(t, "revoked")))
			*has = 1;
	}
	json_decref(arr);
	return 0;
}

static int sw_server_bootstrap_admin(struct sw_server *s, struct sw_err *err)
{
	char path[PATH_MAX], secret[SW_TOKEN_MAX + 1], id[32], hash[SW_SHA256_HEX];
	json_t *rec, *payload;
	size_t len;
	int has, fd, rc = -1;

	if (sw_server_has_admin(s, &has, err) < 0)
		return -1;
	if (has)
		return 0;
	if (sw_path_join(path, sizeof(path), s->data_dir, "admin.token") < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", s->data_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) {
			sw_warn("no active admin token, but '%s' exists: remove it and restart to create a new one", path);
			return 0;
		}
		return sw_err_set(err, SW_EIO, "cannot create '%s': %s", path, strerror(errno));
	}
	sw_auth_new_token("swt_", secret, sizeof(secret) - 1);
	sw_auth_new_id("tok-", id, sizeof(id));
	sw_auth_token_hash(secret, hash);
	len = strlen(secret);
	secret[len] = '\n';
	if (fchmod(fd, 0600) < 0 || write(fd, secret, len + 1) != (ssize_t)(len + 1) || fsync(fd) < 0) {
		sw_err_set(err, SW_EIO, "cannot write '%s': %s", path, strerror(errno));
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		sw_err_set(err, SW_EIO, "cannot write '%s': %s", path, strerror(errno));
		goto fail;
	}
	rec = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "name", "admin", "role", "admin", "hash", hash);
	payload = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "name", "admin", "role", "admin", "file",
			    path);
	if (sw_store_begin(s->store, err) == 0) {
		if (sw_store_token_create(s->store, rec, err) == 0 &&
		    sw_store_append(s->store, "server", "token.created", "token/admin", payload, NULL, err) == 0 &&
		    sw_store_commit(s->store, err) == 0)
			rc = 0;
		else
			sw_store_rollback(s->store);
	}
	json_decref(rec);
	json_decref(payload);
	if (rc < 0)
		goto fail;
	if (sw_fs_sync_dir(s->data_dir, err) < 0)
		goto fail;
	s->admin_token_written = 1;
	sodium_memzero(secret, sizeof(secret));
	sw_info("wrote an admin token to %s", path);
	return 0;
fail:
	sodium_memzero(secret, sizeof(secret));
	unlink(path);
	return -1;
}

/* ---- start / stop ------------------------------------------------------- */

static int sw_server_write_url(struct sw_server *s, const char *listen, unsigned port, struct sw_err *err)
{
	char host[256], path[PATH_MAX], text[320];
	unsigned ignored;

	if (sw_http_parse_listen(listen, host, sizeof(host), &ignored, err) < 0)
		return -1;
	if (!host[0] || !strcmp(host, "0.0.0.0"))
		sw_strlcpy(host, "127.0.0.1", sizeof(host));
	if (!strcmp(host, "::"))
		sw_strlcpy(host, "::1", sizeof(host));
	if (strchr(host, ':'))
		snprintf(s->url, sizeof(s->url), "%s://[%s]:%u", s->tls_on ? "https" : "http", host, port);
	else
		snprintf(s->url, sizeof(s->url), "%s://%s:%u", s->tls_on ? "https" : "http", host, port);
	snprintf(text, sizeof(text), "%s\n", s->url);
	if (sw_path_join(path, sizeof(path), s->data_dir, "server.url") < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", s->data_dir);
	return sw_fs_write_atomic(path, text, strlen(text), 0644, err);
}

/* DATA/tls.pin: the pin of this start's certificate, or no file without TLS (a stale pin misleads). */
static int sw_server_write_pin(struct sw_server *s, struct sw_err *err)
{
	char path[PATH_MAX], text[SW_TLS_PIN_MAX + 1];

	if (sw_path_join(path, sizeof(path), s->data_dir, "tls.pin") < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", s->data_dir);
	if (!s->tls_on) {
		if (unlink(path) < 0 && errno != ENOENT)
			return sw_err_set(err, SW_EIO, "cannot remove '%s': %s", path, strerror(errno));
		return 0;
	}
	snprintf(text, sizeof(text), "%s\n", s->tls.pin);
	return sw_fs_write_atomic(path, text, strlen(text), 0644, err);
}

/*
 * Take DATA/server.lock: one server per data directory (two controllers on
 * one database would both drive every deployment). flock(2) dies with the
 * process, so a server killed with SIGKILL leaves no stale lock; the file
 * keeps the holder's pid for the refusal message.
 */
static int sw_server_lock_data(struct sw_server *s, struct sw_err *err)
{
	char path[PATH_MAX], text[32], held[32];
	ssize_t n;
	int fd;

	if (sw_path_join(path, sizeof(path), s->data_dir, "server.lock") < 0)
		return sw_err_set(err, SW_EINPUT, "path too long under '%s'", s->data_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sw_err_set(err, SW_EIO, "cannot open '%s': %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		n = e == EWOULDBLOCK ? pread(fd, held, sizeof(held) - 1, 0) : -1;
		close(fd);
		if (e != EWOULDBLOCK)
			return sw_err_set(err, SW_EIO, "cannot lock '%s': %s", path, strerror(e));
		held[n > 0 ? n : 0] = '\0';
		held[strcspn(held, "\n")] = '\0';
		return sw_err_set(err, SW_EINPUT, "data directory '%s' is in use by another slipway server (pid %s, %s)",
				  s->data_dir, held[0] ? held : "unknown", path);
	}
	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text)) {
		sw_err_set(err, SW_EIO, "cannot write '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	s->lock_fd = fd;
	return 0;
}

/* Remove DATA/server.url only while it names this server (another may have written its own). */
static void sw_server_remove_url(struct sw_server *s)
{
	struct sw_buf b = SW_BUF_INIT(4096);
	struct sw_err err = SW_ERR_INIT;
	char path[PATH_MAX];

	if (!s->url[0] || sw_path_join(path, sizeof(path), s->data_dir, "server.url") < 0)
		return;
	if (sw_fs_read_file(path, 4096, &b, &err) == 0 && !strncmp(sw_buf_str(&b), s->url, strlen(s->url)) &&
	    (b.len == strlen(s->url) || sw_buf_str(&b)[strlen(s->url)] == '\n'))
		unlink(path); /* nobody listens there any more */
	sw_buf_release(&b);
}

static void sw_server_free(struct sw_server *s)
{
	size_t i;

	if (s->store)
		sw_store_close(s->store);
	for (i = 0; i < s->nkeys; i++)
		free(s->keys[i].text);
	free(s->keys);
	sw_logreqs_free(s->logs);
	pthread_mutex_destroy(&s->store_lock);
	pthread_mutex_destroy(&s->notify_lock);
	pthread_cond_destroy(&s->notify_cond);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* the lock goes with it */
	sw_tls_cert_release(&s->tls);
	free(s);
}

int sw_server_start(const struct sw_server_config *cfg, struct sw_server **out, struct sw_err *err)
{
	struct sw_controller_config cc;
	struct sw_http_hooks hooks;
	pthread_condattr_t ca;
	char db[PATH_MAX];
	const char *listen = cfg->listen && *cfg->listen ? cfg->listen : SW_SERVER_DEFAULT_LISTEN;
	struct sw_server *s;
	char host[256];
	unsigned port;

	*out = NULL;
	if (!cfg->data_dir || !*cfg->data_dir)
		return sw_err_set(err, SW_EINPUT, "no data directory given (--data DIR)");
	if (sw_http_parse_listen(listen, host, sizeof(host), &port, err) < 0)
		return -1;
	if (!cfg->tls_cert != !cfg->tls_key)
		return sw_err_set(err, SW_EINPUT, "--tls-cert and --tls-key go together: give both or neither");
	if (!cfg->tls_cert && !sw_tls_host_is_loopback(host)) {
		if (!cfg->insecure_http)
			return sw_err_set(err, SW_EINPUT,
					  "refusing plain HTTP on '%s', which is not loopback: tokens would cross the network "
					  "in clear; give --tls-cert FILE --tls-key FILE, or --insecure-http",
					  listen);
		sw_warn("INSECURE: serving plain HTTP on '%s' (--insecure-http): API, agent and join tokens cross the "
			"network unencrypted and anyone on the path can take them",
			listen);
	}
	s = sw_xcalloc(1, sizeof(*s));
	s->lock_fd = -1;
	s->logs = sw_logreqs_new();
	pthread_mutex_init(&s->store_lock, NULL);
	pthread_mutex_init(&s->notify_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->notify_cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&s->stopping, 0);
	atomic_init(&s->polls, 0);
	s->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : SW_SERVER_HEARTBEAT_MS;
	s->upload_timeout_ms = cfg->upload_timeout_ms ? cfg->upload_timeout_ms : SW_SERVER_UPLOAD_TIMEOUT_MS;
	{
		struct sw_bundle_limits def = SW_BUNDLE_LIMITS_DEFAULT;

		s->unpack_limits = def;
		if (cfg->max_unpacked_bytes)
			s->unpack_limits.max_total_bytes = s->unpack_limits.max_entry_bytes = cfg->max_unpacked_bytes;
	}
	if (cfg->tls_cert) {
		if (sw_tls_cert_load(cfg->tls_cert, cfg->tls_key, &s->tls, err) < 0)
			goto fail;
		s->tls_on = 1;
	}
	if (sw_strlcpy(s->data_dir, cfg->data_dir, sizeof(s->data_dir)) < 0) {
		sw_err_set(err, SW_EINPUT, "data directory path too long");
		goto fail;
	}
	if (sw_fs_mkdirs(s->data_dir, 0700, err) < 0)
		goto fail;
	if (chmod(s->data_dir, 0700) < 0) {
		sw_err_set(err, SW_EIO, "cannot set mode 0700 on '%s': %s", s->data_dir, strerror(errno));
		goto fail;
	}
	if (sw_server_lock_data(s, err) < 0)
		goto fail;
	if (sw_path_join(db, sizeof(db), s->data_dir, "slipway.db") < 0) {
		sw_err_set(err, SW_EINPUT, "path too long under '%s'", s->data_dir);
		goto fail;
	}
	if (sw_store_open(db, &s->store, err) < 0)
		goto fail;
	if (s->store->readonly) {
		sw_err_set(err, SW_EIO, "cannot write to database '%s': read-only", db);
		goto fail;
	}
	if (sw_server_load_keys(s, cfg, err) < 0)
		goto fail;
	if (s->nkeys == 0)
		sw_warn("no trusted keys (--trust KEY.pub or %s/trusted/*.pub): every release upload will be refused",
			s->data_dir);
	if (sw_server_bootstrap_admin(s, err) < 0)
		goto fail;
	if (!cfg->no_controller) {
		memset(&cc, 0, sizeof(cc));
		cc.store = s->store;
		cc.store_lock = &s->store_lock;
		cc.data_dir = s->data_dir;
		cc.heartbeat_timeout_ms = 3 * s->heartbeat_ms;
		cc.on_events = sw_server_notify_cb;
		cc.on_events_ctx = s;
		s->ctl = sw_controller_start(&cc, err);
		if (!s->ctl)
			goto fail;
	}
	sw_api_release_sweep(s); /* uploads abandoned while no server ran */
	if (pthread_create(&s->sweeper, NULL, sw_api_release_sweeper, s) != 0) {
		sw_err_set(err, SW_EINTERNAL, "cannot start the upload sweeper thread");
		goto fail;
	}
	s->sweeper_started = 1;
	memset(&hooks, 0, sizeof(hooks));
	hooks.ctx = s;
	hooks.begin = sw_api_begin;
	hooks.handle = sw_api_handle;
	hooks.finish = sw_api_finish;
	{
		struct sw_http_tls ht = { s->tls.cert_pem, s->tls.key_pem };

		if (sw_http_start(listen, s->tls_on ? &ht : NULL, &hooks, &s->http, &s->port, err) < 0)
			goto fail;
	}
	if (sw_server_write_pin(s, err) < 0 || sw_server_write_url(s, listen, s->port, err) < 0)
		goto fail;
	sw_info("server listening url=%s data=%s trusted_keys=%zu", s->url, s->data_dir, s->nkeys);
	if (s->tls_on)
		sw_info("TLS certificate pin=%s (also in %s/tls.pin)", s->tls.pin, s->data_dir);
	*out = s;
	return 0;
fail:
	atomic_store(&s->stopping, 1);
	if (s->http)
		sw_http_stop(s->http);
	if (s->sweeper_started)
		pthread_join(s->sweeper, NULL);
	if (s->ctl)
		sw_controller_stop(s->ctl);
	sw_server_free(s);
	return -1;
}

void sw_server_stop(struct sw_server *s)
{
	struct timespec tick = { 0, 20 * 1000000L };
	uint64_t deadline;

	if (!s)
		return;
	atomic_store(&s->stopping, 1);
	sw_server_notify(s); /* long-polls return now */
	/* Let them answer before the connections close (bounded). */
	for (deadline = sw_clock_mono_ms() + 2000; atomic_load(&s->polls) > 0 && sw_clock_mono_ms() < deadline;)
		nanosleep(&tick, NULL);
	sw_http_stop(s->http);
	if (s->sweeper_started)
		pthread_join(s->sweeper, NULL); /* it saw stopping */
	sw_server_remove_url(s);
	if (s->ctl)
		sw_controller_stop(s->ctl);
	sw_info("server stopped");
	sw_server_free(s);
}

int sw_server_serve(const struct sw_server_config *cfg, void (*ready)(const struct sw_server *s, void *ctx),
		    void *ctx, struct sw_err *err)
{
	struct sw_server *s;
	sigset_t set, old;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (sw_server_start(cfg, &s, err) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	if (ready)
		ready(s, ctx);
	while (sigwait(&set, &sig) != 0)
		;
	sw_info("signal %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	sw_server_stop(s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}
