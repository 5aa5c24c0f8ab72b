/*
 * main.c - command dispatch only: finds the command group and runs it.
 * Calls cli/ and base/ (one-time library init).
 */
#include "base/hash.h"
#include "base/log.h"
#include "base/suggest.h"
#include "cli/cli.h"
#include "cli/commands.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#ifndef SW_VERSION
#define SW_VERSION "0.1.0-dev"
#endif

static int sw_cmd_help(int argc, char **argv);
static int sw_cmd_version(int argc, char **argv);

const struct sw_cli_cmd sw_cli_commands[] = {
	{ "init", sw_cmd_init, "write a commented slipway.yml for the current repository" },
	{ "check", sw_cmd_check, "validate slipway.yml and print file:line:col errors" },
	{ "run", sw_cmd_run, "run the build pipeline locally (jobs as a DAG)" },
	{ "keygen", sw_cmd_keygen, "create an ed25519 signing key pair in minisign format" },
	{ "release", sw_cmd_release, "bundle outputs, write manifest, SBOM, provenance and sign" },
	{ "verify", sw_cmd_verify, "check a release bundle's digest, signatures and manifest" },
	{ "releases", sw_cmd_releases, "list releases, newest first: made here, or on the server and where they run" },
	{ "audit", sw_cmd_audit, "inspect the event log (audit verify, audit log)" },
	{ "server", sw_cmd_server, "run the control plane: HTTP API and rollout controller" },
	{ "ping", sw_cmd_ping, "does the server answer? (--wait: until it does, for scripts)" },
	{ "token", sw_cmd_token, "manage API tokens (create, list, revoke)" },
	{ "join-token", sw_cmd_join_token, "create a one-time token for enrolling an agent" },
	{ "hosts", sw_cmd_hosts, "list enrolled hosts; revoke one; set one up over SSH (alias: host)" },
	{ "agent", sw_cmd_agent, "run the host agent: enroll, pull desired state, run and report" },
	{ "logs", sw_cmd_logs, "print (or follow) a service's log on a host, through the server" },
	{ "deploy", sw_cmd_deploy, "upload a release (if needed) and roll it out to an environment" },
	{ "status", sw_cmd_status, "deployments in progress, or one deployment's per-host progress" },
	{ "rollback", sw_cmd_rollback, "deploy the previous good release again (--to: any that ran there)" },
	{ "history", sw_cmd_history, "the deployments of a service to an environment, newest first" },
	{ "pause", sw_cmd_pause, "stop a deployment between steps (hosts keep what they run)" },
	{ "resume", sw_cmd_resume, "let a paused deployment go on" },
	{ "promote", sw_cmd_promote, "skip a deployment's current wait (--full: every remaining step)" },
	{ "abort", sw_cmd_abort, "abort a deployment: it is rolled back to the previous release" },
	{ "retry", sw_cmd_retry, "start a new deployment of an aborted, rolled back or failed one's release" },
	{ "analysis", sw_cmd_analysis, "show a canary deployment's analysis measurements" },
	{ "haproxy-config", sw_cmd_haproxy_config, "print the HAProxy backend for an environment's hosts" },
	{ "version", sw_cmd_version, "print the version" },
	{ "help", sw_cmd_help, "list commands" },
};
const unsigned sw_cli_command_count = sizeof(sw_cli_commands) / sizeof(sw_cli_commands[0]);

static void sw_usage(FILE *f)
{
	unsigned i;

	fprintf(f, "usage: slipway <command> [options]\n\n"
		   "Slipway builds, signs and ships services to Linux hosts.\n\ncommands:\n");
	for (i = 0; i < sw_cli_command_count; i++)
		fprintf(f, "  %-14s %s\n", sw_cli_commands[i].name, sw_cli_commands[i].summary);
	fprintf(f, "\nRun 'slipway <command> --help' for a command's options.\n"
		   "Not built yet: policy gates, DORA metrics, the dashboard (see docs/architecture.md).\n");
}

static int sw_cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	sw_usage(stdout);
	return 0;
}

static int sw_cmd_version(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum sw_output out = SW_OUTPUT_TEXT;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf("usage: slipway version [--output text|json]\n\nPrint the version of this binary.\n");
			return 0;
		case 'o':
			if (sw_cli_parse_output("version", optarg, &out) < 0)
				return 2;
			break;
		default:
			return sw_cli_bad_option("version", c, argv, opts);
		}
	}
	if (optind < argc)
		return sw_cli_usage_error("version", "unexpected argument '%s'", argv[optind]);
	if (out == SW_OUTPUT_JSON)
		sw_cli_print_json(json_pack("{s:s}", "version", SW_VERSION));
	else
		printf("slipway %s\n", SW_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	struct sw_suggest sg;
	unsigned i;

	signal(SIGPIPE, SIG_IGN);
	sw_log_setup(SW_LOG_WARN);
	if (sw_hash_global_init() < 0) {
		fputs("slipway: cannot initialise libsodium\n", stderr);
		return 1;
	}
	if (argc < 2) {
		sw_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return sw_cmd_help(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--version"))
		return sw_cmd_version(argc - 1, argv + 1);
	/* An alias, kept out of the table so that "did you mean" offers only the real names. */
	if (!strcmp(argv[1], "host"))
		return sw_cmd_hosts(argc - 1, argv + 1);
	for (i = 0; i < sw_cli_command_count; i++)
		if (!strcmp(argv[1], sw_cli_commands[i].name))
			return sw_cli_commands[i].fn(argc - 1, argv + 1);
	sw_suggest_init(&sg, argv[1], true);
	for (i = 0; i < sw_cli_command_count; i++)
		sw_suggest_add(&sg, sw_cli_commands[i].name);
	if (sw_suggest_best(&sg)) {
		fprintf(stderr, "slipway: unknown command '%s' (did you mean '%s'?)\n"
				"run 'slipway help' for the list of commands\n", argv[1], sw_suggest_best(&sg));
		return 2;
	}
	fprintf(stderr, "slipway: unknown command '%s'\n", argv[1]);
	sw_usage(stderr);
	return 2;
}
