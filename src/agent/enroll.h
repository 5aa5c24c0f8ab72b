/*
 * enroll.h - the agent's identity: enrollment with a one-time join token
 * and the identity file it leaves in the agent root.
 *
 * POST /api/v1/agent/enroll {join_token, name, labels, ports: [A, B], address?}
 *   -> {host_id, host_token, trusted_keys: ["<minisign .pub text>", ...], heartbeat_ms}
 *
 * <root>/agent.json (mode 0600, written atomically, after the keys):
 *   | field        | meaning                                           |
 *   | server       | base URL the agent enrolled with                  |
 *   | host_id      | the server's id for this host                     |
 *   | host_token   | bearer token for the agent routes (secret)        |
 *   | name         | host name given at enrollment                     |
 *   | labels       | labels given at enrollment                        |
 *   | ports        | [A, B]: slot a listens on A, slot b on B          |
 *   | heartbeat_ms | status report interval the server asked for       |
 *   | enrolled     | UTC time of enrollment                            |
 *   | pin          | optional: the server certificate's pin, sha256//... |
 *   |              | (base/tls.h), from the join token or --pin; every |
 *   |              | connection to the server must match it            |
 *   | ca           | optional: the CA file the server is verified with |
 * <root>/trusted/<KEY ID>.pub: each trusted key, minisign format (0644).
 *
 * The join token is never written anywhere. Secrets read from the file are
 * wiped from the buffers that held them.
 *
 * Join file (`slipway agent --join-file FILE`): the token on one line
 * (surrounding white space, the final newline included, is dropped). Like
 * OpenSSH with a private key, the agent refuses a file that others may
 * read: any permission bit for others (mode & 007), and, when the file is
 * the agent user's own, any bit for its group (mode & 070). A file owned by
 * another user (root:slipway 0640, written by an installer) may be readable
 * by its group. It must be a regular file of at most 4 KiB.
 * Calls release/minisign, base/ (httpc, json, fs), libc.
 */
#ifndef SW_AGENT_ENROLL_H
#define SW_AGENT_ENROLL_H

#include <jansson.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/tls.h"

#define SW_IDENTITY_FILE "agent.json"
#define SW_JOIN_TOKEN_MAX 512 /* longest join token accepted from a file, NUL included */

struct sw_identity {
	char server[1024];
	char host_id[128];
	char host_token[512];
	char name[256];
	unsigned ports[2];
	uint64_t heartbeat_ms;
	char pin[SW_TLS_PIN_MAX]; /* "" = none */
	char ca[PATH_MAX];        /* "" = none */
	json_t *labels; /* owned (sw_identity_release) */
};

/* 1 loaded, 0 no identity file, -1 unreadable or malformed (err names the field). */
int sw_identity_load(const char *root, struct sw_identity *id, struct sw_err *err);
int sw_identity_save(const char *root, const struct sw_identity *id, struct sw_err *err);
void sw_identity_release(struct sw_identity *id);

struct sw_enroll_request {
	const char *server;
	const char *join_token; /* the secret only (no ".<pin>") */
	const struct sw_httpc_tls *tls; /* how to trust the server; its pin and CA are saved in the identity */
	const char *name;
	const json_t *labels;
	unsigned ports[2];
	const char *address; /* where the host's services are reached; NULL or "": not sent */
};

/*
 * Enroll, write the trusted keys and the identity file. Server refusals are
 * SW_EAUTH (401/403: "join token already used", "join token expired", ...),
 * SW_EINPUT (400), SW_EIO otherwise; the server's message is quoted.
 */
int sw_enroll(const char *root, const struct sw_enroll_request *rq, struct sw_identity *id, struct sw_err *err);

/*
 * Read the join token from path into out (NUL-terminated). SW_EINPUT naming
 * the file: missing, not a regular file, too large, empty, more than one
 * word, or readable by others (see above; the message says `chmod 600`).
 * The buffer that held the file is wiped.
 */
int sw_enroll_read_join_file(const char *path, char *out, size_t size, struct sw_err *err);
/* The token in a join file's len bytes of text (path for messages); as above. Fuzzed by tests/fuzz/fuzz_hostargs.c. */
int sw_enroll_join_token_parse(const char *buf, size_t len, char *out, size_t size, const char *path,
			       struct sw_err *err);

/* The message of an API error body {"error": {"message": ...}}, or "HTTP <status>". */
const char *sw_enroll_api_message(long status, const struct sw_buf *body, char *out, size_t size);

#endif
