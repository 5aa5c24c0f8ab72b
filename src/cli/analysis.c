/*
 * cli/analysis.c - `slipway analysis show DEPLOYMENT [--analysis NAME]
 * [--limit N] [--output json]`: every measurement the deployment's
 * analyses took (rollout/gate.h), oldest first, paged from GET
 * /api/v1/deployments/{id}/measurements (the event log): time, step,
 * analysis, verdict, values, message. A server without that route gets
 * the progress view's "measurements" (the last 50 per analysis run) and a
 * note on stderr.
 * Calls cli/client, cli/cli, base/; prints.
 */
#include "base/buf.h"
#include "base/json.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define SW_ACLI_PAGE 1000      /* the route's largest page */
#define SW_ACLI_PAGES_MAX 1000 /* at most a million measurements */

static const char sw_analysis_usage[] =
	"usage: slipway analysis show DEPLOYMENT [options]\n"
	"\n"
	"Every measurement of the deployment's analyses (canary steps, background\n"
	"analyses, ring bakes), oldest first: when it was taken, the step (bN: a\n"
	"background analysis), the analysis, its verdict (success, failure,\n"
	"inconclusive, error; with '?' for a dry run, which decides nothing), the\n"
	"values measured and why. They come from the event log, all of them (the\n"
	"progress view keeps the last 50 per run).\n"
	"\n"
	"options:\n"
	"  --analysis NAME   only the measurements of analysis NAME\n"
	"  --limit N         only the last N (after --analysis)\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default) or json: {deployment, measurements: [...]},\n"
	"                    each measurement {seq, id, step, analysis, verdict, values,\n"
	"                    message, time, background, dry_run}\n"
	"  -h, --help        show this help\n";

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_OUTPUT, OPT_ANALYSIS, OPT_LIMIT };

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

/*
 * Every measurement from the measurements route, a page at a time, appended
 * to all; the deployment's id as the server spells it into dep_id.
 */
static int sw_acli_fetch(struct sw_client *cl, const char *esc, json_t *all, char *dep_id, size_t idsize,
			 struct sw_err *err)
{
	json_t *resp = NULL, *ms;
	char path[512];
	int64_t after = 0, last;
	size_t n;
	int page;

	for (page = 0; page < SW_ACLI_PAGES_MAX; page++) {
		snprintf(path, sizeof(path), "/api/v1/deployments/%s/measurements?after=%lld&limit=%d", esc,
			 (long long)after, SW_ACLI_PAGE);
		if (sw_client_json(cl, "GET", path, NULL, &resp, err) < 0)
			return -1;
		ms = json_object_get(resp, "measurements");
		last = json_integer_value(json_object_get(resp, "last"));
		if (!json_is_array(ms) || !json_is_integer(json_object_get(resp, "last"))) {
			json_decref(resp);
			return sw_err_set(err, SW_EIO, "unexpected answer from '%s': no measurements or last", path);
		}
		if (sw_json_str(resp, "deployment"))
			snprintf(dep_id, idsize, "%s", sw_json_str(resp, "deployment"));
		json_array_extend(all, ms);
		n = json_array_size(ms);
		json_decref(resp);
		resp = NULL;
		if (n < SW_ACLI_PAGE)
			return 0;
		if (last <= after)
			return sw_err_set(err, SW_EIO, "server answered a full page without moving past seq %lld",
					  (long long)after);
		after = last;
	}
	return sw_err_set(err, SW_EIO, "more than %d measurements: stopped reading", SW_ACLI_PAGE * SW_ACLI_PAGES_MAX);
}

struct sw_acli_opts {
	const char *server, *token, *analysis;
	size_t limit; /* 0: all */
	enum sw_output out;
};

