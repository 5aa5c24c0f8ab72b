/*
 * cli/haproxy_config.c - `slipway haproxy-config --env NAME`: prints the
 * HAProxy backend section that an environment's traffic steps expect (a
 * server <host>-a / <host>-b per slot of every host of the environment).
 *
 * Reads the local slipway.yml (the environment's traffic.haproxy.backend,
 * its host selector, run.health), asks the server for the hosts
 * (GET /api/v1/hosts), keeps those the server itself would deploy to
 * (rollout/plan: sw_plan_select over the selector of rollout/runjson) and
 * renders them with traffic/haproxy_cfg. Prints; no business logic here.
 * Calls spec/, rollout/plan, rollout/runjson, traffic/haproxy_cfg,
 * cli/client, base/.
 */
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "rollout/plan.h"
#include "rollout/runjson.h"
#include "spec/spec.h"
#include "traffic/haproxy_cfg.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SW_HCFG_DEFAULT_SPEC "slipway.yml"
#define SW_HCFG_MAX ((size_t)16 << 20)

static const char sw_hcfg_usage[] =
	"usage: slipway haproxy-config --env NAME [--file slipway.yml] [--server URL] [--token TOKEN]\n"
	"                              [--output text|json]\n"
	"\n"
	"Print the HAProxy 'backend' section for an environment that shifts traffic\n"
	"through HAProxy (strategy ... traffic: {haproxy: {socket, backend}}): one\n"
	"server <host>-a and <host>-b per host, on the host's two slot ports, for\n"
	"every enrolled host the environment's selector matches (not revoked, by\n"
	"name), with health checks from run.health. Its address is the host's label\n"
	"'address', else its name. Paste it into haproxy.cfg with a frontend whose\n"
	"default_backend is that backend, and a 'stats socket ... level admin'.\n"
	"\n"
	"options:\n"
	"  --env NAME        the environment (required)\n"
	"  -f, --file FILE   the spec (default slipway.yml)\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default: the config) or json\n"
	"                    ({backend, servers: [{name, address, port, host, slot}], config})\n"
	"  -h, --help        show this help\n";

enum { OPT_ENV = 256, OPT_SERVER, OPT_TOKEN, OPT_OUTPUT };

/* A port from the host's "ports" [A, B]; 0 when missing or out of range. */
static unsigned sw_hcfg_port(const json_t *host, size_t slot)
{
	const json_t *p = json_array_get(json_object_get(host, "ports"), slot);
	json_int_t v = json_is_integer(p) ? json_integer_value(p) : 0;

	return v > 0 && v <= 65535 ? (unsigned)v : 0;
}

static int sw_hcfg_unknown_env(const char *cmd, const struct sw_spec *spec, const char *file, const char *env)
{
	struct sw_buf known = SW_BUF_INIT(65536);
	struct sw_err err = SW_ERR_INIT;
	size_t i;
	int rc;

	for (i = 0; i < spec->nenvs; i++)
		sw_buf_printf(&known, "%s%s", i ? ", " : "", spec->envs[i].name);
	sw_err_set(&err, SW_ENOTFOUND, "unknown environment '%s' in '%s' (%s%s)", env, file,
		   spec->nenvs ? "known: " : "it has no environments", sw_buf_str(&known));
	rc = sw_cli_fail(cmd, &err);
	sw_buf_release(&known);
	return rc;
}

