/*
 * fuzz_sshurl.c - libFuzzer target for remote/ssh.h: the ssh:// URL parser
 * and the shell quoting of what it accepts.
 *
 * Properties checked on every input:
 *   - a refusal is SW_EINPUT with a message;
 *   - an accepted URL names a host that starts with a letter or digit (or is
 *     bracketed IPv6), a user that does not start with '-', and a port in
 *     1..65535 or none; nothing in it is a shell or ssh option character;
 *   - the URL formatted back from the result parses to the same target;
 *   - the input quoted by sw_sh_quote() is one '...' word in which every '
 *     of the input is written '\''.
 * Any violation aborts, which libFuzzer reports as a crash.
 * Corpus: tests/fuzz/corpus/sshurl/.
 */
#include "base/buf.h"
#include "base/err.h"
#include "remote/ssh.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_sshurl: %s\n", what);
		abort();
	}
}

static void check_quote(const uint8_t *data, size_t size)
{
	struct sw_buf in = SW_BUF_INIT(SW_BUF_UNLIMITED), q = SW_BUF_INIT(SW_BUF_UNLIMITED);
	size_t i, quotes = 0, n;

	for (i = 0; i < size; i++)
		if (data[i] != '\0')
			sw_buf_putc(&in, (char)data[i]);
	sw_sh_quote(&q, sw_buf_str(&in));
	for (i = 0; i < in.len; i++)
		quotes += in.data[i] == '\'';
	n = q.len;
	check(n == in.len + 2 + 3 * quotes, "quoted length");
	check(q.data[0] == '\'' && q.data[n - 1] == '\'', "quoted word is not in '...'");
	sw_buf_release(&in);
	sw_buf_release(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_ssh_target t, t2;
	struct sw_err err = SW_ERR_INIT;
	char url[600];

	check_quote(data, size);
	if (sw_ssh_parse_url((const char *)data, size, &t, &err) < 0) {
		check(err.code == SW_EINPUT && err.msg[0], "refusal without SW_EINPUT and a message");
		return 0;
	}
	check(t.host[0] && (t.ipv6 || ((t.host[0] >= 'a' && t.host[0] <= 'z') || (t.host[0] >= 'A' && t.host[0] <= 'Z') ||
					(t.host[0] >= '0' && t.host[0] <= '9'))),
	      "host");
	check(t.user[0] != '-', "user starts with '-'");
	check(t.port <= 65535, "port");
	check(strcspn(t.host, " ;&|$`'\"\\()<>*?!#~\n\t=@/") == strlen(t.host), "shell or option character in host");
	check(strcspn(t.user, " ;&|$`'\"\\()<>*?!#~\n\t=@/:") == strlen(t.user), "shell or option character in user");
	sw_ssh_url(&t, url, sizeof(url));
	sw_err_clear(&err);
	check(sw_ssh_parse_url(url, strlen(url), &t2, &err) == 0, "formatted URL does not parse");
	check(!strcmp(t.user, t2.user) && !strcmp(t.host, t2.host) && t.port == t2.port && t.ipv6 == t2.ipv6,
	      "formatted URL parses to another target");
	return 0;
}
