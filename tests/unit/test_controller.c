/*
 * test_controller.c - unit tests for rollout/controller.c against a real
 * SQLite store: sw_rollout_create's checks and messages (unknown release,
 * no spec, unknown environment, no matching hosts, a strategy it cannot
 * run, one active deployment per service and environment), and the
 * controller thread driving deployments to their end with simulated agents
 * that read their desired rows and report through the store (success,
 * failure with rollback, abort, rollback to the previous release, a
 * controller stopped and started again mid-rollout), with the events each
 * transition leaves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "rollout/controller.h"
#include "store/store.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define D1 "1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "2222222222222222222222222222222222222222222222222222222222222222"
#define DBAD "3333333333333333333333333333333333333333333333333333333333333333"

static const char spec_rolling[] =
	"service: hello\n"
	"run:\n"
	"  command: ./dist/hello --port ${PORT}\n"
	"  health: { http: /healthz, interval: 200ms, timeout: 1s }\n"
	"environments:\n"
	"  staging:\n"
	"    hosts: { env: staging }\n"
	"    strategy:\n"
	"      rolling: { batch: 2, max_unavailable: 2, health_timeout: 3s }\n"
	"  prod:\n"
	"    hosts: { env: prod }\n"
	"    strategy:\n"
	"      rings: { order: [early, all] }\n"
	"  empty:\n"
	"    hosts: { env: nowhere }\n";

struct fixture {
	char dir[PATH_MAX];
	struct sw_store *st;
	pthread_mutex_t lock;
	struct sw_controller *c;
	/* simulated agents */
	pthread_t agents;
	volatile int stop;
	volatile int dead_host; /* index of a host whose agent is gone, or -1 */
	const char *volatile report; /* state every slot reports (NULL: healthy; DBAD: failed) */
	atomic_int notified;          /* on_events calls (from the controller thread) */
};

static void lock(struct fixture *f)
{
	pthread_mutex_lock(&f->lock);
}

static void unlock(struct fixture *f)
{
	pthread_mutex_unlock(&f->lock);
}

static void put_release(struct fixture *f, const char *digest, const char *service, const char *version,
			const char *spec)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(1 << 20);
	json_t *m = json_pack("{s:s, s:s, s:s}", "service", service, "version", version, "digest", digest);

	if (spec)
		json_object_set_new(m, "spec", json_string(spec));
	assert_int_equal(sw_json_canonical(m, &b), 0);
	if (sw_store_put_release(f->st, digest, service, version, sw_buf_str(&b), "/nonexistent", &err) < 0)
		fail_msg("put_release: %s", err.msg);
	sw_buf_release(&b);
	json_decref(m);
}

