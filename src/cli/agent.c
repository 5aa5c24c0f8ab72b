/*
 * cli/agent.c - `slipway agent`: parse the flags and run the host agent
 * (agent/agent.h) until SIGTERM/SIGINT. Exit 0 when stopped by a signal,
 * 1 when the server refuses the identity (revoked or unknown host) or the
 * enrollment, 2 for bad flags or a missing identity.
 * Calls agent/, base/ and cli/cli.h; prints (usage and errors only: the
 * agent's diagnostics go to stderr through base/log).
 */
#include "agent/agent.h"
#include "agent/enroll.h"
#include "base/httpc.h"
#include "base/log.h"
#include "base/netaddr.h"
#include "base/num.h"
#include "base/tls.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char sw_agent_usage[] =
	"usage: slipway agent --root DIR [--server URL] [--join-file FILE] [--name NAME]\n"
	"                     [--labels K=V,...] [--ports A,B] [--address HOST] [options]\n"
	"\n"
	"Run the host agent: enroll once with a join token, then long-poll the\n"
	"server for this host's desired state, install and verify releases, run\n"
	"them (slot a on port A, slot b on port B), check their health and report.\n"
	"The host needs no inbound port. Later starts reuse the identity saved in\n"
	"DIR/agent.json (no join token needed). Services keep running when the\n"
	"agent stops, and the next agent adopts them (see docs/agent.md).\n"
	"\n"
	"options:\n"
	"  --root DIR              agent state: identity, releases, pid files, logs (required)\n"
	"  --server URL            the slipway server (default $SLIPWAY_SERVER, else the identity's)\n"
	"  --join-file FILE        file holding the one-time join token for the first start\n"
	"                          (mode 600: refused when others may read it); read only to\n"
	"                          enroll. Or set $SLIPWAY_JOIN_TOKEN\n"
	"  --join TOKEN            the join token itself (discouraged: it shows in 'ps' until the\n"
	"                          agent blanks it, and in shell history). A join token made on\n"
	"                          a TLS server carries the server's pin, which the agent keeps\n"
	"                          in DIR/agent.json and checks on every connection\n"
	"  --ca FILE               verify the server's certificate against this CA (or $SLIPWAY_CA;\n"
	"                          kept in DIR/agent.json)\n"
	"  --pin PIN               trust the server whose certificate key has this pin, sha256//...\n"
	"                          (the server's DATA/tls.pin; or $SLIPWAY_PIN; kept in agent.json)\n"
	"  --insecure-http         allow an http:// server that is not loopback\n"
	"                          (or SLIPWAY_INSECURE_HTTP=1): tokens then cross the network in clear\n"
	"  --name NAME             host name to enroll with (default: the machine's host name)\n"
	"  --labels K=V,...        host labels to enroll with (e.g. env=staging,region=eu)\n"
	"  --ports A,B             the ports of slot a and slot b (required to enroll); a port\n"
	"                          another process holds is refused at start (exit 2), one in\n"
	"                          the kernel's ephemeral range gets a warning\n"
	"  --address HOST          the address load balancers reach this host's services on\n"
	"                          (IPv4, IPv6 or DNS name), reported at enrollment and in every\n"
	"                          heartbeat (default: the source address of this machine's route\n"
	"                          to the server, 127.0.0.1 when the server is on loopback)\n"
	"  --heartbeat-ms N        status report interval (default: what the server asks, 1000)\n"
	"  --poll-wait SECONDS     long-poll wait per request, 1..30 (default 25)\n"
	"  --log-max SIZE          rotate a service log at this size (default 10MB)\n"
	"  --log-keep N            rotated logs kept per slot, 1..100 (default 3)\n"
	"  --stop-services-on-exit stop every service (stop signal, then SIGKILL after its grace)\n"
	"                          when the agent stops, instead of leaving them running\n"
	"  --max-unpacked SIZE     host-wide cap on a release's unpacked size (default 1GB)\n"
	"  --min-free SIZE         free space left beyond an unpacked release and 10% of it\n"
	"                          (default 64MB); a release that does not fit is refused\n"
	"  -h, --help              show this help\n"
	"\n"
	"Diagnostics go to stderr (logfmt; SLIPWAY_LOG_FORMAT=json for JSON lines,\n"
	"SLIPWAY_LOG=debug|info|warn|error, default info).\n"
	"Exit 0 after SIGTERM/SIGINT, 1 when the server refuses this host's identity\n"
	"(revoked, unknown) or the join token, 2 for bad usage, an unsafe join file or a\n"
	"port that is taken.\n";

enum {
	OPT_ROOT = 256,
	OPT_SERVER,
	OPT_JOIN,
	OPT_JOIN_FILE,
	OPT_ADDRESS,
	OPT_NAME,
	OPT_LABELS,
	OPT_PORTS,
	OPT_HEARTBEAT,
	OPT_POLL_WAIT,
	OPT_LOG_MAX,
	OPT_LOG_KEEP,
	OPT_STOP,
	OPT_MAX_UNPACKED,
	OPT_MIN_FREE,
	OPT_CA,
	OPT_PIN,
	OPT_INSECURE_HTTP,
};

