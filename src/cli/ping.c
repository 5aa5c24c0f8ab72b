/*
 * cli/ping.c - `slipway ping`: does the server answer? GET /api/v1/health
 * (a public route: no token needed). With --wait DUR it asks again every
 * SW_PING_EVERY_MS while the server cannot be reached, until it answers or
 * DUR has passed, so a script that starts `slipway server &` can go on
 * once the server is up (the first-start admin token is written before the
 * server listens, so it exists once ping has answered).
 * Calls cli/client, base/; prints.
 */
#include "base/clock.h"
#include "base/json.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define SW_PING_EVERY_MS 100

static const char sw_ping_usage[] =
	"usage: slipway ping [--wait DURATION] [--server URL] [--output text|json]\n"
	"\n"
	"Ask the server whether it answers (GET /api/v1/health; no token needed) and\n"
	"print its URL and version. With --wait, a server that cannot be reached yet\n"
	"(starting, or not listening yet) is asked again every 100 ms until it answers\n"
	"or DURATION has passed: use it after starting 'slipway server' in a script.\n"
	"\n"
	"options:\n"
	"  --wait DURATION   keep asking for up to this long, e.g. 10s (default: ask once)\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default) or json\n"
	"  -h, --help        show this help\n"
	"\n"
	"exit status: 0 the server answered; 1 it did not (in time); 2 bad usage.\n";

enum { OPT_SERVER = 256, OPT_WAIT, OPT_OUTPUT };

int sw_cmd_ping(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "wait", required_argument, NULL, OPT_WAIT },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		SW_CLIENT_TLS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "ping", *server = NULL;
	enum sw_output out = SW_OUTPUT_TEXT;
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	uint64_t wait_ms = 0, deadline;
	json_t *resp = NULL;
	unsigned tries = 0;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_ping_usage, stdout);
			return 0;
		case OPT_SERVER:
			server = optarg;
			break;
		case OPT_WAIT:
			if (sw_parse_duration_ms(optarg, strlen(optarg), &wait_ms) < 0)
				return sw_cli_usage_error(cmd, "--wait: '%s' is not a duration (e.g. 500ms, 10s, 1m)",
							  optarg);
			break;
		case OPT_OUTPUT:
			if (sw_cli_parse_output(cmd, optarg, &out) < 0)
				return 2;
			break;
		case SW_CLIENT_OPT_CA:
		case SW_CLIENT_OPT_PIN:
		case SW_CLIENT_OPT_INSECURE_HTTP:
			sw_client_tls_option(c, optarg);
			break;
		default:
			return sw_cli_bad_option(cmd, c, argv, opts);
		}
	}
	if (optind < argc)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (sw_client_init(&cl, server, SW_CLIENT_NO_TOKEN, &err) < 0)
		return sw_cli_fail(cmd, &err);
	deadline = sw_clock_mono_ms() + wait_ms;
	for (;;) {
		uint64_t now;

		tries++;
		cl.timeout_ms = 5000;
		if (wait_ms) {
			now = sw_clock_mono_ms();
			if (deadline > now && deadline - now < cl.timeout_ms)
				cl.timeout_ms = deadline - now > 100 ? deadline - now : 100;
		}
		sw_err_clear(&err);
		if (sw_client_json(&cl, "GET", "/api/v1/health", NULL, &resp, &err) == 0)
			break;
		/* Only "cannot reach it yet" is worth asking again; an answer that is an error is final. */
		if (!wait_ms || cl.last_status != 0 || sw_clock_mono_ms() >= deadline) {
			if (wait_ms && cl.last_status == 0) {
				char d[32];

				sw_err_prefix(&err, "no answer within %s (%u tries)",
					      sw_format_duration_ms(wait_ms, d, sizeof(d)), tries);
			}
			return sw_cli_fail(cmd, &err);
		}
		sw_clock_sleep_ms(SW_PING_EVERY_MS);
	}
	if (out == SW_OUTPUT_JSON) {
		json_object_set_new(resp, "server", json_string(cl.server));
		sw_cli_print_json(resp);
		return 0;
	}
	printf("%s: ok (slipway %s)\n", cl.server, sw_json_str(resp, "version") ? sw_json_str(resp, "version") : "?");
	json_decref(resp);
	return 0;
}
