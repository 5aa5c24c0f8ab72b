/*
 * cli/server.c - `slipway server`: run the control plane in the foreground
 * (HTTP API, rollout controller) until SIGTERM or SIGINT. The hidden
 * `--routes-markdown` prints docs/api.md from the route table instead.
 * Calls server/ and base/; prints (logs go to stderr at info level).
 */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "server/routes.h"
#include "server/server.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sw_server_usage[] =
	"usage: slipway server --data DIR [--listen ADDR:PORT] [--trust KEY.pub]... [--heartbeat DURATION]\n"
	"                      [--upload-timeout DURATION] [--max-unpacked SIZE]\n"
	"                      [--tls-cert FILE --tls-key FILE] [--insecure-http]\n"
	"\n"
	"Run the control plane in the foreground: the HTTP JSON API (docs/api.md) and the\n"
	"rollout controller, with the store at DIR/slipway.db. On the first start it writes an\n"
	"admin token to DIR/admin.token (mode 0600). Release uploads must be signed by a\n"
	"trusted key: every --trust file and every DIR/trusted/*.pub. Stops cleanly on\n"
	"SIGTERM or SIGINT; a restarted server resumes unfinished deployments.\n"
	"\n"
	"TLS: with --tls-cert and --tls-key the API is served over HTTPS (TLS 1.2/1.3);\n"
	"the certificate's public-key pin is printed and written to DIR/tls.pin, and join\n"
	"tokens carry it so that agents trust this server from their first request. Plain\n"
	"HTTP is served only on loopback addresses unless --insecure-http.\n"
	"\n"
	"options:\n"
	"  --data DIR            data directory (created 0700)\n"
	"  --listen ADDR:PORT    address to listen on (default " SW_SERVER_DEFAULT_LISTEN
	"; port 0 picks a free\n"
	"                        one; DIR/server.url names it)\n"
	"  --trust KEY.pub       trust this minisign public key (repeatable)\n"
	"  --heartbeat DURATION  how often agents report (default 1s; offline after 3 missed)\n"
	"  --upload-timeout DURATION\n"
	"                        remove uploads not committed this long after their last\n"
	"                        write (default 1h; swept at start and periodically)\n"
	"  --max-unpacked SIZE   refuse at commit a release unpacking to more (default 1GB;\n"
	"                        keep it equal to the agents' --max-unpacked)\n"
	"  --tls-cert FILE       PEM certificate (then its chain) to serve HTTPS with\n"
	"  --tls-key FILE        its PEM private key (unencrypted; keep it mode 0600)\n"
	"  --insecure-http       allow plain HTTP on an address that is not loopback (tokens\n"
	"                        then cross the network in clear: a loud warning is logged)\n"
	"  -h, --help            show this help\n";

enum {
	OPT_DATA = 256,
	OPT_LISTEN,
	OPT_TRUST,
	OPT_HEARTBEAT,
	OPT_ROUTES_MD,
	OPT_UPLOAD_TIMEOUT,
	OPT_MAX_UNPACKED,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_INSECURE_HTTP,
};

static void sw_server_ready(const struct sw_server *s, void *ctx)
{
	(void)ctx;
	printf("slipway server: listening on %s (data %s)\n", s->url, s->data_dir);
	if (s->tls_on)
		printf("slipway server: TLS certificate pin %s (in %s/tls.pin; give it to clients with --pin)\n",
		       s->tls.pin, s->data_dir);
	if (s->admin_token_written)
		printf("slipway server: wrote an admin token to %s/admin.token\n", s->data_dir);
	fflush(stdout);
}

int sw_cmd_server(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, OPT_DATA },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "trust", required_argument, NULL, OPT_TRUST },
		{ "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
		{ "routes-markdown", no_argument, NULL, OPT_ROUTES_MD },
		{ "upload-timeout", required_argument, NULL, OPT_UPLOAD_TIMEOUT },
		{ "max-unpacked", required_argument, NULL, OPT_MAX_UNPACKED },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "insecure-http", no_argument, NULL, OPT_INSECURE_HTTP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "server";
	struct sw_server_config cfg;
	struct sw_err err = SW_ERR_INIT;
	const char **trust = NULL;
	int c, rc, routes_md = 0;
	uint64_t ms;

	memset(&cfg, 0, sizeof(cfg));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_server_usage, stdout);
			free(trust);
			return 0;
		case OPT_DATA:
			cfg.data_dir = optarg;
			break;
		case OPT_LISTEN:
			cfg.listen = optarg;
			break;
		case OPT_TRUST:
			trust = sw_xreallocarray(trust, cfg.ntrust + 1, sizeof(*trust));
			trust[cfg.ntrust++] = optarg;
			break;
		case OPT_HEARTBEAT:
			if (sw_parse_duration_ms(optarg, strlen(optarg), &ms) < 0 || ms < 100 || ms > 60000) {
				free(trust);
				return sw_cli_usage_error(cmd, "--heartbeat: expected a duration from 100ms to 1m, got '%s'",
							  optarg);
			}
			cfg.heartbeat_ms = ms;
			break;
		case OPT_ROUTES_MD:
			routes_md = 1;
			break;
		case OPT_UPLOAD_TIMEOUT:
			if (sw_parse_duration_ms(optarg, strlen(optarg), &ms) < 0 || ms < 100) {
				free(trust);
				return sw_cli_usage_error(cmd, "--upload-timeout: expected a duration of at least 100ms, got '%s'",
							  optarg);
			}
			cfg.upload_timeout_ms = ms;
			break;
		case OPT_MAX_UNPACKED:
			if (sw_parse_size(optarg, strlen(optarg), &ms) < 0 || ms < 1) {
				free(trust);
				return sw_cli_usage_error(cmd, "--max-unpacked: expected a size of at least 1 (e.g. 2GB), got '%s'",
							  optarg);
			}
			cfg.max_unpacked_bytes = ms;
			break;
		case OPT_TLS_CERT:
			cfg.tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			cfg.tls_key = optarg;
			break;
		case OPT_INSECURE_HTTP:
			cfg.insecure_http = 1;
			break;
		case ':':
		default:
			free(trust);
			return sw_cli_bad_option(cmd, c, argv, opts);
		}
	}
	if (optind < argc) {
		free(trust);
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	}
	if (routes_md) {
		struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);

		free(trust);
		if (sw_routes_markdown(&b) < 0) {
			sw_buf_release(&b);
			sw_err_set(&err, SW_EINTERNAL, "cannot render the route table");
			return sw_cli_fail(cmd, &err);
		}
		fwrite(b.data, 1, b.len, stdout);
		sw_buf_release(&b);
		return 0;
	}
	if (!cfg.data_dir) {
		free(trust);
		return sw_cli_usage_error(cmd, "--data DIR is required");
	}
	cfg.trust = trust;
	sw_log_setup(SW_LOG_INFO);
	rc = sw_server_serve(&cfg, sw_server_ready, NULL, &err);
	free(trust);
	if (rc < 0)
		return sw_cli_fail(cmd, &err);
	return 0;
}
