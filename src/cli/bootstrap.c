/*
 * cli/bootstrap.c - `slipway hosts bootstrap ssh://USER@HOST` (also
 * `slipway host bootstrap`): a subcommand of cli/hosts.c kept in its own
 * file for its size. Parses the flags, creates the host's join token
 * through the API (as `slipway join-token create` does), runs the remote
 * steps of remote/bootstrap.h, then waits (bounded by --timeout) until the
 * server shows the host online, and prints it.
 * Calls remote/, server/validate (name rule), cli/client, base/; prints.
 */
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "remote/bootstrap.h"
#include "remote/ssh.h"
#include "server/validate.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char sw_boot_usage[] =
	"usage: slipway hosts bootstrap ssh://[USER@]HOST[:PORT] --labels K=V,... [--name NAME] [--ports A,B]\n"
	"                               [--identity FILE] [--ssh-option OPT]... [--remote-dir DIR] [options]\n"
	"       (also: slipway host bootstrap ...)\n"
	"\n"
	"Set up a host over SSH with the system's OpenSSH client (ssh and scp, never\n"
	"interactive: BatchMode, so the key must work without a prompt and the host key\n"
	"must be known or accepted by an --ssh-option):\n"
	"  1. look at the host (machine type must match this binary's, systemd or not)\n"
	"     and make its directories;\n"
	"  2. create a one-time join token with the labels (needs an admin token);\n"
	"  3. copy this binary to /usr/local/bin/slipway (a temporary name, checked to\n"
	"     run there, then renamed);\n"
	"  4. write the join token to a file of mode 0600 (sent on ssh's stdin, never\n"
	"     on a command line): /etc/slipway/join.token under systemd, else\n"
	"     DATA/join-token (DATA: /var/lib/slipway-agent, the agent's --root);\n"
	"  5. start the agent (--join-file): as slipway-agent.service, the unit 'make\n"
	"     install' installs, when the host runs systemd (login as root; the user\n"
	"     slipway is made if missing); without a running systemd, detached\n"
	"     (setsid nohup, output in DATA/agent.log), which the output says: nothing\n"
	"     restarts it after a crash or a reboot;\n"
	"  6. wait until the server shows the host online, and print it. When it does\n"
	"     not come online in time, print the agent's last log lines.\n"
	"\n"
	"options:\n"
	"  --labels K=V,...        labels for the host (required; given through its join token)\n"
	"  --name NAME             host name to enroll with (default: the host's own, uname -n)\n"
	"  --ports A,B             ports of slot a and slot b on the host (default 8001,8002)\n"
	"  --identity FILE         private key for ssh and scp (-i FILE)\n"
	"  --ssh-option OPT        one more ssh -o option, may be repeated (e.g.\n"
	"                          StrictHostKeyChecking=accept-new, UserKnownHostsFile=FILE)\n"
	"  --connect-timeout DUR   ssh's ConnectTimeout (default 10s)\n"
	"  --timeout DUR           how long to wait for the host to come online (default 1m)\n"
	"  --remote-dir DIR        install into DIR/bin/slipway and DIR/data (DATA) instead of\n"
	"                          /usr/local/bin/slipway and /var/lib/slipway-agent, and start\n"
	"                          the agent detached even where systemd runs (the unit's\n"
	"                          paths are fixed)\n"
	"  --agent-server URL      the server's URL as the host reaches it (default: --server)\n"
	"  --address HOST          the address balancers reach the host's services on, for the\n"
	"                          agent's --address (default: the agent's own guess, the source\n"
	"                          address of its route to the server)\n"
	"  --server URL            server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN           API token (default $SLIPWAY_TOKEN)\n"
	"  --ca FILE, --pin PIN    trust the server as every client does (default $SLIPWAY_CA,\n"
	"                          $SLIPWAY_PIN; docs/api.md, TLS). The agent on the host gets\n"
	"                          the same trust: the pin its join token carries, --pin passed\n"
	"                          on, the --ca file copied to the host (DATA/server-ca.pem)\n"
	"  --insecure-http         allow an http:// server that is not loopback, here and for\n"
	"                          the host's agent (tokens then cross the network in clear)\n"
	"  --output FMT            text (default) or json\n"
	"  -h, --help              show this help\n"
	"\n"
	"The host needs the binary's shared libraries (those of the Debian package). Exit 0\n"
	"once the host is online, 1 when a step fails (ssh cannot reach the host, the\n"
	"binary does not run there, the agent does not come online in time), 2 for bad\n"
	"usage (the URL, an option).\n";