static void add_host(struct fixture *f, const char *id, const char *name, const char *env)
{
	struct sw_err err = SW_ERR_INIT;
	char hash[65];
	json_t *h;

	memset(hash, 'a', 64);
	hash[64] = '\0';
	hash[0] = id[1];
	hash[1] = id[2] ? id[2] : '0';
	h = json_pack("{s:s, s:s, s:{s:s}, s:s, s:[i, i]}", "id", id, "name", name, "labels", "env", env, "token_hash",
		      hash, "ports", 9000, 9001);
	if (sw_store_host_create(f->st, h, &err) < 0)
		fail_msg("host_create: %s", err.msg);
	json_decref(h);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sw_err err = SW_ERR_INIT;
	char db[PATH_MAX + 16];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sw-test-ctl-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(db, sizeof(db), "%s/slipway.db", f->dir);
	if (sw_store_open(db, &f->st, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	pthread_mutex_init(&f->lock, NULL);
	f->dead_host = -1;
	add_host(f, "h1", "web-1", "staging");
	add_host(f, "h2", "web-2", "staging");
	add_host(f, "h3", "web-3", "staging");
	add_host(f, "h4", "db-1", "prod");
	put_release(f, D1, "hello", "1.0.0", spec_rolling);
	put_release(f, D2, "hello", "2.0.0", spec_rolling);
	put_release(f, DBAD, "hello", "3.0.0-bad", spec_rolling);
	*state = f;
	return 0;
}

static void agents_stop(struct fixture *f);

static int teardown(void **state)
{
	struct fixture *f = *state;

	agents_stop(f);
	sw_controller_stop(f->c);
	sw_store_close(f->st);
	pthread_mutex_destroy(&f->lock);
	sw_fs_remove_tree(f->dir, NULL);
	free(f);
	return 0;
}

/* ---- simulated agents: read desired rows, report healthy (DBAD: failed) ---- */

static const char *host_ids[] = { "h1", "h2", "h3", "h4" };

static void *agents_main(void *arg)
{
	struct fixture *f = arg;
	struct sw_err err = SW_ERR_INIT;
	json_t *rows, *row, *services;
	struct timespec ts = { 0, 50 * 1000000L };
	int64_t gen;
	size_t h, i;

	while (!f->stop) {
		for (h = 0; h < 4; h++) {
			if ((int)h == f->dead_host)
				continue;
			lock(f);
			if (sw_store_desired_get(f->st, host_ids[h], &gen, &rows, &err) == 0) {
				services = json_array();
				json_array_foreach(rows, i, row) {
					const char *d = json_string_value(json_object_get(row, "digest"));

					json_array_append_new(
						services,
						json_pack("{s:O, s:O, s:s, s:s, s:s}", "service", json_object_get(row, "service"),
							  "slot", json_object_get(row, "slot"), "digest", d, "state",
							  !strcmp(d, DBAD) ? "failed" : f->report ? f->report : "healthy", "message",
							  !strcmp(d, DBAD) ? "hook 'validate' exited 1" : ""));
				}
				json_t *status = json_pack("{s:I, s:o}", "generation", (json_int_t)gen, "services", services);
				sw_store_host_report(f->st, host_ids[h], sw_clock_wall_ms(), status, gen, &err);
				json_decref(status);
				json_decref(rows);
			}
			unlock(f);
		}
		sw_controller_kick(f->c);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Start the agents and wait (bounded) until every live one has reported since. */
static void agents_start(struct fixture *f)
{
	struct sw_err err = SW_ERR_INIT;
	struct timespec ts = { 0, 10 * 1000000L };
	int64_t t0 = sw_clock_wall_ms();
	json_t *h;
	int i, n, waited;

	f->stop = 0;
	assert_int_equal(pthread_create(&f->agents, NULL, agents_main, f), 0);
	for (waited = 0; waited < 10000; waited += 10) {
		for (i = 0, n = 0; i < 4; i++) {
			lock(f);
			if (sw_store_host_get(f->st, host_ids[i], &h, &err) == 0) {
				n += json_integer_value(json_object_get(h, "last_seen_ms")) >= t0;
				json_decref(h);
			}
			unlock(f);
		}
		if (n >= (f->dead_host >= 0 ? 3 : 4))
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("the simulated agents did not report");
}

static void agents_stop(struct fixture *f)
{
	if (f->agents) {
		f->stop = 1;
		pthread_join(f->agents, NULL);
		f->agents = 0;
	}
}

static void on_events(void *ctx)
{
	atomic_fetch_add(&((struct fixture *)ctx)->notified, 1);
}

static void controller_start(struct fixture *f)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_controller_config cfg = {
		.store = f->st, .store_lock = &f->lock, .data_dir = f->dir, .tick_ms = 50, .heartbeat_timeout_ms = 600,
		.on_events = on_events, .on_events_ctx = f,
	};

	f->c = sw_controller_start(&cfg, &err);
	if (!f->c)
		fail_msg("controller: %s", err.msg);
}

static json_t *create(struct fixture *f, const char *digest, const char *env, struct sw_err *err)
{
	json_t *dep = NULL;
	int rc;

	lock(f);
	rc = sw_rollout_create(f->st, "hello", env, digest, "tester@example.com", &dep, err);
	unlock(f);
	sw_controller_kick(f->c);
	return rc == 0 ? dep : NULL;
}

/* Wait (bounded) until deployment id has ended; returns its record. */
/*
 * The controller calls on_events after it committed, so a record seen final
 * may be a moment ahead of the count: wait (bounded) for n calls.
 */
static int wait_notified(struct fixture *f, int n, int max_ms)
{
	struct timespec ts = { 0, 10 * 1000000L };
	int waited;

	for (waited = 0; waited < max_ms && atomic_load(&f->notified) < n; waited += 10)
		nanosleep(&ts, NULL);
	return atomic_load(&f->notified);
}

static json_t *wait_final(struct fixture *f, const char *id, int max_ms)
{
	struct sw_err err = SW_ERR_INIT;
	struct timespec ts = { 0, 20 * 1000000L };
	json_t *dep = NULL;
	const char *s;
	int waited;

	for (waited = 0; waited < max_ms; waited += 20) {
		lock(f);
		assert_int_equal(sw_store_deployment_get(f->st, id, &dep, &err), 0);
		unlock(f);
		s = json_string_value(json_object_get(dep, "state"));
		if (strcmp(s, "pending") && strcmp(s, "progressing"))
			return dep;
		json_decref(dep);
		nanosleep(&ts, NULL);
	}
	fail_msg("deployment %s did not end within %d ms", id, max_ms);
	return NULL;
}

struct evscan {
	char kinds[64][64];
	int n;
	char id[32];
};

static int ev_cb(const struct sw_event *ev, void *ctx)
{
	struct evscan *e = ctx;

	if (strstr(ev->subject, e->id) && !strcmp(ev->subject + strlen("deployment/"), e->id) && e->n < 64)
		snprintf(e->kinds[e->n++], sizeof(e->kinds[0]), "%s", ev->kind);
	return 0;
}

static void events_of(struct fixture *f, const char *id, struct evscan *e)
{
	struct sw_err err = SW_ERR_INIT;

	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	lock(f);
	assert_int_equal(sw_store_scan(f->st, 0, 0, ev_cb, e, &err), 0);
	unlock(f);
}

static const char *desired_digest(struct fixture *f, const char *host, const char *slot)
{
	static char out[128];
	struct sw_err err = SW_ERR_INIT;
	json_t *rows = NULL, *row;
	int64_t gen;
	size_t i;

	out[0] = '\0';
	lock(f);
	assert_int_equal(sw_store_desired_get(f->st, host, &gen, &rows, &err), 0);
	unlock(f);
	json_array_foreach(rows, i, row)
		if (!strcmp(json_string_value(json_object_get(row, "slot")), slot))
			snprintf(out, sizeof(out), "%s", json_string_value(json_object_get(row, "digest")));
	json_decref(rows);
	return out;
}

/* ---- tests ------------------------------------------------------------- */

static void test_create_errors(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;

	put_release(f, "4444444444444444444444444444444444444444444444444444444444444444", "hello", "0.1", NULL);
	assert_null(create(f, "5555555555555555555555555555555555555555555555555555555555555555", "staging", &err));
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "not found"));
	assert_null(create(f, "4444444444444444444444444444444444444444444444444444444444444444", "staging", &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "carries no slipway.yml"));
	assert_null(create(f, D1, "qa", &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.msg, "environment 'qa' is not defined in the slipway.yml of release '" D1
				     "' (defined: staging, prod, empty)");
	assert_null(create(f, D1, "empty", &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.msg, "no hosts match env=nowhere for environment 'empty'");
	assert_null(create(f, D1, "prod", &err));
	assert_int_equal(err.code, SW_EINPUT);
	/* Rings run now: prod's host has no ring label, and is named. */
	assert_string_equal(err.msg,
			    "environment 'prod': host 'db-1' (no label 'ring') not in any ring of rings.order [early, all]");

	/* Approvals are not enforced yet: a release whose spec asks for them is refused (fail closed). */
	put_release(f, "6666666666666666666666666666666666666666666666666666666666666666", "hello", "0.2",
		    "service: hello\nrun: { command: ./hello }\nenvironments:\n  staging:\n    hosts: { env: staging }\n"
		    "    approvals: { count: 2 }\n");
	assert_null(create(f, "6666666666666666666666666666666666666666666666666666666666666666", "staging", &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.where, "slipway.yml:6:5");
	assert_non_null(strstr(err.msg, "approvals are not built yet"));

	/* "sha256:" prefixed digests find the same release. */
	json_t *dep = create(f, "sha256:" D1, "staging", &err);
	assert_non_null(dep);
	assert_string_equal(json_string_value(json_object_get(dep, "digest")), D1);
	assert_string_equal(json_string_value(json_object_get(dep, "id")), "dep-1");
	assert_string_equal(json_string_value(json_object_get(dep, "state")), "pending");
	assert_true(json_is_null(json_object_get(dep, "prev_digest")));
	json_decref(dep);

	/* One active deployment per service and environment. */
	assert_null(create(f, D2, "staging", &err));
	assert_int_equal(err.code, SW_EBUSY);
	assert_string_equal(err.msg, "deployment dep-1 of hello to staging is still pending");
}

/* A background analysis still "running" in the record of a deployment that has ended is shown stopped. */
static void test_view_analysis_after_end(void **state)
{
	struct fixture *f = *state;
	json_t *dep, *view, *a;
	const char *final_states[] = { "succeeded", "progressing" };
	size_t k;

	for (k = 0; k < 2; k++) {
		dep = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{}, s:{s:s, s:[], s:[{s:s, s:b, s:s, s:i, s:[]}]}}", "id",
				"dep-9", "service", "hello", "env", "prod", "digest", D1, "state", final_states[k], "spec",
				"plan", "strategy", "canary", "hosts", "cruns", "name", "errors", "background", 1, "state",
				"running", "step", 1, "measurements");
		lock(f);
		view = sw_rollout_view(f->st, dep, 600);
		unlock(f);
		a = json_array_get(json_object_get(view, "analyses"), 0);
		assert_non_null(a);
		assert_string_equal(json_string_value(json_object_get(a, "state")), k == 0 ? "stopped" : "running");
		json_decref(view);
		json_decref(dep);
	}
}

static void test_rollout_and_rollback(void **state)
{
	const struct sw_rollback_req plain = { 0 };
	const struct sw_rollback_req urgent = { .emergency = true };
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	struct evscan ev;
	json_t *dep, *fin, *view = NULL;
	char id[32];

	controller_start(f);
	agents_start(f);
	dep = create(f, D1, "staging", &err);
	assert_non_null(dep);
	fin = wait_final(f, "dep-1", 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "succeeded");
	json_decref(fin);
	json_decref(dep);
	assert_string_equal(desired_digest(f, "h3", "a"), D1);
	assert_string_equal(desired_digest(f, "h4", "a"), ""); /* prod host untouched */
	events_of(f, "dep-1", &ev);
	assert_int_equal(ev.n, 3);
	assert_string_equal(ev.kinds[0], "deployment.created");
	assert_string_equal(ev.kinds[1], "deployment.progressing");
	assert_string_equal(ev.kinds[2], "deployment.succeeded");
	assert_int_equal(wait_notified(f, 2, 2000), 2); /* progressing, succeeded */

	dep = create(f, D2, "staging", &err);
	assert_non_null(dep);
	assert_string_equal(json_string_value(json_object_get(dep, "prev_digest")), D1);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(dep, "id")));
	json_decref(dep);
	fin = wait_final(f, id, 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "succeeded");
	json_decref(fin);
	assert_string_equal(desired_digest(f, "h1", "a"), D2);

	/* The progress view. */
	lock(f);
	assert_int_equal(sw_rollout_progress(f->st, id, 600, &view, &err), 0);
	unlock(f);
	assert_string_equal(json_string_value(json_object_get(view, "version")), "2.0.0");
	assert_string_equal(json_string_value(json_object_get(view, "prev_version")), "1.0.0");
	assert_string_equal(json_string_value(json_object_get(view, "strategy")), "rolling");
	assert_int_equal(json_array_size(json_object_get(view, "hosts")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(view, "hosts"), 0), "phase")),
			    "healthy");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(json_object_get(view, "hosts"), 0), "reported"), "state")),
			    "healthy");
	assert_null(json_object_get(view, "plan"));
	json_decref(view);

	/* Roll back: a new deployment of the release before. */
	lock(f);
	assert_int_equal(sw_rollout_rollback(f->st, "hello", "staging", "tester", &plain, &dep, &err), 0);
	unlock(f);
	sw_controller_kick(f->c);
	assert_string_equal(json_string_value(json_object_get(dep, "digest")), D1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(dep, "spec"), "kind")), "rollback");
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(dep, "id")));
	json_decref(dep);
	fin = wait_final(f, id, 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "succeeded");
	json_decref(fin);
	assert_string_equal(desired_digest(f, "h2", "a"), D1);

	/* An emergency rollback (back to D2 now): one batch of every host, the limits not kept, recorded. */
	lock(f);
	assert_int_equal(sw_rollout_rollback(f->st, "hello", "staging", "tester", &urgent, &dep, &err), 0);
	unlock(f);
	sw_controller_kick(f->c);
	assert_string_equal(json_string_value(json_object_get(dep, "digest")), D2);
	assert_true(json_is_true(json_object_get(json_object_get(dep, "spec"), "emergency")));
	assert_true(json_is_true(json_object_get(json_object_get(dep, "plan"), "emergency")));
	assert_int_equal(json_array_size(json_object_get(json_object_get(dep, "plan"), "batches")), 1);
	assert_int_equal(json_array_size(json_array_get(json_object_get(json_object_get(dep, "plan"), "batches"), 0)), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(dep, "plan"), "limits"),
							   "min_healthy")),
			 0);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(dep, "id")));
	json_decref(dep);
	fin = wait_final(f, id, 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "succeeded");
	json_decref(fin);
	assert_string_equal(desired_digest(f, "h2", "a"), D2);
}

