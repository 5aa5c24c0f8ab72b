/*
 * cli/hosts.c - `slipway hosts`: the enrolled hosts as the server sees
 * them (address, labels, online/offline, last seen, what runs per service
 * and slot), `slipway hosts label HOST k=v... k-` and `slipway hosts
 * revoke ID`; `hosts bootstrap` is in cli/bootstrap.c. Through the HTTP API
 * (cli/client.h).
 * Calls cli/client, base/; prints.
 */
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char sw_hosts_usage[] =
	"usage: slipway hosts [--wait N [--timeout DURATION]] [--server URL] [--token TOKEN] [--output text|json]\n"
	"       slipway hosts label HOST KEY=VALUE... KEY-... [--server URL] [--token TOKEN]\n"
	"       slipway hosts revoke ID [--server URL] [--token TOKEN]\n"
	"       slipway hosts bootstrap ssh://USER@HOST[:PORT] --labels K=V,... [options]\n"
	"       ('slipway host ...' is the same command)\n"
	"\n"
	"List the enrolled hosts: name, id, online or offline (seen within three\n"
	"heartbeats), last seen, the address its agent reaches services on, labels and\n"
	"the release running per service and slot (\"*\" marks the slot that takes\n"
	"traffic). --wait N first waits until at least N hosts are online (a server\n"
	"that cannot be reached yet is asked again), for scripts that start agents.\n"
	"'label' (admin) sets labels (KEY=VALUE) and removes them (KEY-) on the host\n"
	"HOST (its name or id), as 'kubectl label' does; the change is recorded in the\n"
	"event log (host.labeled, with who made it) and deployments created afterwards\n"
	"select hosts by the new labels. The label 'address' overrides the address the\n"
	"agent reports (load balancers, smoke tests and analyses use it).\n"
	"'revoke' withdraws a host's identity (admin): its agent is refused from then on.\n"
	"'bootstrap' sets a host up over SSH: binary, join token, agent, and waits until\n"
	"it is online (see 'slipway hosts bootstrap --help').\n"
	"\n"
	"options:\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default) or json\n"
	"  --wait N          list once at least N hosts are online (asked every 200 ms)\n"
	"  --timeout DUR     how long --wait waits, e.g. 30s (default 60s); then exit 1\n"
	"  -h, --help        show this help\n";

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_OUTPUT, OPT_WAIT, OPT_TIMEOUT };

#define SW_HOSTS_WAIT_EVERY_MS 200

static size_t sw_hosts_online(const json_t *hosts)
{
	const json_t *h;
	size_t i, n = 0;

	json_array_foreach(hosts, i, h)
	{
		if (json_is_true(json_object_get(h, "online")) && !json_is_true(json_object_get(h, "revoked")))
			n++;
	}
	return n;
}

/*
 * GET /api/v1/hosts until at least want hosts are online, or timeout_ms has
 * passed (SW_ETIMEOUT naming how many are). A server that cannot be reached
 * yet is asked again; an answer that is an error is final.
 */
static int sw_hosts_wait(struct sw_client *cl, size_t want, uint64_t timeout_ms, json_t **resp, struct sw_err *err)
{
	uint64_t deadline = sw_clock_mono_ms() + timeout_ms;
	char d[32];

	for (;;) {
		size_t online = 0, all = 0;

		sw_err_clear(err);
		if (sw_client_json(cl, "GET", "/api/v1/hosts", NULL, resp, err) == 0) {
			online = sw_hosts_online(*resp);
			all = json_array_size(*resp);
			if (online >= want)
				return 0;
			json_decref(*resp);
			*resp = NULL;
		} else if (cl->last_status != 0) {
			return -1;
		}
		if (sw_clock_mono_ms() >= deadline) {
			if (cl->last_status == 0)
				sw_err_prefix(err, "no answer within %s", sw_format_duration_ms(timeout_ms, d, sizeof(d)));
			else
				sw_err_set(err, SW_ETIMEOUT, "%zu of %zu enrolled hosts online after %s; waited for %zu",
					   online, all, sw_format_duration_ms(timeout_ms, d, sizeof(d)), want);
			return -1;
		}
		sw_clock_sleep_ms(SW_HOSTS_WAIT_EVERY_MS);
	}
}

static void sw_hosts_labels(const json_t *labels, struct sw_buf *b)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)labels, k, v)
	{
		sw_buf_printf(b, "%s%s=%s", b->len ? "," : "", k, json_string_value(v) ? json_string_value(v) : "");
	}
	if (!b->len)
		sw_buf_puts(b, "-");
}

