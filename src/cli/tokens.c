/*
 * cli/tokens.c - `slipway token create|list|revoke` (API tokens) and
 * `slipway join-token create` (one-time agent enrollment tokens), through
 * the server's HTTP API (cli/client.h). A created secret is printed once,
 * alone on stdout, so that scripts can capture it.
 * Calls cli/client, base/; prints.
 */
#include "base/buf.h"
#include "base/json.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char sw_token_usage[] =
	"usage: slipway token <command> [options]\n"
	"\n"
	"Manage API tokens (roles: viewer < deployer < admin; needs an admin token).\n"
	"\n"
	"commands:\n"
	"  create --role ROLE [--name NAME]   create a token and print its secret (shown once)\n"
	"  list                               list tokens (never their secrets)\n"
	"  revoke ID                          revoke a token\n"
	"\n"
	"options (every command):\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default) or json\n"
	"  -h, --help        show this help\n";

#define SW_TOK_COMMON_OPTIONS \
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n" \
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n" \
	SW_CLIENT_TLS_USAGE \
	"  --output FMT      text (default) or json\n" \
	"  -h, --help        show this help\n"

static const char sw_token_create_usage[] =
	"usage: slipway token create --role admin|deployer|viewer [--name NAME] [--server URL] [--token TOKEN]\n"
	"                            [--output text|json]\n"
	"\n"
	"Create an API token (needs an admin token) and print its secret alone on\n"
	"stdout: it is shown only this once (the server keeps a hash). viewer reads,\n"
	"deployer also deploys and controls deployments, admin also manages tokens\n"
	"and hosts. Everything done with the token is recorded under its NAME (the\n"
	"actor in 'slipway history' and the event log), so give one per person or\n"
	"pipeline, e.g. --name ci; without a name the actor is token:ID.\n"
	"\n"
	"options:\n"
	"  --role ROLE       admin, deployer or viewer (required)\n"
	"  --name NAME       who uses it: the actor recorded for what it does\n" SW_TOK_COMMON_OPTIONS;

static const char sw_token_list_usage[] =
	"usage: slipway token list [--server URL] [--token TOKEN] [--output text|json]\n"
	"\n"
	"List the API tokens (needs an admin token): id, role, active or revoked,\n"
	"when created, name. Secrets are never shown.\n"
	"\n"
	"options:\n" SW_TOK_COMMON_OPTIONS;

static const char sw_token_revoke_usage[] =
	"usage: slipway token revoke ID [--server URL] [--token TOKEN] [--output text|json]\n"
	"\n"
	"Revoke the API token ID (see 'slipway token list'; needs an admin token):\n"
	"every request made with it is refused from then on. Recorded in the event log.\n"
	"\n"
	"options:\n" SW_TOK_COMMON_OPTIONS;

static const char sw_join_usage[] =
	"usage: slipway join-token create [--labels k=v,...] [--ttl DURATION] [--replace HOST] [--server URL]\n"
	"                                 [--token TOKEN] [--output text|json]\n"
	"\n"
	"Create a one-time token for `slipway agent --join-file FILE` (needs an admin\n"
	"token); text output is the token alone on stdout, e.g.\n"
	"(umask 077; slipway join-token create > FILE). The\n"
	"labels are given to the host that enrolls with it (they override the agent's own).\n"
	"A name that is already enrolled is refused unless the token was made with\n"
	"--replace NAME: then the machine enrolling with it takes the name over (the old\n"
	"host token stops working). A revoked host stays revoked.\n"
	"\n"
	"options:\n"
	"  --labels k=v,...  labels for the host\n"
	"  --ttl DURATION    how long the token is valid (default 1h, at most 168h)\n"
	"  --replace HOST    the token enrolls only HOST, taking over its enrolled name\n"
	"  --server URL      server URL (default $SLIPWAY_SERVER)\n"
	"  --token TOKEN     API token (default $SLIPWAY_TOKEN)\n"
	SW_CLIENT_TLS_USAGE
	"  --output FMT      text (default) or json\n"
	"  -h, --help        show this help\n";

enum { OPT_SERVER = 256, OPT_TOKEN, OPT_OUTPUT, OPT_ROLE, OPT_NAME, OPT_LABELS, OPT_TTL, OPT_REPLACE };

struct sw_tok_opts {
	const char *server, *token, *role, *name, *labels, *ttl, *replace;
	enum sw_output out;
};