static void test_failure_rolls_back(void **state)
{
	const struct sw_rollback_req plain = { 0 };
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *dep, *fin;
	struct evscan ev;

	controller_start(f);
	agents_start(f);
	dep = create(f, D1, "staging", &err);
	json_decref(dep);
	json_decref(wait_final(f, "dep-1", 10000));
	dep = create(f, DBAD, "staging", &err);
	assert_non_null(dep);
	json_decref(dep);
	fin = wait_final(f, "dep-2", 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "rolled_back");
	assert_string_equal(json_string_value(json_object_get(fin, "reason")),
			    "host 'web-1' failed: hook 'validate' exited 1");
	json_decref(fin);
	assert_string_equal(desired_digest(f, "h1", "a"), D1);
	assert_string_equal(desired_digest(f, "h3", "a"), D1);
	events_of(f, "dep-2", &ev);
	assert_string_equal(ev.kinds[ev.n - 1], "deployment.rolled_back");

	/* Nothing good before D1 to roll back to. */
	lock(f);
	assert_int_equal(sw_rollout_rollback(f->st, "hello", "staging", "tester", &plain, &dep, &err), -1);
	unlock(f);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_string_equal(err.msg, "no earlier successful release of hello in staging to roll back to");
}

/* The payload (text) of the first event of kind on deployment id, into out. */
struct evfind {
	const char *subject, *kind;
	char payload[4096];
};

