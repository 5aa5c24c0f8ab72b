/*
 * routes.c - the route table, the path matcher and the docs/api.md
 * generator (see routes.h).
 */
#include "server/routes.h"
#include "server/api.h"

#include <string.h>

#define DIGEST_NOTE "{digest} is the bundle's sha256 (64 lowercase hex digits)."

const struct sw_route sw_routes[] = {
	{ "GET", "/api/v1/health", SW_ACCESS_PUBLIC, SW_ROUTE_BODY_NONE, sw_api_health, "-",
	  "200 `{ok: true, version}`", "Liveness and version." },

	{ "POST", "/api/v1/tokens", SW_ACCESS_ADMIN, SW_ROUTE_BODY_JSON, sw_api_token_create,
	  "`{name?: string (0..128), role: \"admin\"|\"deployer\"|\"viewer\"}`",
	  "201 `{id, name, role, created, token}` (the secret `swt_...` is shown only here)",
	  "Create an API token. Event `token.created`." },
	{ "GET", "/api/v1/tokens", SW_ACCESS_ADMIN, SW_ROUTE_BODY_NONE, sw_api_token_list, "-",
	  "200 `[{id, name, role, created, revoked}]`", "List API tokens (never their secrets)." },
	{ "DELETE", "/api/v1/tokens/{id}", SW_ACCESS_ADMIN, SW_ROUTE_BODY_NONE, sw_api_token_revoke, "-",
	  "200 `{id, revoked: true}`; 404 unknown id",
	  "Revoke an API token; it is refused (401) from then on. Event `token.revoked`." },
	{ "POST", "/api/v1/join-tokens", SW_ACCESS_ADMIN, SW_ROUTE_BODY_JSON, sw_api_join_create,
	  "`{labels?: {name: value}, ttl?: duration (1s..168h, default 1h), replace?: host name}`",
	  "201 `{token, expires, expires_ms, labels, replace?, pin?}`; 404 no host called `replace`; 409 it is revoked",
	  "Create a one-time join token for `slipway agent --join-file`. Its labels override the agent's. With "
	  "`replace`, the token enrolls only that (enrolled, not revoked) host name and takes it over. "
	  "On a server with TLS, `pin` is its certificate's pin and the token ends in `.` and the same pin in "
	  "base64url (see TLS): the agent trusts this server from its first request. "
	  "Event `join_token.created` (with `replace`)." },

	{ "GET", "/api/v1/hosts", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE, sw_api_hosts_list, "-",
	  "200 `[{id, name, labels, ports, address, online, revoked, last_seen, last_seen_ms, enrolled, "
	  "generation_applied, disk_free_bytes, services: [{service, slot, digest, state, port, active, message}]}]`",
	  "Enrolled hosts. `online`: not revoked and seen within 3 heartbeats. `address`: where the agent reaches "
	  "its services (`agent --address`, reported at enrollment and in every heartbeat), null when never "
	  "reported." },
	{ "POST", "/api/v1/hosts/{id}/labels", SW_ACCESS_ADMIN, SW_ROUTE_BODY_JSON, sw_api_host_labels,
	  "`{set?: {name: value}, remove?: [name]}` (at least one change; a name not in both)",
	  "200 `{id, name, labels}` (all the host's labels after the change); 400 naming the field; 404 no host "
	  "with that id or name; 409 the host is revoked",
	  "Set and remove labels of an enrolled host; {id} is its id or its name. Removing a label it does not "
	  "have is not an error. Deployments created afterwards select hosts by the new labels (running ones keep "
	  "their plan). Event `host.labeled` `{host_id, name, set, removed, before, labels}` with the actor." },
	{ "DELETE", "/api/v1/hosts/{id}", SW_ACCESS_ADMIN, SW_ROUTE_BODY_NONE, sw_api_host_revoke, "-",
	  "200 `{id, revoked: true}`; 404 unknown id",
	  "Revoke a host's identity: every agent route answers it 401 \"host identity revoked\". Event "
	  "`host.revoked`." },

	{ "GET", "/api/v1/hosts/{host}/logs", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE, sw_api_host_logs,
	  "query: `service?` (default: the host's only service), `slot?` (`a`|`b`, default: the service's active "
	  "slot), `offset?` (byte offset >= 0; absent: the last `lines` lines), `lines?` (1..1000, default 20), "
	  "`max_bytes?` (1..65536, default 65536), `wait?` (seconds 1..30, default 10)",
	  "200 `{host, service, slot, offset, next_offset, size, data, restarted, more}`; 404 unknown host, or no "
	  "such log on it; 409 the host is offline or revoked; 504 its agent did not answer within `wait`",
	  "A service's log, read by the host's agent: {host} is a host name or id. `data` is at most `max_bytes` "
	  "of text (bytes that are not UTF-8 and control characters other than newline and tab read `?`); ask "
	  "again with `offset=next_offset` to follow (`more`: the log goes on already). An offset past the end "
	  "(the log was rotated or truncated) reads from 0 with `restarted: true`. The request reaches the agent "
	  "on its long-poll of /api/v1/agent/desired (`log_requests`), its answer comes back on "
	  "/api/v1/agent/logs (docs/agent.md, \"Logs\")." },
	{ "GET", "/api/v1/releases", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE, sw_api_release_list, "query: `service?`",
	  "200 `[{digest: \"sha256:<hex>\", service, version, created, key_id, uploaded, environments: [{env, state, "
	  "deployment}], hosts: [{host, slot, state, active}]}]`, newest upload first; 400 bad service name",
	  "The committed releases (of one service) and where each runs: `environments` whose newest succeeded "
	  "deployment installed it (`state` `succeeded`) or whose deployment of it is under way (its state); `hosts` "
	  "whose agent reports it in a slot. `slipway releases --remote` prints it." },
	{ "GET", "/api/v1/releases/{digest}", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE, sw_api_release_get, "-",
	  "200 `{digest, service, version, manifest, files: [name]}`; 404 unless committed",
	  "A committed release. " DIGEST_NOTE },
	{ "PUT", "/api/v1/releases/{digest}/{file}", SW_ACCESS_DEPLOYER, SW_ROUTE_BODY_FILE, sw_api_release_put,
	  "raw bytes (application/octet-stream); {file}: `bundle.tar.zst` (max 1 GiB), `bundle.tar.zst.minisig`, "
	  "`release.json` (max 1 MiB), `release.json.minisig` (max 16 KiB)",
	  "200 `{digest, file, size}`; 413 over the file's limit",
	  "Upload one file of a release (streamed to disk under the data directory, not yet trusted)." },
	{ "POST", "/api/v1/releases/{digest}/commit", SW_ACCESS_DEPLOYER, SW_ROUTE_BODY_NONE, sw_api_release_commit,
	  "-",
	  "201 `{digest, service, version, key_id, existed: false}` (200 with `existed: true` when already "
	  "committed); 400 a file missing; 409 the service already has another release under this version "
	  "(naming its digest; the upload is removed); 422 naming the failed check (`archive check failed: ...`: "
	  "the upload is removed)",
	  "Verify the uploaded files: sha256 of the bundle equals {digest}, the minisign signatures of the bundle "
	  "and of release.json verify against a trusted key, release.json is a valid manifest naming {digest}, "
	  "and the archive passes the agents' checks (paths, entry types, links, unpacked size and compression "
	  "ratio against the server's `--max-unpacked`, default 1 GiB, and ratio 200; docs/releases.md) and holds "
	  "the manifest's count of files, and no other digest of the service holds its version (a version names "
	  "one release). Then record the release. Event `release.uploaded`. Uploads never "
	  "committed are removed after `--upload-timeout` (default 1h) without a write." },
	{ "GET", "/api/v1/releases/{digest}/{file}", SW_ACCESS_VIEWER_OR_AGENT, SW_ROUTE_BODY_NONE,
	  sw_api_release_download, "-", "200 the file's bytes; 404 unknown release or file",
	  "Download one file of a committed release (agents use this)." },

	{ "POST", "/api/v1/deployments", SW_ACCESS_DEPLOYER, SW_ROUTE_BODY_JSON, sw_api_deploy_create,
	  "`{service, env, digest}`",
	  "201 the deployment `{id, service, env, digest, prev_digest, state, reason, actor, plan, created, "
	  "updated, deadline_ms}`; 404 unknown release; 409 one is already active for (service, env), or the "
	  "environment has `after: E` and the release has not succeeded in E",
	  "Start a deployment of a committed release into an environment of its spec." },
	{ "GET", "/api/v1/deployments", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE, sw_api_deploy_list,
	  "query: `service?`, `env?`, `active?` (1: pending/progressing only), `limit?` (1..1000, default 50)",
	  "200 `[deployment]`, newest first", "List deployments." },
	{ "GET", "/api/v1/deployments/{id}", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE, sw_api_deploy_get, "-",
	  "200 the deployment with its plan (batches, per-host progress); 404 unknown id",
	  "One deployment's full progress." },
	{ "GET", "/api/v1/deployments/{id}/measurements", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE,
	  sw_api_deploy_measurements, "query: `after?` (seq, default 0), `limit?` (1..1000, default 1000)",
	  "200 `{deployment, measurements: [{seq, id, step, analysis, verdict, values, message, time, background, "
	  "dry_run}], "
	  "last}` (`last`: the seq of the last one returned, else `after`); 404 unknown id",
	  "Every analysis measurement of a deployment, oldest first, from the event log (events "
	  "`deployment.measurement` with a seq above `after`; the progress view keeps only the last 50 per "
	  "analysis run). Page with `after=last` until a page has fewer than `limit`." },
	{ "POST", "/api/v1/deployments/{id}/abort", SW_ACCESS_DEPLOYER, SW_ROUTE_BODY_JSON, sw_api_deploy_abort,
	  "`{reason?: string, emergency?: boolean}`",
	  "200 the deployment; 400 `emergency` not a boolean; 409 when it has already ended; 404 unknown id",
	  "Abort an active deployment: updated hosts go back to the previous release, in batches that keep "
	  "min_healthy and max_unavailable (rolling); `emergency`: every host at once (asked again during the "
	  "rollback: the rest at once)." },
	{ "POST", "/api/v1/deployments/{id}/pause", SW_ACCESS_DEPLOYER, SW_ROUTE_BODY_JSON, sw_api_deploy_verb,
	  "`{reason?: string}`",
	  "200 `{deployment, message}` (message \"already paused\" when it was); 409 ended or rolling back; 404 "
	  "unknown id",
	  "Pause an active deployment between steps: it stops advancing, hosts keep what they run." },
	{ "POST", "/api/v1/deployments/{id}/resume", SW_ACCESS_DEPLOYER, SW_ROUTE_BODY_JSON, sw_api_deploy_verb,
	  "`{}`", "200 `{deployment, message}` (\"not paused\" when it was not); 409 ended; 404 unknown id",
	  "Resume a paused deployment where it stopped." },
	{ "POST", "/api/v1/deployments/{id}/promote", SW_ACCESS_DEPLOYER, SW_ROUTE_BODY_JSON, sw_api_deploy_verb,
	  "`{full?: boolean}`",
	  "200 `{deployment, message}` (\"already promoted\" when pending); 400 `full` not a boolean; 409 ended; "
	  "404 unknown id",
	  "Skip the current pause or step wait (a paused deployment is resumed); `full`: skip every remaining step "
	  "(canary: promotion now; rings: every remaining bake)." },
	{ "POST", "/api/v1/deployments/{id}/retry", SW_ACCESS_DEPLOYER, SW_ROUTE_BODY_JSON, sw_api_deploy_verb,
	  "`{}`",
	  "201 `{deployment, message}` the new deployment of the same release from its first step (200 when "
	  "retried already); 409 still active or succeeded; 404 unknown id",
	  "Retry an aborted, rolled back or failed deployment." },
	{ "POST", "/api/v1/rollback", SW_ACCESS_DEPLOYER, SW_ROUTE_BODY_JSON, sw_api_rollback,
	  "`{service, env, emergency?: boolean, to?: version | digest | digest prefix, reason?: string}`",
	  "201 the new deployment; 400 `emergency` not a boolean, `to` names no release that ran there (the "
	  "message lists those that did), more than one, or the one the newest deployment there succeeded with; "
	  "404 no previous good release; 409 one is active",
	  "Deploy the previous successful release of (service, env) again, or with `to` any release that ran "
	  "(succeeded) there, named by version, digest or digest prefix (4+ hex digits), as the environment's "
	  "strategy does (rolling: batches that keep min_healthy and max_unavailable); `emergency`: every host at "
	  "once, the limits not kept (canary and rings: steps and bakes skipped). `spec.rollback` and each of its "
	  "events record `{to, version, digest, reason}`." },

	{ "GET", "/api/v1/events", SW_ACCESS_VIEWER, SW_ROUTE_BODY_NONE, sw_api_events,
	  "query: `after?` (seq, default 0), `wait?` (seconds 0..30, default 0), `limit?` (1..1000, default 100), "
	  "`order?` (`oldest`, the default, or `newest`), with `newest`: `before?` (seq, default 0: none), `kind?`",
	  "200 `{events: [{seq, time, actor, kind, subject, payload, prev_hash, hash}], last}`; with "
	  "`order=newest`: `{events, next}`; 400 `wait` with `order=newest`, `before` or `kind` without it",
	  "Events with a seq above `after`, oldest first; when there are none, waits up to `wait` seconds for one. "
	  "`order=newest`: the end of the log backwards (`slipway audit log --server`): newest first, seq below "
	  "`before` and above `after`, of `kind` if given; `next` is the `before` of the next (older) page, 0 when "
	  "there is none." },

	{ "POST", "/api/v1/agent/enroll", SW_ACCESS_JOIN, SW_ROUTE_BODY_JSON, sw_api_agent_enroll,
	  "`{join_token, name, labels?, ports: [A, B], address?}` (a `.<pin>` ending of `join_token` is ignored)",
	  "201 `{host_id, name, host_token, labels, trusted_keys: [public key file text], heartbeat_ms}`; "
	  "401 \"unknown join token\", \"join token already used\", \"join token expired\"; 403 a `replace` "
	  "token used for another name; 409 the name is taken (without a `replace` token for it) or revoked",
	  "Enroll a host with a one-time join token. A name already enrolled is refused unless the token was made "
	  "with `replace: <name>`: then the host keeps its id and gets a new token (the old one stops working). "
	  "A revoked name stays revoked. A refusal leaves the join token unused. Events `host.enrolled` "
	  "(`replaced`), and `host.replaced` on a takeover." },
	{ "GET", "/api/v1/agent/desired", SW_ACCESS_AGENT, SW_ROUTE_BODY_NONE, sw_api_agent_desired,
	  "query: `generation?` (default 0), `wait?` (seconds 0..30, default 0)",
	  "200 `{generation, heartbeat_ms, services: [{service, slots: [{slot, digest, port, active}]}], "
	  "log_requests?: [{id, service?, slot?, offset?, lines, max_bytes}]}`",
	  "The host's desired state; blocks until its generation is above `generation`, a log request for the "
	  "host is waiting (`log_requests`, each handed over once; answer on /api/v1/agent/logs) or `wait` passes. "
	  "What a slot runs is not in it: the agent takes it from the release's signed release.json "
	  "(docs/agent.md)." },
	{ "POST", "/api/v1/agent/logs", SW_ACCESS_AGENT, SW_ROUTE_BODY_JSON, sw_api_agent_logs,
	  "`{id, service, slot, offset, next_offset, size, data (at most 65536 bytes), restarted?, more?}` or "
	  "`{id, error: {code: \"not_found\"|\"bad_request\"|\"failed\", message}}`",
	  "200 `{ok: true}`; 404 no such request waiting for this host (unknown, another host's, or its asker "
	  "gave up)",
	  "The agent's answer to a log request it got on its long-poll." },
	{ "POST", "/api/v1/agent/status", SW_ACCESS_AGENT, SW_ROUTE_BODY_JSON, sw_api_agent_status,
	  "`{generation, services: [{service, slot, digest, state, port?, pid?, message?, active?, verdict?, "
	  "verdict_message?}], disk_free_bytes?, address?}`; state: installing, installed, starting, healthy, unhealthy, "
	  "stopped, failed, refused; verdict: unhealthy, crashloop (docs/agent.md)",
	  "200 `{ok: true, heartbeat_ms}`",
	  "The host's report and heartbeat (at least every `heartbeat_ms`)." },
};
const size_t sw_route_count = sizeof(sw_routes) / sizeof(sw_routes[0]);

