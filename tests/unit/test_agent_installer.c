/*
 * test_agent_installer.c - unit tests for src/agent/installer: download
 * from a tiny HTTP server in this test, verification (digest, signature,
 * trusted key), refusal and deletion of tampered, untrusted and unsafe
 * bundles, idempotent reuse, pruning, and a full disk (a small tmpfs, when
 * the test may mount one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/installer.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/httpc.h"
#include "release/bundle.h"
#include "release/minisign.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];
static struct sw_minisign_seckey key, other_key;
static struct sw_minisign_pubkey pub, other_pub;

/* ---- a file server: GET /api/v1/releases/<digest>/<file> from a table ---- */

#define MAX_FILES 32

struct served {
	char path[256];
	struct sw_buf body;
};

static struct {
	int fd;
	unsigned port;
	atomic_bool stop;
	pthread_t thr;
	pthread_mutex_t mu;
	struct served files[MAX_FILES];
	size_t n;
	atomic_int hits;
	char last_auth[256];
} srv;

static void serve_file(const char *url_path, const void *data, size_t len)
{
	pthread_mutex_lock(&srv.mu);
	assert_true(srv.n < MAX_FILES);
	snprintf(srv.files[srv.n].path, sizeof(srv.files[srv.n].path), "%s", url_path);
	sw_buf_init(&srv.files[srv.n].body, SW_BUF_UNLIMITED);
	sw_buf_append(&srv.files[srv.n].body, data, len);
	srv.n++;
	pthread_mutex_unlock(&srv.mu);
}