static int evfind_cb(const struct sw_event *ev, void *ctx)
{
	struct evfind *e = ctx;

	if (!e->payload[0] && !strcmp(ev->subject, e->subject) && !strcmp(ev->kind, e->kind))
		snprintf(e->payload, sizeof(e->payload), "%s", ev->payload);
	return 0;
}

static json_t *event_payload(struct fixture *f, const char *id, const char *kind)
{
	struct sw_err err = SW_ERR_INIT;
	char subject[64];
	struct evfind e = { .subject = subject, .kind = kind };

	snprintf(subject, sizeof(subject), "deployment/%s", id);
	lock(f);
	assert_int_equal(sw_store_scan(f->st, 0, 0, evfind_cb, &e, &err), 0);
	unlock(f);
	assert_true(e.payload[0]);
	return json_loads(e.payload, 0, NULL);
}

static json_t *rollback_to(struct fixture *f, const char *to, const char *reason, struct sw_err *err)
{
	struct sw_rollback_req req = { .to = to, .reason = reason };
	json_t *dep = NULL;
	int rc;

	lock(f);
	rc = sw_rollout_rollback(f->st, "hello", "staging", "tester@example.com", &req, &dep, err);
	unlock(f);
	sw_controller_kick(f->c);
	return rc == 0 ? dep : NULL;
}