enum {
	OPT_LABELS = 256,
	OPT_NAME,
	OPT_PORTS,
	OPT_IDENTITY,
	OPT_SSH_OPTION,
	OPT_CONNECT_TIMEOUT,
	OPT_TIMEOUT,
	OPT_REMOTE_DIR,
	OPT_AGENT_SERVER,
	OPT_ADDRESS,
	OPT_SERVER,
	OPT_TOKEN,
	OPT_OUTPUT,
};

struct sw_boot_opts {
	const char *url, *labels, *name, *ports, *identity, *remote_dir, *agent_server, *address, *server, *token;
	const char *ssh_options[SW_SSH_MAX_OPTIONS];
	unsigned n_ssh_options;
	uint64_t connect_timeout_ms, timeout_ms;
	enum sw_output out;
};

/* "A,B": two different ports. */
static int sw_boot_ports_ok(const char *text)
{
	const char *comma = strchr(text, ',');
	uint64_t a, b;

	return comma && sw_parse_u64(text, (size_t)(comma - text), 1, 65535, &a) == 0 &&
	       sw_parse_u64(comma + 1, strlen(comma + 1), 1, 65535, &b) == 0 && a != b;
}

/* A URL that can go unquoted into a systemd EnvironmentFile and an argument: http(s)://, printable, no quoting characters. */
static int sw_boot_url_ok(const char *u)
{
	size_t n = strlen(u), i;

	if (n > 512 || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)u[i] <= ' ' || (unsigned char)u[i] >= 0x7f || strchr("\"'\\$%`", u[i]))
			return 0;
	return 1;
}

/* A host name or an IPv4/IPv6 address: 1..253 of A-Z a-z 0-9 . - :, not starting with '-' (the agent checks it too). */
static int sw_boot_address_ok(const char *a)
{
	size_t n = strlen(a), i;

	if (n == 0 || n > 253 || a[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= '0' && a[i] <= '9') ||
		      a[i] == '.' || a[i] == '-' || a[i] == ':'))
			return 0;
	return 1;
}

/* Parse argv (argv[0] "bootstrap"); -1 to exit with *code. */
static int sw_boot_parse(int argc, char **argv, struct sw_boot_opts *o, int *code)
{
	static const struct option opts[] = {
		{ "labels", required_argument, NULL, OPT_LABELS },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "ports", required_argument, NULL, OPT_PORTS },
		{ "identity", required_argument, NULL, OPT_IDENTITY },
		{ "ssh-option", required_argument, NULL, OPT_SSH_OPTION },
		{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "remote-dir", required_argument, NULL, OPT_REMOTE_DIR },
		{ "agent-server", required_argument, NULL, OPT_AGENT_SERVER },
		{ "address", required_argument, NULL, OPT_ADDRESS },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "token", required_argument, NULL, OPT_TOKEN }, SW_CLIENT_TLS_LONGOPTS,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "hosts bootstrap";
	int c;

	memset(o, 0, sizeof(*o));
	o->ports = "8001,8002";
	o->connect_timeout_ms = 10000;
	o->timeout_ms = 60000;
	*code = 2;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(sw_boot_usage, stdout);
			*code = 0;
			return -1;
		case SW_CLIENT_OPT_CA:
		case SW_CLIENT_OPT_PIN:
		case SW_CLIENT_OPT_INSECURE_HTTP:
			sw_client_tls_option(c, optarg);
			break;
		case OPT_LABELS:
			o->labels = optarg;
			break;
		case OPT_NAME:
			if (!sw_val_name_ok(optarg)) {
				sw_cli_usage_error(cmd, "--name: '%s' must be 1 to 63 of A-Z a-z 0-9 . _ - (not starting "
							"with '.' or '-')", optarg);
				return -1;
			}
			o->name = optarg;
			break;
		case OPT_PORTS:
			if (!sw_boot_ports_ok(optarg)) {
				sw_cli_usage_error(cmd, "--ports: '%s' is not two different ports A,B (1..65535)", optarg);
				return -1;
			}
			o->ports = optarg;
			break;
		case OPT_IDENTITY:
			if (access(optarg, R_OK) < 0) {
				sw_cli_usage_error(cmd, "--identity: cannot read '%s'", optarg);
				return -1;
			}
			o->identity = optarg;
			break;
		case OPT_SSH_OPTION:
			if (o->n_ssh_options == SW_SSH_MAX_OPTIONS || !strchr(optarg, '=') || optarg[0] == '-') {
				sw_cli_usage_error(cmd, "--ssh-option: expected KEY=VALUE (at most %d), got '%s'",
						   SW_SSH_MAX_OPTIONS, optarg);
				return -1;
			}
			o->ssh_options[o->n_ssh_options++] = optarg;
			break;
		case OPT_CONNECT_TIMEOUT:
		case OPT_TIMEOUT: {
			uint64_t ms;

			if (sw_parse_duration_ms(optarg, strlen(optarg), &ms) < 0 || ms < 1000 || ms > 3600000) {
				sw_cli_usage_error(cmd, "%s: '%s' is not a duration from 1s to 1h (e.g. 30s, 2m)",
						   c == OPT_TIMEOUT ? "--timeout" : "--connect-timeout", optarg);
				return -1;
			}
			if (c == OPT_TIMEOUT)
				o->timeout_ms = ms;
			else
				o->connect_timeout_ms = ms;
			break;
		}
		case OPT_REMOTE_DIR:
			if (!sw_ssh_path_ok(optarg) || strlen(optarg) > 300) {
				sw_cli_usage_error(cmd, "--remote-dir: '%s' must be an absolute path of A-Z a-z 0-9 / . _ + - "
							"(no '..')", optarg);
				return -1;
			}
			o->remote_dir = optarg;
			break;
		case OPT_AGENT_SERVER:
			o->agent_server = optarg;
			break;
		case OPT_ADDRESS:
			if (!sw_boot_address_ok(optarg)) {
				sw_cli_usage_error(cmd, "--address: '%s' is not a host name or an IP address", optarg);
				return -1;
			}
			o->address = optarg;
			break;
		case OPT_SERVER:
			o->server = optarg;
			break;
		case OPT_TOKEN:
			o->token = optarg;
			break;
		case OPT_OUTPUT:
			if (sw_cli_parse_output(cmd, optarg, &o->out) < 0)
				return -1;
			break;
		case ':':
		default:
			sw_cli_bad_option(cmd, c, argv, opts);
			return -1;
		}
	}
	if (optind >= argc) {
		sw_cli_usage_error(cmd, "which host? give ssh://USER@HOST[:PORT]");
		return -1;
	}
	if (optind + 1 < argc) {
		sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
		return -1;
	}
	o->url = argv[optind];
	if (!o->labels) {
		sw_cli_usage_error(cmd, "--labels is required (e.g. --labels env=staging)");
		return -1;
	}
	return 0;
}