/* Next segment of *p (after a '/'): start and length; 0 at the end. */
static int sw_route_seg(const char **p, const char **seg, size_t *len)
{
	const char *s = *p, *e;

	if (*s != '/')
		return 0;
	s++;
	e = strchr(s, '/');
	if (!e)
		e = s + strlen(s);
	*seg = s;
	*len = (size_t)(e - s);
	*p = e;
	return 1;
}

static int sw_route_path_match(const char *pattern, const char *path, struct sw_route_params *params)
{
	const char *pp = pattern, *up = path, *ps = NULL, *us = NULL;
	size_t pl = 0, ul = 0;

	params->n = 0;
	for (;;) {
		int hp = sw_route_seg(&pp, &ps, &pl), hu = sw_route_seg(&up, &us, &ul);

		if (!hp || !hu)
			return !hp && !hu && !*pp && !*up;
		if (pl >= 2 && ps[0] == '{' && ps[pl - 1] == '}') {
			if (ul == 0 || ul >= SW_ROUTE_PARAM_MAX || params->n >= SW_ROUTE_MAX_PARAMS ||
			    pl - 2 >= SW_ROUTE_NAME_MAX)
				return 0;
			memcpy(params->name[params->n], ps + 1, pl - 2);
			params->name[params->n][pl - 2] = '\0';
			memcpy(params->value[params->n], us, ul);
			params->value[params->n][ul] = '\0';
			params->n++;
		} else if (pl != ul || memcmp(ps, us, pl)) {
			return 0;
		}
	}
}