/*
 * rollback --to: any release that succeeded in the environment, named by
 * version, digest or digest prefix; refused, naming those that ran, for one
 * that never did (a failed one included), for an ambiguous prefix and for
 * what runs now. The target and the reason are in spec.rollback and the
 * events; every event carries the versions.
 */
static void test_rollback_to(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *dep, *fin, *p;
	char id[32];

	controller_start(f);
	agents_start(f);
	json_decref(create(f, D1, "staging", &err));
	fin = wait_final(f, "dep-1", 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "succeeded");
	json_decref(fin);
	json_decref(create(f, D2, "staging", &err));
	fin = wait_final(f, "dep-2", 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "succeeded");
	json_decref(fin);
	json_decref(create(f, DBAD, "staging", &err));
	fin = wait_final(f, "dep-3", 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "rolled_back");
	json_decref(fin);

	/* Records and events carry the versions beside the digests. */
	fin = wait_final(f, "dep-2", 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "version")), "2.0.0");
	assert_string_equal(json_string_value(json_object_get(fin, "prev_version")), "1.0.0");
	json_decref(fin);
	p = event_payload(f, "dep-2", "deployment.succeeded");
	assert_string_equal(json_string_value(json_object_get(p, "version")), "2.0.0");
	assert_string_equal(json_string_value(json_object_get(p, "prev_version")), "1.0.0");
	json_decref(p);

	/* Never ran here: the failed release, an unknown version, a prefix too short to be one. */
	assert_null(rollback_to(f, "3.0.0-bad", NULL, &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.msg, "hello '3.0.0-bad' never ran in staging; releases that ran there, newest first: "
				     "2.0.0 (sha256:222222222222), 1.0.0 (sha256:111111111111)");
	assert_null(rollback_to(f, "9.9.9", NULL, &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_non_null(strstr(err.msg, "hello '9.9.9' never ran in staging"));
	assert_null(rollback_to(f, "111", NULL, &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_null(rollback_to(f, "sha256:" DBAD, NULL, &err));
	assert_int_equal(err.code, SW_EINPUT);

	/* Two back, by version, with a reason. */
	dep = rollback_to(f, "1.0.0", "2.0.0 leaks memory", &err);
	if (!dep)
		fail_msg("rollback --to 1.0.0: %s", err.msg);
	assert_string_equal(json_string_value(json_object_get(dep, "digest")), D1);
	p = json_object_get(json_object_get(dep, "spec"), "rollback");
	assert_string_equal(json_string_value(json_object_get(p, "to")), "1.0.0");
	assert_string_equal(json_string_value(json_object_get(p, "version")), "1.0.0");
	assert_string_equal(json_string_value(json_object_get(p, "digest")), D1);
	assert_string_equal(json_string_value(json_object_get(p, "reason")), "2.0.0 leaks memory");
	assert_string_equal(json_string_value(json_object_get(json_object_get(dep, "spec"), "kind")), "rollback");
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(dep, "id")));
	json_decref(dep);
	fin = wait_final(f, id, 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "succeeded");
	json_decref(fin);
	assert_string_equal(desired_digest(f, "h1", "a"), D1);
	p = event_payload(f, id, "deployment.created");
	assert_string_equal(json_string_value(json_object_get(json_object_get(p, "rollback"), "version")), "1.0.0");
	assert_string_equal(json_string_value(json_object_get(json_object_get(p, "rollback"), "reason")),
			    "2.0.0 leaks memory");
	assert_string_equal(json_string_value(json_object_get(p, "version")), "1.0.0");
	json_decref(p);

	/* What the newest deployment succeeded with: nothing to roll back. */
	assert_null(rollback_to(f, "1.0.0", NULL, &err));
	assert_int_equal(err.code, SW_EINPUT);
	assert_string_equal(err.msg, "hello 1.0.0 (sha256:111111111111) is what staging runs now (dep-4 succeeded); "
				     "nothing to roll back");

	/* By digest prefix, "sha256:" or not. */
	dep = rollback_to(f, "sha256:2222", NULL, &err);
	if (!dep)
		fail_msg("rollback --to sha256:2222: %s", err.msg);
	json_decref(dep);
	dep = NULL;
	json_decref(wait_final(f, "dep-5", 10000));
	/* A hex string that is no release's prefix names none; a bare prefix names 1.0.0. */
	assert_null(rollback_to(f, "1111aaaa", NULL, &err));
	assert_int_equal(err.code, SW_EINPUT);
	dep = rollback_to(f, "111111111111", NULL, &err);
	if (!dep)
		fail_msg("rollback --to 111111111111: %s", err.msg);
	assert_string_equal(json_string_value(json_object_get(dep, "digest")), D1);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(dep, "spec"), "rollback"), "reason")), "");
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(dep, "id")));
	json_decref(dep);
	json_decref(wait_final(f, id, 10000));
	assert_string_equal(desired_digest(f, "h1", "a"), D1);
}