/* Parse the options of one subcommand (argv[0] is its name). Returns -1 to exit with *code. */
static int sw_tok_parse(const char *cmd, const char *usage, int argc, char **argv, struct sw_tok_opts *o, int *code)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, OPT_SERVER }, { "token", required_argument, NULL, OPT_TOKEN }, SW_CLIENT_TLS_LONGOPTS,
		{ "output", required_argument, NULL, OPT_OUTPUT }, { "role", required_argument, NULL, OPT_ROLE },
		{ "name", required_argument, NULL, OPT_NAME },     { "labels", required_argument, NULL, OPT_LABELS },
		{ "ttl", required_argument, NULL, OPT_TTL },       { "help", no_argument, NULL, 'h' },
		{ "replace", required_argument, NULL, OPT_REPLACE }, { NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			*code = 0;
			return -1;
		case SW_CLIENT_OPT_CA:
		case SW_CLIENT_OPT_PIN:
		case SW_CLIENT_OPT_INSECURE_HTTP:
			sw_client_tls_option(c, optarg);
			break;
		case OPT_SERVER:
			o->server = optarg;
			break;
		case OPT_TOKEN:
			o->token = optarg;
			break;
		case OPT_OUTPUT:
			if (sw_cli_parse_output(cmd, optarg, &o->out) < 0) {
				*code = 2;
				return -1;
			}
			break;
		case OPT_ROLE:
			o->role = optarg;
			break;
		case OPT_NAME:
			o->name = optarg;
			break;
		case OPT_LABELS:
			o->labels = optarg;
			break;
		case OPT_TTL:
			o->ttl = optarg;
			break;
		case OPT_REPLACE:
			o->replace = optarg;
			break;
		case ':':
		default:
			*code = sw_cli_bad_option(cmd, c, argv, opts);
			return -1;
		}
	}
	return 0;
}

/* Options a subcommand does not take. */
static int sw_tok_refuse(const char *cmd, const char *name, const char *value)
{
	if (!value)
		return 0;
	return sw_cli_usage_error(cmd, "option '--%s' does not apply here", name);
}

static int sw_token_create(int argc, char **argv)
{
	const char *cmd = "token create";
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	struct sw_tok_opts o;
	json_t *body, *resp = NULL;
	int code, rc;

	if (sw_tok_parse(cmd, sw_token_create_usage, argc, argv, &o, &code) < 0)
		return code;
	if ((code = sw_tok_refuse(cmd, "labels", o.labels)) || (code = sw_tok_refuse(cmd, "ttl", o.ttl)) ||
	    (code = sw_tok_refuse(cmd, "replace", o.replace)))
		return code;
	if (optind < argc)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!o.role)
		return sw_cli_usage_error(cmd, "--role is required (admin, deployer or viewer)");
	if (strcmp(o.role, "admin") && strcmp(o.role, "deployer") && strcmp(o.role, "viewer"))
		return sw_cli_usage_error(cmd, "--role: expected admin, deployer or viewer, got '%s'", o.role);
	if (sw_client_init(&cl, o.server, o.token, &err) < 0)
		return sw_cli_fail(cmd, &err);
	body = json_pack("{s:s}", "role", o.role);
	if (o.name)
		json_object_set_new(body, "name", json_string(o.name));
	rc = sw_client_json(&cl, "POST", "/api/v1/tokens", body, &resp, &err);
	json_decref(body);
	if (rc < 0)
		return sw_cli_fail(cmd, &err);
	if (o.out == SW_OUTPUT_JSON) {
		sw_cli_print_json(resp);
		return 0;
	}
	printf("%s\n", sw_json_str(resp, "token") ? sw_json_str(resp, "token") : "");
	fprintf(stderr, "created token %s (role %s); the secret above is shown only once\n",
		sw_json_str(resp, "id") ? sw_json_str(resp, "id") : "?", o.role);
	json_decref(resp);
	return 0;
}

static int sw_token_list(int argc, char **argv)
{
	const char *cmd = "token list";
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	struct sw_tok_opts o;
	json_t *resp = NULL, *t;
	size_t i;
	int code;

	if (sw_tok_parse(cmd, sw_token_list_usage, argc, argv, &o, &code) < 0)
		return code;
	if ((code = sw_tok_refuse(cmd, "role", o.role)) || (code = sw_tok_refuse(cmd, "name", o.name)) ||
	    (code = sw_tok_refuse(cmd, "labels", o.labels)) || (code = sw_tok_refuse(cmd, "ttl", o.ttl)) ||
	    (code = sw_tok_refuse(cmd, "replace", o.replace)))
		return code;
	if (optind < argc)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (sw_client_init(&cl, o.server, o.token, &err) < 0 ||
	    sw_client_json(&cl, "GET", "/api/v1/tokens", NULL, &resp, &err) < 0)
		return sw_cli_fail(cmd, &err);
	if (o.out == SW_OUTPUT_JSON) {
		sw_cli_print_json(resp);
		return 0;
	}
	printf("%-22s %-9s %-8s %-24s %s\n", "ID", "ROLE", "STATE", "CREATED", "NAME");
	json_array_foreach(resp, i, t)
	{
		printf("%-22s %-9s %-8s %-24s %s\n", sw_json_str(t, "id") ? sw_json_str(t, "id") : "",
		       sw_json_str(t, "role") ? sw_json_str(t, "role") : "",
		       json_is_true(json_object_get(t, "revoked")) ? "revoked" : "active",
		       sw_json_str(t, "created") ? sw_json_str(t, "created") : "",
		       sw_json_str(t, "name") ? sw_json_str(t, "name") : "");
	}
	json_decref(resp);
	return 0;
}

