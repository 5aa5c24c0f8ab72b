/*
 * cli/audit.c - `slipway audit verify` and `slipway audit log`: inspect the
 * event log. Opens the store read-only (never creates or migrates it), so
 * both work on a database that cannot be written.
 *   audit verify: checks the hash chain (store/eventlog.h); exit 0 intact,
 *                 1 broken (the first broken seq and why), 2 bad input
 *   audit log:    lists events, filtered by --after, --kind, --limit
 * Calls store/, base/ and cli/cli.h; prints (this is the only file that does).
 */
#include "base/buf.h"
#include "base/json.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "store/eventlog.h"
#include "store/store.h"

#include <getopt.h>
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
	"  log       list events\n"
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
	"usage: slipway audit log [--db URL] [--after SEQ] [--limit N] [--kind KIND] [--output text|json]\n"
	"\n"
	"List events in seq order: seq, time, actor, kind, subject, payload.\n"
	"\n"
	"options:\n"
	"  --db URL        database: a path, sqlite:PATH (default $SLIPWAY_HOME/slipway.db)\n"
	"  --after SEQ     only events with a seq greater than SEQ\n"
	"  --limit N       at most N events (1..1000000000)\n"
	"  --kind KIND     only events of this kind (e.g. pipeline.finished)\n"
	"  --output FMT    text (default) or json\n"
	"  -h, --help      show this help\n";

enum { OPT_DB = 256, OPT_OUTPUT, OPT_AFTER, OPT_LIMIT, OPT_KIND };

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

static int sw_audit_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "after", required_argument, NULL, OPT_AFTER },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "kind", required_argument, NULL, OPT_KIND },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "audit log", *db = NULL;
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
		case OPT_OUTPUT:
			if (sw_cli_parse_output(cmd, optarg, &l.out) < 0)
				return 2;
			break;
		case OPT_AFTER:
			if (sw_parse_i64(optarg, strlen(optarg), 0, INT64_MAX, &after) < 0)
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
	if (sw_audit_open(db, &st, &err) < 0)
		return sw_cli_fail(cmd, &err);
	sw_buf_init(&l.line, SW_BUF_UNLIMITED);
	if (l.out == SW_OUTPUT_JSON)
		l.events = json_array();
	/* With a kind filter the limit counts matches, so the store scans on. */
	rc = sw_store_scan(st, after, l.kind ? 0 : (size_t)l.limit, sw_audit_log_event, &l, &err);
	sw_store_close(st);
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
