/*
 * cli/releases.c - `slipway releases [SERVICE]`: the releases made here
 * (the local catalog under $SLIPWAY_HOME/releases, release/catalog.h), or
 * with --remote / --server the releases a server holds and where each runs
 * (GET /api/v1/releases). Newest first. Calls release/catalog, cli/client,
 * base/; prints.
 */
#include "base/buf.h"
#include "base/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "release/catalog.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static const char sw_releases_usage[] =
	"usage: slipway releases [SERVICE] [--output text|json]\n"
	"       slipway releases [SERVICE] --remote [--server URL] [--token TOKEN] [--output text|json]\n"
	"\n"
	"List releases, newest first: service, version, digest, when it was made and\n"
	"the key that signed it.\n"
	"\n"
	"Without --remote: the releases `slipway release` wrote here, under\n"
	"$SLIPWAY_HOME/releases/<service>/ (not those written elsewhere with --out),\n"
	"with their bundle paths. These are what `slipway deploy SERVICE@VERSION` and\n"
	"SERVICE@latest name.\n"
	"\n"
	"With --remote (or --server URL, which implies it): the releases uploaded to\n"
	"the server, and where each runs now: the environments whose last successful\n"
	"deployment installed it (or whose deployment of it is in progress), and the\n"
	"hosts whose agent reports it in a slot. $SLIPWAY_SERVER alone never switches\n"
	"to the server: the local list does not depend on the environment.\n"
	"\n"
	"options:\n"
	"  --remote          list the server's releases\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER); implies --remote\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default) or json\n"
	"  -h, --help        show this help\n";

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_OUTPUT, OPT_REMOTE };

/* "sha256:0123456789ab" of "sha256:<64 hex>". */
static const char *sw_releases_short(const char *digest, char *out, size_t size)
{
	const char *hex = digest && !strncmp(digest, "sha256:", 7) ? digest + 7 : (digest ? digest : "?");

	snprintf(out, size, "%.12s", hex);
	return out;
}

static int sw_releases_local(const char *service, enum sw_output out)
{
	struct sw_catalog cat = SW_CATALOG_INIT;
	struct sw_err err = SW_ERR_INIT;
	char dir[PATH_MAX], d[16];
	size_t i;

	if (sw_catalog_default_dir(dir, sizeof(dir), &err) < 0 || sw_catalog_load(&cat, dir, service, &err) < 0) {
		sw_catalog_release(&cat);
		return sw_cli_fail("releases", &err);
	}
	if (cat.skipped)
		fprintf(stderr, "slipway releases: warning: %zu release.json file%s left out: %s\n", cat.skipped,
			cat.skipped == 1 ? "" : "s", cat.skipped_why);
	if (out == SW_OUTPUT_JSON) {
		json_t *arr = json_array();

		for (i = 0; i < cat.n; i++) {
			const struct sw_catalog_entry *e = &cat.v[i];

			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "service", e->service,
							     "version", e->version, "digest", e->digest, "created",
							     e->created, "key_id", e->key_id, "bundle", e->bundle,
							     "manifest", e->manifest));
		}
		sw_cli_print_json(arr);
	} else if (cat.n == 0) {
		printf("no releases%s%s%s in %s (make one with 'slipway release')\n", service ? " of '" : "",
		       service ? service : "", service ? "'" : "", dir);
	} else {
		printf("%-16s %-20s %-12s %-24s %s\n", "SERVICE", "VERSION", "DIGEST", "CREATED", "SIGNER");
		for (i = 0; i < cat.n; i++) {
			const struct sw_catalog_entry *e = &cat.v[i];

			printf("%-16s %-20s %-12s %-24s %s\n", e->service, e->version,
			       sw_releases_short(e->digest, d, sizeof(d)), e->created, e->key_id);
		}
	}
	sw_catalog_release(&cat);
	return 0;
}