static void test_abort(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *dep, *fin;

	/* Agents that never get healthy: the deployment waits; abort it. */
	controller_start(f);
	f->report = "starting";
	agents_start(f);
	dep = create(f, D1, "staging", &err);
	json_decref(dep);
	usleep(200 * 1000);
	lock(f);
	assert_int_equal(sw_rollout_abort(f->st, "dep-1", "alice", "wrong build", false, &err), 0);
	unlock(f);
	sw_controller_kick(f->c);
	fin = wait_final(f, "dep-1", 5000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "aborted");
	assert_string_equal(json_string_value(json_object_get(fin, "reason")), "aborted by alice: wrong build");
	json_decref(fin);
	assert_string_equal(desired_digest(f, "h1", "a"), ""); /* first deployment: stopped */
	lock(f);
	assert_int_equal(sw_rollout_abort(f->st, "dep-1", "alice", "", false, &err), -1);
	unlock(f);
	assert_int_equal(err.code, SW_EBUSY);
	assert_string_equal(err.msg, "dep-1 has already ended (aborted); nothing to abort");
	lock(f);
	assert_int_equal(sw_rollout_abort(f->st, "dep-9", "alice", "", false, &err), -1);
	unlock(f);
	assert_int_equal(err.code, SW_ENOTFOUND);
}