enum sw_route_result sw_route_match(const struct sw_route *table, size_t n, const char *method, const char *path,
				    const struct sw_route **route, struct sw_route_params *params)
{
	struct sw_route_params tmp;
	int path_seen = 0;
	size_t i;

	*route = NULL;
	memset(params, 0, sizeof(*params));
	if (!path || path[0] != '/')
		return SW_ROUTE_NO_PATH;
	for (i = 0; i < n; i++) {
		if (!sw_route_path_match(table[i].pattern, path, &tmp))
			continue;
		path_seen = 1;
		if (strcmp(table[i].method, method))
			continue;
		*route = &table[i];
		*params = tmp;
		return SW_ROUTE_FOUND;
	}
	return path_seen ? SW_ROUTE_NO_METHOD : SW_ROUTE_NO_PATH;
}

enum sw_route_result sw_route_find(const char *method, const char *path, const struct sw_route **route,
				   struct sw_route_params *params)
{
	return sw_route_match(sw_routes, sw_route_count, method, path, route, params);
}

const char *sw_route_param(const struct sw_route_params *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (!strcmp(p->name[i], name))
			return p->value[i];
	return NULL;
}

const char *sw_access_name(enum sw_access a)
{
	switch (a) {
	case SW_ACCESS_PUBLIC:
		return "none";
	case SW_ACCESS_VIEWER:
		return "viewer";
	case SW_ACCESS_DEPLOYER:
		return "deployer";
	case SW_ACCESS_ADMIN:
		return "admin";
	case SW_ACCESS_AGENT:
		return "agent";
	case SW_ACCESS_VIEWER_OR_AGENT:
		return "viewer or agent";
	case SW_ACCESS_JOIN:
		return "join token";
	}
	return "?";
}

