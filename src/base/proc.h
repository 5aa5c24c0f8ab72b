/*
 * proc.h - child processes: `/bin/sh -c TEXT` in its own process group.
 *
 * sw_proc_spawn() starts the shell with posix_spawn (vfork-cheap on glibc)
 * as the leader of a new process group, in a given directory, with exactly
 * the environment array it is given (nothing inherited), stdin on /dev/null
 * and stdout + stderr joined into one pipe whose read end (non-blocking,
 * close-on-exec) the caller drains; every other fd is closed in the child
 * (also ones our own parent let us inherit without close-on-exec). Signals the parent ignores or handles
 * are reset to their defaults in the child, and its signal mask is empty.
 *
 * Exit is observed through a pidfd (poll() says POLLIN when the child has
 * exited) so that callers need no SIGCHLD handler; on kernels without
 * pidfds wait_fd is -1 and callers poll sw_proc_exited() on a short timer.
 *
 * The group leader stays unreaped (a zombie) until sw_proc_reap(), so its
 * pid cannot be reused as a group id while the group is signalled:
 * sw_proc_reap() first kills what is left of the group (background
 * processes a step started), then reaps the leader.
 *
 * sw_proc_run() is the other way in: one program run to completion with an
 * argv (no shell in between, so no argument is ever re-parsed), in the
 * caller's process group and environment (ssh needs $SSH_AUTH_SOCK, and
 * Ctrl-C reaches it too), its stdin fed from memory and its stdout and
 * stderr captured apart, killed at a deadline.
 *
 * Calls only libc, base/buf and base/err. The caller owns struct sw_proc and
 * must call sw_proc_reap() (or sw_proc_close()) and close out_fd when done.
 */
#ifndef SW_PROC_H
#define SW_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/err.h"

struct sw_proc {
	pid_t pid;   /* also the process group id; 0 when none */
	int out_fd;  /* read end of stdout+stderr, or -1 */
	int wait_fd; /* pidfd, readable once the child exited, or -1 */
	int status;  /* wait status, valid once reaped */
	bool reaped;
};

#define SW_PROC_INIT { .pid = 0, .out_fd = -1, .wait_fd = -1, .status = 0, .reaped = false }

/* Start /bin/sh -c cmd in cwd (NULL: current directory) with envp (NULL-terminated). */
int sw_proc_spawn(struct sw_proc *p, const char *cmd, const char *cwd, char *const envp[], struct sw_err *err);
/* Send sig to the whole process group; 0, or -1 if the group is gone. */
int sw_proc_signal(struct sw_proc *p, int sig);
/* Has the leader exited (without reaping it)? 1 yes, 0 no. */
int sw_proc_exited(struct sw_proc *p);
/*
 * Wait up to timeout_ms (-1: forever) for the leader to exit; 1 if it has,
 * 0 on timeout. Output is not drained meanwhile: use it for children that
 * write little or when out_fd is being read elsewhere.
 */
int sw_proc_wait_exit(struct sw_proc *p, int timeout_ms);
/*
 * Kill the rest of the group with SIGKILL, reap the leader (blocking until
 * it has exited) and close wait_fd. out_fd stays open for a final drain.
 */
void sw_proc_reap(struct sw_proc *p);
/* Kill the group if still running, reap, close both fds. Safe to call twice. */
void sw_proc_close(struct sw_proc *p);

/*
 * Run argv (argv[0] looked up in PATH) to completion: stdin gets
 * in[0..in_len) and is then closed (in NULL: /dev/null); stdout goes to out
 * and stderr to errout (NULL: discarded; what passes a buffer's max is
 * dropped, see sw_buf_failed()). No other fd reaches the child. The child is
 * killed with SIGKILL when it has not exited after timeout_ms (> 0).
 * *status gets the wait status. Returns 0 once it exited (whatever its
 * status); -1 with SW_EIO when it could not be started (a missing program is
 * "cannot run 'ssh': No such file or directory"), or SW_ETIMEOUT when it was
 * killed at the deadline (the output so far is kept).
 */
int sw_proc_run(char *const argv[], const void *in, size_t in_len, int timeout_ms, struct sw_buf *out,
		struct sw_buf *errout, int *status, struct sw_err *err);

/* Exit code of a wait status: the code, or 128 + signal number. */
int sw_proc_exit_code(int status);
/* "exit 2", "killed by SIGTERM" into out. */
const char *sw_proc_describe(int status, char *out, size_t size);

#endif
