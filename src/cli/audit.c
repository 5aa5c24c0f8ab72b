/*
 * cli/audit.c - `slipway audit verify` and `slipway audit log`: inspect the
 * event log. Opens the store read-only (never creates or migrates it), so
 * both work on a database that cannot be written.
 *   audit verify: checks the hash chain (store/eventlog.h); exit 0 intact,
 *                 1 broken (the first broken seq and why), 2 bad input
 *   audit log:    lists events newest first (--limit N: the newest N), filtered
 *                 by --after and --kind, from the local log or, with --server,
 *                 the server's (GET /api/v1/events?order=newest, in pages)
 * Calls store/, cli/client, base/ and cli/cli.h; prints (this is the only file that does).
 */
#include "base/buf.h"
#include "base/json.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "store/eventlog.h"
#include "store/store.h"

#include <getopt.h>
#include <stdbool.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static const char sw_audit_usage[] =
	"usage: slipway audit <command> [options]\n"
	"\n"
	"Inspect the tamper-evident event log (default database $SLIPWAY_HOME/slipway.db).\n"
	"\n"
	"commands:\n"
	"  verify    check the hash chain; exit 1 naming the first broken seq\n"
	"  log       list events, newest first (the server's with --server)\n"
	"\n"
	"Run 'slipway audit <command> --help' for its options.\n";

static const char sw_audit_verify_usage[] =
	"usage: slipway audit verify [--db URL] [--output text|json]\n"
	"\n"
	"Check every event of the log in seq order: no seq missing, each prev_hash\n"
	"equal to the previous event's hash, each payload a JSON object, each hash\n"
	"equal to the one recomputed from the row (docs/events.md). Stops at the\n"
	"first broken row. Exit 0 intact, 1 broken or unreadable, 2 bad input.\n"
	"\n"
	"options:\n"
	"  --db URL        database: a path, sqlite:PATH (default $SLIPWAY_HOME/slipway.db)\n"
	"  --output FMT    text (default) or json\n"
	"  -h, --help      show this help\n";

static const char sw_audit_log_usage[] =
	"usage: slipway audit log [--db URL | --server [URL] [--token TOKEN] [--ca FILE | --pin PIN]]\n"
	"                         [--limit N] [--after SEQ]\n"
	"                         [--kind KIND] [--output text|json]\n"
	"\n"
	"List events newest first: seq, time, actor, kind, subject, payload. --limit N\n"
	"shows the newest N. By default the local log ($SLIPWAY_HOME/slipway.db: what\n"
	"run, release and keygen recorded on this machine); with --server, the\n"
	"server's log (deployments, tokens, hosts) through its API, in the same format.\n"
	"\n"
	"options:\n"
	"  --db URL          local database: a path, sqlite:PATH (default $SLIPWAY_HOME/slipway.db)\n"
	"  --server [URL]    read the server's log instead (URL default $SLIPWAY_SERVER;\n"
	"                    needs a viewer token)\n"
	"  --token TOKEN     API token for --server (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --limit N         only the newest N events (1..1000000000; default all)\n"
	"  --after SEQ       only events with a seq greater than SEQ\n"
	"  --kind KIND       only events of this kind (e.g. deployment.rolled_back)\n"
	"  --output FMT      text (default) or json: {events: [...], count}\n"
	"  -h, --help        show this help\n";

enum { OPT_DB = 256, OPT_OUTPUT, OPT_AFTER, OPT_LIMIT, OPT_KIND, OPT_SERVER, OPT_TOKEN };

static int sw_audit_open(const char *db, struct sw_store **st, struct sw_err *err)
{
	char url[PATH_MAX];

	if (!db) {
		if (sw_store_default_url(url, sizeof(url), err) < 0)
			return -1;
		db = url;
	}
	return sw_store_open_readonly(db, st, err);
}

/* ---- verify ------------------------------------------------------------- */

static int sw_audit_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "audit verify", *db = NULL;
	enum sw_output out = SW_OUTPUT_TEXT;
	struct sw_err err = SW_ERR_INIT;
	struct sw_eventlog_report rep;
	struct sw_store *st = NULL;
	json_t *doc;
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_audit_verify_usage, stdout);
			return 0;
		case OPT_DB:
			db = optarg;
			break;
		case OPT_OUTPUT:
			if (sw_cli_parse_output(cmd, optarg, &out) < 0)
				return 2;
			break;
		default:
			return sw_cli_bad_option(cmd, c, argv, opts);
		}
	}
	if (optind < argc)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (sw_audit_open(db, &st, &err) < 0)
		return sw_cli_fail(cmd, &err);
	rc = sw_eventlog_verify(st, &rep, &err);
	sw_store_close(st);
	if (rc < 0 && rep.check == SW_EVENTLOG_OK) /* could not read the log */
		return sw_cli_fail(cmd, &err);
	if (out == SW_OUTPUT_JSON) {
		doc = json_pack("{s:b, s:I, s:s, s:I}", "ok", rep.ok, "events", (json_int_t)rep.events, "head",
				rep.head, "head_seq", (json_int_t)rep.head_seq);
		if (!rep.ok)
			json_object_set_new(doc, "broken",
					    json_pack("{s:I, s:s, s:s, s:s, s:s}", "seq", (json_int_t)rep.broken_seq,
						      "check", sw_eventlog_check_name(rep.check), "reason",
						      sw_eventlog_check_reason(rep.check), "expected", rep.expected,
						      "found", rep.found));
		sw_cli_print_json(doc);
	} else if (rep.ok) {
		printf("event log ok: %" PRId64 " event%s, head %.12s\n", rep.events, rep.events == 1 ? "" : "s",
		       rep.head);
	}
	if (!rep.ok)
		return sw_cli_fail(cmd, &err);
	return 0;
}