static int sw_token_revoke(int argc, char **argv)
{
	const char *cmd = "token revoke";
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	struct sw_tok_opts o;
	char path[512], esc[256];
	json_t *resp = NULL;
	int code;

	if (sw_tok_parse(cmd, sw_token_revoke_usage, argc, argv, &o, &code) < 0)
		return code;
	if ((code = sw_tok_refuse(cmd, "role", o.role)) || (code = sw_tok_refuse(cmd, "name", o.name)) ||
	    (code = sw_tok_refuse(cmd, "labels", o.labels)) || (code = sw_tok_refuse(cmd, "ttl", o.ttl)) ||
	    (code = sw_tok_refuse(cmd, "replace", o.replace)))
		return code;
	if (optind >= argc)
		return sw_cli_usage_error(cmd, "which token? give its ID (see 'slipway token list')");
	if (optind + 1 < argc)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	if (sw_client_escape(argv[optind], esc, sizeof(esc)) < 0)
		return sw_cli_usage_error(cmd, "token ID '%.64s' is too long", argv[optind]);
	snprintf(path, sizeof(path), "/api/v1/tokens/%s", esc);
	if (sw_client_init(&cl, o.server, o.token, &err) < 0 || sw_client_json(&cl, "DELETE", path, NULL, &resp, &err) < 0)
		return sw_cli_fail(cmd, &err);
	if (o.out == SW_OUTPUT_JSON) {
		sw_cli_print_json(resp);
		return 0;
	}
	printf("revoked token %s\n", argv[optind]);
	json_decref(resp);
	return 0;
}

int sw_cmd_token(int argc, char **argv)
{
	if (argc < 2)
		return sw_cli_usage_error("token", "which command? create, list or revoke");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(sw_token_usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "create"))
		return sw_token_create(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return sw_token_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "revoke"))
		return sw_token_revoke(argc - 1, argv + 1);
	return sw_cli_unknown_subcommand("token", argv[1], (const char *const[]){ "create", "list", "revoke", NULL });
}

int sw_cmd_join_token(int argc, char **argv)
{
	const char *cmd = "join-token create";
	struct sw_err err = SW_ERR_INIT;
	struct sw_client cl;
	struct sw_tok_opts o;
	json_t *body, *labels, *resp = NULL;
	int code, rc;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(sw_join_usage, stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "create"))
		return sw_cli_usage_error("join-token", "expected 'join-token create'");
	if (sw_tok_parse(cmd, sw_join_usage, argc - 1, argv + 1, &o, &code) < 0)
		return code;
	if ((code = sw_tok_refuse(cmd, "role", o.role)) || (code = sw_tok_refuse(cmd, "name", o.name)))
		return code;
	if (optind < argc - 1)
		return sw_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	body = json_object();
	if (o.labels) {
		labels = json_object();
		if (sw_cli_parse_labels(cmd, o.labels, labels) < 0) {
			json_decref(labels);
			json_decref(body);
			return 2;
		}
		json_object_set_new(body, "labels", labels);
	}
	if (o.ttl)
		json_object_set_new(body, "ttl", json_string(o.ttl));
	if (o.replace)
		json_object_set_new(body, "replace", json_string(o.replace));
	if (sw_client_init(&cl, o.server, o.token, &err) < 0) {
		json_decref(body);
		return sw_cli_fail(cmd, &err);
	}
	rc = sw_client_json(&cl, "POST", "/api/v1/join-tokens", body, &resp, &err);
	json_decref(body);
	if (rc < 0)
		return sw_cli_fail(cmd, &err);
	if (o.out == SW_OUTPUT_JSON) {
		sw_cli_print_json(resp);
		return 0;
	}
	printf("%s\n", sw_json_str(resp, "token") ? sw_json_str(resp, "token") : "");
	if (o.replace)
		fprintf(stderr, "join token valid until %s; it can enroll host '%s' once, replacing the enrolled one\n",
			sw_json_str(resp, "expires") ? sw_json_str(resp, "expires") : "?", o.replace);
	else
		fprintf(stderr, "join token valid until %s; it can enroll one host once\n",
			sw_json_str(resp, "expires") ? sw_json_str(resp, "expires") : "?");
	json_decref(resp);
	return 0;
}
