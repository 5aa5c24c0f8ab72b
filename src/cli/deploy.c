/*
 * cli/deploy.c - the deploy side of the CLI, through the server's HTTP API
 * (cli/client.h):
 *
 *   slipway deploy BUNDLE --env ENV [--wait]      upload the release if the
 *        server lacks it (four files, then commit), start a deployment
 *   slipway status [DEPLOYMENT] [--watch]         one deployment in detail,
 *        or the active and latest ones per service and environment
 *   slipway rollback SERVICE --env ENV [--to RELEASE] [--reason R]
 *        [--emergency] [--wait]   a new deployment of the previous good
 *        release, or of any release that ran in ENV (--to: version, digest
 *        or digest prefix; the server resolves it), --emergency: every host
 *        at once, the limits not kept
 *   slipway history SERVICE --env ENV             deployments, newest first
 *   slipway pause|resume|promote|abort|retry DEPLOYMENT [--reason R]
 *        manual control of one deployment (rollout/controller.h); abort
 *        takes --emergency (every host at once)
 *
 * Following a deployment (--wait, --watch) reads it again whenever the
 * event log moves (GET /api/v1/events long-poll, at most a second apart):
 * on a terminal the per-host view is redrawn; otherwise each change is
 * printed as one line. --wait exits 0 when the deployment succeeded and 1
 * when it ended any other way.
 *
 * Deployment records come either as stored (per-host progress in
 * plan.hosts, version in spec.version) or as the controller's progress
 * view (hosts, version at the top, rollout/controller.h); both are read.
 * A canary's progress view adds its step, weight and the last measurement
 * of each analysis (cstep, csteps, weight, analyses: rollout/gate.h).
 * Calls cli/client, cli/cli, release/ (file names), base/; prints.
 */
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "release/catalog.h"
#include "release/release.h"
#include "spec/spec.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SW_DCLI_EVENTS_PAGE 1000
#define SW_DCLI_DEFAULT_TIMEOUT_MS (60ull * 60 * 1000)

static const char sw_deploy_usage[] =
	"usage: slipway deploy BUNDLE|SERVICE@VERSION|SERVICE@latest --env ENV [--wait] [--timeout DURATION]\n"
	"                      [--server URL] [--token TOKEN] [--output text|json]\n"
	"\n"
	"Deploy a release made by 'slipway release' to an environment. BUNDLE is its\n"
	"<sha256>.tar.zst; the signatures and release.json beside it are uploaded with\n"
	"it if the server does not have the release yet. SERVICE@VERSION names a release\n"
	"by its version (SERVICE@latest: the newest made): a local one under\n"
	"$SLIPWAY_HOME/releases/SERVICE/ first (uploaded as a bundle is), else the one\n"
	"the server has. An unknown version is refused, naming the versions there are.\n"
	"The environment's hosts, strategy and checks come from the slipway.yml inside\n"
	"the release.\n"
	"\n"
	"options:\n"
	"  --env ENV         environment to deploy to (required)\n"
	"  --wait            follow the deployment until it ends; exit 0 only if it succeeded\n"
	"  --timeout D       give up waiting after D (default 1h; the deployment goes on)\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default) or json\n"
	"  -h, --help        show this help\n";

static const char sw_status_usage[] =
	"usage: slipway status [DEPLOYMENT] [--watch [--timeout DURATION]] [--server URL] [--token TOKEN]\n"
	"                      [--output text|json]\n"
	"\n"
	"Without DEPLOYMENT: the deployments in progress and the latest one of each\n"
	"service and environment. With it: its state, step and per-host progress\n"
	"(host, slot, release, state, health, time in that state).\n"
	"\n"
	"options:\n"
	"  --watch           keep following: a live view on a terminal, one line per change\n"
	"                    otherwise; ends when the deployment (or, without one, every\n"
	"                    deployment in progress) has ended\n"
	"  --timeout D       stop watching after D (default 1h)\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default) or json\n"
	"  -h, --help        show this help\n";

static const char sw_rollback_usage[] =
	"usage: slipway rollback SERVICE --env ENV [--to RELEASE] [--reason R] [--emergency] [--wait]\n"
	"                        [--timeout DURATION] [--server URL] [--token TOKEN] [--output text|json]\n"
	"\n"
	"Deploy an earlier release of SERVICE in ENV again, as a new deployment. Without\n"
	"--to: the previous good release, the newest succeeded deployment before the\n"
	"current one whose release differs. With --to: any release that ran (succeeded)\n"
	"in ENV, named by its version, its digest or a digest prefix (at least 4 hex\n"
	"digits); one that never ran there is refused, listing those that did. With\n"
	"blue/green, while the old colour is still kept, this is one traffic switch. It\n"
	"goes as the environment's strategy does: rolling in batches that keep\n"
	"min_healthy and max_unavailable. 'slipway history' shows it as a rollback to\n"
	"that version.\n"
	"\n"
	"options:\n"
	"  --env ENV         environment (required)\n"
	"  --to RELEASE      version, digest or digest prefix of a release that ran in ENV\n"
	"  --reason R        why (recorded in the deployment and its events)\n"
	"  --emergency       every host at once: min_healthy and max_unavailable are not\n"
	"                    kept (canary and rings skip their steps and bakes)\n"
	"  --wait            follow the rollback until it ends; exit 0 only if it succeeded\n"
	"  --timeout D       give up waiting after D (default 1h)\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default) or json\n"
	"  -h, --help        show this help\n";

static const char sw_history_usage[] =
	"usage: slipway history SERVICE --env ENV [--limit N] [--server URL] [--token TOKEN] [--output text|json]\n"
	"\n"
	"The deployments of SERVICE to ENV, newest first: id, state, version,\n"
	"release digest, when, how long it took, who started it (ACTOR: the name of\n"
	"the API token used), and REASON: whether it was a rollback ('rollback to\n"
	"1.0.0: why') or a retry, and why it ended as it did, naming who rolled it back\n"
	"('rolled back by slipway (analysis errors): ...' when the controller did,\n"
	"'aborted by NAME' when a person did).\n"
	"\n"
	"options:\n"
	"  --env ENV         environment (required)\n"
	"  --limit N         at most N deployments (1..1000, default 50)\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default) or json\n"
	"  -h, --help        show this help\n";

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_OUTPUT, OPT_ENV, OPT_WAIT, OPT_WATCH, OPT_TIMEOUT, OPT_LIMIT, OPT_REASON, OPT_FULL, OPT_EMERGENCY, OPT_TO };

/* What each command accepts. */
enum { F_ENV = 1, F_WAIT = 2, F_WATCH = 4, F_LIMIT = 8, F_TIMEOUT = 16, F_REASON = 32, F_FULL = 64, F_EMERGENCY = 128, F_TO = 256 };

struct sw_dcli {
	const char *cmd;
	const char *usage;
	unsigned allowed;
	const char *server, *token, *env, *reason, *to;
	enum sw_output out;
	bool wait, watch, full, emergency;
	uint64_t timeout_ms;
	unsigned limit;
	const char *arg; /* the one positional argument, or NULL */
	struct sw_client cl;
};

/* The F_ flag that allows option c (every option below OPT_ENV is always allowed). */
static unsigned sw_dcli_flag(int c)
{
	switch (c) {
	case OPT_ENV: return F_ENV;
	case OPT_WAIT: return F_WAIT;
	case OPT_WATCH: return F_WATCH;
	case OPT_LIMIT: return F_LIMIT;
	case OPT_TIMEOUT: return F_TIMEOUT;
	case OPT_REASON: return F_REASON;
	case OPT_FULL: return F_FULL;
	case OPT_EMERGENCY: return F_EMERGENCY;
	case OPT_TO: return F_TO;
	default: return ~0u;
	}
}

