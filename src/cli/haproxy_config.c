/*
 * cli/haproxy_config.c - `slipway haproxy-config --env NAME`: prints the
 * HAProxy backend section that an environment's traffic steps expect (a
 * server <host>-a / <host>-b per slot of every host of the environment);
 * with --full a whole haproxy.cfg (global with the runtime API socket,
 * defaults, a frontend and a backend per environment with traffic).
 *
 * Reads the local slipway.yml (the environment's traffic.haproxy.backend
 * and socket, its host selector, run.health), asks the server for the hosts
 * (GET /api/v1/hosts), keeps those the server itself would deploy to
 * (rollout/plan: sw_plan_select over the selector of rollout/runjson), takes
 * each one's address from sw_plan_address (label "address", else the
 * address its agent reports, else its name) and renders them with
 * traffic/haproxy_cfg. Prints; no business logic here.
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
	"       slipway haproxy-config --full [--env NAME] [--bind [ENV=]ADDRESS:PORT]... [options]\n"
	"\n"
	"Print the HAProxy 'backend' section for an environment that shifts traffic\n"
	"through HAProxy (strategy ... traffic: {haproxy: {socket, backend}}): one\n"
	"server <host>-a and <host>-b per host, on the host's two slot ports, for\n"
	"every enrolled host the environment's selector matches (not revoked, by\n"
	"name), with health checks from run.health. A server's address is the host's\n"
	"label 'address' when it has one (an override: 'slipway hosts label HOST\n"
	"address=...'), else the address its agent reports (agent --address), else\n"
	"its name.\n"
	"With --full, print a complete haproxy.cfg instead: global (a 'stats socket\n"
	"... level admin' for each traffic.haproxy.socket, the runtime API the server\n"
	"steers traffic through), defaults, and for every environment with traffic\n"
	"(or only --env NAME) a frontend 'fe_<env>' and its backend. Check it with\n"
	"'haproxy -c -f FILE'.\n"
	"\n"
	"options:\n"
	"  --env NAME        the environment (required without --full)\n"
	"  --full            a complete haproxy.cfg, not only the backend\n"
	"  --bind [ENV=]ADDRESS:PORT\n"
	"                    where the frontend of ENV listens (with --full; repeat per\n"
	"                    environment; without ENV= for the only one); default *:80\n"
	"                    when there is one environment\n"
	"  -f, --file FILE   the spec (default slipway.yml)\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default: the config) or json\n"
	"                    ({backend, servers: [{name, address, port, host, slot}], config};\n"
	"                    with --full {config, frontends: [{env, bind, backend}],\n"
	"                    backends: [{env, backend, servers}]})\n"
	"  -h, --help        show this help\n";

enum { OPT_ENV = 256, OPT_SERVER, OPT_TOKEN, OPT_OUTPUT, OPT_FULL, OPT_BIND };

#define SW_HCFG_BINDS_MAX 64

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

/* One environment with traffic: its env JSON, where it sends traffic, and its hosts. */
struct sw_hcfg_env {
	const char *name;
	json_t *envj; /* owned */
	const char *backend, *socket, *bind;
	json_t *sel; /* owned: the selected host records */
	struct sw_haproxy_cfg_host *hosts; /* owned array, strings borrowed from sel */
	size_t nhosts;
};

/* The backend of env appended to text (hosts from the server's list). */
static int sw_hcfg_backend(struct sw_hcfg_env *e, const struct sw_spec *spec, const json_t *list, bool full,
			   struct sw_buf *text, struct sw_err *err)
{
	const struct sw_spec_health *health = spec->run ? &spec->run->health : NULL;
	struct sw_haproxy_cfg cfg;
	json_t *h;
	size_t i;

