/*
 * proc.c - /bin/sh -c in its own process group, joined output pipe, pidfd
 * exit notification, group kill and reaping (see proc.h).
 * Calls only libc and base/err.
 */
#include "base/proc.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