/* abort --emergency: recorded in plan.abort; asked again of an aborted deployment, it escalates it. */
static void test_abort_emergency(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *dep, *rec = NULL;

	dep = create(f, D1, "staging", &err); /* no controller: it stays pending */
	json_decref(dep);
	lock(f);
	assert_int_equal(sw_rollout_abort(f->st, "dep-1", "alice", "wrong build", false, &err), 0);
	assert_int_equal(sw_store_deployment_get(f->st, "dep-1", &rec, &err), 0);
	assert_false(json_is_true(json_object_get(json_object_get(json_object_get(rec, "plan"), "abort"), "emergency")));
	json_decref(rec);
	assert_int_equal(sw_rollout_abort(f->st, "dep-1", "bob", "now", true, &err), 0);
	assert_int_equal(sw_store_deployment_get(f->st, "dep-1", &rec, &err), 0);
	unlock(f);
	assert_true(json_is_true(json_object_get(json_object_get(json_object_get(rec, "plan"), "abort"), "emergency")));
	/* The first request's actor and reason stay. */
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(rec, "plan"), "abort"),
							      "actor")),
			    "alice");
	json_decref(rec);
}

static void test_restart_resumes(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *dep, *fin;

	/* Agents still starting: the first batch is told, then the controller stops. */
	controller_start(f);
	f->report = "starting";
	agents_start(f);
	dep = create(f, D1, "staging", &err);
	json_decref(dep);
	usleep(300 * 1000);
	sw_controller_stop(f->c);
	f->c = NULL;
	agents_stop(f);
	f->report = NULL;
	assert_string_equal(desired_digest(f, "h1", "a"), D1);
	assert_string_equal(desired_digest(f, "h3", "a"), "");
	/* A new controller (a restarted server) continues from the plan. */
	controller_start(f);
	agents_start(f);
	fin = wait_final(f, "dep-1", 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "succeeded");
	json_decref(fin);
	assert_string_equal(desired_digest(f, "h3", "a"), D1);
}

static void test_offline_host(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	json_t *dep, *fin;

	controller_start(f);
	agents_start(f);
	dep = create(f, D1, "staging", &err);
	json_decref(dep);
	json_decref(wait_final(f, "dep-1", 10000));
	f->dead_host = 2; /* web-3, in the second batch */
	usleep(800 * 1000);
	dep = create(f, D2, "staging", &err);
	json_decref(dep);
	fin = wait_final(f, "dep-2", 10000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "rolled_back");
	/* web-3 counts as unavailable: batch 1 (2 hosts) may not start with max_unavailable 2: at once, no wait. */
	assert_non_null(strstr(json_string_value(json_object_get(fin, "reason")),
			       "cannot start batch 1 of 2: host 'web-3' (not seen for "));
	assert_non_null(strstr(json_string_value(json_object_get(fin, "reason")),
			       ") is offline; counted as unavailable, updating 2 more hosts would break max_unavailable 2 "
			       "or min_healthy 0"));
	json_decref(fin);
	assert_string_equal(desired_digest(f, "h1", "a"), D1);
}