/* ---- log ---------------------------------------------------------------- */

struct sw_audit_log {
	enum sw_output out;
	const char *kind;
	uint64_t limit; /* 0: all */
	uint64_t shown;
	json_t *events;
	struct sw_buf line;
};

/* Terminal-safe text: control bytes (from a tampered row) shown as '?'. */
static void sw_audit_put(struct sw_buf *b, const char *s)
{
	for (; *s; s++) {
		char c = *s;

		if ((unsigned char)c < 0x20 || c == 0x7f)
			c = '?';
		sw_buf_putc(b, c);
	}
}

static int sw_audit_log_event(const struct sw_event *ev, void *ctx)
{
	struct sw_audit_log *l = ctx;
	json_t *payload;

	if (l->kind && strcmp(ev->kind, l->kind) != 0)
		return 0;
	if (l->out == SW_OUTPUT_JSON) {
		payload = json_loads(ev->payload, JSON_REJECT_DUPLICATES, NULL);
		if (!payload)
			payload = json_string(ev->payload); /* not JSON: shown as stored */
		json_array_append_new(l->events,
				      json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "seq", (json_int_t)ev->seq,
						"time", ev->time, "actor", ev->actor, "kind", ev->kind, "subject",
						ev->subject, "payload", payload, "prev_hash", ev->prev_hash, "hash",
						ev->hash));
	} else {
		sw_buf_reset(&l->line);
		sw_buf_printf(&l->line, "%" PRId64 "  ", ev->seq);
		sw_audit_put(&l->line, ev->time);
		sw_buf_puts(&l->line, "  ");
		sw_audit_put(&l->line, ev->actor);
		sw_buf_puts(&l->line, "  ");
		sw_audit_put(&l->line, ev->kind);
		sw_buf_puts(&l->line, "  ");
		sw_audit_put(&l->line, *ev->subject ? ev->subject : "-");
		sw_buf_puts(&l->line, "  ");
		sw_audit_put(&l->line, ev->payload);
		sw_buf_putc(&l->line, '\n');
		fwrite(l->line.data, 1, l->line.len, stdout);
	}
	l->shown++;
	return l->limit && l->shown >= l->limit;
}

/* The server's log, newest first, a page (up to 1000) at a time until limit or its start. */
static int sw_audit_log_remote(struct sw_audit_log *l, const char *server, const char *token, int64_t after,
			       struct sw_err *err)
{
	struct sw_buf path = SW_BUF_INIT(1024), text = SW_BUF_INIT(SW_BUF_UNLIMITED);
	struct sw_client cl;
	char esc[256];
	json_int_t before = 0;
	json_t *resp = NULL, *e;
	size_t i, pages;
	int rc = -1;

	if (sw_client_init(&cl, server, token, err) < 0)
		return -1;
	if (l->kind && sw_client_escape(l->kind, esc, sizeof(esc)) < 0)
		return sw_err_set(err, SW_EINPUT, "--kind: '%.64s' is too long", l->kind);
	/* Bounded: every page but the last has 1000 events, and at most 10^9 are asked for (or the log ends). */
	for (pages = 0; pages <= 1000000 + 1; pages++) {
		uint64_t want = l->limit ? l->limit - l->shown : 1000;

		sw_buf_reset(&path);
		sw_buf_printf(&path, "/api/v1/events?order=newest&limit=%llu&after=%lld",
			      (unsigned long long)(want < 1000 ? want : 1000), (long long)after);
		if (before)
			sw_buf_printf(&path, "&before=%lld", (long long)before);
		if (l->kind)
			sw_buf_printf(&path, "&kind=%s", esc);
		if (sw_client_json(&cl, "GET", sw_buf_str(&path), NULL, &resp, err) < 0)
			goto out;
		if (!json_is_array(json_object_get(resp, "events"))) {
			sw_err_set(err, SW_EIO, "%s: the answer to GET /api/v1/events has no events (an older server?)",
				   cl.server);
			goto out;
		}
		json_array_foreach(json_object_get(resp, "events"), i, e) {
			struct sw_event ev = {
				.seq = (int64_t)json_integer_value(json_object_get(e, "seq")),
				.time = sw_json_str(e, "time") ? sw_json_str(e, "time") : "",
				.actor = sw_json_str(e, "actor") ? sw_json_str(e, "actor") : "",
				.kind = sw_json_str(e, "kind") ? sw_json_str(e, "kind") : "",
				.subject = sw_json_str(e, "subject") ? sw_json_str(e, "subject") : "",
				.prev_hash = sw_json_str(e, "prev_hash") ? sw_json_str(e, "prev_hash") : "",
				.hash = sw_json_str(e, "hash") ? sw_json_str(e, "hash") : "",
			};

			/* the payload as the log stores it: canonical JSON text */
			sw_buf_reset(&text);
			if (sw_json_canonical(json_object_get(e, "payload"), &text) < 0)
				sw_buf_puts(&text, "{}");
			ev.payload = sw_buf_str(&text);
			if (sw_audit_log_event(&ev, l))
				break;
		}
		before = json_integer_value(json_object_get(resp, "next"));
		json_decref(resp);
		resp = NULL;
		if (before <= 0 || (l->limit && l->shown >= l->limit))
			break;
	}
	rc = 0;
out:
	json_decref(resp);
	sw_buf_release(&path);
	sw_buf_release(&text);
	return rc;
}