static void sw_hosts_services(const json_t *services, struct sw_buf *b)
{
	const json_t *s;
	size_t i;

	json_array_foreach(services, i, s)
	{
		const char *digest = sw_json_str(s, "digest");

		sw_buf_printf(b, "%s%s/%s%s=%.12s:%s", b->len ? " " : "", sw_json_str(s, "service") ? sw_json_str(s, "service") : "?",
			      sw_json_str(s, "slot") ? sw_json_str(s, "slot") : "?",
			      json_is_true(json_object_get(s, "active")) ? "*" : "", digest && *digest ? digest : "-",
			      sw_json_str(s, "state") ? sw_json_str(s, "state") : "?");
	}
	if (!b->len)
		sw_buf_puts(b, "-");
}

static const char *sw_hosts_ago(const json_t *h, char *out, size_t size)
{
	json_int_t seen = json_integer_value(json_object_get(h, "last_seen_ms"));
	int64_t d;

	if (seen <= 0)
		return "never";
	d = sw_clock_wall_ms() - (int64_t)seen;
	if (d < 0)
		d = 0;
	if (d < 120000)
		snprintf(out, size, "%llds ago", (long long)(d / 1000));
	else if (d < 7200000)
		snprintf(out, size, "%lldm ago", (long long)(d / 60000));
	else
		snprintf(out, size, "%lldh ago", (long long)(d / 3600000));
	return out;
}

/*
 * `hosts label HOST KEY=VALUE... KEY-...`: the arguments become
 * POST /api/v1/hosts/{HOST}/labels {set, remove}. The server validates keys
 * and values (its message names the label); here only the shape is checked.
 */
static int sw_hosts_label(const char *host, int n, char **args, const char *server, const char *token,
			  enum sw_output out)
{
	const char *cmd = "hosts label";
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	json_t *set = json_object(), *remove = json_array(), *body, *resp = NULL;
	char path[512], esc[256];
	int i, rc = 2;

	for (i = 0; i < n; i++) {
		const char *a = args[i], *eq = strchr(a, '=');
		size_t len = strlen(a);
		char key[128];

		if (a[0] == '-') {
			rc = sw_cli_usage_error("hosts", "unexpected option '%s' (options go before 'label')", a);
			goto out;
		}
		if (eq && eq > a && (size_t)(eq - a) < sizeof(key)) {
			memcpy(key, a, (size_t)(eq - a));
			key[eq - a] = '\0';
			if (json_object_get(set, key)) {
				rc = sw_cli_usage_error("hosts", "label '%s' is given twice", key);
				goto out;
			}
			json_object_set_new(set, key, json_string(eq + 1));
		} else if (!eq && len > 1 && len < sizeof(key) && a[len - 1] == '-') {
			json_array_append_new(remove, json_stringn(a, len - 1));
		} else {
			rc = sw_cli_usage_error("hosts", "'%.200s' is neither KEY=VALUE (set a label) nor KEY- (remove one)", a);
			goto out;
		}
	}
	if (sw_client_escape(host, esc, sizeof(esc)) < 0) {
		rc = sw_cli_usage_error("hosts", "host '%.64s' is too long", host);
		goto out;
	}
	snprintf(path, sizeof(path), "/api/v1/hosts/%s/labels", esc);
	body = json_object();
	if (json_object_size(set))
		json_object_set(body, "set", set);
	if (json_array_size(remove))
		json_object_set(body, "remove", remove);
	if (sw_client_init(&cl, server, token, &err) < 0 || sw_client_json(&cl, "POST", path, body, &resp, &err) < 0) {
		json_decref(body);
		rc = sw_cli_fail(cmd, &err);
		goto out;
	}
	json_decref(body);
	if (out == SW_OUTPUT_JSON) {
		sw_cli_print_json(resp);
	} else {
		struct sw_buf labels = SW_BUF_INIT(4096);

		sw_hosts_labels(json_object_get(resp, "labels"), &labels);
		printf("%s: %s\n", sw_json_str(resp, "name") ? sw_json_str(resp, "name") : host, sw_buf_str(&labels));
		sw_buf_release(&labels);
		json_decref(resp);
	}
	rc = 0;
out:
	json_decref(set);
	json_decref(remove);
	return rc;
}