/* Manual control through the controller: events, idempotence, refusals, retry. */
static void test_verbs(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = SW_ERR_INIT;
	char note[128];
	json_t *dep, *fin, *again;
	struct evscan ev;
	int i, paused = 0, resumed = 0;

	controller_start(f);
	f->report = "starting"; /* never healthy: the deployment waits */
	agents_start(f);
	dep = create(f, D1, "staging", &err);
	json_decref(dep);
	usleep(200 * 1000);
	lock(f);
	assert_int_equal(sw_rollout_verb(f->st, "dep-1", "pause", "alice", "look", &dep, note, sizeof(note), &err), 0);
	assert_string_equal(note, "paused");
	assert_string_equal(json_string_value(json_object_get(dep, "state")), "paused");
	json_decref(dep);
	assert_int_equal(sw_rollout_verb(f->st, "dep-1", "pause", "alice", NULL, &dep, note, sizeof(note), &err), 0);
	assert_string_equal(note, "already paused");
	json_decref(dep);
	unlock(f);
	sw_controller_kick(f->c);
	usleep(300 * 1000);
	lock(f);
	assert_int_equal(sw_store_deployment_get(f->st, "dep-1", &dep, &err), 0);
	assert_string_equal(json_string_value(json_object_get(dep, "state")), "paused"); /* the controller left it */
	json_decref(dep);
	assert_int_equal(sw_rollout_verb(f->st, "dep-1", "resume", "alice", NULL, &dep, note, sizeof(note), &err), 0);
	assert_string_equal(json_string_value(json_object_get(dep, "state")), "progressing");
	json_decref(dep);
	assert_int_equal(sw_rollout_verb(f->st, "dep-1", "pause", "alice", NULL, &dep, note, sizeof(note), &err), 0);
	json_decref(dep);
	/* An abort of a paused deployment rolls it back. */
	assert_int_equal(sw_rollout_abort(f->st, "dep-1", "alice", "stop", false, &err), 0);
	unlock(f);
	sw_controller_kick(f->c);
	fin = wait_final(f, "dep-1", 5000);
	assert_string_equal(json_string_value(json_object_get(fin, "state")), "aborted");
	json_decref(fin);
	events_of(f, "dep-1", &ev);
	for (i = 0; i < ev.n; i++) {
		paused += !strcmp(ev.kinds[i], "deployment.paused");
		resumed += !strcmp(ev.kinds[i], "deployment.resumed");
	}
	assert_int_equal(paused, 2);
	assert_int_equal(resumed, 1);
	lock(f);
	assert_int_equal(sw_rollout_verb(f->st, "dep-1", "pause", "alice", NULL, &dep, note, sizeof(note), &err), -1);
	assert_int_equal(err.code, SW_EBUSY);
	assert_string_equal(err.msg, "dep-1 has ended (aborted); nothing to pause");
	assert_int_equal(sw_rollout_verb(f->st, "dep-1", "promote", "alice", NULL, &dep, note, sizeof(note), &err), -1);
	assert_int_equal(err.code, SW_EBUSY);
	/* Retry: a new deployment of the same release; asking again answers the same one. */
	assert_int_equal(sw_rollout_verb(f->st, "dep-1", "retry", "alice", NULL, &dep, note, sizeof(note), &err), 0);
	assert_string_equal(json_string_value(json_object_get(dep, "id")), "dep-2");
	assert_string_equal(json_string_value(json_object_get(dep, "digest")), D1);
	assert_string_equal(note, "retried as dep-2");
	assert_int_equal(sw_rollout_verb(f->st, "dep-1", "retry", "alice", NULL, &again, note, sizeof(note), &err), 0);
	assert_string_equal(json_string_value(json_object_get(again, "id")), "dep-2");
	assert_string_equal(note, "already retried as dep-2");
	json_decref(again);
	json_decref(dep);
	assert_int_equal(sw_rollout_verb(f->st, "dep-2", "retry", "alice", NULL, &dep, note, sizeof(note), &err), -1);
	assert_int_equal(err.code, SW_EBUSY);
	assert_non_null(strstr(err.msg, "dep-2 is still"));
	assert_int_equal(sw_rollout_verb(f->st, "dep-9", "pause", "alice", NULL, &dep, note, sizeof(note), &err), -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_int_equal(sw_rollout_abort(f->st, "dep-2", "alice", "", false, &err), 0);
	unlock(f);
	sw_controller_kick(f->c);
	json_decref(wait_final(f, "dep-2", 5000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollout_and_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_analysis_after_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_to, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_emergency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verbs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline_host, setup, teardown),
	};

	setenv("SLIPWAY_LOG", "error", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
