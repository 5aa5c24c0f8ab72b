/*
 * cli/analysis.c - `slipway analysis show DEPLOYMENT [--output json]`:
 * every measurement the canary's analyses took (rollout/gate.h), from the
 * progress view GET /api/v1/deployments/{id} ("measurements", oldest
 * first): time, step, analysis, verdict, values, message.
 * Calls cli/client, cli/cli, base/; prints.
 */
#include "base/buf.h"
#include "base/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char sw_analysis_usage[] =
	"usage: slipway analysis show DEPLOYMENT [options]\n"
	"\n"
	"Every measurement of the deployment's canary analyses, oldest first:\n"
	"when it was taken, the canary step, the analysis, its verdict (success,\n"
	"failure, inconclusive, error), the values measured and why.\n"
	"\n"
	"options:\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	"  --output FMT      text (default) or json: {deployment, measurements: [...]}\n"
	"  -h, --help        show this help\n";

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_OUTPUT };

/* "error_rate=0.48 requests=93 response_ms=-" into b. */
static void sw_acli_values(const json_t *values, struct sw_buf *b)
{
	const char *k;
	const json_t *v;
	bool first = true;

	json_object_foreach((json_t *)values, k, v) {
		sw_buf_printf(b, "%s%s=", first ? "" : " ", k);
		first = false;
		if (json_is_integer(v))
			sw_buf_printf(b, "%lld", (long long)json_integer_value(v));
		else if (json_is_real(v))
			sw_buf_printf(b, "%.4g", json_real_value(v));
		else if (json_is_string(v))
			sw_buf_printf(b, "%s", json_string_value(v));
		else if (json_is_boolean(v))
			sw_buf_printf(b, "%s", json_is_true(v) ? "true" : "false");
		else if (json_is_null(v))
			sw_buf_printf(b, "-");
		else
			sw_buf_printf(b, "[%zu]", json_array_size(v));
	}
	if (first)
		sw_buf_printf(b, "-");
}

static int sw_acli_show(const char *id, const char *server, const char *token, enum sw_output out)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	struct sw_buf vals = SW_BUF_INIT(4096);
	json_t *dep = NULL, *ms, *m;
	char path[256], esc[160];
	size_t i;

	if (sw_client_init(&cl, server, token, &err) < 0)
		return sw_cli_fail("analysis", &err);
	if (sw_client_escape(id, esc, sizeof(esc)) < 0)
		return sw_cli_usage_error("analysis", "deployment id '%.64s' is too long", id);
	snprintf(path, sizeof(path), "/api/v1/deployments/%s", esc);
	if (sw_client_json(&cl, "GET", path, NULL, &dep, &err) < 0)
		return sw_cli_fail("analysis", &err);
	ms = json_object_get(dep, "measurements");
	if (out == SW_OUTPUT_JSON) {
		sw_cli_print_json(json_pack("{s:s, s:O}", "deployment", sw_json_str(dep, "id") ? sw_json_str(dep, "id") : id,
					    "measurements", json_is_array(ms) ? ms : json_array()));
		json_decref(dep);
		return 0;
	}
	if (!json_array_size(ms)) {
		printf("%s: no measurements%s\n", id,
		       strcmp(sw_json_str(dep, "strategy") ? sw_json_str(dep, "strategy") : "", "canary")
			       ? " (not a canary deployment)"
			       : "");
		json_decref(dep);
		return 0;
	}
	printf("%-24s %-4s %-16s %-12s %s\n", "TIME", "STEP", "ANALYSIS", "VERDICT", "VALUES / MESSAGE");
	json_array_foreach(ms, i, m) {
		char step[16];

		sw_buf_reset(&vals);
		sw_acli_values(json_object_get(m, "values"), &vals);
		snprintf(step, sizeof(step), "%s%lld", json_is_true(json_object_get(m, "background")) ? "b" : "",
			 (long long)json_integer_value(json_object_get(m, "step")) + 1);
		printf("%-24s %-4s %-16s %-12s %s\n", sw_json_str(m, "time") ? sw_json_str(m, "time") : "", step,
		       sw_json_str(m, "analysis") ? sw_json_str(m, "analysis") : "",
		       sw_json_str(m, "verdict") ? sw_json_str(m, "verdict") : "", sw_buf_str(&vals));
		if (sw_json_str(m, "message") && *sw_json_str(m, "message"))
			printf("%-24s %-4s %-16s %-12s %s\n", "", "", "", "", sw_json_str(m, "message"));
	}
	sw_buf_release(&vals);
	json_decref(dep);
	return 0;
}

int sw_cmd_analysis(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, OPT_SERVER }, { "token", required_argument, NULL, OPT_TOKEN },
		{ "output", required_argument, NULL, OPT_OUTPUT }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *token = NULL, *args[2] = { NULL, NULL };
	enum sw_output out = SW_OUTPUT_TEXT;
	size_t nargs = 0;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_analysis_usage, stdout);
			return 0;
		case OPT_SERVER:
			server = optarg;
			break;
		case OPT_TOKEN:
			token = optarg;
			break;
		case OPT_OUTPUT:
			if (sw_cli_parse_output("analysis", optarg, &out) < 0)
				return 2;
			break;
		case ':':
			return sw_cli_usage_error("analysis", "option '%s' needs a value", argv[optind - 1]);
		default:
			return sw_cli_usage_error("analysis", "unknown option '%s'", argv[optind - 1]);
		}
	}
	for (; optind < argc; optind++) {
		if (nargs == 2)
			return sw_cli_usage_error("analysis", "unexpected argument '%s'", argv[optind]);
		args[nargs++] = argv[optind];
	}
	if (nargs == 0)
		return sw_cli_usage_error("analysis", "a subcommand is required: show DEPLOYMENT");
	if (strcmp(args[0], "show"))
		return sw_cli_usage_error("analysis", "unknown subcommand '%s' (expected: show)", args[0]);
	if (nargs < 2 || !*args[1])
		return sw_cli_usage_error("analysis", "show: a deployment id is required");
	return sw_acli_show(args[1], server, token, out);
}