/* The host named name in the server's list (a new reference), or NULL. */
static json_t *sw_boot_find_host(struct sw_client *cl, const char *name, struct sw_err *err, int *failed)
{
	json_t *resp = NULL, *h, *found = NULL;
	size_t i;

	*failed = 0;
	if (sw_client_json(cl, "GET", "/api/v1/hosts", NULL, &resp, err) < 0) {
		*failed = 1;
		return NULL;
	}
	json_array_foreach(resp, i, h)
	{
		if (sw_json_str(h, "name") && !strcmp(sw_json_str(h, "name"), name)) {
			found = json_incref(h);
			break;
		}
	}
	json_decref(resp);
	return found;
}

int sw_cmd_host_bootstrap(int argc, char **argv)
{
	const char *cmd = "hosts bootstrap";
	struct sw_boot_opts o;
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	struct sw_ssh ssh;
	struct sw_bootstrap b;
	struct sw_bootstrap_host host;
	struct sw_bootstrap_agent agent;
	struct sw_bootstrap_started st;
	struct utsname un;
	char url[512], bin_dir[512], data_dir[512], exe[64], tmp[600], join[512] = "", name[64], tok_file[600];
	json_t *labels = NULL, *body = NULL, *resp = NULL, *h = NULL;
	FILE *info;
	int64_t seen_before = 0;
	uint64_t deadline, next_alive;
	int code, rc = 1, failed, alive;

	if (sw_boot_parse(argc, argv, &o, &code) < 0)
		return code;
	info = o.out == SW_OUTPUT_JSON ? stderr : stdout;
	memset(&ssh, 0, sizeof(ssh));
	if (sw_ssh_parse_url(o.url, strlen(o.url), &ssh.t, &err) < 0)
		return sw_cli_fail(cmd, &err);
	labels = json_object();
	if (sw_cli_parse_labels(cmd, o.labels, labels) < 0) {
		json_decref(labels);
		return 2;
	}
	if (sw_client_init(&cl, o.server, o.token, &err) < 0) {
		json_decref(labels);
		return sw_cli_fail(cmd, &err);
	}
	agent.server = o.agent_server ? o.agent_server : cl.server;
	agent.address = o.address;
	agent.pin = cl.tls.pin[0] ? cl.tls.pin : NULL;
	agent.ca = cl.tls.ca_file[0] ? cl.tls.ca_file : NULL;
	agent.insecure_http = cl.tls.insecure_http && !strncmp(agent.server, "http://", 7);
	if (!sw_boot_url_ok(agent.server)) {
		json_decref(labels);
		return sw_cli_usage_error(cmd, "%s: '%s' is not an http:// or https:// URL without spaces, quotes, "
					       "'\\', '$' or '%%'",
					  o.agent_server ? "--agent-server" : "server URL", agent.server);
	}
	/* The host's agent refuses plain HTTP off loopback unless told (--insecure-http, passed on): say so before any step. */
	if (sw_httpc_check_url(agent.server, agent.insecure_http, o.agent_server ? "--agent-server" : "server URL",
			       &err) < 0) {
		json_decref(labels);
		return sw_cli_fail(cmd, &err);
	}
	ssh.identity = o.identity;
	memcpy(ssh.options, o.ssh_options, sizeof(o.ssh_options));
	ssh.n_options = o.n_ssh_options;
	ssh.connect_timeout_s = (unsigned)((o.connect_timeout_ms + 999) / 1000);
	/* A step may copy a large binary over a slow link, but never hangs forever. */
	ssh.timeout_ms = (int)(o.connect_timeout_ms + 300000);
	if (o.remote_dir) {
		snprintf(bin_dir, sizeof(bin_dir), "%s/bin", o.remote_dir);
		snprintf(data_dir, sizeof(data_dir), "%s/data", o.remote_dir);
	} else {
		snprintf(bin_dir, sizeof(bin_dir), "/usr/local/bin");
		snprintf(data_dir, sizeof(data_dir), "/var/lib/slipway-agent");
	}
	b.ssh = &ssh;
	b.bin_dir = bin_dir;
	b.data_dir = data_dir;
	b.detached_only = o.remote_dir != NULL;
	sw_ssh_url(&ssh.t, url, sizeof(url));
	if (uname(&un) < 0)
		snprintf(un.machine, sizeof(un.machine), "unknown");

	/* 1. The host: reachable, same machine type, systemd or not; directories made. */
	if (sw_bootstrap_prepare(&b, un.machine, &host, &err) < 0)
		goto fail;
	snprintf(name, sizeof(name), "%s", o.name ? o.name : host.hostname);
	if (!sw_val_name_ok(name)) {
		rc = sw_cli_usage_error(cmd, "the host calls itself '%s', which is not a valid host name: give --name",
					host.hostname);
		goto out;
	}
	fprintf(info, "%s: %s, host name %s, systemd: %s\n", url, host.machine, name,
		strcmp(host.systemd_state, "none") ? host.systemd_state : "not running");

	/* 2. Its join token, with the labels. */
	h = sw_boot_find_host(&cl, name, &err, &failed);
	if (failed)
		goto fail;
	if (h)
		seen_before = (int64_t)json_integer_value(json_object_get(h, "last_seen_ms"));
	json_decref(h);
	h = NULL;
	body = json_pack("{s:O}", "labels", labels);
	if (sw_client_json(&cl, "POST", "/api/v1/join-tokens", body, &resp, &err) < 0) {
		sw_err_prefix(&err, "cannot create the join token");
		goto fail;
	}
	if (!sw_json_str(resp, "token") || sw_strlcpy(join, sw_json_str(resp, "token"), sizeof(join)) < 0) {
		sw_err_set(&err, SW_EIO, "the server answered no usable join token");
		goto fail;
	}
	json_decref(resp);
	resp = NULL;

	/* 3. The binary (/proc/PID/exe: this very file even if it was replaced since). */
	snprintf(exe, sizeof(exe), "/proc/%ld/exe", (long)getpid());
	if (sw_bootstrap_copy(&b, exe, tmp, sizeof(tmp), &err) < 0)
		goto fail;

	/* 4 and 5. Token file, binary in place, agent started. */
	agent.name = name;
	agent.ports = o.ports;
	if (sw_bootstrap_install(&b, tmp, &agent, join, host.use_systemd, &st, &err) < 0)
		goto fail;
	explicit_bzero(join, sizeof(join));
	if (st.systemd)
		snprintf(tok_file, sizeof(tok_file), "/etc/slipway/join.token");
	else
		snprintf(tok_file, sizeof(tok_file), "%s/join-token", data_dir);
	fprintf(info, "copied slipway to %s/slipway; join token in %s (mode 0600%s)\n", bin_dir, tok_file,
		st.systemd ? ", owner slipway" : "");
	if (st.systemd)
		fprintf(info, "agent started by systemd: slipway-agent.service (enabled; journalctl -u slipway-agent)\n");
	else if (host.systemd)
		fprintf(info,
			"systemd runs on the host but --remote-dir keeps the agent out of it: the agent was started "
			"detached (setsid nohup), pid %ld, log %s/agent.log; nothing restarts it after a crash or a "
			"reboot\n",
			st.pid, data_dir);
	else
		fprintf(info,
			"no running systemd on the host (%s%s): the agent was started detached (setsid nohup), pid %ld, "
			"log %s/agent.log; nothing restarts it after a crash or a reboot\n",
			strcmp(host.systemd_state, "none") ? "systemctl is-system-running: " : "",
			strcmp(host.systemd_state, "none") ? host.systemd_state : "no /run/systemd/system", st.pid,
			data_dir);
	fflush(info);

	/* 6. Online, as the server sees it: heartbeats newer than before the install. */
	deadline = sw_clock_mono_ms() + o.timeout_ms;
	next_alive = sw_clock_mono_ms() + 2000;
	for (;;) {
		h = sw_boot_find_host(&cl, name, &err, &failed);
		if (h && json_is_true(json_object_get(h, "online")) &&
		    (int64_t)json_integer_value(json_object_get(h, "last_seen_ms")) > seen_before)
			break;
		if (h && json_is_true(json_object_get(h, "revoked"))) {
			sw_err_set(&err, SW_EFAILED, "host '%s' is revoked on the server: bootstrap it under another --name",
				   name);
			goto fail_log;
		}
		json_decref(h);
		h = NULL;
		if (sw_clock_mono_ms() >= deadline) {
			char d[32];

			sw_err_set(&err, SW_ETIMEOUT, "host '%s' did not come online within %s", name,
				   sw_format_duration_ms(o.timeout_ms, d, sizeof(d)));
			goto fail_log;
		}
		if (sw_clock_mono_ms() >= next_alive) {
			alive = sw_bootstrap_alive(&b, &st, &err);
			if (alive == 0) {
				sw_err_set(&err, SW_EFAILED, "the agent on %s exited before it came online", url);
				goto fail_log;
			}
			next_alive = sw_clock_mono_ms() + 2000;
		}
		sw_clock_sleep_ms(200);
	}
	if (o.out == SW_OUTPUT_JSON) {
		json_t *r = json_pack("{s:O, s:s, s:s}", "host", h, "mode", st.systemd ? "systemd" : "detached", "data",
				      data_dir);

		json_object_set_new(r, "binary", json_sprintf("%s/slipway", bin_dir));
		json_object_set_new(r, "join_token_file", json_string(tok_file));
		json_object_set_new(r, "pid", st.systemd ? json_null() : json_integer(st.pid));
		json_object_set_new(r, "log", st.systemd ? json_null() : json_sprintf("%s/agent.log", data_dir));
		json_object_set_new(r, "unit", st.systemd ? json_string("slipway-agent.service") : json_null());
		sw_cli_print_json(r);
	} else {
		struct sw_buf lb = SW_BUF_INIT(4096);
		const char *k;
		json_t *v;

		json_object_foreach(json_object_get(h, "labels"), k, v)
		{
			sw_buf_printf(&lb, "%s%s=%s", lb.len ? "," : "", k, json_string_value(v) ? json_string_value(v) : "");
		}
		printf("host %s (%s) is online, labels %s\n", name, sw_json_str(h, "id") ? sw_json_str(h, "id") : "?",
		       lb.len ? sw_buf_str(&lb) : "-");
		sw_buf_release(&lb);
	}
	rc = 0;
	goto out;

fail_log: {
	struct sw_buf tail = SW_BUF_INIT((size_t)64 << 10);
	struct sw_err terr = SW_ERR_INIT;

	rc = sw_cli_fail(cmd, &err);
	if (sw_bootstrap_log_tail(&b, &st, 20, &tail, &terr) == 0 && tail.len)
		fprintf(stderr, "the agent's last log lines (%s):\n%s%s", st.systemd ? "journalctl -u slipway-agent" : "agent.log",
			sw_buf_str(&tail), tail.data[tail.len - 1] == '\n' ? "" : "\n");
	sw_buf_release(&tail);
	goto out;
}
fail:
	rc = sw_cli_fail(cmd, &err);
out:
	explicit_bzero(join, sizeof(join));
	json_decref(h);
	json_decref(resp);
	json_decref(body);
	json_decref(labels);
	return rc;
}