static void send_all(int c, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = send(c, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void *serve(void *arg)
{
	(void)arg;
	while (!atomic_load(&srv.stop)) {
		struct pollfd pfd = { .fd = srv.fd, .events = POLLIN };
		char req[4096], head[256], *sp1, *sp2, *auth;
		ssize_t n;
		size_t i;
		int c, found = 0;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		c = accept(srv.fd, NULL, NULL);
		if (c < 0)
			continue;
		n = recv(c, req, sizeof(req) - 1, 0);
		if (n <= 0) {
			close(c);
			continue;
		}
		req[n] = '\0';
		atomic_fetch_add(&srv.hits, 1);
		auth = strstr(req, "Authorization: ");
		if (auth) {
			char *e = strstr(auth, "\r\n");

			snprintf(srv.last_auth, sizeof(srv.last_auth), "%.*s", e ? (int)(e - auth) : 0, auth);
		}
		sp1 = strchr(req, ' ');
		sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (sp1 && sp2) {
			*sp2 = '\0';
			pthread_mutex_lock(&srv.mu);
			for (i = 0; i < srv.n; i++)
				if (!strcmp(srv.files[i].path, sp1 + 1)) {
					int hl = snprintf(head, sizeof(head),
							  "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
							  srv.files[i].body.len);

					send_all(c, head, (size_t)hl);
					send_all(c, srv.files[i].body.data, srv.files[i].body.len);
					found = 1;
					break;
				}
			pthread_mutex_unlock(&srv.mu);
		}
		if (!found) {
			const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

			send_all(c, nf, strlen(nf));
		}
		close(c);
	}
	return NULL;
}

static void server_start(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(srv.fd, (struct sockaddr *)&sa, sizeof(sa));
	listen(srv.fd, 16);
	getsockname(srv.fd, (struct sockaddr *)&sa, &len);
	srv.port = ntohs(sa.sin_port);
	pthread_mutex_init(&srv.mu, NULL);
	pthread_create(&srv.thr, NULL, serve, NULL);
}

static void server_stop(void)
{
	size_t i;

	atomic_store(&srv.stop, true);
	pthread_join(srv.thr, NULL);
	close(srv.fd);
	for (i = 0; i < srv.n; i++)
		sw_buf_release(&srv.files[i].body);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sw-test-agent-inst-XXXXXX");
	if (!mkdtemp(tmpdir) || sw_hash_global_init() < 0 || sw_httpc_global_init() < 0)
		return -1;
	sw_minisign_keygen(&pub, &key);
	sw_minisign_keygen(&other_pub, &other_key);
	server_start();
	return 0;
}

static int teardown(void **state)
{
	struct sw_err err = SW_ERR_INIT;

	(void)state;
	server_stop();
	sw_minisign_seckey_wipe(&key);
	sw_minisign_seckey_wipe(&other_key);
	return sw_fs_remove_tree(tmpdir, &err);
}

static void put(const char *p, const void *data, size_t len)
{
	struct sw_err err = SW_ERR_INIT;

	assert_int_equal(sw_fs_write_atomic(p, data, len, 0644, &err), 0);
}

/* A fresh agent root trusting `pub`. */
static void make_root(char *root, const char *name)
{
	struct sw_buf b = SW_BUF_INIT(4096);
	struct sw_err err = SW_ERR_INIT;
	char p[PATH_MAX], id[SW_MINISIGN_KEY_ID_HEX];

	snprintf(root, PATH_MAX, "%s/%s", tmpdir, name);
	snprintf(p, sizeof(p), "%s/trusted", root);
	assert_int_equal(sw_fs_mkdirs(p, 0755, &err), 0);
	assert_int_equal(sw_minisign_pubkey_format(&pub, &b), 0);
	sw_minisign_key_id(pub.keynum, id);
	snprintf(p, sizeof(p), "%s/trusted/%s.pub", root, id);
	put(p, b.data, b.len);
	sw_buf_release(&b);
}

/* A release with one file (content), signed by k; served by the test server. Returns its digest. */
static void make_release(const char *content, size_t len, const struct sw_minisign_seckey *k, char digest[SW_SHA256_HEX])
{
	static int seq;
	char dir[PATH_MAX], f[PATH_MAX], bundle[PATH_MAX], url[512];
	struct sw_bundle_list l;
	struct sw_bundle_result r;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf sig = SW_BUF_INIT(65536), data = SW_BUF_INIT(SW_BUF_UNLIMITED);

	snprintf(dir, sizeof(dir), "%s/src-%d", tmpdir, ++seq);
	snprintf(f, sizeof(f), "%s/dist", dir);
	assert_int_equal(sw_fs_mkdirs(f, 0755, &err), 0);
	snprintf(f, sizeof(f), "%s/dist/app", dir);
	put(f, content, len);
	snprintf(bundle, sizeof(bundle), "%s/bundle-%d.tar.zst", tmpdir, seq);
	sw_bundle_list_init(&l);
	assert_int_equal(sw_bundle_list_add(&l, dir, "dist", &err), 0);
	assert_int_equal(sw_bundle_list_finish(&l, &err), 0);
	assert_int_equal(sw_bundle_write(&l, bundle, 0, &r, &err), 0);
	sw_bundle_list_release(&l);
	memcpy(digest, r.sha256, SW_SHA256_HEX);
	assert_int_equal(sw_minisign_sign_file(k, bundle, "bundle.tar.zst", 1700000000, &sig, &err), 0);
	assert_int_equal(sw_fs_read_file(bundle, 64 << 20, &data, &err), 0);
	snprintf(url, sizeof(url), "/api/v1/releases/%s/bundle.tar.zst", digest);
	serve_file(url, data.data, data.len);
	snprintf(url, sizeof(url), "/api/v1/releases/%s/bundle.tar.zst.minisig", digest);
	serve_file(url, sig.data, sig.len);
	sw_buf_release(&sig);
	sw_buf_release(&data);
}

static void init(struct sw_installer *in, const char *root)
{
	char url[64];
	struct sw_err err = SW_ERR_INIT;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", srv.port);
	assert_int_equal(sw_installer_init(in, root, url, "swh_test", &err), 0);
	assert_int_equal(in->nkeys, 1);
}

static int exists_in(const char *root, const char *sub, const char *digest, const char *suffix)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s/%s%s", root, sub, digest, suffix);
	return sw_fs_exists(p);
}

static void test_install_and_reuse(void **state)
{
	struct sw_installer in;
	struct sw_err err = SW_ERR_INIT;
	struct sw_buf b = SW_BUF_INIT(4096);
	char root[PATH_MAX], d[SW_SHA256_HEX], dir[PATH_MAX], p[PATH_MAX];
	struct stat st1, st2;
	int hits;

	(void)state;
	make_root(root, "fresh");
	make_release("#!/bin/sh\necho hi\n", 18, &key, d);
	init(&in, root);
	assert_int_equal(sw_installer_install(&in, "svc", d, dir, sizeof(dir), &err), 0);
	snprintf(p, sizeof(p), "%s/releases/%s", root, d);
	assert_string_equal(dir, p);
	snprintf(p, sizeof(p), "%s/dist/app", dir);
	assert_int_equal(sw_fs_read_file(p, 4096, &b, &err), 0);
	assert_string_equal(b.data, "#!/bin/sh\necho hi\n");
	assert_string_equal(srv.last_auth, "Authorization: Bearer swh_test");
	assert_true(exists_in(root, "bundles", d, ".tar.zst"));
	assert_true(exists_in(root, "bundles", d, ".tar.zst.minisig"));
	assert_true(exists_in(root, "bundles", d, ".json"));
	/* Again: nothing downloaded, the same directory kept (after re-verifying the bundle). */
	assert_int_equal(stat(dir, &st1), 0);
	hits = atomic_load(&srv.hits);
	assert_int_equal(sw_installer_install(&in, "svc", d, dir, sizeof(dir), &err), 0);
	assert_int_equal(atomic_load(&srv.hits), hits);
	assert_int_equal(stat(dir, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	/* The bundle on disk was damaged: fetched again, verified, the directory replaced. */
	snprintf(p, sizeof(p), "%s/bundles/%s.tar.zst", root, d);
	put(p, "garbage", 7);
	assert_int_equal(sw_installer_install(&in, "svc", d, dir, sizeof(dir), &err), 0);
	assert_true(atomic_load(&srv.hits) > hits);
	{
		char sp[PATH_MAX];

		snprintf(sp, sizeof(sp), "%s.minisig", p);
		assert_int_equal(sw_installer_verify(&in, p, sp, d, &err), 0);
		/* A signature that belongs to other bytes. */
		put(sp, "untrusted comment: x\nnot base64\n", 32);
		assert_int_equal(sw_installer_verify(&in, p, sp, d, &err), -1);
		assert_int_equal(err.code, SW_EINTEGRITY);
	}
	sw_installer_release(&in);
	sw_buf_release(&b);
}

static void expect_refused(struct sw_installer *in, const char *root, const char *d, const char *needle)
{
	struct sw_err err = SW_ERR_INIT;

	assert_int_equal(sw_installer_install(in, "svc", d, NULL, 0, &err), -1);
	assert_int_equal(err.code, SW_EINTEGRITY);
	if (!strstr(err.msg, needle))
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
	/* Deleted, never unpacked. */
	assert_false(exists_in(root, "bundles", d, ".tar.zst"));
	assert_false(exists_in(root, "bundles", d, ".tar.zst.minisig"));
	assert_false(exists_in(root, "releases", d, ""));
}

static void test_refused(void **state)
{
	struct sw_installer in;
	struct sw_err err = SW_ERR_INIT;
	char root[PATH_MAX], d[SW_SHA256_HEX], d2[SW_SHA256_HEX], url[512];
	struct sw_buf bundle = SW_BUF_INIT(SW_BUF_UNLIMITED), sig = SW_BUF_INIT(65536);

	(void)state;
	make_root(root, "refuse");
	init(&in, root);
	/* Signed by a key this host does not trust. */
	make_release("untrusted", 9, &other_key, d);
	expect_refused(&in, root, d, "which is not a trusted key");
	/* The server's bundle does not match the digest it is served under. */
	make_release("tampered", 8, &key, d);
	make_release("something else", 14, &key, d2);
	snprintf(url, sizeof(url), "/api/v1/releases/%s/bundle.tar.zst", d2);
	pthread_mutex_lock(&srv.mu);
	for (size_t i = 0; i < srv.n; i++)
		if (!strcmp(srv.files[i].path, url))
			sw_buf_append(&bundle, srv.files[i].body.data, srv.files[i].body.len);
	pthread_mutex_unlock(&srv.mu);
	/* Put d2's bytes under a third, made-up digest with d2's valid signature. */
	{
		const char *fake = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

		snprintf(url, sizeof(url), "/api/v1/releases/%s/bundle.tar.zst", fake);
		serve_file(url, bundle.data, bundle.len);
		assert_int_equal(sw_minisign_sign_mem(&key, bundle.data, bundle.len, "bundle.tar.zst", 1, &sig, &err), 0);
		snprintf(url, sizeof(url), "/api/v1/releases/%s/bundle.tar.zst.minisig", fake);
		serve_file(url, sig.data, sig.len);
		expect_refused(&in, root, fake, "bundle digest mismatch");
	}
	/* A valid digest whose signature covers other bytes. */
	{
		struct archive *a = archive_write_new();
		struct archive_entry *e = archive_entry_new();
		unsigned char *buf = malloc(1 << 16);
		size_t used = 0;
		char hex[SW_SHA256_HEX];

		/* An archive that climbs out of its directory, correctly signed: the unpacker refuses it. */
		archive_write_set_format_pax_restricted(a);
		assert_int_equal(archive_write_open_memory(a, buf, 1 << 16, &used), ARCHIVE_OK);
		archive_entry_set_pathname(e, "../../evil");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, 1);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, "x", 1), 1);
		archive_entry_free(e);
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
		sw_sha256_hex(buf, used, hex);
		snprintf(url, sizeof(url), "/api/v1/releases/%s/bundle.tar.zst", hex);
		serve_file(url, buf, used);
		sw_buf_reset(&sig);
		assert_int_equal(sw_minisign_sign_mem(&key, buf, used, "bundle.tar.zst", 1, &sig, &err), 0);
		snprintf(url, sizeof(url), "/api/v1/releases/%s/bundle.tar.zst.minisig", hex);
		serve_file(url, sig.data, sig.len);
		expect_refused(&in, root, hex, "archive refused by the unpacker");
		free(buf);
		{
			char evil[PATH_MAX];

			snprintf(evil, sizeof(evil), "%s/evil", tmpdir);
			assert_false(sw_fs_exists(evil));
		}
	}
	/* Unknown on the server: failed (not refused), nothing left. */
	assert_int_equal(sw_installer_install(&in, "svc", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", NULL,
					      0, &err),
			 -1);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_false(exists_in(root, "bundles", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", ".tar.zst"));
	/* Not a digest at all. */
	assert_int_equal(sw_installer_install(&in, "svc", "../x", NULL, 0, &err), -1);
	assert_int_equal(err.code, SW_EINPUT);
	sw_installer_release(&in);
	sw_buf_release(&bundle);
	sw_buf_release(&sig);
}

static void test_no_keys(void **state)
{
	struct sw_installer in;
	struct sw_err err = SW_ERR_INIT;
	char root[PATH_MAX], url[64], d[SW_SHA256_HEX];

	(void)state;
	snprintf(root, sizeof(root), "%s/nokeys", tmpdir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", srv.port);
	assert_int_equal(sw_installer_init(&in, root, url, "t", &err), 0);
	assert_int_equal(in.nkeys, 0);
	make_release("k", 1, &key, d);
	expect_refused(&in, root, d, "trusts no key");
	sw_installer_release(&in);
}

static void test_prune(void **state)
{
	struct sw_installer in;
	struct sw_err err = SW_ERR_INIT;
	char root[PATH_MAX], d[5][SW_SHA256_HEX], content[32];
	const char *use[1];
	int i;

	(void)state;
	make_root(root, "prune");
	init(&in, root);
	for (i = 0; i < 5; i++) {
		snprintf(content, sizeof(content), "release %d", i);
		make_release(content, strlen(content), &key, d[i]);
		assert_int_equal(sw_installer_install(&in, i < 4 ? "svc" : "other", d[i], NULL, 0, &err), 0);
		usleep(5000); /* distinct last-use times */
	}
	/* d[0] runs (in use); keep 2: d[0] + the newest other (d[3]); d[1], d[2] go; other services untouched. */
	use[0] = d[0];
	assert_int_equal(sw_installer_prune(&in, "svc", 2, use, 1, &err), 0);
	assert_true(exists_in(root, "releases", d[0], ""));
	assert_true(exists_in(root, "releases", d[3], ""));
	assert_false(exists_in(root, "releases", d[1], ""));
	assert_false(exists_in(root, "releases", d[2], ""));
	assert_false(exists_in(root, "bundles", d[1], ".tar.zst"));
	assert_false(exists_in(root, "bundles", d[2], ".json"));
	assert_true(exists_in(root, "releases", d[4], ""));
	/* keep 1 with one in use: only that one. */
	assert_int_equal(sw_installer_prune(&in, "svc", 1, use, 1, &err), 0);
	assert_true(exists_in(root, "releases", d[0], ""));
	assert_false(exists_in(root, "releases", d[3], ""));
	/* In use beyond keep: still kept. */
	assert_int_equal(sw_installer_prune(&in, "other", 1, NULL, 0, &err), 0);
	assert_true(exists_in(root, "releases", d[4], ""));
	sw_installer_release(&in);
}

static void test_disk_full(void **state)
{
	struct sw_installer in;
	struct sw_err err = SW_ERR_INIT;
	char root[PATH_MAX], mnt[PATH_MAX], d[SW_SHA256_HEX], *big;
	size_t n = 3 << 20, i;
	unsigned x = 12345;

	(void)state;
	snprintf(mnt, sizeof(mnt), "%s/small", tmpdir);
	assert_int_equal(sw_fs_mkdirs(mnt, 0755, &err), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0)
		skip(); /* not allowed to mount here */
	snprintf(root, sizeof(root), "%s/root", mnt);
	make_root(root, "small/root");
	init(&in, root);
	/* Incompressible: the download itself does not fit. */
	big = malloc(n);
	for (i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (char)(x >> 16);
	}
	make_release(big, n, &key, d);
	assert_int_equal(sw_installer_install(&in, "svc", d, NULL, 0, &err), -1);
	if (!strstr(err.msg, "no space left on device while downloading"))
		fail_msg("unexpected: %s", err.msg);
	assert_false(exists_in(root, "bundles", d, ".tar.zst"));
	/* Compressible: the bundle fits, the unpacked files do not. */
	memset(big, 'z', n);
	make_release(big, n, &key, d);
	assert_int_equal(sw_installer_install(&in, "svc", d, NULL, 0, &err), -1);
	if (!strstr(err.msg, "no space left on device while unpacking"))
		fail_msg("unexpected: %s", err.msg);
	assert_false(exists_in(root, "releases", d, ""));
	free(big);
	sw_installer_release(&in);
	assert_int_equal(umount(mnt), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_and_reuse),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_no_keys),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_disk_full),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("agent_installer", tests, setup, teardown);
}