int sw_cmd_haproxy_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, OPT_ENV },
		{ "file", required_argument, NULL, 'f' },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "token", required_argument, NULL, OPT_TOKEN }, SW_CLIENT_TLS_LONGOPTS,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "haproxy-config", *file = SW_HCFG_DEFAULT_SPEC, *env_name = NULL, *server = NULL,
		   *token = NULL;
	enum sw_output out = SW_OUTPUT_TEXT;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf text = SW_BUF_INIT(SW_HCFG_MAX);
	struct sw_haproxy_cfg cfg;
	struct sw_haproxy_cfg_host *hosts = NULL;
	struct sw_spec *spec = NULL;
	const struct sw_spec_env *env;
	const struct sw_spec_health *health;
	struct sw_client cl;
	json_t *envj = NULL, *resp = NULL, *sel = NULL, *traffic, *h;
	const char *backend;
	long idx;
	size_t i, n;
	int c, rc = 1;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_hcfg_usage, stdout);
			return 0;
		case OPT_ENV:
			env_name = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case SW_CLIENT_OPT_CA:
		case SW_CLIENT_OPT_PIN:
		case SW_CLIENT_OPT_INSECURE_HTTP:
			sw_client_tls_option(c, optarg);
			break;
		case OPT_SERVER:
			server = optarg;
			break;
		case OPT_TOKEN:
			token = optarg;
			break;
		case OPT_OUTPUT:
			if (sw_cli_parse_output(cmd, optarg, &out) < 0)
				return 2;
			break;
		case ':':
		default:
			return sw_cli_bad_option(cmd, c, argv, opts);
		}
	}
	if (optind < argc)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!env_name)
		return sw_cli_usage_error(cmd, "which environment? give --env NAME");

	spec = sw_spec_load(file, &err);
	if (!spec)
		return sw_cli_fail(cmd, &err);
	idx = sw_spec_env_index(spec, env_name);
	if (idx < 0) {
		rc = sw_hcfg_unknown_env(cmd, spec, file, env_name);
		goto done;
	}
	env = &spec->envs[idx];
	/* The same env JSON a deployment stores: its selector and its strategy's traffic. */
	envj = sw_runjson_env(env);
	traffic = json_object_get(json_object_get(envj, "traffic"), "haproxy");
	backend = sw_json_str(traffic, "backend");
	if (!backend) {
		sw_err_set(&err, SW_EINPUT, "environment '%s' has no traffic.haproxy: nothing to generate", env_name);
		rc = sw_cli_fail(cmd, &err);
		goto done;
	}

	if (sw_client_init(&cl, server, token, &err) < 0 ||
	    sw_client_json(&cl, "GET", "/api/v1/hosts", NULL, &resp, &err) < 0) {
		rc = sw_cli_fail(cmd, &err);
		goto done;
	}
	if (!json_is_array(resp)) {
		sw_err_set(&err, SW_EIO, "the server's host list is not a JSON array");
		rc = sw_cli_fail(cmd, &err);
		goto done;
	}
	sel = sw_plan_select(resp, json_object_get(envj, "selector"));
	n = json_array_size(sel);
	if (n == 0) {
		char *st = sw_plan_selector_text(json_object_get(envj, "selector"));

		sw_err_set(&err, SW_ENOTFOUND, "no enrolled host matches environment '%s' (hosts: %s)", env_name,
			   *st ? st : "any");
		free(st);
		rc = sw_cli_fail(cmd, &err);
		goto done;
	}
	hosts = sw_xcalloc(n, sizeof(*hosts));
	json_array_foreach(sel, i, h)
	{
		hosts[i].name = sw_json_str(h, "name");
		hosts[i].address = sw_plan_address(h);
		hosts[i].ports[0] = sw_hcfg_port(h, 0);
		hosts[i].ports[1] = sw_hcfg_port(h, 1);
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = backend;
	cfg.env = env_name;
	cfg.hosts = hosts;
	cfg.nhosts = n;
	health = spec->run ? &spec->run->health : NULL;
	if (health && health->kind != SW_HEALTH_NONE) {
		/* HAProxy cannot run a command check: it probes the port (TCP) at the same pace. */
		cfg.http_path = health->kind == SW_HEALTH_HTTP ? health->target : NULL;
		cfg.interval_ms = health->interval_ms;
		cfg.timeout_ms = health->timeout_ms;
	}
	if (sw_haproxy_cfg_backend(&text, &cfg, &err) < 0) {
		rc = sw_cli_fail(cmd, &err);
		goto done;
	}

	if (out == SW_OUTPUT_JSON) {
		json_t *servers = json_array();
		char name[160];

		for (i = 0; i < n; i++) {
			size_t s;

			for (s = 0; s < 2; s++) {
				snprintf(name, sizeof(name), "%s-%c", hosts[i].name, s ? 'b' : 'a');
				json_array_append_new(servers, json_pack("{s:s, s:s, s:I, s:s, s:s}", "name", name,
									 "address", hosts[i].address, "port",
									 (json_int_t)hosts[i].ports[s], "host",
									 hosts[i].name, "slot", s ? "b" : "a"));
			}
		}
		sw_cli_print_json(json_pack("{s:s, s:o, s:s}", "backend", backend, "servers", servers, "config",
					    sw_buf_str(&text)));
	} else {
		fwrite(text.data, 1, text.len, stdout);
		fflush(stdout);
	}
	rc = 0;
done:
	free(hosts);
	json_decref(sel);
	json_decref(resp);
	json_decref(envj);
	sw_buf_release(&text);
	sw_spec_free(spec);
	return rc;
}
