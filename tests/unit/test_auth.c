/*
 * test_auth.c - unit tests for server/auth.c: the roles x access matrix,
 * bearer header parsing, token formats and resolution against a real store
 * (API tokens, host tokens, revoked ones).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/fs.h"
#include "base/hash.h"
#include "server/auth.h"
#include "store/store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sw_principal user(enum sw_role r)
{
	struct sw_principal p;

	memset(&p, 0, sizeof(p));
	p.kind = SW_PRINCIPAL_USER;
	p.role = r;
	return p;
}

static struct sw_principal host(void)
{
	struct sw_principal p;

	memset(&p, 0, sizeof(p));
	p.kind = SW_PRINCIPAL_HOST;
	return p;
}

/* 0 allowed, 401, or 403. */
static int verdict(enum sw_access a, const struct sw_principal *p)
{
	struct sw_err err = SW_ERR_INIT;

	if (sw_auth_check(a, p, &err) == 0)
		return 0;
	if (err.code == SW_EAUTH)
		return 401;
	if (err.code == SW_EDENIED)
		return 403;
	return -1;
}

static void test_matrix(void **state)
{
	/* rows: access; columns: nobody, viewer, deployer, admin, host */
	static const struct {
		enum sw_access a;
		int want[5];
	} m[] = {
		{ SW_ACCESS_PUBLIC, { 0, 0, 0, 0, 0 } },
		{ SW_ACCESS_JOIN, { 0, 0, 0, 0, 0 } },
		{ SW_ACCESS_VIEWER, { 401, 0, 0, 0, 403 } },
		{ SW_ACCESS_DEPLOYER, { 401, 403, 0, 0, 403 } },
		{ SW_ACCESS_ADMIN, { 401, 403, 403, 0, 403 } },
		{ SW_ACCESS_AGENT, { 401, 403, 403, 403, 0 } },
		{ SW_ACCESS_VIEWER_OR_AGENT, { 401, 0, 0, 0, 0 } },
	};
	struct sw_principal who[5];
	size_t i, j;

	(void)state;
	memset(&who[0], 0, sizeof(who[0]));
	who[1] = user(SW_ROLE_VIEWER);
	who[2] = user(SW_ROLE_DEPLOYER);
	who[3] = user(SW_ROLE_ADMIN);
	who[4] = host();
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		for (j = 0; j < 5; j++) {
			int got = verdict(m[i].a, &who[j]);

			if (got != m[i].want[j])
				fail_msg("access %s, principal %zu: got %d, want %d", sw_access_name(m[i].a), j, got,
					 m[i].want[j]);
		}
	assert_int_equal(verdict(SW_ACCESS_VIEWER, NULL), 401);
}

static void test_role_names(void **state)
{
	enum sw_role r;

	(void)state;
	assert_int_equal(sw_role_parse("viewer", &r), 0);
	assert_int_equal(r, SW_ROLE_VIEWER);
	assert_int_equal(sw_role_parse("admin", &r), 0);
	assert_int_equal(r, SW_ROLE_ADMIN);
	assert_int_equal(sw_role_parse("Admin", &r), -1);
	assert_int_equal(sw_role_parse("", &r), -1);
	assert_int_equal(sw_role_parse(NULL, &r), -1);
	assert_string_equal(sw_role_name(SW_ROLE_DEPLOYER), "deployer");
	assert_true(SW_ROLE_VIEWER < SW_ROLE_DEPLOYER && SW_ROLE_DEPLOYER < SW_ROLE_ADMIN);
}

static void test_bearer(void **state)
{
	struct sw_err err = SW_ERR_INIT;
	char tok[SW_TOKEN_MAX], longer[200];

	(void)state;
	assert_int_equal(sw_auth_bearer("Bearer swt_abc", 14, tok, sizeof(tok), &err), 0);
	assert_string_equal(tok, "swt_abc");
	assert_int_equal(sw_auth_bearer("bearer   swt_abc  ", 18, tok, sizeof(tok), &err), 0);
	assert_string_equal(tok, "swt_abc");
	assert_int_equal(sw_auth_bearer(NULL, 0, tok, sizeof(tok), &err), -1);
	assert_int_equal(err.code, SW_EAUTH);
	assert_string_equal(err.msg, "missing bearer token");
	assert_int_equal(sw_auth_bearer("Basic dXNlcjpwdw==", 18, tok, sizeof(tok), &err), -1);
	assert_non_null(strstr(err.msg, "Bearer"));
	assert_int_equal(sw_auth_bearer("Bearer ", 7, tok, sizeof(tok), &err), -1);
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	memcpy(longer, "Bearer ", 7);
	assert_int_equal(sw_auth_bearer(longer, strlen(longer), tok, sizeof(tok), &err), -1);
	assert_int_equal(err.code, SW_EAUTH);
	/* The length as received: a NUL inside the value does not cut it short. */
	assert_int_equal(sw_auth_bearer("Bearer swt_abc\0junk", 19, tok, sizeof(tok), &err), -1);
	assert_int_equal(err.code, SW_EAUTH);
	assert_string_equal(err.msg, "authorization header contains a NUL byte");
}

