/*
 * prov_command.c - a bounded shell command as a measurement (see prov_command.h).
 */
#include "analysis/prov_command.h"
#include "base/clock.h"
#include "base/mem.h"
#include "base/num.h"
#include "base/proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tail {
	char data[SW_PROV_COMMAND_TAIL];
	size_t len;
};

static void tail_add(struct tail *t, const char *p, size_t n)
{
	if (n >= sizeof(t->data)) {
		memcpy(t->data, p + n - sizeof(t->data), sizeof(t->data));
		t->len = sizeof(t->data);
		return;
	}
	if (t->len + n > sizeof(t->data)) {
		size_t drop = t->len + n - sizeof(t->data);

		memmove(t->data, t->data + drop, t->len - drop);
		t->len -= drop;
	}
	memcpy(t->data + t->len, p, n);
	t->len += n;
}

/* Read what the pipe holds now; 1 at EOF, 0 otherwise. */
static int drain(int fd, struct tail *t)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 0;
		if (n == 0)
			return 1;
		tail_add(t, buf, (size_t)n);
	}
}

/* The last non-empty line of the output: *p, *len. */
static void last_line(const struct tail *t, const char **p, size_t *len)
{
	size_t end = t->len, start;

	while (end > 0 && strchr(" \t\r\n", t->data[end - 1]) && t->data[end - 1])
		end--;
	start = end;
	while (start > 0 && t->data[start - 1] != '\n')
		start--;
	*p = t->data + start;
	*len = end - start;
}

static char *env_entry(struct sw_buf *b, const char *name, const char *value)
{
	sw_buf_reset(b);
	sw_buf_printf(b, "%s=%s", name, value);
	return sw_buf_detach(b, NULL);
}

int sw_prov_command_measure(struct sw_provider_run *run, struct sw_err *err)
{
	const struct sw_analysis_target *t = run->t;
	struct sw_buf cmd = SW_BUF_INIT(64 * 1024), canary = SW_BUF_INIT(64 * 1024), stable = SW_BUF_INIT(64 * 1024);
	struct sw_buf tmp = SW_BUF_INIT(128 * 1024);
	struct sw_proc p = SW_PROC_INIT;
	struct tail *out = sw_xcalloc(1, sizeof(*out));
	char *envp[8] = { NULL };
	const char *path = getenv("PATH"), *home = getenv("HOME"), *line;
	uint64_t deadline;
	size_t i, n = 0, len;
	int eof = 0, timed_out = 0, rc = -1;
	char dur[32];
	double num;

	if (sw_provider_expand(run->a->command, t, true, &cmd, err) < 0)
		goto out;
	for (i = 0; i < t->ncanary_addrs; i++)
		sw_buf_printf(&canary, "%s%s", i ? "," : "", t->canary_addrs[i]);
	for (i = 0; i < t->nstable_addrs; i++)
		sw_buf_printf(&stable, "%s%s", i ? "," : "", t->stable_addrs[i]);
	envp[n++] = env_entry(&tmp, "PATH", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	envp[n++] = env_entry(&tmp, "HOME", home && *home ? home : "/");
	envp[n++] = env_entry(&tmp, "LANG", "C.UTF-8");
	envp[n++] = env_entry(&tmp, "SLIPWAY_ANALYSIS", run->a->name ? run->a->name : "");
	envp[n++] = env_entry(&tmp, "SLIPWAY_CANARY", sw_buf_str(&canary));
	envp[n++] = env_entry(&tmp, "SLIPWAY_STABLE", sw_buf_str(&stable));
	if (sw_proc_spawn(&p, sw_buf_str(&cmd), t->cwd, envp, err) < 0)
		goto out;
	deadline = sw_clock_mono_ms() + run->timeout_ms;
	for (;;) {
		struct pollfd pfd[2];
		uint64_t now = sw_clock_mono_ms(), left;
		nfds_t k = 0;

		if (!eof)
			eof = drain(p.out_fd, out);
		if (sw_proc_exited(&p))
			break;
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		left = deadline - now > 100 ? 100 : deadline - now;
		if (!eof) {
			pfd[k].fd = p.out_fd;
			pfd[k++].events = POLLIN;
		}
		if (p.wait_fd >= 0) {
			pfd[k].fd = p.wait_fd;
			pfd[k++].events = POLLIN;
		}
		if (k)
			poll(pfd, k, (int)left);
		else
			poll(NULL, 0, (int)(left > 20 ? 20 : left));
	}
	if (timed_out)
		sw_proc_signal(&p, SIGKILL);
	sw_proc_reap(&p); /* kills what is left of the group */
	if (!eof)
		drain(p.out_fd, out);
	if (timed_out) {
		sw_err_set(err, SW_ETIMEOUT, "command timed out after %s (its process group was killed)",
			   sw_format_duration_ms(run->timeout_ms, dur, sizeof(dur)));
		goto out;
	}
	sw_values_set_integer(&run->vals, "exit_code", sw_proc_exit_code(p.status));
	last_line(out, &line, &len);
	if (sw_provider_parse_number(line, len, &num) == 0)
		sw_values_set_number(&run->vals, "result", num);
	else if (len == 0)
		sw_values_set_absent(&run->vals, "result", SW_VERDICT_ERROR, "the command printed nothing");
	else
		sw_values_set_absent(&run->vals, "result", SW_VERDICT_ERROR,
				     "the last line the command printed is not a number: '%.*s%s'", (int)(len > 80 ? 80 : len),
				     line, len > 80 ? "..." : "");
	rc = 0;
out:
	sw_proc_close(&p);
	for (i = 0; i < n; i++)
		free(envp[i]);
	free(out);
	sw_buf_release(&tmp);
	sw_buf_release(&stable);
	sw_buf_release(&canary);
	sw_buf_release(&cmd);
	return rc;
}
