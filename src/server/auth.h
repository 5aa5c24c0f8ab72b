/*
 * auth.h - bearer tokens and roles for the HTTP API.
 *
 * Token formats: "swt_" (API tokens), "swj_" (join tokens), "swh_" (host
 * tokens), each followed by 32 random bytes in unpadded base64url (43
 * characters). Only the SHA-256 hex of a token is stored; a presented token
 * is hashed and looked up, never compared as text.
 *
 * Roles: viewer < deployer < admin. A route's access (routes.h) names the
 * least role; agent routes take host tokens only, and host tokens reach
 * nothing but agent routes (and release downloads).
 *   | situation                                   | answer                        |
 *   | no Authorization header                     | 401 "missing bearer token"    |
 *   | not "Bearer <token>"                        | 401 (names the expected form) |
 *   | unknown token                               | 401 "unknown token"           |
 *   | revoked API token                           | 401 "token revoked"           |
 *   | revoked host                                | 401 "host identity revoked"   |
 *   | API token on an agent route                 | 403                           |
 *   | host token on a user route                  | 403                           |
 *   | role below the route's                      | 403 (names both roles)        |
 * Calls store/, libsodium, base/ and server/routes.h (enum sw_access).
 */
#ifndef SW_SERVER_AUTH_H
#define SW_SERVER_AUTH_H

#include <stddef.h>

#include "base/err.h"
#include "base/hash.h"
#include "server/routes.h"
#include "store/store.h"

enum sw_role { SW_ROLE_NONE = 0, SW_ROLE_VIEWER, SW_ROLE_DEPLOYER, SW_ROLE_ADMIN };

enum sw_principal_kind { SW_PRINCIPAL_NONE, SW_PRINCIPAL_USER, SW_PRINCIPAL_HOST };

struct sw_principal {
	enum sw_principal_kind kind;
	enum sw_role role;  /* users */
	char id[72];        /* token id or host id */
	char name[136];     /* token name or host name */
	char actor[SW_EVENT_ACTOR_MAX + 1]; /* for events: the token's name (or "token:<id>"), "agent:<host>" */
};

#define SW_TOKEN_MAX 64 /* prefix + 43 + NUL fits */

int sw_role_parse(const char *s, enum sw_role *role);
const char *sw_role_name(enum sw_role role);

/*
 * The token from an Authorization header value ("Bearer <token>") of len
 * bytes (the length as received: a value with a NUL byte inside is refused,
 * so that "Bearer <token>\0junk" cannot pass as "Bearer <token>").
 */
int sw_auth_bearer(const char *header, size_t len, char *token, size_t size, struct sw_err *err);
/* Look the token up (caller holds the store lock): API token or host by prefix. */
int sw_auth_resolve(struct sw_store *st, const char *token, struct sw_principal *who, struct sw_err *err);
/* May who call a route with this access? 0, or -1 with SW_EAUTH / SW_EDENIED. */
int sw_auth_check(enum sw_access access, const struct sw_principal *who, struct sw_err *err);

/* A fresh secret "<prefix><43 base64url chars>" (size >= SW_TOKEN_MAX). */
void sw_auth_new_token(const char *prefix, char *out, size_t size);
/* A fresh id "<prefix><16 hex digits>". */
void sw_auth_new_id(const char *prefix, char *out, size_t size);
void sw_auth_token_hash(const char *token, char hex[SW_SHA256_HEX]);

#endif
