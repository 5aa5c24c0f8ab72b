/*
 * proc.c - /bin/sh -c in its own process group, joined output pipe, pidfd
 * exit notification, group kill and reaping; argv programs run to
 * completion with stdin from memory (see proc.h).
 * Calls only libc, base/buf and base/err.
 */
#include "base/proc.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Signals reset to SIG_DFL in the child: the parent may ignore SIGPIPE or catch the others. */
static const int sw_proc_default_signals[] = {
	SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2,
	SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ, SIGWINCH,
};

static int sw_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* Move fd above stdin/stdout/stderr so that dup2 in the child cannot clobber it. */
static int sw_fd_above_stdio(int fd)
{
	int nfd;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

int sw_proc_spawn(struct sw_proc *p, const char *cmd, const char *cwd, char *const envp[], struct sw_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, defs;
	char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	int fds[2], rc;
	size_t i;
	pid_t pid;

	p->pid = 0;
	p->out_fd = p->wait_fd = -1;
	p->status = 0;
	p->reaped = false;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return sw_err_set(err, SW_EIO, "cannot create a pipe: %s", strerror(errno));
	fds[0] = sw_fd_above_stdio(fds[0]);
	fds[1] = sw_fd_above_stdio(fds[1]);
	if (fds[0] < 0 || fds[1] < 0) {
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		return sw_err_set(err, SW_EIO, "cannot create a pipe: %s", strerror(errno));
	}
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
		rc = errno;
		goto fail_pipe;
	}

	sigemptyset(&mask);
	sigemptyset(&defs);
	for (i = 0; i < SW_ARRAY_LEN(sw_proc_default_signals); i++)
		sigaddset(&defs, sw_proc_default_signals[i]);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &mask);
	posix_spawnattr_setsigdefault(&attr, &defs);
	posix_spawn_file_actions_init(&fa);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* Nothing else reaches the step, not even fds our own parent leaked to us. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		goto fail_pipe;
	close(fds[1]);
	p->pid = pid;
	p->out_fd = fds[0];
	p->wait_fd = sw_pidfd_open(pid);
	return 0;

fail_pipe:
	close(fds[0]);
	close(fds[1]);
	if (cwd)
		return sw_err_set(err, SW_EIO, "cannot start '/bin/sh' in '%s': %s", cwd, strerror(rc));
	return sw_err_set(err, SW_EIO, "cannot start '/bin/sh': %s", strerror(rc));
}

int sw_proc_signal(struct sw_proc *p, int sig)
{
	if (p->pid <= 0 || p->reaped)
		return -1;
	return kill(-p->pid, sig) < 0 ? -1 : 0;
}

int sw_proc_exited(struct sw_proc *p)
{
	siginfo_t si;

	if (p->pid <= 0 || p->reaped)
		return 1;
	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		if (errno != EINTR)
			return 1; /* ECHILD: nothing left to wait for */
	}
	return si.si_pid != 0;
}