static int sw_acli_show(const char *id, const struct sw_acli_opts *o)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	struct sw_buf vals = SW_BUF_INIT(4096);
	json_t *dep = NULL, *all = json_array(), *ms, *m;
	char path[256], esc[160], dep_id[256];
	size_t i, skip;

	snprintf(dep_id, sizeof(dep_id), "%s", id);
	if (sw_client_init(&cl, o->server, o->token, &err) < 0)
		goto fail;
	if (sw_client_escape(id, esc, sizeof(esc)) < 0) {
		json_decref(all);
		return sw_cli_usage_error("analysis", "deployment id '%.64s' is too long", id);
	}
	snprintf(path, sizeof(path), "/api/v1/deployments/%s", esc);
	if (sw_acli_fetch(&cl, esc, all, dep_id, sizeof(dep_id), &err) < 0) {
		/* 404: an unknown deployment, or a server older than the route. */
		if (cl.last_status != 404)
			goto fail;
		sw_err_clear(&err);
		if (sw_client_json(&cl, "GET", path, NULL, &dep, &err) < 0)
			goto fail;
		fprintf(stderr, "slipway analysis: server has no measurements route: showing the last 50 per analysis\n");
		json_array_clear(all);
		if (json_is_array(json_object_get(dep, "measurements")))
			json_array_extend(all, json_object_get(dep, "measurements"));
		if (sw_json_str(dep, "id"))
			snprintf(dep_id, sizeof(dep_id), "%s", sw_json_str(dep, "id"));
	}
	/* --analysis, then --limit (the newest N). */
	ms = json_array();
	json_array_foreach(all, i, m)
		if (!o->analysis || !strcmp(sw_json_str(m, "analysis") ? sw_json_str(m, "analysis") : "", o->analysis))
			json_array_append(ms, m);
	json_decref(all);
	all = ms;
	if (o->limit && json_array_size(all) > o->limit) {
		ms = json_array();
		skip = json_array_size(all) - o->limit;
		json_array_foreach(all, i, m)
			if (i >= skip)
				json_array_append(ms, m);
		json_decref(all);
		all = ms;
	}
	if (o->out == SW_OUTPUT_JSON) {
		sw_cli_print_json(json_pack("{s:s, s:O}", "deployment", dep_id, "measurements", all));
		goto done;
	}
	if (!json_array_size(all)) {
		/* Say whether it could have any (the view knows the strategy). */
		if (!dep && sw_client_json(&cl, "GET", path, NULL, &dep, &err) < 0)
			goto fail;
		printf("%s: no measurements%s\n", dep_id,
		       o->analysis ? " of that analysis"
		       : strcmp(sw_json_str(dep, "strategy") ? sw_json_str(dep, "strategy") : "", "canary") &&
				       strcmp(sw_json_str(dep, "strategy") ? sw_json_str(dep, "strategy") : "", "rings")
			       ? " (not a canary deployment)"
			       : "");
		goto done;
	}
	printf("%-24s %-4s %-16s %-12s %s\n", "TIME", "STEP", "ANALYSIS", "VERDICT", "VALUES / MESSAGE");
	json_array_foreach(all, i, m) {
		char step[16], verdict[32];

		sw_buf_reset(&vals);
		sw_acli_values(json_object_get(m, "values"), &vals);
		snprintf(step, sizeof(step), "%s%lld", json_is_true(json_object_get(m, "background")) ? "b" : "",
			 (long long)json_integer_value(json_object_get(m, "step")) + 1);
		/* A dry run's verdict decides nothing: "failure?" says so in the column. */
		snprintf(verdict, sizeof(verdict), "%s%s", sw_json_str(m, "verdict") ? sw_json_str(m, "verdict") : "",
			 json_is_true(json_object_get(m, "dry_run")) ? "?" : "");
		printf("%-24s %-4s %-16s %-12s %s\n", sw_json_str(m, "time") ? sw_json_str(m, "time") : "", step,
		       sw_json_str(m, "analysis") ? sw_json_str(m, "analysis") : "", verdict, sw_buf_str(&vals));
		if (sw_json_str(m, "message") && *sw_json_str(m, "message"))
			printf("%-24s %-4s %-16s %-12s %s\n", "", "", "", "", sw_json_str(m, "message"));
	}
done:
	sw_buf_release(&vals);
	json_decref(all);
	json_decref(dep);
	return 0;
fail:
	sw_buf_release(&vals);
	json_decref(all);
	json_decref(dep);
	return sw_cli_fail("analysis", &err);
}

int sw_cmd_analysis(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "token", required_argument, NULL, OPT_TOKEN }, SW_CLIENT_TLS_LONGOPTS,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "analysis", required_argument, NULL, OPT_ANALYSIS },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sw_acli_opts o = { .out = SW_OUTPUT_TEXT };
	const char *args[2] = { NULL, NULL };
	size_t nargs = 0;
	uint64_t n;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_analysis_usage, stdout);
			return 0;
		case SW_CLIENT_OPT_CA:
		case SW_CLIENT_OPT_PIN:
		case SW_CLIENT_OPT_INSECURE_HTTP:
			sw_client_tls_option(c, optarg);
			break;
		case OPT_SERVER:
			o.server = optarg;
			break;
		case OPT_TOKEN:
			o.token = optarg;
			break;
		case OPT_OUTPUT:
			if (sw_cli_parse_output("analysis", optarg, &o.out) < 0)
				return 2;
			break;
		case OPT_ANALYSIS:
			if (!*optarg)
				return sw_cli_usage_error("analysis", "--analysis: expected an analysis name");
			o.analysis = optarg;
			break;
		case OPT_LIMIT:
			if (sw_parse_u64(optarg, strlen(optarg), 1, 1000000000, &n) < 0)
				return sw_cli_usage_error("analysis", "--limit: expected a number from 1 to 1000000000, got '%s'",
							  optarg);
			o.limit = (size_t)n;
			break;
		case ':':
		default:
			return sw_cli_bad_option("analysis", c, argv, opts);
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
		return sw_cli_unknown_subcommand("analysis", args[0], (const char *const[]){ "show", NULL });
	if (nargs < 2 || !*args[1])
		return sw_cli_usage_error("analysis", "show: a deployment id is required");
	return sw_acli_show(args[1], &o);
}