static int sw_audit_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "server", optional_argument, NULL, OPT_SERVER },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "after", required_argument, NULL, OPT_AFTER },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "kind", required_argument, NULL, OPT_KIND },
		SW_CLIENT_TLS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "audit log", *db = NULL, *server = NULL, *token = NULL;
	bool tls = false;
	bool remote = false;
	struct sw_audit_log l;
	struct sw_err err = SW_ERR_INIT;
	struct sw_store *st = NULL;
	int64_t after = 0;
	int c, rc;

	memset(&l, 0, sizeof(l));
	l.out = SW_OUTPUT_TEXT;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_audit_log_usage, stdout);
			return 0;
		case OPT_DB:
			db = optarg;
			break;
		case OPT_SERVER:
			remote = true;
			/* --server alone: $SLIPWAY_SERVER; --server URL and --server=URL: that one */
			if (optarg)
				server = optarg;
			else if (optind < argc && strstr(argv[optind], "://"))
				server = argv[optind++];
			break;
		case OPT_TOKEN:
			token = optarg;
			break;
		case SW_CLIENT_OPT_CA:
		case SW_CLIENT_OPT_PIN:
		case SW_CLIENT_OPT_INSECURE_HTTP:
			sw_client_tls_option(c, optarg);
			tls = true;
			break;
		case OPT_OUTPUT:
			if (sw_cli_parse_output(cmd, optarg, &l.out) < 0)
				return 2;
			break;
		case OPT_AFTER:
			if (sw_parse_i64(optarg, strlen(optarg), 0, INT64_MAX - 1, &after) < 0)
				return sw_cli_usage_error(cmd, "--after: expected a seq (0 or more), got '%s'", optarg);
			break;
		case OPT_LIMIT:
			if (sw_parse_u64(optarg, strlen(optarg), 1, 1000000000, &l.limit) < 0)
				return sw_cli_usage_error(cmd, "--limit: expected a number from 1 to 1000000000, got '%s'",
							  optarg);
			break;
		case OPT_KIND:
			if (!*optarg)
				return sw_cli_usage_error(cmd, "--kind: expected an event kind, got ''");
			l.kind = optarg;
			break;
		default:
			return sw_cli_bad_option(cmd, c, argv, opts);
		}
	}
	if (optind < argc)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (remote && db)
		return sw_cli_usage_error(cmd, "give --db (a local log) or --server (the server's), not both");
	if ((token || tls) && !remote)
		return sw_cli_usage_error(cmd, "--token, --ca, --pin and --insecure-http go with --server");
	sw_buf_init(&l.line, SW_BUF_UNLIMITED);
	if (l.out == SW_OUTPUT_JSON)
		l.events = json_array();
	if (remote) {
		rc = sw_audit_log_remote(&l, server, token, after, &err);
	} else if (sw_audit_open(db, &st, &err) < 0) {
		rc = -1;
	} else {
		/* Newest first; the store filters by kind, so the limit counts matches. */
		rc = sw_store_scan_newest(st, after, 0, l.kind, (size_t)l.limit, sw_audit_log_event, &l, &err);
		sw_store_close(st);
	}
	sw_buf_release(&l.line);
	if (rc < 0) {
		json_decref(l.events);
		return sw_cli_fail(cmd, &err);
	}
	if (l.out == SW_OUTPUT_JSON)
		sw_cli_print_json(json_pack("{s:o, s:I}", "events", l.events, "count", (json_int_t)l.shown));
	else if (l.shown == 0)
		fputs("no events\n", stdout);
	fflush(stdout);
	return 0;
}

int sw_cmd_audit(int argc, char **argv)
{
	if (argc < 2)
		return sw_cli_usage_error("audit", "expected a command: verify or log");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(sw_audit_usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "verify"))
		return sw_audit_verify(argc - 1, argv + 1);
	if (!strcmp(argv[1], "log"))
		return sw_audit_log(argc - 1, argv + 1);
	return sw_cli_unknown_subcommand("audit", argv[1], (const char *const[]){ "verify", "log", NULL });
}