int sw_cmd_hosts(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "token", required_argument, NULL, OPT_TOKEN }, SW_CLIENT_TLS_LONGOPTS,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "wait", required_argument, NULL, OPT_WAIT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "hosts", *server = NULL, *token = NULL, *revoke = NULL, *label = NULL;
	uint64_t wait_n = 0, timeout_ms = 60000;
	bool waiting = false, timeout_given = false;
	int label_first = 0;
	enum sw_output out = SW_OUTPUT_TEXT;
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	json_t *resp = NULL, *h;
	char ago[32], path[512], esc[256];
	size_t i;
	int c;

	if (argc >= 2 && !strcmp(argv[1], "bootstrap"))
		return sw_cmd_host_bootstrap(argc - 1, argv + 1);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_hosts_usage, stdout);
			return 0;
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
		case OPT_WAIT:
			if (sw_parse_u64(optarg, strlen(optarg), 1, 100000, &wait_n) < 0)
				return sw_cli_usage_error(cmd, "--wait: '%s' is not a number of hosts (1..100000)", optarg);
			waiting = true;
			break;
		case OPT_TIMEOUT:
			if (sw_parse_duration_ms(optarg, strlen(optarg), &timeout_ms) < 0 || timeout_ms == 0)
				return sw_cli_usage_error(cmd, "--timeout: '%s' is not a duration (e.g. 30s, 2m)", optarg);
			timeout_given = true;
			break;
		case ':':
		default:
			return sw_cli_bad_option(cmd, c, argv, opts);
		}
	}
	if (timeout_given && !waiting)
		return sw_cli_usage_error(cmd, "--timeout goes with --wait N");
	if (waiting && optind < argc)
		return sw_cli_usage_error(cmd, "--wait lists hosts: it does not go with '%s'", argv[optind]);
	if (optind < argc && !strcmp(argv[optind], "label")) {
		if (optind + 1 >= argc)
			return sw_cli_usage_error(cmd, "which host? give its name or ID (see 'slipway hosts')");
		if (optind + 2 >= argc)
			return sw_cli_usage_error(cmd, "what to change? give KEY=VALUE to set a label, KEY- to remove one");
		label = argv[optind + 1];
		label_first = optind + 2;
	} else if (optind < argc) {
		if (!strcmp(argv[optind], "bootstrap"))
			return sw_cli_usage_error(cmd, "give 'bootstrap' first, its options after it: "
						       "slipway hosts bootstrap ssh://USER@HOST --labels ...");
		if (strcmp(argv[optind], "revoke"))
			return sw_cli_unknown_subcommand(cmd, argv[optind],
							 (const char *const[]){ "label", "revoke", "bootstrap", NULL });
		if (optind + 1 >= argc)
			return sw_cli_usage_error(cmd, "which host? give its ID (see 'slipway hosts')");
		if (optind + 2 < argc)
			return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 2]);
		revoke = argv[optind + 1];
	}
	if (label)
		return sw_hosts_label(label, argc - label_first, argv + label_first, server, token, out);
	if (sw_client_init(&cl, server, token, &err) < 0)
		return sw_cli_fail(cmd, &err);
	if (revoke) {
		if (sw_client_escape(revoke, esc, sizeof(esc)) < 0)
			return sw_cli_usage_error(cmd, "host ID '%.64s' is too long", revoke);
		snprintf(path, sizeof(path), "/api/v1/hosts/%s", esc);
		if (sw_client_json(&cl, "DELETE", path, NULL, &resp, &err) < 0)
			return sw_cli_fail("hosts revoke", &err);
		if (out == SW_OUTPUT_JSON)
			sw_cli_print_json(resp);
		else {
			printf("revoked host %s\n", revoke);
			json_decref(resp);
		}
		return 0;
	}
	if (waiting) {
		if (sw_hosts_wait(&cl, (size_t)wait_n, timeout_ms, &resp, &err) < 0)
			return sw_cli_fail(cmd, &err);
	} else if (sw_client_json(&cl, "GET", "/api/v1/hosts", NULL, &resp, &err) < 0)
		return sw_cli_fail(cmd, &err);
	if (out == SW_OUTPUT_JSON) {
		sw_cli_print_json(resp);
		return 0;
	}
	if (json_array_size(resp) == 0) {
		printf("no hosts enrolled (create a join token with 'slipway join-token create')\n");
		json_decref(resp);
		return 0;
	}
	printf("%-20s %-20s %-8s %-10s %-16s %-30s %s\n", "NAME", "ID", "STATUS", "SEEN", "ADDRESS", "LABELS",
	       "SERVICES");
	json_array_foreach(resp, i, h)
	{
		struct sw_buf labels = SW_BUF_INIT(4096), services = SW_BUF_INIT(4096);
		const char *state = json_is_true(json_object_get(h, "revoked"))  ? "revoked"
				    : json_is_true(json_object_get(h, "online")) ? "online"
										  : "offline";

		sw_hosts_labels(json_object_get(h, "labels"), &labels);
		sw_hosts_services(json_object_get(h, "services"), &services);
		printf("%-20s %-20s %-8s %-10s %-16s %-30s %s\n", sw_json_str(h, "name") ? sw_json_str(h, "name") : "",
		       sw_json_str(h, "id") ? sw_json_str(h, "id") : "", state, sw_hosts_ago(h, ago, sizeof(ago)),
		       sw_json_str(h, "address") ? sw_json_str(h, "address") : "-", sw_buf_str(&labels),
		       sw_buf_str(&services));
		sw_buf_release(&labels);
		sw_buf_release(&services);
	}
	json_decref(resp);
	return 0;
}