	e->sel = sw_plan_select(list, json_object_get(e->envj, "selector"));
	e->nhosts = json_array_size(e->sel);
	if (e->nhosts == 0 && !full) {
		char *st = sw_plan_selector_text(json_object_get(e->envj, "selector"));

		sw_err_set(err, SW_ENOTFOUND, "no enrolled host matches environment '%s' (hosts: %s)", e->name,
			   *st ? st : "any");
		free(st);
		return -1;
	}
	e->hosts = sw_xcalloc(e->nhosts ? e->nhosts : 1, sizeof(*e->hosts));
	json_array_foreach(e->sel, i, h)
	{
		e->hosts[i].name = sw_json_str(h, "name");
		e->hosts[i].address = sw_plan_address(h);
		e->hosts[i].ports[0] = sw_hcfg_port(h, 0);
		e->hosts[i].ports[1] = sw_hcfg_port(h, 1);
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = e->backend;
	cfg.env = e->name;
	cfg.hosts = e->hosts;
	cfg.nhosts = e->nhosts;
	cfg.allow_empty = full;
	if (health && health->kind != SW_HEALTH_NONE) {
		/* HAProxy cannot run a command check: it probes the port (TCP) at the same pace. */
		cfg.http_path = health->kind == SW_HEALTH_HTTP ? health->target : NULL;
		cfg.interval_ms = health->interval_ms;
		cfg.timeout_ms = health->timeout_ms;
	}
	return sw_haproxy_cfg_backend(text, &cfg, err);
}

static json_t *sw_hcfg_servers_json(const struct sw_hcfg_env *e)
{
	json_t *servers = json_array();
	char name[160];
	size_t i, s;

	for (i = 0; i < e->nhosts; i++)
		for (s = 0; s < 2; s++) {
			snprintf(name, sizeof(name), "%s-%c", e->hosts[i].name, s ? 'b' : 'a');
			json_array_append_new(servers, json_pack("{s:s, s:s, s:I, s:s, s:s}", "name", name, "address",
								 e->hosts[i].address, "port",
								 (json_int_t)e->hosts[i].ports[s], "host", e->hosts[i].name,
								 "slot", s ? "b" : "a"));
		}
	return servers;
}

/*
 * Give each environment its --bind: "ENV=ADDRESS:PORT" by name, a bare
 * "ADDRESS:PORT" only when there is one environment, "*:80" for a lone
 * environment without one. Prints a usage error and returns -1 otherwise.
 */
static int sw_hcfg_binds(const char *cmd, struct sw_hcfg_env *envs, size_t n, char **binds, size_t nbinds)
{
	size_t i, j;

	for (i = 0; i < nbinds; i++) {
		const char *eq = strchr(binds[i], '=');

		if (!eq) {
			if (n != 1) {
				sw_cli_usage_error(cmd, "--bind '%s': %zu environments have traffic; say which with "
							"--bind ENV=ADDRESS:PORT", binds[i], n);
				return -1;
			}
			if (envs[0].bind) {
				sw_cli_usage_error(cmd, "--bind is given twice for environment '%s'", envs[0].name);
				return -1;
			}
			envs[0].bind = binds[i];
			continue;
		}
		for (j = 0; j < n; j++)
			if (strlen(envs[j].name) == (size_t)(eq - binds[i]) &&
			    !strncmp(envs[j].name, binds[i], (size_t)(eq - binds[i])))
				break;
		if (j == n) {
			sw_cli_usage_error(cmd, "--bind '%s': no environment with traffic is called '%.*s'", binds[i],
					   (int)(eq - binds[i]), binds[i]);
			return -1;
		}
		if (envs[j].bind) {
			sw_cli_usage_error(cmd, "--bind is given twice for environment '%s'", envs[j].name);
			return -1;
		}
		envs[j].bind = eq + 1;
	}
	for (i = 0; i < n; i++) {
		if (!envs[i].bind && n == 1)
			envs[i].bind = "*:80";
		if (!envs[i].bind) {
			sw_cli_usage_error(cmd, "environment '%s' needs --bind %s=ADDRESS:PORT (%zu environments have "
						"traffic, each frontend listens on its own port)", envs[i].name, envs[i].name, n);
			return -1;
		}
		if (!sw_haproxy_cfg_bind_ok(envs[i].bind)) {
			sw_cli_usage_error(cmd, "--bind: '%s' is not ADDRESS:PORT (e.g. *:80, 127.0.0.1:8080, [::]:80)",
					   envs[i].bind);
			return -1;
		}
	}
	return 0;
}

int sw_cmd_haproxy_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, OPT_ENV },
		{ "file", required_argument, NULL, 'f' },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "token", required_argument, NULL, OPT_TOKEN }, SW_CLIENT_TLS_LONGOPTS,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "full", no_argument, NULL, OPT_FULL },
		{ "bind", required_argument, NULL, OPT_BIND },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "haproxy-config", *file = SW_HCFG_DEFAULT_SPEC, *env_name = NULL, *server = NULL,
		   *token = NULL;
	enum sw_output out = SW_OUTPUT_TEXT;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf text = SW_BUF_INIT(SW_HCFG_MAX), backends = SW_BUF_INIT(SW_HCFG_MAX);
	struct sw_hcfg_env *envs = NULL;
	struct sw_spec *spec = NULL;
	struct sw_client cl;
	json_t *resp = NULL;
	char *binds[SW_HCFG_BINDS_MAX];
	size_t nbinds = 0, nenvs = 0, i, j;
	bool full = false;
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
		case OPT_FULL:
			full = true;
			break;
		case OPT_BIND:
			if (nbinds == SW_HCFG_BINDS_MAX)
				return sw_cli_usage_error(cmd, "--bind: at most %d", SW_HCFG_BINDS_MAX);
			binds[nbinds++] = optarg;
			break;
		case ':':
		default:
			return sw_cli_bad_option(cmd, c, argv, opts);
		}
	}
	if (optind < argc)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!env_name && !full)
		return sw_cli_usage_error(cmd, "which environment? give --env NAME (or --full for all of them)");
	if (nbinds && !full)
		return sw_cli_usage_error(cmd, "--bind only goes with --full (the backend alone has no frontend)");

	spec = sw_spec_load(file, &err);
	if (!spec)
		return sw_cli_fail(cmd, &err);
	envs = sw_xcalloc(spec->nenvs ? spec->nenvs : 1, sizeof(*envs));
	if (env_name && sw_spec_env_index(spec, env_name) < 0) {
		rc = sw_hcfg_unknown_env(cmd, spec, file, env_name);
		goto done;
	}
	for (i = 0; i < spec->nenvs; i++) {
		struct sw_hcfg_env *e = &envs[nenvs];
		json_t *traffic;

		if (env_name && strcmp(spec->envs[i].name, env_name))
			continue;
		/* The same env JSON a deployment stores: its selector and its strategy's traffic. */
		e->name = spec->envs[i].name;
		e->envj = sw_runjson_env(&spec->envs[i]);
		traffic = json_object_get(json_object_get(e->envj, "traffic"), "haproxy");
		e->backend = sw_json_str(traffic, "backend");
		e->socket = sw_json_str(traffic, "socket");
		if (!e->backend) {
			json_decref(e->envj);
			e->envj = NULL;
			if (env_name) {
				sw_err_set(&err, SW_EINPUT, "environment '%s' has no traffic.haproxy: nothing to generate",
					   env_name);
				rc = sw_cli_fail(cmd, &err);
				goto done;
			}
			continue;
		}
		for (j = 0; j < nenvs; j++)
			if (!strcmp(envs[j].backend, e->backend)) {
				sw_err_set(&err, SW_EINPUT,
					   "environments '%s' and '%s' both shift traffic on backend '%s': one haproxy.cfg "
					   "cannot hold both (give --env NAME)",
					   envs[j].name, e->name, e->backend);
				nenvs++;
				rc = sw_cli_fail(cmd, &err);
				goto done;
			}
		nenvs++;
	}
	if (nenvs == 0) {
		sw_err_set(&err, SW_EINPUT, "no environment in '%s' shifts traffic through HAProxy (traffic.haproxy): "
					    "nothing to generate",
			   file);
		rc = sw_cli_fail(cmd, &err);
		goto done;
	}
	if (full && sw_hcfg_binds(cmd, envs, nenvs, binds, nbinds) < 0) {
		rc = 2;
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
	for (i = 0; i < nenvs; i++) {
		if (i)
			sw_buf_putc(&backends, '\n');
		if (sw_hcfg_backend(&envs[i], spec, resp, full, &backends, &err) < 0) {
			rc = sw_cli_fail(cmd, &err);
			goto done;
		}
	}
	if (full) {
		struct sw_haproxy_cfg_frontend *fes = sw_xcalloc(nenvs, sizeof(*fes));
		const char **sockets = sw_xcalloc(nenvs, sizeof(*sockets));
		struct sw_haproxy_cfg_head head;
		const struct sw_spec_health *health = spec->run ? &spec->run->health : NULL;
		int hr;

		for (i = 0; i < nenvs; i++) {
			fes[i].env = envs[i].name;
			fes[i].bind = envs[i].bind;
			fes[i].backend = envs[i].backend;
			sockets[i] = envs[i].socket;
		}
		memset(&head, 0, sizeof(head));
		head.sockets = sockets;
		head.nsockets = nenvs;
		head.http = health && health->kind == SW_HEALTH_HTTP;
		head.frontends = fes;
		head.nfrontends = nenvs;
		hr = sw_haproxy_cfg_head(&text, &head, &err);
		free(fes);
		free(sockets);
		if (hr < 0) {
			rc = sw_cli_fail(cmd, &err);
			goto done;
		}
	}
	sw_buf_append(&text, backends.data, backends.len);
	if (sw_buf_failed(&text)) {
		sw_err_set(&err, SW_EINPUT, "the config does not fit in %zu bytes", text.max);
		rc = sw_cli_fail(cmd, &err);
		goto done;
	}

	if (out == SW_OUTPUT_JSON && !full) {
		sw_cli_print_json(json_pack("{s:s, s:o, s:s}", "backend", envs[0].backend, "servers",
					    sw_hcfg_servers_json(&envs[0]), "config", sw_buf_str(&text)));
	} else if (out == SW_OUTPUT_JSON) {
		json_t *fes = json_array(), *bes = json_array();

		for (i = 0; i < nenvs; i++) {
			json_array_append_new(fes, json_pack("{s:s, s:s, s:s}", "env", envs[i].name, "bind", envs[i].bind,
							     "backend", envs[i].backend));
			json_array_append_new(bes, json_pack("{s:s, s:s, s:o}", "env", envs[i].name, "backend",
							     envs[i].backend, "servers", sw_hcfg_servers_json(&envs[i])));
		}
		sw_cli_print_json(json_pack("{s:s, s:o, s:o}", "config", sw_buf_str(&text), "frontends", fes,
					    "backends", bes));
	} else {
		fwrite(text.data, 1, text.len, stdout);
		fflush(stdout);
	}
	rc = 0;
done:
	for (i = 0; envs && i < (spec ? spec->nenvs : 0); i++) {
		free(envs[i].hosts);
		json_decref(envs[i].sel);
		json_decref(envs[i].envj);
	}
	free(envs);
	json_decref(resp);
	sw_buf_release(&text);
	sw_buf_release(&backends);
	sw_spec_free(spec);
	return rc;
}