/* Parse argv; returns -1 when done (help printed: exit 0), else an exit code to return (>0) or 0 to go on. */
static int sw_dcli_parse(struct sw_dcli *d, int argc, char **argv, int *exit_code)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, OPT_SERVER }, { "token", required_argument, NULL, OPT_TOKEN }, SW_CLIENT_TLS_LONGOPTS,
		{ "output", required_argument, NULL, OPT_OUTPUT }, { "env", required_argument, NULL, OPT_ENV },
		{ "wait", no_argument, NULL, OPT_WAIT },	   { "watch", no_argument, NULL, OPT_WATCH },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT }, { "limit", required_argument, NULL, OPT_LIMIT },
		{ "reason", required_argument, NULL, OPT_REASON }, { "full", no_argument, NULL, OPT_FULL },
		{ "emergency", no_argument, NULL, OPT_EMERGENCY }, { "to", required_argument, NULL, OPT_TO },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct option mine[sizeof(opts) / sizeof(opts[0])];
	size_t i, n = 0;
	uint64_t v;
	int c;

	/* Only this command's options: any other is unknown, with "did you mean" among these. */
	for (i = 0; opts[i].name; i++)
		if (sw_dcli_flag(opts[i].val) == ~0u || (d->allowed & sw_dcli_flag(opts[i].val)))
			mine[n++] = opts[i];
	mine[n] = opts[i];
	d->timeout_ms = SW_DCLI_DEFAULT_TIMEOUT_MS;
	d->limit = 50;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", mine, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(d->usage, stdout);
			*exit_code = 0;
			return -1;
		case SW_CLIENT_OPT_CA:
		case SW_CLIENT_OPT_PIN:
		case SW_CLIENT_OPT_INSECURE_HTTP:
			sw_client_tls_option(c, optarg);
			continue;
		case OPT_SERVER:
			d->server = optarg;
			continue;
		case OPT_TOKEN:
			d->token = optarg;
			continue;
		case OPT_OUTPUT:
			if (sw_cli_parse_output(d->cmd, optarg, &d->out) < 0) {
				*exit_code = 2;
				return -1;
			}
			continue;
		case ':':
		case '?':
			*exit_code = sw_cli_bad_option(d->cmd, c, argv, mine);
			return -1;
		default:
			break;
		}
		switch (c) {
		case OPT_ENV:
			d->env = optarg;
			break;
		case OPT_REASON:
			d->reason = optarg;
			break;
		case OPT_TO:
			if (!*optarg) {
				*exit_code = sw_cli_usage_error(d->cmd, "--to: give a version, a digest or a digest prefix");
				return -1;
			}
			d->to = optarg;
			break;
		case OPT_FULL:
			d->full = true;
			break;
		case OPT_EMERGENCY:
			d->emergency = true;
			break;
		case OPT_WAIT:
			d->wait = true;
			break;
		case OPT_WATCH:
			d->watch = true;
			break;
		case OPT_TIMEOUT:
			if (sw_parse_duration_ms(optarg, strlen(optarg), &v) < 0 || v == 0) {
				*exit_code = sw_cli_usage_error(d->cmd, "--timeout: expected a duration such as 90s or 10m, got '%s'",
								optarg);
				return -1;
			}
			d->timeout_ms = v;
			break;
		case OPT_LIMIT:
			if (sw_parse_u64(optarg, strlen(optarg), 1, 1000, &v) < 0) {
				*exit_code = sw_cli_usage_error(d->cmd, "--limit: expected a number from 1 to 1000, got '%s'",
								optarg);
				return -1;
			}
			d->limit = (unsigned)v;
			break;
		}
	}
	if (optind < argc)
		d->arg = argv[optind++];
	if (optind < argc) {
		*exit_code = sw_cli_usage_error(d->cmd, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

/* ---- reading deployment records ------------------------------------------ */

static const char *sw_dcli_str(const json_t *o, const char *k)
{
	const char *s = sw_json_str(o, k);

	return s ? s : "";
}

static const json_t *sw_dcli_hosts(const json_t *dep)
{
	const json_t *h = json_object_get(dep, "hosts");

	return json_is_array(h) ? h : json_object_get(json_object_get(dep, "plan"), "hosts");
}

static const char *sw_dcli_version(const json_t *dep)
{
	const char *v = sw_json_str(dep, "version");

	return v ? v : sw_dcli_str(json_object_get(dep, "spec"), "version");
}

static const char *sw_dcli_step(const json_t *dep)
{
	const char *v = sw_json_str(dep, "step");

	return v ? v : sw_dcli_str(json_object_get(dep, "plan"), "step");
}

static const char *sw_dcli_strategy(const json_t *dep)
{
	const char *v = sw_json_str(dep, "strategy");

	return v ? v : sw_dcli_str(json_object_get(dep, "plan"), "strategy");
}

static bool sw_dcli_final(const json_t *dep)
{
	const char *s = sw_dcli_str(dep, "state");

	return strcmp(s, "pending") && strcmp(s, "progressing") && strcmp(s, "gated") && strcmp(s, "paused");
}

/* First 12 hex digits of a digest ("sha256:" dropped), or "-". */
static const char *sw_dcli_short(const char *digest, char *out, size_t size)
{
	if (!digest || !*digest)
		return "-";
	if (!strncmp(digest, "sha256:", 7))
		digest += 7;
	snprintf(out, size, "%.12s", digest);
	return out;
}

static int64_t sw_dcli_duration(const json_t *dep)
{
	int64_t c = 0, u = 0;
	const json_t *d = json_object_get(dep, "duration_ms");

	if (json_is_integer(d))
		return json_integer_value(d);
	if (sw_clock_parse_utc(sw_dcli_str(dep, "created"), &c) < 0)
		return -1;
	if (!sw_dcli_final(dep))
		return sw_clock_wall_ms() - c;
	if (sw_clock_parse_utc(sw_dcli_str(dep, "updated"), &u) < 0)
		return -1;
	return u >= c ? u - c : 0;
}

static const char *sw_dcli_dur_text(int64_t ms, char *out, size_t size)
{
	if (ms < 0)
		return "-";
	/* Seconds are enough for people. */
	return sw_format_duration_ms((uint64_t)(ms >= 60000 ? ms / 1000 * 1000 : ms / 100 * 100), out, size);
}

/*
 * The digest a host runs or is going to, as far as the record says. A host
 * being rolled back shows what it gets back (the view's "restores": its
 * active release before; null: none), not what its deployment slot still
 * reports (the release rolled back); a host not reached yet what it is told
 * to run now (the view's "runs"; null: nothing, shown as "-").
 */
static const char *sw_dcli_host_digest(const json_t *dep, const json_t *h)
{
	const char *phase = sw_dcli_str(h, "phase");
	const json_t *rep = json_object_get(h, "reported");

	if (!strcmp(phase, "restoring") || !strcmp(phase, "restored")) {
		if (json_object_get(h, "restores"))
			return sw_json_str(h, "restores"); /* NULL when it ran nothing before: "-" */
		return sw_json_str(dep, "prev_digest");
	}
	/* Not reached yet: what it runs now (NULL when it never ran the service: "-"). */
	if (!strcmp(phase, "waiting"))
		return json_object_get(h, "runs") ? sw_json_str(h, "runs") : sw_json_str(dep, "prev_digest");
	if (json_is_object(rep) && sw_json_str(rep, "digest"))
		return sw_json_str(rep, "digest");
	return sw_json_str(dep, "digest");
}

/* The version of a digest the record names (its release or the previous one), or "". */
static const char *sw_dcli_version_of(const json_t *dep, const char *digest)
{
	const char *pv = sw_json_str(dep, "prev_version");

	if (!digest)
		return "";
	if (!strcmp(digest, sw_dcli_str(dep, "digest")))
		return sw_dcli_version(dep);
	if (!strcmp(digest, sw_dcli_str(dep, "prev_digest")))
		return pv ? pv : sw_dcli_str(json_object_get(dep, "spec"), "prev_version");
	return "";
}

/* "1.0.1 (0123456789ab)", or the short digest alone when the version is not known; "-" for none. */
static const char *sw_dcli_release_text(const char *version, const char *digest, char *out, size_t size)
{
	char d1[16];

	if (!digest || !*digest)
		return "-";
	if (version && *version)
		snprintf(out, size, "%s (%s)", version, sw_dcli_short(digest, d1, sizeof(d1)));
	else
		snprintf(out, size, "%s", sw_dcli_short(digest, d1, sizeof(d1)));
	return out;
}

/* A rollback's target and why, from spec.rollback (records) or "rollback" (the progress view); "" otherwise. */
static const char *sw_dcli_rollback_text(const json_t *dep, char *out, size_t size)
{
	const json_t *rb = json_object_get(dep, "rollback");
	const char *v, *why;

	out[0] = '\0';
	if (!json_is_object(rb))
		rb = json_object_get(json_object_get(dep, "spec"), "rollback");
	if (!json_is_object(rb))
		return "";
	v = sw_dcli_str(rb, "version");
	why = sw_dcli_str(rb, "reason");
	snprintf(out, size, "rollback to %s%s%s", *v ? v : "?", *why ? ": " : "", why);
	return out;
}

/* The last measurement of each analysis (canary steps and background, ring bakes). */
static void sw_dcli_print_analyses(FILE *f, const json_t *dep, bool rings)
{
	const json_t *a, *last;
	size_t i;

	json_array_foreach(json_object_get(dep, "analyses"), i, a) {
		char where[160];

		if (json_is_true(json_object_get(a, "background")))
			snprintf(where, sizeof(where), "background");
		else if (rings)
			snprintf(where, sizeof(where), "ring '%s'",
				 sw_dcli_str(json_array_get(json_object_get(dep, "rings"),
							    (size_t)json_integer_value(json_object_get(a, "step"))), "") );
		else
			snprintf(where, sizeof(where), "step %lld", (long long)json_integer_value(json_object_get(a, "step")) + 1);
		last = json_object_get(a, "last");
		fprintf(f, "  analysis %s (%s): %s, %lld measured", sw_dcli_str(a, "name"), where, sw_dcli_str(a, "state"),
			(long long)json_integer_value(json_object_get(json_object_get(a, "tally"), "measurements")));
		if (json_is_object(last))
			fprintf(f, "; last %s at %s: %s", sw_dcli_str(last, "verdict"), sw_dcli_str(last, "time"),
				sw_dcli_str(last, "message"));
		if (json_is_true(json_object_get(a, "dry_run")))
			fprintf(f, " [dry run%s%s]", sw_json_str(a, "dry_run_verdict") ? "; would have: " : "",
				sw_json_str(a, "dry_run_verdict") ? sw_json_str(a, "dry_run_verdict") : "");
		fputc('\n', f);
	}
}

/* Rings (progress view): the ring in progress or baking, and its analyses. */
static void sw_dcli_print_rings(FILE *f, const json_t *dep)
{
	const json_t *rings = json_object_get(dep, "rings");
	json_int_t r = json_integer_value(json_object_get(dep, "ring"));
	char ts[SW_TIME_STR_MAX];

	if (!json_is_array(rings) || !json_is_integer(json_object_get(dep, "ring")))
		return;
	fprintf(f, "  rings: ring %lld of %zu '%s'", (long long)r + 1, json_array_size(rings),
		json_string_value(json_array_get(rings, (size_t)r)) ? json_string_value(json_array_get(rings, (size_t)r)) : "?");
	if (json_is_true(json_object_get(dep, "baking")) && json_integer_value(json_object_get(dep, "bake_until_ms")) > 0) {
		sw_clock_format_utc(json_integer_value(json_object_get(dep, "bake_until_ms")), ts, sizeof(ts));
		fprintf(f, ", baking until %.8s UTC", ts + 11);
	}
	fputc('\n', f);
	sw_dcli_print_analyses(f, dep, true);
}

/* Canary (progress view): current step and weight, the last measurement of each analysis. */
static void sw_dcli_print_canary(FILE *f, const json_t *dep)
{
	json_int_t w = json_integer_value(json_object_get(dep, "weight")), step, n;

	if (!json_is_integer(json_object_get(dep, "weight")))
		return;
	step = json_integer_value(json_object_get(dep, "cstep"));
	n = json_integer_value(json_object_get(dep, "csteps"));
	if (step < n)
		fprintf(f, "  canary: step %lld of %lld, weight %lld%%\n", (long long)step + 1, (long long)n,
			(long long)(w < 0 ? 0 : w));
	else
		fprintf(f, "  canary: promotion (after %lld step%s), weight %lld%%\n", (long long)n, n == 1 ? "" : "s",
			(long long)(w < 0 ? 0 : w));
	sw_dcli_print_analyses(f, dep, false);
}

static void sw_dcli_print_header(FILE *f, const json_t *dep)
{
	char d1[16], dur[32], rb[700];
	const char *reason = sw_dcli_str(dep, "reason");

	fprintf(f, "%s  %s %s (%s) -> %s  %s  %s  %s\n", sw_dcli_str(dep, "id"), sw_dcli_str(dep, "service"),
		*sw_dcli_version(dep) ? sw_dcli_version(dep) : "?", sw_dcli_short(sw_json_str(dep, "digest"), d1, sizeof(d1)),
		sw_dcli_str(dep, "env"), sw_dcli_strategy(dep), sw_dcli_str(dep, "state"),
		sw_dcli_dur_text(sw_dcli_duration(dep), dur, sizeof(dur)));
	if (*sw_dcli_rollback_text(dep, rb, sizeof(rb)))
		fprintf(f, "  %s\n", rb);
	if (*sw_dcli_step(dep))
		fprintf(f, "  step: %s\n", sw_dcli_step(dep));
	if (*reason)
		fprintf(f, "  reason: %s\n", reason);
	sw_dcli_print_canary(f, dep);
	sw_dcli_print_rings(f, dep);
}

static void sw_dcli_print_hosts(FILE *f, const json_t *dep)
{
	const json_t *h;
	char d1[16], el[32];
	int64_t now = sw_clock_wall_ms(), since;
	size_t i;

	const char *digest, *version;

	fprintf(f, "  %-20s %-4s %-14s %-12s %-10s %-8s %s\n", "HOST", "SLOT", "VERSION", "RELEASE", "STATE", "ELAPSED",
		"HEALTH");
	json_array_foreach(sw_dcli_hosts(dep), i, h) {
		since = json_integer_value(json_object_get(h, "since_ms"));
		digest = sw_dcli_host_digest(dep, h);
		version = sw_dcli_version_of(dep, digest);
		fprintf(f, "  %-20s %-4s %-14s %-12s %-10s %-8s %s\n", sw_dcli_str(h, "name"),
			*sw_dcli_str(h, "slot") ? sw_dcli_str(h, "slot") : "-", *version ? version : "-",
			sw_dcli_short(digest, d1, sizeof(d1)), sw_dcli_str(h, "phase"),
			since > 0 ? sw_dcli_dur_text(now - since, el, sizeof(el)) : "-",
			*sw_dcli_str(h, "message") ? sw_dcli_str(h, "message") : "-");
	}
}

/* ---- following ------------------------------------------------------------ */

/* The newest event seq, so that waiting starts from now. */
static int sw_dcli_last_seq(struct sw_dcli *d, int64_t *last, struct sw_err *err)
{
	char path[128];
	json_t *resp = NULL;
	size_t n;
	int i;

	*last = 0;
	for (i = 0; i < 100000; i++) {
		snprintf(path, sizeof(path), "/api/v1/events?after=%lld&limit=%d", (long long)*last, SW_DCLI_EVENTS_PAGE);
		if (sw_client_json(&d->cl, "GET", path, NULL, &resp, err) < 0)
			return -1;
		n = json_array_size(json_object_get(resp, "events"));
		if (json_is_integer(json_object_get(resp, "last")))
			*last = json_integer_value(json_object_get(resp, "last"));
		json_decref(resp);
		if (n < SW_DCLI_EVENTS_PAGE)
			return 0;
	}
	return 0;
}

/* Wait until the log moves past *last (at most about a second). */
static int sw_dcli_wait_event(struct sw_dcli *d, int64_t *last, struct sw_err *err)
{
	char path[128];
	json_t *resp = NULL;

	snprintf(path, sizeof(path), "/api/v1/events?after=%lld&limit=%d&wait=1", (long long)*last, SW_DCLI_EVENTS_PAGE);
	if (sw_client_json(&d->cl, "GET", path, NULL, &resp, err) < 0)
		return -1;
	if (json_is_integer(json_object_get(resp, "last")))
		*last = json_integer_value(json_object_get(resp, "last"));
	json_decref(resp);
	return 0;
}

static int sw_dcli_get(struct sw_dcli *d, const char *id, json_t **dep, struct sw_err *err)
{
	char path[256], esc[160];

	if (sw_client_escape(id, esc, sizeof(esc)) < 0)
		return sw_err_set(err, SW_EINPUT, "deployment id '%.64s' is too long", id);
	snprintf(path, sizeof(path), "/api/v1/deployments/%s", esc);
	return sw_client_json(&d->cl, "GET", path, NULL, dep, err);
}

/* Lines for the non-terminal follower: one per deployment, one per host. */
static void sw_dcli_lines(const json_t *dep, json_t *lines)
{
	struct sw_buf b = SW_BUF_INIT(4096);
	char rel[160];
	const json_t *h;
	size_t i;

	sw_buf_printf(&b, "%s %s", sw_dcli_str(dep, "id"), sw_dcli_str(dep, "state"));
	/* A canary's traffic share, while it has one. */
	if (json_is_integer(json_object_get(dep, "weight")) && json_integer_value(json_object_get(dep, "weight")) >= 0 &&
	    !strcmp(sw_dcli_str(dep, "strategy"), "canary") && !sw_dcli_final(dep))
		sw_buf_printf(&b, " (canary %lld%%)", (long long)json_integer_value(json_object_get(dep, "weight")));
	sw_buf_printf(&b, ": %s", sw_dcli_step(dep));
	json_object_set_new(lines, "", json_string(sw_buf_str(&b)));
	json_array_foreach(sw_dcli_hosts(dep), i, h) {
		sw_buf_reset(&b);
		sw_buf_printf(&b, "%s %s: %s %s%s%s", sw_dcli_str(dep, "id"), sw_dcli_str(h, "name"), sw_dcli_str(h, "phase"),
			      sw_dcli_release_text(sw_dcli_version_of(dep, sw_dcli_host_digest(dep, h)),
						   sw_dcli_host_digest(dep, h), rel, sizeof(rel)),
			      *sw_dcli_str(h, "message") ? " " : "", sw_dcli_str(h, "message"));
		json_object_set_new(lines, sw_dcli_str(h, "id"), json_string(sw_buf_str(&b)));
	}
	sw_buf_release(&b);
}

static void sw_dcli_print_changes(const json_t *dep, json_t *seen)
{
	json_t *now = json_object(), *v;
	const char *k, *old;
	char ts[SW_TIME_STR_MAX];

	sw_dcli_lines(dep, now);
	sw_clock_format_utc(sw_clock_wall_ms(), ts, sizeof(ts));
	/* The deployment's own line last: its end is the last thing said. */
	json_object_foreach(now, k, v) {
		if (!*k)
			continue;
		old = sw_json_str(seen, k);
		if (!old || strcmp(old, json_string_value(v)))
			printf("%.8s %s\n", ts + 11, json_string_value(v));
	}
	old = sw_json_str(seen, "");
	if (!old || strcmp(old, sw_dcli_str(now, "")))
		printf("%.8s %s\n", ts + 11, sw_dcli_str(now, ""));
	fflush(stdout);
	json_object_update(seen, now);
	json_decref(now);
}

static void sw_dcli_redraw(const json_t *dep)
{
	fputs("\033[H\033[J", stdout);
	sw_dcli_print_header(stdout, dep);
	sw_dcli_print_hosts(stdout, dep);
	fflush(stdout);
}

/*
 * Follow deployment id until it ends. *final gets the last record (new
 * reference). live: print progress (text output only).
 */
static int sw_dcli_follow(struct sw_dcli *d, const char *id, bool live, json_t **final, struct sw_err *err)
{
	uint64_t deadline = sw_clock_mono_ms() + d->timeout_ms;
	bool tty = live && sw_cli_stdout_is_tty();
	json_t *dep = NULL, *seen = json_object();
	char dur[32];
	int64_t last;

	*final = NULL;
	if (sw_dcli_last_seq(d, &last, err) < 0)
		goto fail;
	for (;;) {
		json_decref(dep);
		dep = NULL;
		if (sw_dcli_get(d, id, &dep, err) < 0)
			goto fail;
		if (tty)
			sw_dcli_redraw(dep);
		else if (live)
			sw_dcli_print_changes(dep, seen);
		if (sw_dcli_final(dep))
			break;
		if (sw_clock_mono_ms() > deadline) {
			sw_err_set(err, SW_ETIMEOUT, "gave up waiting for %s after %s; it goes on on the server", id,
				   sw_format_duration_ms(d->timeout_ms, dur, sizeof(dur)));
			goto fail;
		}
		if (sw_dcli_wait_event(d, &last, err) < 0)
			goto fail;
	}
	json_decref(seen);
	*final = dep;
	return 0;
fail:
	json_decref(seen);
	json_decref(dep);
	return -1;
}

/* After --wait: print the end and choose the exit code. */
static int sw_dcli_ended(struct sw_dcli *d, json_t *dep, json_t *extra)
{
	const char *state = sw_dcli_str(dep, "state");
	int ok = !strcmp(state, "succeeded");
	char dur[32];

	if (d->out == SW_OUTPUT_JSON) {
		if (extra)
			json_object_update(dep, extra);
		json_incref(dep);
		sw_cli_print_json(dep);
	} else if (ok) {
		printf("%s succeeded in %s\n", sw_dcli_str(dep, "id"), sw_dcli_dur_text(sw_dcli_duration(dep), dur, sizeof(dur)));
	}
	if (!ok)
		fprintf(stderr, "slipway %s: deployment %s %s: %s\n", d->cmd, sw_dcli_str(dep, "id"), state,
			*sw_dcli_str(dep, "reason") ? sw_dcli_str(dep, "reason") : "no reason recorded");
	return ok ? 0 : 1;
}

static int sw_dcli_started(struct sw_dcli *d, json_t *dep, json_t *extra)
{
	json_t *final = NULL;
	struct sw_err err = SW_ERR_INIT;
	const json_t *hosts = sw_dcli_hosts(dep);
	char d1[16];
	int rc;

	if (!d->wait) {
		if (d->out == SW_OUTPUT_JSON) {
			if (extra)
				json_object_update(dep, extra);
			json_incref(dep);
			sw_cli_print_json(dep);
		} else {
			printf("started %s: %s %s (%s) to %s, %s, %zu host%s\n", sw_dcli_str(dep, "id"),
			       sw_dcli_str(dep, "service"), sw_dcli_version(dep),
			       sw_dcli_short(sw_json_str(dep, "digest"), d1, sizeof(d1)), sw_dcli_str(dep, "env"),
			       sw_dcli_strategy(dep), json_array_size(hosts), json_array_size(hosts) == 1 ? "" : "s");
			printf("follow it with: slipway status %s --watch\n", sw_dcli_str(dep, "id"));
		}
		return 0;
	}
	if (d->out != SW_OUTPUT_JSON)
		printf("started %s: %s %s to %s\n", sw_dcli_str(dep, "id"), sw_dcli_str(dep, "service"),
		       sw_dcli_version(dep), sw_dcli_str(dep, "env"));
	if (sw_dcli_follow(d, sw_dcli_str(dep, "id"), d->out != SW_OUTPUT_JSON, &final, &err) < 0)
		return sw_cli_fail(d->cmd, &err);
	rc = sw_dcli_ended(d, final, extra);
	json_decref(final);
	return rc;
}

/* ---- deploy ---------------------------------------------------------------- */

/* BUNDLE must be <64 hex>.tar.zst; hex gets the digest, dir its directory. */
static int sw_dcli_bundle(const char *bundle, char hex[SW_SHA256_HEX], char *dir, size_t dirsize, struct sw_err *err)
{
	char tmp[PATH_MAX], tmp2[PATH_MAX];
	const char *base;
	size_t n;

	if (sw_strlcpy(tmp, bundle, sizeof(tmp)) < 0 || sw_strlcpy(tmp2, bundle, sizeof(tmp2)) < 0)
		return sw_err_set(err, SW_EINPUT, "bundle path '%.64s...' is too long", bundle);
	base = basename(tmp);
	n = strlen(base);
	if (n != 64 + 8 || strcmp(base + 64, ".tar.zst"))
		return sw_err_set(err, SW_EINPUT,
				  "'%s' is not a release bundle: expected <sha256>.tar.zst as written by 'slipway release'",
				  bundle);
	memcpy(hex, base, 64);
	hex[64] = '\0';
	if (!sw_is_sha256_hex(hex))
		return sw_err_set(err, SW_EINPUT,
				  "'%s' is not a release bundle: expected <sha256>.tar.zst as written by 'slipway release'",
				  bundle);
	if (sw_strlcpy(dir, dirname(tmp2), dirsize) < 0)
		return sw_err_set(err, SW_EINPUT, "bundle path '%.64s...' is too long", bundle);
	return 0;
}

static int sw_dcli_upload(struct sw_dcli *d, const char *hex, const char *dir, bool *uploaded, struct sw_err *err)
{
	static const struct {
		enum sw_release_file f;
		const char *remote;
	} files[] = {
		{ SW_RELEASE_BUNDLE, "bundle.tar.zst" },
		{ SW_RELEASE_BUNDLE_SIG, "bundle.tar.zst.minisig" },
		{ SW_RELEASE_MANIFEST, "release.json" },
		{ SW_RELEASE_MANIFEST_SIG, "release.json.minisig" },
	};
	char name[128], local[PATH_MAX], path[256];
	struct sw_err e2 = SW_ERR_INIT;
	json_t *resp = NULL;
	size_t i;

	*uploaded = false;
	for (i = 0; i < SW_ARRAY_LEN(files); i++) {
		sw_release_file_name(files[i].f, hex, name, sizeof(name));
		if (sw_path_join(local, sizeof(local), dir, name) < 0)
			return sw_err_set(err, SW_EINPUT, "path too long under '%s'", dir);
		if (!sw_fs_exists(local))
			return sw_err_set(err, SW_EINPUT, "cannot find '%s' beside the bundle (made by 'slipway release')",
					  local);
	}
	snprintf(path, sizeof(path), "/api/v1/releases/%s", hex);
	if (sw_client_json(&d->cl, "GET", path, NULL, &resp, &e2) == 0) {
		json_decref(resp);
		return 0; /* the server has it */
	}
	if (d->cl.last_status != 404) {
		*err = e2;
		return -1;
	}
	if (d->out != SW_OUTPUT_JSON) {
		printf("uploading release %s to %s\n", hex, d->cl.server);
		fflush(stdout);
	}
	for (i = 0; i < SW_ARRAY_LEN(files); i++) {
		sw_release_file_name(files[i].f, hex, name, sizeof(name));
		sw_path_join(local, sizeof(local), dir, name);
		snprintf(path, sizeof(path), "/api/v1/releases/%s/%s", hex, files[i].remote);
		if (sw_client_upload(&d->cl, path, local, err) < 0) {
			sw_err_prefix(err, "upload of '%s'", name);
			return -1;
		}
	}
	snprintf(path, sizeof(path), "/api/v1/releases/%s/commit", hex);
	if (sw_client_json(&d->cl, "POST", path, NULL, &resp, err) < 0) {
		sw_err_prefix(err, "release %.12s refused", hex);
		return -1;
	}
	json_decref(resp);
	*uploaded = true;
	return 0;
}

/* SERVICE@VERSION rather than a bundle path: an '@' and neither a '/' nor the bundle's suffix. */
static bool sw_dcli_is_ref(const char *arg)
{
	size_t n = strlen(arg);

	return strchr(arg, '@') && !strchr(arg, '/') && !(n >= 8 && !strcmp(arg + n - 8, ".tar.zst"));
}

/*
 * The server's releases of service ([{digest, version, created, ...}]), from
 * GET /api/v1/releases?service=S (an array, or {releases: [...]}). A server
 * without that route lists none. *arr: new reference.
 */
static int sw_dcli_server_releases(struct sw_dcli *d, const char *service, json_t **arr, struct sw_err *err)
{
	struct sw_err e2 = SW_ERR_INIT;
	char path[256], esc[200];
	json_t *resp = NULL, *list;

	*arr = NULL;
	if (sw_client_escape(service, esc, sizeof(esc)) < 0)
		return sw_err_set(err, SW_EINPUT, "service name '%.64s' is too long", service);
	snprintf(path, sizeof(path), "/api/v1/releases?service=%s", esc);
	if (sw_client_json(&d->cl, "GET", path, NULL, &resp, &e2) < 0) {
		if (d->cl.last_status == 404 || d->cl.last_status == 405) {
			*arr = json_array();
			return 0;
		}
		*err = e2;
		return -1;
	}
	list = json_is_array(resp) ? resp : json_object_get(resp, "releases");
	*arr = json_is_array(list) ? json_incref(list) : json_array();
	json_decref(resp);
	return 0;
}

/* Add version -> created to known (the oldest created kept: the order versions are listed in). */
static void sw_dcli_known(json_t *known, const char *version, const char *created)
{
	const char *old = sw_json_str(known, version);

	if (!old || strcmp(created, old) < 0)
		json_object_set_new(known, version, json_string(created));
}

static int sw_dcli_cmp_created(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(sw_dcli_str(x, "created"), sw_dcli_str(y, "created"));

	return c ? c : strcmp(sw_dcli_str(x, "version"), sw_dcli_str(y, "version"));
}

/* "hello@1.0.9: no such release; hello has 1.0.0, 1.0.1" (oldest first), or "... hello has none". */
static int sw_dcli_no_such(const char *service, const char *version, const json_t *known, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(2048);
	json_t *items = json_array(), *v;
	const char *k;
	size_t i, n;
	json_t **vec;
	int rc;

	json_object_foreach((json_t *)known, k, v)
		json_array_append_new(items, json_pack("{s:s, s:O}", "version", k, "created", v));
	n = json_array_size(items);
	vec = sw_xcalloc(n ? n : 1, sizeof(*vec));
	for (i = 0; i < n; i++)
		vec[i] = json_array_get(items, i);
	qsort(vec, n, sizeof(*vec), sw_dcli_cmp_created);
	for (i = 0; i < n && i < 30; i++)
		sw_buf_printf(&b, "%s%s", i ? ", " : "", sw_dcli_str(vec[i], "version"));
	if (n > 30)
		sw_buf_printf(&b, " and %zu more", n - 30);
	rc = sw_err_set(err, SW_EINPUT, "%s@%s: no such release; %s has %s", service, version, service,
			n ? sw_buf_str(&b) : "none (make one with 'slipway release')");
	free(vec);
	json_decref(items);
	sw_buf_release(&b);
	return rc;
}

/*
 * SERVICE@VERSION (or @latest): a local release (catalog.h) gives its bundle
 * path in bundle; else the server's release of that version (newest created
 * for latest) gives its digest in hex, bundle left "". SW_EINPUT for a bad
 * ref, an unknown version (naming those there are), or a version that names
 * two releases.
 */
static int sw_dcli_resolve(struct sw_dcli *d, const char *ref, char *bundle, size_t bsize, char hex[SW_SHA256_HEX],
			   char *version, size_t vsize, struct sw_err *err)
{
	struct sw_catalog cat = SW_CATALOG_INIT;
	const struct sw_catalog_entry *e;
	struct sw_err e2 = SW_ERR_INIT;
	char service[128], dir[PATH_MAX];
	json_t *list = NULL, *r, *known = json_object();
	const json_t *hit = NULL;
	const char *dg;
	bool latest;
	size_t i;
	int rc = -1;

	bundle[0] = hex[0] = '\0';
	if (sw_catalog_parse_ref(ref, service, sizeof(service), version, vsize, err) < 0)
		goto out;
	if (!sw_spec_service_name_ok(service)) {
		sw_err_set(err, SW_EINPUT, "'%s': '%s' is not a service name", ref, service);
		goto out;
	}
	latest = !strcmp(version, SW_CATALOG_LATEST);
	if (sw_catalog_default_dir(dir, sizeof(dir), err) < 0 || sw_catalog_load(&cat, dir, service, err) < 0)
		goto out;
	if ((e = sw_catalog_find(&cat, service, version, &e2))) {
		if (sw_strlcpy(bundle, e->bundle, bsize) < 0 || sw_strlcpy(version, e->version, vsize) < 0) {
			sw_err_set(err, SW_EINPUT, "path of release '%s' is too long", ref);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (e2.code != SW_ENOTFOUND) {
		*err = e2;
		goto out;
	}
	for (i = 0; i < cat.n; i++)
		sw_dcli_known(known, cat.v[i].version, cat.v[i].created);
	/* None here: the server's. */
	if (sw_client_init(&d->cl, d->server, d->token, err) < 0 || sw_dcli_server_releases(d, service, &list, err) < 0)
		goto out;
	json_array_foreach(list, i, r) {
		if (!sw_json_str(r, "digest") || !sw_json_str(r, "version") ||
		    (sw_json_str(r, "service") && strcmp(sw_json_str(r, "service"), service)))
			continue;
		sw_dcli_known(known, sw_json_str(r, "version"), sw_dcli_str(r, "created"));
		if (latest ? (!hit || strcmp(sw_dcli_str(r, "created"), sw_dcli_str(hit, "created")) > 0)
			   : !strcmp(sw_json_str(r, "version"), version)) {
			if (!latest && hit && strcmp(sw_json_str(hit, "digest"), sw_json_str(r, "digest"))) {
				sw_err_set(err, SW_EINPUT, "version '%s' of '%s' names two releases on the server: %s and %s",
					   version, service, sw_json_str(hit, "digest"), sw_json_str(r, "digest"));
				goto out;
			}
			hit = r;
		}
	}
	if (!hit) {
		sw_dcli_no_such(service, version, known, err);
		goto out;
	}
	dg = sw_json_str(hit, "digest");
	if (!strncmp(dg, "sha256:", 7))
		dg += 7;
	if (!sw_is_sha256_hex(dg)) {
		sw_err_set(err, SW_EIO, "the server listed release '%s' of '%s' with a malformed digest", version, service);
		goto out;
	}
	memcpy(hex, dg, SW_SHA256_HEX);
	if (sw_strlcpy(version, sw_json_str(hit, "version"), vsize) < 0) {
		sw_err_set(err, SW_EIO, "the server listed a version of '%s' that is too long", service);
		goto out;
	}
	rc = 0;
out:
	sw_catalog_release(&cat);
	json_decref(list);
	json_decref(known);
	return rc;
}

int sw_cmd_deploy(int argc, char **argv)
{
	struct sw_dcli d = { .cmd = "deploy", .usage = sw_deploy_usage, .allowed = F_ENV | F_WAIT | F_TIMEOUT };
	char hex[SW_SHA256_HEX], dir[PATH_MAX], name[128], mpath[PATH_MAX], bpath[PATH_MAX], version[160], sv[128];
	struct sw_err err = SW_ERR_INIT;
	json_t *manifest = NULL, *body, *dep = NULL, *extra;
	const char *service = NULL, *bundle = NULL;
	bool uploaded = false, ref;
	int code = 0, rc;

	if (sw_dcli_parse(&d, argc, argv, &code) < 0)
		return code;
	if (!d.arg)
		return sw_cli_usage_error(d.cmd, "which release? give the bundle (<sha256>.tar.zst from 'slipway release') "
					  "or SERVICE@VERSION");
	if (!d.env || !*d.env)
		return sw_cli_usage_error(d.cmd, "which environment? give --env ENV");
	ref = sw_dcli_is_ref(d.arg);
	if (!ref)
		bundle = d.arg;
	else if (sw_dcli_resolve(&d, d.arg, bpath, sizeof(bpath), hex, version, sizeof(version), &err) < 0)
		return sw_cli_fail(d.cmd, &err);
	else if (bpath[0])
		bundle = bpath; /* a local release: as if its bundle had been given */
	if (bundle) {
		if (sw_dcli_bundle(bundle, hex, dir, sizeof(dir), &err) < 0 || sw_fs_check_regular(bundle, &err) < 0)
			return sw_cli_fail(d.cmd, &err);
		sw_release_file_name(SW_RELEASE_MANIFEST, hex, name, sizeof(name));
		if (sw_path_join(mpath, sizeof(mpath), dir, name) < 0 ||
		    !(manifest = sw_json_load_file(mpath, 1u << 20, &err)))
			return sw_cli_fail(d.cmd, &err);
		service = sw_json_str(manifest, "service");
		if (!service) {
			sw_err_set(&err, SW_EINPUT, "'%s' names no service", mpath);
			json_decref(manifest);
			return sw_cli_fail(d.cmd, &err);
		}
	} else {
		/* Only the server has it: deployed by digest, nothing to upload. */
		snprintf(sv, sizeof(sv), "%.*s", (int)(strchr(d.arg, '@') - d.arg), d.arg);
		service = sv;
	}
	if (ref && d.out != SW_OUTPUT_JSON)
		printf("%s is release %s (sha256:%.12s, %s)\n", d.arg, version, hex,
		       bundle ? "made here" : "on the server");
	if ((!d.cl.server[0] && sw_client_init(&d.cl, d.server, d.token, &err) < 0) ||
	    (bundle && sw_dcli_upload(&d, hex, dir, &uploaded, &err) < 0)) {
		json_decref(manifest);
		return sw_cli_fail(d.cmd, &err);
	}
	body = json_pack("{s:s, s:s, s:s}", "service", service, "env", d.env, "digest", hex);
	json_decref(manifest);
	rc = sw_client_json(&d.cl, "POST", "/api/v1/deployments", body, &dep, &err);
	json_decref(body);
	if (rc < 0)
		return sw_cli_fail(d.cmd, &err);
	extra = json_pack("{s:b}", "uploaded", uploaded);
	rc = sw_dcli_started(&d, dep, extra);
	json_decref(extra);
	json_decref(dep);
	return rc;
}

/* ---- rollback -------------------------------------------------------------- */

int sw_cmd_rollback(int argc, char **argv)
{
	struct sw_dcli d = { .cmd = "rollback",
			     .usage = sw_rollback_usage,
			     .allowed = F_ENV | F_WAIT | F_TIMEOUT | F_EMERGENCY | F_TO | F_REASON };
	struct sw_err err = SW_ERR_INIT;
	json_t *body, *dep = NULL;
	int code = 0, rc;

	if (sw_dcli_parse(&d, argc, argv, &code) < 0)
		return code;
	if (!d.arg)
		return sw_cli_usage_error(d.cmd, "which service? give its name");
	if (!d.env || !*d.env)
		return sw_cli_usage_error(d.cmd, "which environment? give --env ENV");
	if (sw_client_init(&d.cl, d.server, d.token, &err) < 0)
		return sw_cli_fail(d.cmd, &err);
	body = json_pack("{s:s, s:s}", "service", d.arg, "env", d.env);
	if (d.emergency)
		json_object_set_new(body, "emergency", json_true());
	if (d.to)
		json_object_set_new(body, "to", json_string(d.to));
	if (d.reason)
		json_object_set_new(body, "reason", json_string(d.reason));
	rc = sw_client_json(&d.cl, "POST", "/api/v1/rollback", body, &dep, &err);
	json_decref(body);
	if (rc < 0)
		return sw_cli_fail(d.cmd, &err);
	rc = sw_dcli_started(&d, dep, NULL);
	json_decref(dep);
	return rc;
}

/* ---- manual control: pause, resume, promote, abort, retry ------------------- */

#define SW_VERB_USAGE_FMT \
	"usage: slipway %s DEPLOYMENT%s [--server URL] [--token TOKEN] [--output text|json]\n" \
	"\n" \
	"%s\n" \
	"\n" \
	"options:\n" \
	"%s" \
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n" \
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n" \
	SW_CLIENT_TLS_USAGE \
	"  --output FMT      text (default) or json\n" \
	"  -h, --help        show this help\n"

static int sw_dcli_verb(const char *verb, const char *what, bool reason, int argc, char **argv)
{
	bool full = !strcmp(verb, "promote"), emergency = !strcmp(verb, "abort");
	char usage[2048], path[256], esc[160], rel[160];
	struct sw_dcli d = { .cmd = verb,
			     .usage = usage,
			     .allowed = (reason ? F_REASON : 0) | (full ? F_FULL : 0) | (emergency ? F_EMERGENCY : 0) };
	struct sw_err err = SW_ERR_INIT;
	json_t *body, *res = NULL, *dep;
	const char *msg;
	int code = 0, rc;

	snprintf(usage, sizeof(usage), SW_VERB_USAGE_FMT, verb,
		 emergency ? " [--reason R] [--emergency]"
		 : reason  ? " [--reason R]"
		 : full	   ? " [--full]"
			   : "",
		 what,
		 emergency ? "  --reason R        why (recorded in the event and the deployment)\n"
			     "  --emergency       roll back every host at once: min_healthy and max_unavailable\n"
			     "                    are not kept (asked during a rollback: the rest goes at once)\n"
		 : reason  ? "  --reason R        why (recorded in the event and the deployment)\n"
		 : full	   ? "  --full            skip every remaining step (canary: promotion now, background\n"
			     "                    analyses still watching; rings: every remaining bake)\n"
			   : "");
	if (sw_dcli_parse(&d, argc, argv, &code) < 0)
		return code;
	if (!d.arg)
		return sw_cli_usage_error(d.cmd, "which deployment? give its id (see 'slipway status')");
	if (sw_client_escape(d.arg, esc, sizeof(esc)) < 0)
		return sw_cli_usage_error(d.cmd, "deployment id '%.64s' is too long", d.arg);
	if (sw_client_init(&d.cl, d.server, d.token, &err) < 0)
		return sw_cli_fail(d.cmd, &err);
	snprintf(path, sizeof(path), "/api/v1/deployments/%s/%s", esc, verb);
	body = d.reason ? json_pack("{s:s}", "reason", d.reason) : json_object();
	if (d.full)
		json_object_set_new(body, "full", json_true());
	if (d.emergency)
		json_object_set_new(body, "emergency", json_true());
	rc = sw_client_json(&d.cl, "POST", path, body, &res, &err);
	json_decref(body);
	if (rc < 0)
		return sw_cli_fail(d.cmd, &err);
	if (d.out == SW_OUTPUT_JSON) {
		sw_cli_print_json(res);
		return 0;
	}
	/* abort answers the deployment itself; the other verbs {deployment, message}. */
	dep = json_object_get(res, "deployment") ? json_object_get(res, "deployment") : res;
	msg = sw_json_str(res, "message");
	if (!strcmp(verb, "retry"))
		printf("%s: %s (%s %s to %s)\n", d.arg, msg ? msg : "retried", sw_dcli_str(dep, "service"),
		       sw_dcli_release_text(sw_dcli_version(dep), sw_json_str(dep, "digest"), rel, sizeof(rel)),
		       sw_dcli_str(dep, "env"));
	else if (msg)
		printf("%s: %s (%s)\n", d.arg, msg, sw_dcli_str(dep, "state"));
	else
		printf("%s: abort requested (%s)\n", d.arg, sw_dcli_str(dep, "state"));
	json_decref(res);
	return 0;
}

/*
 * Each verb's help says what it does, what asking again does and when it is
 * refused (docs/rollout.md, "Manual control"; the man pages come from these).
 */
int sw_cmd_pause(int argc, char **argv)
{
	return sw_dcli_verb(
		"pause",
		"Stop a pending or progressing deployment between steps: the controller\n"
		"does not advance it and its hosts keep what they run (a batch already told\n"
		"finishes installing; nothing new starts) until 'slipway resume' or\n"
		"'slipway promote'. The time it stays paused does not count against its\n"
		"deadline or step timers.\n"
		"\n"
		"Pausing a paused deployment changes nothing (\"already paused\"). A deployment\n"
		"that has ended or is rolling back cannot be paused: exit 1 with the reason.",
		true, argc, argv);
}

int sw_cmd_resume(int argc, char **argv)
{
	return sw_dcli_verb(
		"resume",
		"Let a paused deployment go on from where it stopped; its deadline and the\n"
		"running step's timers are pushed out by the time it spent paused. A\n"
		"deployment paused by an inconclusive analysis goes on with its next step.\n"
		"\n"
		"Resuming one that is not paused changes nothing (\"not paused (STATE)\"). A\n"
		"deployment that has ended cannot be resumed: exit 1 with the reason.",
		false, argc, argv);
}

int sw_cmd_promote(int argc, char **argv)
{
	return sw_dcli_verb(
		"promote",
		"Skip the current wait of a deployment now: a canary goes to its next step\n"
		"(the pause or analysis step is cut short), rings end the current bake; a\n"
		"paused deployment is resumed too. Rolling and blue/green have no waits.\n"
		"With --full, every remaining step is skipped: a canary is promoted to 100%\n"
		"at once (background analyses still watch it).\n"
		"\n"
		"Promoting again changes nothing (\"already promoted\"). A deployment that has\n"
		"ended or is rolling back cannot be promoted: exit 1 with the reason.",
		false, argc, argv);
}

int sw_cmd_abort(int argc, char **argv)
{
	return sw_dcli_verb(
		"abort",
		"Abort an active deployment: it stops advancing and is rolled back, every\n"
		"host it changed getting back the release it ran before, batch by batch\n"
		"(at once with --emergency); it ends as 'aborted'. A paused deployment\n"
		"can be aborted. Use 'slipway status DEPLOYMENT --watch' to follow it.\n"
		"\n"
		"Aborting again changes nothing, except that --emergency asked during the\n"
		"rollback sends the rest at once. A deployment that has ended cannot be\n"
		"aborted: exit 1 with the reason.",
		true, argc, argv);
}

int sw_cmd_retry(int argc, char **argv)
{
	return sw_dcli_verb(
		"retry",
		"Start a NEW deployment of the same release into the same environment, from\n"
		"its first step, for a deployment that was aborted, rolled back or failed\n"
		"(the new one records which it retries). Prints the new deployment's id.\n"
		"\n"
		"Retrying again while that new deployment exists answers it (\"already\n"
		"retried as dep-N\") rather than starting another. A deployment still active\n"
		"(abort it first) or one that succeeded cannot be retried: exit 1 with the\n"
		"reason.",
		false, argc, argv);
}

/* ---- history --------------------------------------------------------------- */

static int sw_dcli_list(struct sw_dcli *d, const char *service, const char *env, bool active, unsigned limit,
			json_t **arr, struct sw_err *err)
{
	struct sw_buf path = SW_BUF_INIT(2048);
	char esc[256];
	int rc;

	sw_buf_printf(&path, "/api/v1/deployments?limit=%u", limit);
	if (service) {
		if (sw_client_escape(service, esc, sizeof(esc)) < 0) {
			sw_buf_release(&path);
			return sw_err_set(err, SW_EINPUT, "service name '%.64s' is too long", service);
		}
		sw_buf_printf(&path, "&service=%s", esc);
	}
	if (env) {
		if (sw_client_escape(env, esc, sizeof(esc)) < 0) {
			sw_buf_release(&path);
			return sw_err_set(err, SW_EINPUT, "environment name '%.64s' is too long", env);
		}
		sw_buf_printf(&path, "&env=%s", esc);
	}
	if (active)
		sw_buf_puts(&path, "&active=1");
	rc = sw_client_json(&d->cl, "GET", sw_buf_str(&path), NULL, arr, err);
	sw_buf_release(&path);
	return rc;
}

static void sw_dcli_when(const json_t *dep, char *out, size_t size)
{
	const char *c = sw_dcli_str(dep, "created");

	/* "2026-01-02T10:11:12.123Z" -> "2026-01-02 10:11:12" */
	if (strlen(c) >= 19)
		snprintf(out, size, "%.10s %.8s", c, c + 11);
	else
		snprintf(out, size, "%s", *c ? c : "-");
}

/*
 * History's REASON: what kind of deployment it was (a rollback, a retry) and
 * why it ended as it did, with who decided a rollback (plan.rollback_by: a
 * person's abort, or "slipway (analysis errors)" for the controller).
 */
static void sw_dcli_history_reason(const json_t *dep, struct sw_buf *b)
{
	const json_t *spec = json_object_get(dep, "spec"), *plan = json_object_get(dep, "plan");
	const char *kind = sw_json_str(spec, "kind"), *state = sw_dcli_str(dep, "state"), *reason = sw_dcli_str(dep, "reason");
	const char *by = sw_json_str(plan, "rollback_by"), *from = sw_json_str(spec, "prev_version");
	char d1[16], rb[700];

	sw_buf_reset(b);
	if (*sw_dcli_rollback_text(dep, rb, sizeof(rb))) /* "rollback to 1.0.0: why" */
		sw_buf_puts(b, rb);
	else if (kind && !strcmp(kind, "rollback"))
		sw_buf_printf(b, "rollback from %s",
			      from && *from ? from : sw_dcli_short(sw_json_str(dep, "prev_digest"), d1, sizeof(d1)));
	else if (kind && !strcmp(kind, "retry"))
		sw_buf_printf(b, "retry of %s", sw_json_str(spec, "retry_of") ? sw_json_str(spec, "retry_of") : "-");
	if (*reason || (by && (!strcmp(state, "rolled_back") || !strcmp(state, "failed"))))
		sw_buf_puts(b, b->len ? "; " : "");
	if (by && !strcmp(state, "rolled_back"))
		sw_buf_printf(b, "rolled back by %s%s%s", by, *reason ? ": " : "", reason);
	else if (by && !strcmp(state, "failed"))
		sw_buf_printf(b, "stopped by %s%s%s", by, *reason ? ": " : "", reason);
	else
		sw_buf_puts(b, reason); /* "aborted by ci: ..." names its actor already */
	if (!b->len)
		sw_buf_puts(b, "-");
}

int sw_cmd_history(int argc, char **argv)
{
	struct sw_dcli d = { .cmd = "history", .usage = sw_history_usage, .allowed = F_ENV | F_LIMIT };
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf why = SW_BUF_INIT(4096);
	char d1[16], when[32], dur[32];
	json_t *arr = NULL, *dep;
	int code = 0;
	size_t i;

	if (sw_dcli_parse(&d, argc, argv, &code) < 0)
		return code;
	if (!d.arg)
		return sw_cli_usage_error(d.cmd, "which service? give its name");
	if (!d.env || !*d.env)
		return sw_cli_usage_error(d.cmd, "which environment? give --env ENV");
	if (sw_client_init(&d.cl, d.server, d.token, &err) < 0 ||
	    sw_dcli_list(&d, d.arg, d.env, false, d.limit, &arr, &err) < 0)
		return sw_cli_fail(d.cmd, &err);
	if (d.out == SW_OUTPUT_JSON) {
		sw_cli_print_json(arr);
		return 0;
	}
	if (json_array_size(arr) == 0) {
		printf("no deployments of %s to %s yet\n", d.arg, d.env);
		json_decref(arr);
		return 0;
	}
	printf("%-8s %-12s %-14s %-12s %-19s %-8s %-16s %s\n", "ID", "STATE", "VERSION", "RELEASE", "STARTED", "TOOK",
	       "ACTOR", "REASON");
	json_array_foreach(arr, i, dep) {
		sw_dcli_when(dep, when, sizeof(when));
		sw_dcli_history_reason(dep, &why);
		printf("%-8s %-12s %-14s %-12s %-19s %-8s %-16s %s\n", sw_dcli_str(dep, "id"), sw_dcli_str(dep, "state"),
		       *sw_dcli_version(dep) ? sw_dcli_version(dep) : "-",
		       sw_dcli_short(sw_json_str(dep, "digest"), d1, sizeof(d1)), when,
		       sw_dcli_dur_text(sw_dcli_duration(dep), dur, sizeof(dur)),
		       *sw_dcli_str(dep, "actor") ? sw_dcli_str(dep, "actor") : "-", sw_buf_str(&why));
	}
	sw_buf_release(&why);
	json_decref(arr);
	return 0;
}

/* ---- status ---------------------------------------------------------------- */

/* Active deployments, then the latest of each (service, env) that is not active. */
static json_t *sw_dcli_overview(const json_t *active, const json_t *recent)
{
	json_t *out = json_object(), *seen = json_object(), *latest = json_array(), *d;
	char key[300];
	size_t i;

	json_array_foreach(active, i, d) {
		snprintf(key, sizeof(key), "%s/%s", sw_dcli_str(d, "service"), sw_dcli_str(d, "env"));
		json_object_set_new(seen, key, json_true());
	}
	json_array_foreach(recent, i, d) {
		snprintf(key, sizeof(key), "%s/%s", sw_dcli_str(d, "service"), sw_dcli_str(d, "env"));
		if (json_object_get(seen, key))
			continue;
		json_object_set_new(seen, key, json_true());
		json_array_append(latest, d);
	}
	json_decref(seen);
	json_object_set(out, "active", (json_t *)active);
	json_object_set_new(out, "latest", latest);
	return out;
}

static void sw_dcli_print_row(const json_t *d)
{
	char d1[16], dur[32];

	printf("%-8s %-14s %-10s %-12s %-14s %-12s %-8s %s\n", sw_dcli_str(d, "id"), sw_dcli_str(d, "service"),
	       sw_dcli_str(d, "env"), sw_dcli_str(d, "state"), *sw_dcli_version(d) ? sw_dcli_version(d) : "-",
	       sw_dcli_short(sw_json_str(d, "digest"), d1, sizeof(d1)), sw_dcli_dur_text(sw_dcli_duration(d), dur, sizeof(dur)),
	       sw_dcli_final(d) ? (*sw_dcli_str(d, "reason") ? sw_dcli_str(d, "reason") : "-") : sw_dcli_step(d));
}

static void sw_dcli_print_overview(const json_t *ov)
{
	const json_t *active = json_object_get(ov, "active"), *latest = json_object_get(ov, "latest"), *d;
	size_t i;

	if (!json_array_size(active) && !json_array_size(latest)) {
		printf("no deployments yet (start one with 'slipway deploy BUNDLE --env ENV')\n");
		return;
	}
	printf("%-8s %-14s %-10s %-12s %-14s %-12s %-8s %s\n", "ID", "SERVICE", "ENV", "STATE", "VERSION", "RELEASE",
	       "TOOK", "STEP / REASON");
	json_array_foreach(active, i, d)
		sw_dcli_print_row(d);
	json_array_foreach(latest, i, d)
		sw_dcli_print_row(d);
}

static int sw_dcli_fetch_overview(struct sw_dcli *d, json_t **ov, struct sw_err *err)
{
	json_t *active = NULL, *recent = NULL;

	*ov = NULL;
	if (sw_dcli_list(d, NULL, NULL, true, 1000, &active, err) < 0)
		return -1;
	if (sw_dcli_list(d, NULL, NULL, false, 1000, &recent, err) < 0) {
		json_decref(active);
		return -1;
	}
	*ov = sw_dcli_overview(active, recent);
	json_decref(active);
	json_decref(recent);
	return 0;
}

/* --watch without a deployment: redraw (or print changed rows) until nothing is active. */
static int sw_dcli_watch_all(struct sw_dcli *d, struct sw_err *err)
{
	uint64_t deadline = sw_clock_mono_ms() + d->timeout_ms;
	bool tty = sw_cli_stdout_is_tty();
	json_t *ov = NULL, *seen = json_object(), *row;
	const char *k, *old;
	char ts[SW_TIME_STR_MAX], rel[160];
	int64_t last;
	size_t i;

	if (sw_dcli_last_seq(d, &last, err) < 0)
		goto fail;
	for (;;) {
		if (sw_dcli_fetch_overview(d, &ov, err) < 0)
			goto fail;
		if (tty) {
			fputs("\033[H\033[J", stdout);
			sw_dcli_print_overview(ov);
			fflush(stdout);
		} else {
			sw_clock_format_utc(sw_clock_wall_ms(), ts, sizeof(ts));
			json_array_foreach(json_object_get(ov, "active"), i, row) {
				struct sw_buf b = SW_BUF_INIT(4096);

				k = sw_dcli_str(row, "id");
				sw_buf_printf(&b, "%s %s %s -> %s %s: %s", k, sw_dcli_str(row, "service"),
					      sw_dcli_release_text(sw_dcli_version(row), sw_json_str(row, "digest"), rel,
								   sizeof(rel)),
					      sw_dcli_str(row, "env"),
					      sw_dcli_str(row, "state"), sw_dcli_step(row));
				old = sw_json_str(seen, k);
				if (!old || strcmp(old, sw_buf_str(&b)))
					printf("%.8s %s\n", ts + 11, sw_buf_str(&b));
				json_object_set_new(seen, k, json_string(sw_buf_str(&b)));
				sw_buf_release(&b);
			}
			fflush(stdout);
		}
		if (!json_array_size(json_object_get(ov, "active")))
			break;
		json_decref(ov);
		ov = NULL;
		if (sw_clock_mono_ms() > deadline)
			break;
		if (sw_dcli_wait_event(d, &last, err) < 0)
			goto fail;
	}
	if (!tty && d->out != SW_OUTPUT_JSON)
		printf("no deployment in progress\n");
	json_decref(ov);
	json_decref(seen);
	return 0;
fail:
	json_decref(ov);
	json_decref(seen);
	return -1;
}

int sw_cmd_status(int argc, char **argv)
{
	struct sw_dcli d = { .cmd = "status", .usage = sw_status_usage, .allowed = F_WATCH | F_TIMEOUT };
	struct sw_err err = SW_ERR_INIT;
	json_t *dep = NULL, *ov = NULL;
	int code = 0;

	if (sw_dcli_parse(&d, argc, argv, &code) < 0)
		return code;
	if (sw_client_init(&d.cl, d.server, d.token, &err) < 0)
		return sw_cli_fail(d.cmd, &err);
	if (!d.arg) {
		if (d.watch && d.out != SW_OUTPUT_JSON) {
			if (sw_dcli_watch_all(&d, &err) < 0)
				return sw_cli_fail(d.cmd, &err);
			return 0;
		}
		if (sw_dcli_fetch_overview(&d, &ov, &err) < 0)
			return sw_cli_fail(d.cmd, &err);
		if (d.out == SW_OUTPUT_JSON) {
			sw_cli_print_json(ov);
			return 0;
		}
		sw_dcli_print_overview(ov);
		json_decref(ov);
		return 0;
	}
	if (d.watch) {
		if (sw_dcli_follow(&d, d.arg, d.out != SW_OUTPUT_JSON, &dep, &err) < 0)
			return sw_cli_fail(d.cmd, &err);
	} else if (sw_dcli_get(&d, d.arg, &dep, &err) < 0) {
		return sw_cli_fail(d.cmd, &err);
	}
	if (d.out == SW_OUTPUT_JSON) {
		sw_cli_print_json(dep);
		return 0;
	}
	if (!d.watch || !sw_cli_stdout_is_tty()) {
		if (d.watch)
			printf("\n");
		sw_dcli_print_header(stdout, dep);
		sw_dcli_print_hosts(stdout, dep);
	}
	json_decref(dep);
	return 0;
}
