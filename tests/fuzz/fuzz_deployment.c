/*
 * fuzz_deployment.c - libFuzzer target for the deployment state machine
 * (src/rollout/deployment.c, rolling.c, bluegreen.c) reading a deployment
 * record: whatever the stored record holds (a damaged plan, wrong types,
 * indices out of range), a step must either refuse it with a message or
 * move it on without crashing, and a final record must never move again.
 * The input is the record's JSON; three hosts h1..h3 report the record's
 * digest in both slots (h1 healthy, h2 failed, h3 healthy but with an old
 * generation, then silent), once without a load balancer and once with one
 * that refuses every command.
 */
#include "base/err.h"
#include "rollout/bluegreen.h"
#include "rollout/deployment.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int refuse_weight(struct sw_traffic *t, const char *b, const char *s, unsigned w, struct sw_err *err)
{
	return sw_err_set(err, SW_EFAILED, "refused");
}

static int refuse_weights(struct sw_traffic *t, const char *b, const struct sw_traffic_weight *w, size_t n,
			  size_t *bad, struct sw_err *err)
{
	if (bad)
		*bad = 0;
	return sw_err_set(err, SW_EFAILED, "refused");
}

static int refuse_state(struct sw_traffic *t, const char *b, const char *s, enum sw_traffic_state st,
			struct sw_err *err)
{
	return sw_err_set(err, SW_EFAILED, "refused");
}

static int refuse_servers(struct sw_traffic *t, const char *b, struct sw_arena *a, struct sw_traffic_server **out,
			  size_t *n, struct sw_err *err)
{
	*out = NULL;
	*n = 0;
	return sw_err_set(err, SW_EIO, "unreachable");
}

static int refuse_stats(struct sw_traffic *t, const char *b, struct sw_arena *a, struct sw_traffic_stats **out,
			size_t *n, struct sw_err *err)
{
	*out = NULL;
	*n = 0;
	return sw_err_set(err, SW_EIO, "unreachable");
}

static const struct sw_traffic_ops refuse_ops = {
	.name = "refuse",
	.set_weight = refuse_weight,
	.set_weights = refuse_weights,
	.set_state = refuse_state,
	.servers = refuse_servers,
	.stats = refuse_stats,
};

static void run(json_t *dep, struct sw_traffic *traffic)
{
	static const char *const ids[3] = { "h1", "h2", "h3" };
	struct sw_obs_host hosts[3];
	struct sw_err err = SW_ERR_INIT;
	struct sw_obs obs;
	struct sw_step out;
	enum sw_dep_state st;
	const char *digest = json_string_value(json_object_get(dep, "digest"));
	int i, k, was_final;

	memset(hosts, 0, sizeof(hosts));
	for (i = 0; i < 3; i++) {
		hosts[i].id = ids[i];
		hosts[i].exists = true;
		hosts[i].last_seen_ms = 1000000;
		hosts[i].generation_applied = i == 2 ? 0 : 1 << 30;
		for (k = 0; k < 2; k++) {
			hosts[i].slot[k].digest = digest;
			hosts[i].slot[k].state = i == 1 ? "failed" : "healthy";
			hosts[i].slot[k].message = "";
		}
	}
	memset(&obs, 0, sizeof(obs));
	obs.heartbeat_timeout_ms = 3000;
	obs.hosts = hosts;
	obs.nhosts = 3;
	obs.traffic = traffic;
	obs.smoke = SW_SMOKE_PASSED;
	for (i = 0; i < 12; i++) {
		obs.now_ms = 1000000 + i * 400000;
		/* h1, h2 keep reporting; h3 goes silent half way. */
		for (k = 0; k < 3; k++)
			if (k < 2 || i < 6)
				hosts[k].last_seen_ms = obs.now_ms;
		was_final = sw_dep_state_parse(json_string_value(json_object_get(dep, "state")), &st) == 0 &&
			    sw_dep_state_final(st);
		sw_step_init(&out);
		if (sw_deployment_step(dep, &obs, &out, &err) < 0) {
			if (err.msg[0] == '\0')
				abort();
			sw_step_release(&out);
			return;
		}
		/* A record that had ended never moves again. */
		if (was_final && (out.transition || json_array_size(out.desired) != 0))
			abort();
		if (out.transition && !sw_dep_state_final(out.state) && out.state != SW_DEP_PROGRESSING)
			abort();
		sw_bluegreen_cleanup(dep, &obs, &out);
		sw_step_release(&out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_traffic refuse = { .ops = &refuse_ops };
	json_t *a, *b;

	if (size > 65536)
		return 0;
	a = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(a)) {
		json_decref(a);
		return 0;
	}
	b = json_deep_copy(a);
	run(a, NULL);
	run(b, &refuse);
	json_decref(a);
	json_decref(b);
	return 0;
}