int sw_proc_wait_exit(struct sw_proc *p, int timeout_ms)
{
	struct timespec ts = { 0, 10000000L }; /* 10 ms */
	int waited = 0;

	if (p->wait_fd >= 0) {
		struct pollfd pfd = { .fd = p->wait_fd, .events = POLLIN };
		int r;

		do
			r = poll(&pfd, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		return r > 0 ? 1 : sw_proc_exited(p);
	}
	/* No pidfd: check every 10 ms. */
	for (;;) {
		if (sw_proc_exited(p))
			return 1;
		if (timeout_ms >= 0 && waited >= timeout_ms)
			return 0;
		nanosleep(&ts, NULL);
		waited += 10;
	}
}

void sw_proc_reap(struct sw_proc *p)
{
	if (p->pid <= 0 || p->reaped)
		return;
	/* The leader is a zombie or running: its pid still names the group. */
	kill(-p->pid, SIGKILL);
	while (waitpid(p->pid, &p->status, 0) < 0) {
		if (errno != EINTR) {
			p->status = 0;
			break;
		}
	}
	p->reaped = true;
	if (p->wait_fd >= 0) {
		close(p->wait_fd);
		p->wait_fd = -1;
	}
}

void sw_proc_close(struct sw_proc *p)
{
	sw_proc_reap(p);
	if (p->out_fd >= 0) {
		close(p->out_fd);
		p->out_fd = -1;
	}
}

static int64_t sw_proc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A pipe whose ends are both above stdio, close-on-exec; the parent's end (which) non-blocking. */
static int sw_proc_pipe(int fds[2], int parent_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	fds[0] = sw_fd_above_stdio(fds[0]);
	fds[1] = sw_fd_above_stdio(fds[1]);
	if (fds[0] < 0 || fds[1] < 0 || fcntl(fds[parent_end], F_SETFL, O_NONBLOCK) < 0) {
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		fds[0] = fds[1] = -1;
		return -1;
	}
	return 0;
}

static void sw_proc_closefd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Read what fd has now into b (NULL: discard); 1 at EOF or error, else 0. */
static int sw_proc_drain(int fd, struct sw_buf *b)
{
	char chunk[4096];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n > 0) {
			if (b)
				sw_buf_append(b, chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return 1;
	}
}

/*
 * write(2) that cannot raise SIGPIPE, whatever the process does with it:
 * the signal is blocked in this thread around the write and a pending one
 * is taken back, so a child that stops reading gives EPIPE, not a death.
 */
static ssize_t sw_proc_write_nosigpipe(int fd, const void *p, size_t n)
{
	sigset_t pipe_set, old;
	struct timespec zero = { 0, 0 };
	ssize_t w;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	w = write(fd, p, n);
	saved = errno;
	if (w < 0 && errno == EPIPE && !sigismember(&old, SIGPIPE))
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return w;
}

int sw_proc_run(char *const argv[], const void *in, size_t in_len, int timeout_ms, struct sw_buf *out,
		struct sw_buf *errout, int *status, struct sw_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, defs;
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 }, pidfd = -1, rc, ws = 0;
	int64_t deadline = sw_proc_now_ms() + timeout_ms;
	size_t sent = 0, i;
	bool exited = false, timed_out = false;
	pid_t pid;

	SW_BUG_ON(!argv || !argv[0] || timeout_ms <= 0);
	*status = 0;
	if ((in && sw_proc_pipe(pin, 1) < 0) || sw_proc_pipe(pout, 0) < 0 || sw_proc_pipe(perr, 0) < 0) {
		rc = errno;
		sw_proc_closefd(&pin[0]);
		sw_proc_closefd(&pin[1]);
		sw_proc_closefd(&pout[0]);
		sw_proc_closefd(&pout[1]);
		return sw_err_set(err, SW_EIO, "cannot create a pipe: %s", strerror(rc));
	}
	sigemptyset(&mask);
	sigemptyset(&defs);
	for (i = 0; i < SW_ARRAY_LEN(sw_proc_default_signals); i++)
		sigaddset(&defs, sw_proc_default_signals[i]);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &mask);
	posix_spawnattr_setsigdefault(&attr, &defs);
	posix_spawn_file_actions_init(&fa);
	if (in)
		posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	sw_proc_closefd(&pin[0]);
	sw_proc_closefd(&pout[1]);
	sw_proc_closefd(&perr[1]);
	if (rc != 0) {
		sw_proc_closefd(&pin[1]);
		sw_proc_closefd(&pout[0]);
		sw_proc_closefd(&perr[0]);
		return sw_err_set(err, SW_EIO, "cannot run '%s': %s", argv[0], strerror(rc));
	}
	pidfd = sw_pidfd_open(pid);
	if (in && in_len == 0)
		sw_proc_closefd(&pin[1]);

	/* Feed stdin and read both outputs until the child exits (or the deadline). */
	while (!exited) {
		struct pollfd pf[4];
		int n = 0, wait_ms, r, ipid = -1, iin = -1, iout = -1, ierr = -1;
		int64_t left = deadline - sw_proc_now_ms();

		if (left <= 0) {
			timed_out = true;
			break;
		}
		wait_ms = left > 50 && pidfd < 0 ? 50 : (int)left;
		if (pidfd >= 0) {
			pf[n] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
			ipid = n++;
		}
		if (pin[1] >= 0) {
			pf[n] = (struct pollfd){ .fd = pin[1], .events = POLLOUT };
			iin = n++;
		}
		if (pout[0] >= 0) {
			pf[n] = (struct pollfd){ .fd = pout[0], .events = POLLIN };
			iout = n++;
		}
		if (perr[0] >= 0) {
			pf[n] = (struct pollfd){ .fd = perr[0], .events = POLLIN };
			ierr = n++;
		}
		r = poll(pf, (nfds_t)n, wait_ms);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && iin >= 0 && pf[iin].revents) {
			ssize_t w = sw_proc_write_nosigpipe(pin[1], (const char *)in + sent, in_len - sent);

			if (w > 0)
				sent += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == in_len)
				sw_proc_closefd(&pin[1]); /* all sent, or the child stopped reading (EPIPE) */
		}
		if (r > 0 && iout >= 0 && pf[iout].revents && sw_proc_drain(pout[0], out))
			sw_proc_closefd(&pout[0]);
		if (r > 0 && ierr >= 0 && pf[ierr].revents && sw_proc_drain(perr[0], errout))
			sw_proc_closefd(&perr[0]);
		if (pidfd < 0 || (ipid >= 0 && r > 0 && pf[ipid].revents)) {
			siginfo_t si;

			memset(&si, 0, sizeof(si));
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0)
				exited = true;
		}
	}
	if (!exited)
		kill(pid, SIGKILL);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	/* What the child wrote before it exited is in the pipes: take it (a grandchild keeping them open is not waited for). */
	if (pout[0] >= 0)
		sw_proc_drain(pout[0], out);
	if (perr[0] >= 0)
		sw_proc_drain(perr[0], errout);
	sw_proc_closefd(&pin[1]);
	sw_proc_closefd(&pout[0]);
	sw_proc_closefd(&perr[0]);
	sw_proc_closefd(&pidfd);
	*status = ws;
	if (timed_out)
		return sw_err_set(err, SW_ETIMEOUT, "'%s' did not finish within %d ms (killed)", argv[0], timeout_ms);
	if (!exited)
		return sw_err_set(err, SW_EIO, "cannot wait for '%s': %s", argv[0], strerror(errno));
	return 0;
}

int sw_proc_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

const char *sw_proc_describe(int status, char *out, size_t size)
{
	if (WIFEXITED(status)) {
		snprintf(out, size, "exit %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		const char *name = sigabbrev_np(WTERMSIG(status));

		if (name)
			snprintf(out, size, "killed by SIG%s", name);
		else
			snprintf(out, size, "killed by signal %d", WTERMSIG(status));
	} else {
		snprintf(out, size, "unknown status %d", status);
	}
	return out;
}