static void test_token_format(void **state)
{
	char a[SW_TOKEN_MAX], b[SW_TOKEN_MAX], id[32];
	size_t i;

	(void)state;
	sw_auth_new_token("swt_", a, sizeof(a));
	sw_auth_new_token("swt_", b, sizeof(b));
	assert_int_equal(strlen(a), 4 + 43);
	assert_true(!strncmp(a, "swt_", 4));
	assert_string_not_equal(a, b);
	for (i = 4; a[i]; i++)
		assert_true((a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= 'a' && a[i] <= 'z') || (a[i] >= '0' && a[i] <= '9') ||
			    a[i] == '-' || a[i] == '_');
	sw_auth_new_id("h-", id, sizeof(id));
	assert_int_equal(strlen(id), 2 + 16);
}

static void test_resolve(void **state)
{
	char dir[] = "/tmp/sw-test-auth-XXXXXX", db[PATH_MAX], hash[SW_SHA256_HEX];
	struct sw_err err = SW_ERR_INIT;
	struct sw_principal who;
	struct sw_store *st = NULL;
	json_t *rec;

	(void)state;
	assert_int_equal(sw_hash_global_init(), 0);
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/slipway.db", dir);
	assert_int_equal(sw_store_open(db, &st, &err), 0);

	sw_auth_token_hash("swt_alice", hash);
	rec = json_pack("{s:s, s:s, s:s, s:s}", "id", "tok-1", "name", "alice@example.com", "role", "deployer", "hash",
			hash);
	assert_int_equal(sw_store_token_create(st, rec, &err), 0);
	json_decref(rec);
	sw_auth_token_hash("swt_anon", hash);
	rec = json_pack("{s:s, s:s, s:s}", "id", "tok-2", "role", "viewer", "hash", hash);
	assert_int_equal(sw_store_token_create(st, rec, &err), 0);
	json_decref(rec);
	sw_auth_token_hash("swh_web1", hash);
	rec = json_pack("{s:s, s:s, s:{}, s:s, s:[i,i]}", "id", "h-1", "name", "web-1", "labels", "token_hash", hash,
			"ports", 1, 2);
	assert_int_equal(sw_store_host_create(st, rec, &err), 0);
	json_decref(rec);

	assert_int_equal(sw_auth_resolve(st, "swt_alice", &who, &err), 0);
	assert_int_equal(who.kind, SW_PRINCIPAL_USER);
	assert_int_equal(who.role, SW_ROLE_DEPLOYER);
	assert_string_equal(who.id, "tok-1");
	assert_string_equal(who.actor, "alice@example.com");
	assert_int_equal(sw_auth_resolve(st, "swt_anon", &who, &err), 0);
	assert_string_equal(who.actor, "token:tok-2");
	assert_int_equal(sw_auth_resolve(st, "swh_web1", &who, &err), 0);
	assert_int_equal(who.kind, SW_PRINCIPAL_HOST);
	assert_string_equal(who.id, "h-1");
	assert_string_equal(who.actor, "agent:web-1");

	/* A host token is never taken for an API token, and the other way round. */
	assert_int_equal(sw_auth_resolve(st, "swt_web1", &who, &err), -1);
	assert_string_equal(err.msg, "unknown token");
	assert_int_equal(sw_auth_resolve(st, "swh_alice", &who, &err), -1);
	assert_string_equal(err.msg, "unknown host token");
	assert_int_equal(err.code, SW_EAUTH);

	assert_int_equal(sw_store_token_revoke(st, "tok-1", &err), 0);
	assert_int_equal(sw_auth_resolve(st, "swt_alice", &who, &err), -1);
	assert_int_equal(err.code, SW_EAUTH);
	assert_string_equal(err.msg, "token revoked");
	assert_int_equal(sw_store_host_revoke(st, "h-1", &err), 0);
	assert_int_equal(sw_auth_resolve(st, "swh_web1", &who, &err), -1);
	assert_string_equal(err.msg, "host identity revoked");

	sw_store_close(st);
	sw_fs_remove_tree(dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrix),       cmocka_unit_test(test_role_names), cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_token_format), cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
