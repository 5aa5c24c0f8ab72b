/*
 * cli/logs.c - `slipway logs HOST [SERVICE]`: a service's log as its host's
 * agent reads it, through the server (GET /api/v1/hosts/{host}/logs; the
 * host needs no inbound port). -f follows: it asks again from the offset
 * the last answer ended at, at once while the log goes on, else every
 * SW_LOGS_FOLLOW_MS, until interrupted or the host goes offline (an
 * agent that does not answer in time is asked again).
 * Calls cli/client, base/; prints the log text to stdout, notes to stderr.
 */
#include "base/json.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SW_LOGS_FOLLOW_MS 500
#define SW_LOGS_WAIT_S 10

static const char sw_logs_usage[] =
	"usage: slipway logs HOST [SERVICE] [--slot a|b] [-n LINES] [-f] [--server URL] [--token TOKEN]\n"
	"\n"
	"Print the last lines of a service's log on a host: what the service wrote to\n"
	"stdout and stderr, and the agent's own '--- slipway' lines (starts, exits,\n"
	"hooks). The host's agent reads the log and sends it through the server, so\n"
	"the host needs no inbound port. HOST is a host name or id (see 'slipway hosts');\n"
	"SERVICE may be left out when the host runs one service. Text that is not\n"
	"UTF-8, and control characters other than newline and tab, print as '?'.\n"
	"\n"
	"options:\n"
	"  --slot a|b        which slot's log (default: the slot that takes traffic)\n"
	"  -n, --lines N     how many lines to print first, 1..1000 (default 20)\n"
	"  -f, --follow      keep printing lines as they are written, until Ctrl-C;\n"
	"                    a rotated or truncated log is read again from its start\n"
	"                    (with a note on stderr); a host that does not answer\n"
	"                    in time is asked again; ends with exit 1 when the\n"
	"                    host goes offline\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token, viewer or above (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  -h, --help        show this help\n"
	"\n"
	"exit status: 0 printed; 1 the host is offline or did not answer (10 s), or\n"
	"the server failed; 2 bad usage, unknown host, or no such log on the host.\n";

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_SLOT };

static void sw_logs_nap(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* One request: GET the log from offset (-1: the tail), pinned to service/slot when given. */
static int sw_logs_get(struct sw_client *cl, const char *host, const char *service, const char *slot, int64_t offset,
		       unsigned lines, json_t **resp, struct sw_err *err)
{
	char path[1024], ehost[300], esvc[200];

	if (sw_client_escape(host, ehost, sizeof(ehost)) < 0 ||
	    sw_client_escape(service ? service : "", esvc, sizeof(esvc)) < 0)
		return sw_err_set(err, SW_EINPUT, "host or service name too long");
	snprintf(path, sizeof(path), "/api/v1/hosts/%s/logs?lines=%u&wait=%d%s%s%s%s", ehost, lines, SW_LOGS_WAIT_S,
		 service && *service ? "&service=" : "", service && *service ? esvc : "", slot ? "&slot=" : "",
		 slot ? slot : "");
	if (offset >= 0)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "&offset=%lld", (long long)offset);
	return sw_client_json(cl, "GET", path, NULL, resp, err);
}

static void sw_logs_print(const json_t *resp)
{
	const json_t *d = json_object_get(resp, "data");

	if (json_string_length(d))
		fwrite(json_string_value(d), 1, json_string_length(d), stdout);
	fflush(stdout);
}

int sw_cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "token", required_argument, NULL, OPT_TOKEN }, SW_CLIENT_TLS_LONGOPTS,
		{ "slot", required_argument, NULL, OPT_SLOT },
		{ "lines", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "logs", *server = NULL, *token = NULL, *slot = NULL, *host, *service = NULL;
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	json_t *resp = NULL;
	char pinned_service[128], pinned_slot[2] = "";
	uint64_t lines = 20;
	bool follow = false;
	int64_t offset;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hfn:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_logs_usage, stdout);
			return 0;
		case 'f':
			follow = true;
			break;
		case 'n':
			if (sw_parse_u64(optarg, strlen(optarg), 1, 1000, &lines) < 0)
				return sw_cli_usage_error(cmd, "-n/--lines '%.32s' must be a number from 1 to 1000", optarg);
			break;
		case OPT_SLOT:
			if (strcmp(optarg, "a") && strcmp(optarg, "b"))
				return sw_cli_usage_error(cmd, "--slot '%.32s' must be 'a' or 'b'", optarg);
			slot = optarg;
			break;
		case OPT_SERVER:
			server = optarg;
			break;
		case OPT_TOKEN:
			token = optarg;
			break;
		case SW_CLIENT_OPT_CA:
		case SW_CLIENT_OPT_PIN:
		case SW_CLIENT_OPT_INSECURE_HTTP:
			sw_client_tls_option(c, optarg);
			break;
		case ':':
		default:
			return sw_cli_bad_option(cmd, c, argv, opts);
		}
	}
	if (optind >= argc)
		return sw_cli_usage_error(cmd, "which host? give its name or id (see 'slipway hosts')");
	host = argv[optind++];
	if (optind < argc)
		service = argv[optind++];
	if (optind < argc)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (sw_client_init(&cl, server, token, &err) < 0)
		return sw_cli_fail(cmd, &err);
	cl.timeout_ms = (SW_LOGS_WAIT_S + 15) * 1000;
	if (sw_logs_get(&cl, host, service, slot, -1, (unsigned)lines, &resp, &err) < 0)
		return sw_cli_fail(cmd, &err);
	sw_logs_print(resp);
	if (!follow) {
		json_decref(resp);
		return 0;
	}
	/* Follow the log the first answer chose, whatever becomes active meanwhile. */
	snprintf(pinned_service, sizeof(pinned_service), "%s", sw_json_str(resp, "service") ? sw_json_str(resp, "service") : "");
	pinned_slot[0] = sw_json_str(resp, "slot") ? sw_json_str(resp, "slot")[0] : '\0';
	pinned_slot[1] = '\0';
	for (;;) {
		bool more = json_is_true(json_object_get(resp, "more"));

		offset = (int64_t)sw_json_int(resp, "next_offset", 0);
		json_decref(resp);
		resp = NULL;
		if (!more)
			sw_logs_nap(SW_LOGS_FOLLOW_MS);
		if (sw_logs_get(&cl, host, pinned_service, pinned_slot[0] ? pinned_slot : NULL, offset, (unsigned)lines,
				&resp, &err) < 0) {
			if (cl.last_status == 409) {
				fprintf(stderr, "slipway logs: %s; stopped following\n", err.msg);
				return 1;
			}
			if (cl.last_status != 504)
				return sw_cli_fail(cmd, &err);
			/* No answer this time (the agent busy or going away): ask again; offline ends it. */
			fprintf(stderr, "slipway logs: %s; asking again\n", err.msg);
			resp = json_pack("{s:I, s:b}", "next_offset", (json_int_t)offset, "more", 0);
			sw_err_clear(&err);
			continue;
		}
		if (json_is_true(json_object_get(resp, "restarted")))
			fprintf(stderr, "slipway logs: the log was rotated or truncated; reading it again from its start\n");
		sw_logs_print(resp);
	}
}
