/*
 * hook.c - bounded shell commands with output to the slot log (see hook.h).
 * Calls base/proc, base/clock, base/num, libc.
 */
#include "agent/hook.h"
#include "base/clock.h"
#include "base/num.h"
#include "base/proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Copy what the pipe holds now to log_fd (-1: discard). 1 at EOF, 0 otherwise. */
static int sw_hook_drain(int out_fd, int log_fd)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(out_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 0; /* EAGAIN: nothing more for now */
		if (n == 0)
			return 1;
		if (log_fd >= 0) {
			ssize_t off = 0;

			while (off < n) {
				ssize_t w = write(log_fd, buf + off, (size_t)(n - off));

				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					break; /* a full log disk must not fail the hook */
				off += w;
			}
		}
	}
}

int sw_hook_run(const char *what, const char *cmd, const char *cwd, char *const envp[], uint64_t timeout_ms,
		int log_fd, const atomic_bool *cancel, struct sw_err *err)
{
	struct sw_proc p = SW_PROC_INIT;
	uint64_t deadline = sw_clock_mono_ms() + timeout_ms;
	char desc[64], dur[32];
	int eof = 0, timed_out = 0, canceled = 0;

	if (sw_proc_spawn(&p, cmd, cwd, envp, err) < 0) {
		sw_err_prefix(err, "%s", what);
		return -1;
	}
	for (;;) {
		struct pollfd pfd[2];
		uint64_t now = sw_clock_mono_ms(), left;
		nfds_t n = 0;
		int exited;

		if (!eof)
			eof = sw_hook_drain(p.out_fd, log_fd);
		exited = sw_proc_exited(&p);
		if (exited)
			break;
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		if (cancel && atomic_load(cancel)) {
			canceled = 1;
			break;
		}
		left = deadline - now;
		if (left > 100)
			left = 100;
		if (!eof) {
			pfd[n].fd = p.out_fd;
			pfd[n++].events = POLLIN;
		}
		if (p.wait_fd >= 0) {
			pfd[n].fd = p.wait_fd;
			pfd[n++].events = POLLIN;
		}
		if (n)
			poll(pfd, n, (int)left);
		else
			poll(NULL, 0, (int)(left > 20 ? 20 : left));
	}
	if (timed_out || canceled)
		sw_proc_signal(&p, SIGKILL);
	sw_proc_reap(&p);
	if (!eof)
		sw_hook_drain(p.out_fd, log_fd);
	sw_proc_close(&p);
	if (timed_out)
		return sw_err_set(err, SW_ETIMEOUT, "%s timed out after %s", what,
				  sw_format_duration_ms(timeout_ms, dur, sizeof(dur)));
	if (canceled)
		return sw_err_set(err, SW_ECANCELED, "%s canceled: the agent is stopping", what);
	if (sw_proc_exit_code(p.status) != 0)
		return sw_err_set(err, SW_EFAILED, "%s failed: %s", what, sw_proc_describe(p.status, desc, sizeof(desc)));
	return 0;
}