int sw_routes_markdown(struct sw_buf *out)
{
	size_t i;

	sw_buf_puts(out,
		    "# HTTP API\n"
		    "\n"
		    "<!-- Generated by `slipway server --routes-markdown` from src/server/routes.c; do not edit.\n"
		    "     tests/e2e/test_server.py fails when this file and the route table differ. -->\n"
		    "\n"
		    "`slipway server` answers JSON over HTTP (release files are raw bytes). Authenticate with\n"
		    "`Authorization: Bearer <token>`: API tokens (`swt_...`) carry a role, viewer < deployer < admin,\n"
		    "and a route names the least role it needs; agents use their host token (`swh_...`), which\n"
		    "reaches only agent routes and release downloads. A fresh server writes an admin token to\n"
		    "`<data>/admin.token` (mode 0600).\n"
		    "\n"
		    "Errors have one shape:\n"
		    "\n"
		    "```json\n"
		    "{\"error\": {\"code\": \"bad_request\", \"message\": \"missing field 'role'\", \"field\": \"role\","
		    " \"request_id\": \"r-12\"}}\n"
		    "```\n"
		    "\n"
		    "| status | code | when |\n"
		    "| --- | --- | --- |\n"
		    "| 400 | bad_request | malformed JSON (the message names line, column and byte) or a bad field (`field` names it); "
		    "ambiguous headers: a NUL byte in a header value, more than one `Content-Length`, or `Content-Length` with "
		    "`Transfer-Encoding` (`field` names the header; the connection then closes) |\n"
		    "| 401 | unauthorized | no token, unknown or revoked token, revoked host, bad join token, a NUL byte in "
		    "`Authorization` |\n"
		    "| 403 | forbidden | the token's role (or kind) may not call the route |\n"
		    "| 404 | not_found | unknown path or object |\n"
		    "| 405 | method_not_allowed | the path exists with another method |\n"
		    "| 409 | conflict | a deployment is already active for the service and environment |\n"
		    "| 413 | too_large | body over the route's limit (JSON: 1 MiB) |\n"
		    "| 422 | integrity | a release whose digest or signatures do not verify |\n"
		    "| 500 | internal | the server failed |\n"
		    "\n"
		    "Every answer carries an `X-Request-Id` header. Long-polls (`wait`) return at once when there\n"
		    "is something new, otherwise after `wait` seconds (at most 30).\n"
		    "\n"
		    "## TLS\n"
		    "\n"
		    "`slipway server --tls-cert FILE --tls-key FILE` serves the API over HTTPS (libmicrohttpd's own\n"
		    "TLS, 1.2 and 1.3) and writes `server.url` as `https://...`. Without them it serves plain HTTP,\n"
		    "and only on a loopback address (127.0.0.0/8, ::1, `localhost`) unless `--insecure-http` is given\n"
		    "(a loud warning is logged): tokens would otherwise cross the network in clear. At each start with\n"
		    "TLS the server prints its certificate's pin, `sha256//` and the base64 SHA-256 of the public key\n"
		    "(SubjectPublicKeyInfo), and writes it to `<data>/tls.pin`.\n"
		    "\n"
		    "Clients verify the server: the CLI with `--ca FILE` (`SLIPWAY_CA`: a CA that signed the\n"
		    "certificate; host name checked) or `--pin sha256//...` (`SLIPWAY_PIN`: the public key must\n"
		    "match; enough alone for a self-signed certificate), else the system's CA store. A certificate\n"
		    "that does not verify fails with `cannot verify the TLS certificate of ...` (exit 1). Both the\n"
		    "CLI and agents refuse an `http://` server URL whose host is not loopback, before connecting,\n"
		    "unless `--insecure-http` (`SLIPWAY_INSECURE_HTTP=1`). A join token made on a TLS server carries\n"
		    "the pin (`swj_<secret>.<pin in base64url>`); the agent keeps it in `ROOT/agent.json` at\n"
		    "enrollment and checks every later connection against it (docs/agent.md). The pin names the\n"
		    "key, not the certificate: renew the certificate with the same key (`openssl req -new -key`) and\n"
		    "pinned clients keep working; a new key needs the new pin on every agent (`--pin`) and client.\n"
		    "\n"
		    "## Routes\n"
		    "\n"
		    "| method | path | access |\n"
		    "| --- | --- | --- |\n");
	for (i = 0; i < sw_route_count; i++)
		sw_buf_printf(out, "| %s | `%s` | %s |\n", sw_routes[i].method, sw_routes[i].pattern,
			      sw_access_name(sw_routes[i].access));
	for (i = 0; i < sw_route_count; i++) {
		const struct sw_route *r = &sw_routes[i];

		sw_buf_printf(out, "\n### %s %s\n\n%s\n\n", r->method, r->pattern, r->summary);
		sw_buf_printf(out, "- access: %s\n", sw_access_name(r->access));
		sw_buf_printf(out, "- request: %s\n", r->request);
		sw_buf_printf(out, "- response: %s\n", r->response);
	}
	return sw_buf_failed(out) ? -1 : 0;
}