/* "staging, prod (progressing)" and "host1/a*, host2/a" of one server release. */
static void sw_releases_where(const json_t *r, struct sw_buf *b)
{
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(r, "environments"), i, v)
	{
		const char *st = sw_json_str(v, "state");

		sw_buf_printf(b, "%s%s", b->len ? ", " : "", sw_json_str(v, "env") ? sw_json_str(v, "env") : "?");
		if (st && strcmp(st, "succeeded"))
			sw_buf_printf(b, " (%s)", st);
	}
	json_array_foreach(json_object_get(r, "hosts"), i, v)
	{
		sw_buf_printf(b, "%s%s/%s%s", i == 0 ? (b->len ? "; " : "") : ", ",
			      sw_json_str(v, "host") ? sw_json_str(v, "host") : "?",
			      sw_json_str(v, "slot") ? sw_json_str(v, "slot") : "?",
			      json_is_true(json_object_get(v, "active")) ? "*" : "");
	}
	if (!b->len)
		sw_buf_puts(b, "-");
}

static int sw_releases_remote(const char *service, const char *server, const char *token, enum sw_output out)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	json_t *resp = NULL;
	const json_t *r;
	char path[512], esc[256], d[16];
	size_t i;

	if (sw_client_init(&cl, server, token, &err) < 0)
		return sw_cli_fail("releases", &err);
	if (service) {
		if (sw_client_escape(service, esc, sizeof(esc)) < 0)
			return sw_cli_usage_error("releases", "service name '%.64s' is too long", service);
		snprintf(path, sizeof(path), "/api/v1/releases?service=%s", esc);
	} else {
		snprintf(path, sizeof(path), "/api/v1/releases");
	}
	if (sw_client_json(&cl, "GET", path, NULL, &resp, &err) < 0)
		return sw_cli_fail("releases", &err);
	if (out == SW_OUTPUT_JSON) {
		sw_cli_print_json(resp);
		return 0;
	}
	if (json_array_size(resp) == 0) {
		printf("no releases%s%s%s on %s (upload one with 'slipway deploy')\n", service ? " of '" : "",
		       service ? service : "", service ? "'" : "", cl.server);
		json_decref(resp);
		return 0;
	}
	printf("%-16s %-20s %-12s %-24s %-16s %s\n", "SERVICE", "VERSION", "DIGEST", "CREATED", "SIGNER", "RUNS ON");
	json_array_foreach(resp, i, r)
	{
		struct sw_buf where = SW_BUF_INIT(4096);

		sw_releases_where(r, &where);
		printf("%-16s %-20s %-12s %-24s %-16s %s\n", sw_json_str(r, "service") ? sw_json_str(r, "service") : "?",
		       sw_json_str(r, "version") ? sw_json_str(r, "version") : "?",
		       sw_releases_short(sw_json_str(r, "digest"), d, sizeof(d)),
		       sw_json_str(r, "created") ? sw_json_str(r, "created") : "?",
		       sw_json_str(r, "key_id") ? sw_json_str(r, "key_id") : "?", sw_buf_str(&where));
		sw_buf_release(&where);
	}
	json_decref(resp);
	return 0;
}

int sw_cmd_releases(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "remote", no_argument, NULL, OPT_REMOTE },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "token", required_argument, NULL, OPT_TOKEN }, SW_CLIENT_TLS_LONGOPTS,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "releases", *server = NULL, *token = NULL, *service = NULL;
	enum sw_output out = SW_OUTPUT_TEXT;
	bool remote = false;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_releases_usage, stdout);
			return 0;
		case OPT_REMOTE:
			remote = true;
			break;
		case OPT_SERVER:
			server = optarg;
			remote = true;
			break;
		case SW_CLIENT_OPT_CA:
		case SW_CLIENT_OPT_PIN:
		case SW_CLIENT_OPT_INSECURE_HTTP:
			sw_client_tls_option(c, optarg);
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
		service = argv[optind++];
	if (optind < argc)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (token && !remote)
		return sw_cli_usage_error(cmd, "--token is for the server's list: add --remote or --server URL");
	if (service && (!*service || strchr(service, '/') || service[0] == '.'))
		return sw_cli_usage_error(cmd, "'%s' is not a service name", service);
	return remote ? sw_releases_remote(service, server, token, out) : sw_releases_local(service, out);
}