static int sw_agent_parse_ports(const char *cmd, const char *text, unsigned ports[2])
{
	const char *comma = strchr(text, ',');
	uint64_t a, b;

	if (!comma || sw_parse_u64(text, (size_t)(comma - text), 1, 65535, &a) < 0 ||
	    sw_parse_u64(comma + 1, strlen(comma + 1), 1, 65535, &b) < 0 || a == b)
	{
		sw_cli_usage_error(cmd, "--ports: '%s' is not two different ports A,B (1..65535)", text);
		return -1;
	}
	ports[0] = (unsigned)a;
	ports[1] = (unsigned)b;
	return 0;
}

int sw_cmd_agent(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "join", required_argument, NULL, OPT_JOIN },
		{ "join-file", required_argument, NULL, OPT_JOIN_FILE },
		{ "address", required_argument, NULL, OPT_ADDRESS },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "labels", required_argument, NULL, OPT_LABELS },
		{ "ports", required_argument, NULL, OPT_PORTS },
		{ "heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT },
		{ "poll-wait", required_argument, NULL, OPT_POLL_WAIT },
		{ "log-max", required_argument, NULL, OPT_LOG_MAX },
		{ "log-keep", required_argument, NULL, OPT_LOG_KEEP },
		{ "stop-services-on-exit", no_argument, NULL, OPT_STOP },
		{ "max-unpacked", required_argument, NULL, OPT_MAX_UNPACKED },
		{ "min-free", required_argument, NULL, OPT_MIN_FREE },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "pin", required_argument, NULL, OPT_PIN },
		{ "insecure-http", no_argument, NULL, OPT_INSECURE_HTTP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "agent", *env_server, *env_join, *env;
	struct sw_agent_config cfg;
	char join[SW_JOIN_TOKEN_MAX] = "";
	struct sw_err err = SW_ERR_INIT;
	char root[PATH_MAX], pin[SW_TLS_PIN_MAX];
	const char *pin_from = "--pin";
	unsigned char hash[SW_TLS_PIN_BYTES];
	json_t *labels = json_object();
	uint64_t v;
	int c, rc = 2;

	memset(&cfg, 0, sizeof(cfg));
	sw_log_setup(SW_LOG_INFO);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_agent_usage, stdout);
			rc = 0;
			goto out;
		case OPT_ROOT:
			cfg.root = optarg;
			break;
		case OPT_SERVER:
			cfg.server = optarg;
			break;
		case OPT_JOIN:
			if (strlen(optarg) >= sizeof(join)) {
				rc = sw_cli_usage_error(cmd, "--join: the token is too long");
				goto out;
			}
			/* Keep a copy and blank the argument, so that 'ps' stops showing it. */
			snprintf(join, sizeof(join), "%s", optarg);
			memset(optarg, 'x', strlen(optarg));
			cfg.join_token = join;
			break;
		case OPT_JOIN_FILE:
			cfg.join_file = optarg;
			break;
		case OPT_ADDRESS:
			if (sw_netaddr_kind(optarg) == SW_NETADDR_BAD || strlen(optarg) >= SW_NETADDR_MAX) {
				rc = sw_cli_usage_error(cmd,
							"--address: '%.300s' is not an IPv4 address, an IPv6 address or a "
							"host name of A-Z a-z 0-9 . -",
							optarg);
				goto out;
			}
			cfg.address = optarg;
			break;
		case OPT_NAME:
			cfg.name = optarg;
			break;
		case OPT_LABELS:
			if (sw_cli_parse_labels(cmd, optarg, labels) < 0)
				goto out;
			break;
		case OPT_PORTS:
			if (sw_agent_parse_ports(cmd, optarg, cfg.ports) < 0)
				goto out;
			break;
		case OPT_HEARTBEAT:
			if (sw_parse_u64(optarg, strlen(optarg), 50, 600000, &v) < 0) {
				rc = sw_cli_usage_error(cmd, "--heartbeat-ms: '%s' is not an integer 50..600000", optarg);
				goto out;
			}
			cfg.heartbeat_ms = v;
			break;
		case OPT_POLL_WAIT:
			if (sw_parse_u64(optarg, strlen(optarg), 1, 30, &v) < 0) {
				rc = sw_cli_usage_error(cmd, "--poll-wait: '%s' is not an integer 1..30", optarg);
				goto out;
			}
			cfg.poll_wait_s = v;
			break;
		case OPT_LOG_MAX:
			if (sw_parse_size(optarg, strlen(optarg), &v) < 0 || v < 1024) {
				rc = sw_cli_usage_error(cmd, "--log-max: '%s' is not a size of at least 1K (e.g. 10MB)",
							optarg);
				goto out;
			}
			cfg.log_max_bytes = v;
			break;
		case OPT_LOG_KEEP:
			if (sw_parse_u64(optarg, strlen(optarg), 1, 100, &v) < 0) {
				rc = sw_cli_usage_error(cmd, "--log-keep: '%s' is not an integer 1..100", optarg);
				goto out;
			}
			cfg.log_keep = (unsigned)v;
			break;
		case OPT_STOP:
			cfg.stop_services_on_exit = true;
			break;
		case OPT_MAX_UNPACKED:
			if (sw_parse_size(optarg, strlen(optarg), &v) < 0 || v < 1) {
				rc = sw_cli_usage_error(cmd, "--max-unpacked: '%s' is not a size of at least 1 (e.g. 2GB)",
							optarg);
				goto out;
			}
			cfg.max_unpacked_bytes = v;
			break;
		case OPT_MIN_FREE:
			if (sw_parse_size(optarg, strlen(optarg), &v) < 0) {
				rc = sw_cli_usage_error(cmd, "--min-free: '%s' is not a size (e.g. 64MB, 0)", optarg);
				goto out;
			}
			cfg.min_free_bytes = v;
			cfg.min_free_set = true;
			break;
		case OPT_CA:
			cfg.ca_file = optarg;
			break;
		case OPT_PIN:
			cfg.pin = optarg;
			break;
		case OPT_INSECURE_HTTP:
			cfg.insecure_http = true;
			break;
		case ':':
		default:
			rc = sw_cli_bad_option(cmd, c, argv, opts);
			goto out;
		}
	}
	if (optind < argc) {
		rc = sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!cfg.root) {
		rc = sw_cli_usage_error(cmd, "--root DIR is required");
		goto out;
	}
	if (!realpath(cfg.root, root)) {
		/* Not there yet: the agent creates it; keep it absolute for the services' env. */
		if (cfg.root[0] != '/') {
			char cwd[PATH_MAX];

			if (!getcwd(cwd, sizeof(cwd)) || snprintf(root, sizeof(root), "%s/%s", cwd, cfg.root) >= (int)sizeof(root)) {
				rc = sw_cli_usage_error(cmd, "--root: path too long");
				goto out;
			}
		} else if (snprintf(root, sizeof(root), "%s", cfg.root) >= (int)sizeof(root)) {
			rc = sw_cli_usage_error(cmd, "--root: path too long");
			goto out;
		}
	}
	cfg.root = root;
	env_server = getenv("SLIPWAY_SERVER");
	env_join = getenv("SLIPWAY_JOIN_TOKEN");
	if (!cfg.server && env_server && env_server[0])
		cfg.server = env_server;
	if (cfg.server && strncmp(cfg.server, "http://", 7) && strncmp(cfg.server, "https://", 8)) {
		rc = sw_cli_usage_error(cmd, "--server: '%s' is not an http:// or https:// URL", cfg.server);
		goto out;
	}
	if (cfg.join_token && cfg.join_file) {
		rc = sw_cli_usage_error(cmd, "give --join-file FILE or --join TOKEN, not both");
		goto out;
	}
	if (cfg.join_token)
		sw_warn("--join shows the join token to every user of this machine (ps, shell history); use "
			"--join-file FILE (mode 600) or $SLIPWAY_JOIN_TOKEN");
	if (!cfg.join_token && !cfg.join_file && env_join && env_join[0])
		cfg.join_token = env_join;
	if (!cfg.ca_file && (env = getenv("SLIPWAY_CA")) && env[0])
		cfg.ca_file = env;
	if (!cfg.pin && (env = getenv("SLIPWAY_PIN")) && env[0]) {
		cfg.pin = env;
		pin_from = "SLIPWAY_PIN";
	}
	if ((env = getenv("SLIPWAY_INSECURE_HTTP")) && !strcmp(env, "1"))
		cfg.insecure_http = true;
	if (cfg.pin) {
		if (sw_tls_pin_parse(cfg.pin, strlen(cfg.pin), pin_from, hash, &err) < 0) {
			rc = sw_cli_fail(cmd, &err);
			goto out;
		}
		sw_tls_pin_format(hash, pin);
		cfg.pin = pin;
	}
	if (cfg.ca_file && sw_fs_check_regular(cfg.ca_file, &err) < 0) { /* no directory, no FIFO */
		sw_err_prefix(&err, "--ca");
		err.code = SW_EINPUT;
		rc = sw_cli_fail(cmd, &err);
		goto out;
	}
	cfg.labels = labels;
	if (sw_httpc_global_init() < 0) {
		sw_err_set(&err, SW_EINTERNAL, "cannot initialise the HTTP client");
		rc = sw_cli_fail(cmd, &err);
		goto out;
	}
	if (sw_agent_run(&cfg, &err) < 0)
		rc = sw_cli_fail(cmd, &err);
	else
		rc = 0;
out:
	sodium_memzero(join, sizeof(join));
	json_decref(labels);
	return rc;
}
