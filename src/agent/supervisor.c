/*
 * supervisor.c - supervised service processes, pid files, adoption,
 * restart backoff and log rotation (see supervisor.h).
 * Calls libc and base/.
 */
#include "agent/supervisor.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/num.h"
#include "base/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Signals reset to SIG_DFL in the service: the agent ignores or waits for some. */
static const int sw_supervisor_default_signals[] = {
	SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2,
	SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ, SIGWINCH,
};

static int sw_supervisor_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

static void sw_supervisor_sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Fields of /proc/PID/stat: state (3), process group (5), session (6), start time (22). */
static int sw_supervisor_proc_fields(pid_t pid, char *state, long *pgrp, long *session, uint64_t *start_ticks)
{
	char path[64], buf[1024], *p, *save = NULL, *tok;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) state ...": comm may hold spaces and parentheses. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	p++;
	for (field = 3, tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
		if (field == 3 && state)
			*state = tok[0];
		if (field == 5 && pgrp)
			*pgrp = strtol(tok, NULL, 10);
		if (field == 6 && session)
			*session = strtol(tok, NULL, 10);
		if (field == 22) {
			uint64_t v;

			if (sw_parse_u64(tok, strlen(tok), 0, UINT64_MAX, &v) < 0)
				return -1;
			if (start_ticks)
				*start_ticks = v;
			return 0;
		}
	}
	return -1;
}

int sw_supervisor_proc_stat(pid_t pid, uint64_t *start_ticks, char *state)
{
	return sw_supervisor_proc_fields(pid, state, NULL, NULL, start_ticks);
}

/* Does anything of the group of p live on, its leader gone? A member has the leader's pid
 * as process group and session (the service runs in its own session) and started no
 * earlier than the leader. While any member lives the kernel does not give that pid to a
 * new process, so the group id still names this group. */
static bool sw_supervisor_group_left(const struct sw_supervisor_proc *p)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		uint64_t pid, ticks = 0;
		long pgrp = 0, sid = 0;
		char state = 0;

		if (sw_parse_u64(e->d_name, strlen(e->d_name), 1, INT32_MAX, &pid) < 0)
			continue;
		if (sw_supervisor_proc_fields((pid_t)pid, &state, &pgrp, &sid, &ticks) == 0 && pgrp == (long)p->pid &&
		    sid == (long)p->pid && ticks >= p->start_ticks && state != 'Z' && state != 'X')
			found = true;
	}
	closedir(d);
	return found;
}

void sw_supervisor_boot_id(char out[40])
{
	struct sw_buf b = SW_BUF_INIT(256);
	size_t n;

	out[0] = '\0';
	if (sw_fs_read_file("/proc/sys/kernel/random/boot_id", 256, &b, NULL) == 0) {
		n = b.len;
		while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == ' '))
			n--;
		if (n < 40) {
			memcpy(out, b.data, n);
			out[n] = '\0';
		}
	}
	sw_buf_release(&b);
}

int sw_supervisor_spawn(struct sw_supervisor_proc *p, const struct sw_supervisor_spec *s, struct sw_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, defs;
	char *argv[] = { "/bin/sh", "-c", (char *)s->command, NULL };
	size_t i;
	pid_t pid;
	int logfd, rc;
	char state = 0;

	*p = (struct sw_supervisor_proc)SW_SUPERVISOR_PROC_INIT;
	logfd = open(s->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (logfd < 0)
		return sw_err_set(err, SW_EIO, "cannot open '%s': %s", s->log_path, strerror(errno));
	if (logfd <= 2) {
		int nfd = fcntl(logfd, F_DUPFD_CLOEXEC, 3);

		close(logfd);
		if (nfd < 0)
			return sw_err_set(err, SW_EIO, "cannot open '%s': %s", s->log_path, strerror(errno));
		logfd = nfd;
	}
	sigemptyset(&mask);
	sigemptyset(&defs);
	for (i = 0; i < SW_ARRAY_LEN(sw_supervisor_default_signals); i++)
		sigaddset(&defs, sw_supervisor_default_signals[i]);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &mask);
	posix_spawnattr_setsigdefault(&attr, &defs);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, logfd, 1);
	posix_spawn_file_actions_adddup2(&fa, logfd, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, s->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(logfd);
	if (rc != 0)
		return sw_err_set(err, SW_EIO, "cannot start the service in '%s': %s", s->cwd, strerror(rc));
	p->pid = pid;
	p->child = true;
	p->started_mono_ms = sw_clock_mono_ms();
	p->pidfd = sw_supervisor_pidfd_open(pid);
	/* Our unreaped child: its /proc entry stays until we reap it. */
	if (sw_supervisor_proc_stat(pid, &p->start_ticks, &state) < 0)
		p->start_ticks = 0;
	return 0;
}

/* Kill what is left of the group: while the leader's pid is held (alive or a zombie), or,
 * for an adopted process whose leader was already reaped by its parent (init), while members
 * of its group live on. Without the second case a service whose wrapper died (sh -c) kept
 * running orphaned, holding its port, and every restart failed; whether it happened
 * depended on who looked first, init or the agent. */
static void sw_supervisor_kill_group(struct sw_supervisor_proc *p)
{
	uint64_t ticks = 0;
	int rc;

	if (p->pid <= 0)
		return;
	if (p->child) {
		kill(-p->pid, SIGKILL);
		return;
	}
	rc = sw_supervisor_proc_stat(p->pid, &ticks, NULL);
	if ((rc == 0 && ticks == p->start_ticks) || (rc < 0 && sw_supervisor_group_left(p)))
		kill(-p->pid, SIGKILL);
}

static void sw_supervisor_mark_exited(struct sw_supervisor_proc *p, int status)
{
	p->exited = true;
	p->status = status;
	if (p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
}

int sw_supervisor_alive(struct sw_supervisor_proc *p)
{
	uint64_t ticks = 0;
	char state = 0;

	if (p->pid <= 0 || p->exited)
		return 0;
	if (p->child) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		while (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
			if (errno != EINTR) {
				sw_supervisor_mark_exited(p, -1);
				return 0;
			}
		}
		if (si.si_pid == 0)
			return 1;
		sw_supervisor_kill_group(p);
		{
			int status = 0;

			while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
				;
			sw_supervisor_mark_exited(p, status);
		}
		return 0;
	}
	if (p->pidfd >= 0) {
		struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

		if (poll(&pfd, 1, 0) == 0)
			return 1;
	} else if (sw_supervisor_proc_stat(p->pid, &ticks, &state) == 0 && ticks == p->start_ticks &&
		   state != 'Z' && state != 'X') {
		return 1;
	}
	sw_supervisor_kill_group(p);
	sw_supervisor_mark_exited(p, -1);
	return 0;
}

int sw_supervisor_wait(struct sw_supervisor_proc *p, uint64_t timeout_ms)
{
	uint64_t deadline = sw_clock_mono_ms() + timeout_ms;

	for (;;) {
		uint64_t now;

		if (!sw_supervisor_alive(p))
			return 1;
		now = sw_clock_mono_ms();
		if (now >= deadline)
			return 0;
		if (p->pidfd >= 0) {
			struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };
			uint64_t left = deadline - now;

			poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
		} else {
			sw_supervisor_sleep_ms(deadline - now > 20 ? 20 : deadline - now);
		}
	}
}

int sw_supervisor_stop(struct sw_supervisor_proc *p, int sig, uint64_t grace_ms, bool *killed, struct sw_err *err)
{
	if (killed)
		*killed = false;
	if (!sw_supervisor_alive(p))
		return 0;
	kill(-p->pid, sig);
	if (sig != SIGKILL && sw_supervisor_wait(p, grace_ms))
		return 0;
	if (killed)
		*killed = true;
	kill(-p->pid, SIGKILL);
	if (sw_supervisor_wait(p, 10000))
		return 0;
	return sw_err_set(err, SW_EIO, "process %ld survived SIGKILL", (long)p->pid);
}

void sw_supervisor_release(struct sw_supervisor_proc *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
}

const char *sw_supervisor_describe(const struct sw_supervisor_proc *p, char *out, size_t size)
{
	if (!p->exited || p->status < 0)
		snprintf(out, size, "exited (status unknown)");
	else
		sw_proc_describe(p->status, out, size);
	return out;
}

int sw_supervisor_pidfile_write(const char *path, const struct sw_supervisor_proc *p, struct sw_err *err)
{
	char line[128], boot[40];
	int n;

	sw_supervisor_boot_id(boot);
	n = snprintf(line, sizeof(line), "%ld %llu %s\n", (long)p->pid, (unsigned long long)p->start_ticks,
		     boot[0] ? boot : "-");
	if (n < 0 || (size_t)n >= sizeof(line))
		return sw_err_set(err, SW_EINTERNAL, "pid file line too long");
	return sw_fs_write_atomic(path, line, (size_t)n, 0644, err);
}

int sw_supervisor_adopt(const char *path, struct sw_supervisor_proc *p, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(256);
	char boot[40], fboot[40] = "";
	const char *s, *sp1, *sp2, *end;
	uint64_t pid, ticks, now_ticks = 0;
	char state = 0;
	int rc = -1;

	*p = (struct sw_supervisor_proc)SW_SUPERVISOR_PROC_INIT;
	if (!sw_fs_exists(path))
		return 0;
	if (sw_fs_read_file(path, 256, &b, err) < 0)
		goto out;
	s = sw_buf_str(&b);
	end = s + b.len;
	while (end > s && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	sp1 = memchr(s, ' ', (size_t)(end - s));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sw_parse_u64(s, (size_t)(sp1 - s), 2, INT32_MAX, &pid) < 0 ||
	    sw_parse_u64(sp1 + 1, (size_t)(sp2 - sp1 - 1), 0, UINT64_MAX, &ticks) < 0 ||
	    (size_t)(end - sp2 - 1) >= sizeof(fboot)) {
		sw_err_set(err, SW_EINPUT, "'%s' is not a pid file (\"<pid> <start> <boot id>\")", path);
		goto out;
	}
	memcpy(fboot, sp2 + 1, (size_t)(end - sp2 - 1));
	fboot[end - sp2 - 1] = '\0';
	sw_supervisor_boot_id(boot);
	rc = 0;
	if (strcmp(fboot, boot[0] ? boot : "-"))
		goto out; /* another boot: the pid means nothing now */
	if (sw_supervisor_proc_stat((pid_t)pid, &now_ticks, &state) < 0 || now_ticks != ticks || state == 'Z' ||
	    state == 'X')
		goto out;
	p->pid = (pid_t)pid;
	p->start_ticks = ticks;
	p->child = false;
	p->started_mono_ms = sw_clock_mono_ms();
	p->pidfd = sw_supervisor_pidfd_open(p->pid);
	/* Check again now that the pidfd pins the process: it may have been recycled in between. */
	if (sw_supervisor_proc_stat(p->pid, &now_ticks, &state) < 0 || now_ticks != ticks || state == 'Z') {
		sw_supervisor_release(p);
		*p = (struct sw_supervisor_proc)SW_SUPERVISOR_PROC_INIT;
		goto out;
	}
	rc = 1;
out:
	sw_buf_release(&b);
	return rc;
}

uint64_t sw_backoff_next(struct sw_backoff *b, uint64_t uptime_ms)
{
	uint64_t d;

	if (b->next_ms == 0 || uptime_ms >= SW_BACKOFF_RESET_MS)
		b->next_ms = SW_BACKOFF_MIN_MS;
	d = b->next_ms;
	b->next_ms = d * 2 > SW_BACKOFF_MAX_MS ? SW_BACKOFF_MAX_MS : d * 2;
	return d;
}

/* Copy [0, len) of src_fd (len 0: to EOF) into a new file dst (atomically). */
static int sw_supervisor_copy_prefix(int src_fd, uint64_t len, const char *dst, struct sw_err *err)
{
	char tmp[PATH_MAX];
	char *buf = sw_xmalloc(65536);
	uint64_t done = 0;
	int out, rc = -1;

	if (sw_snprintf(tmp, sizeof(tmp), "%s.tmp", dst) < 0) {
		free(buf);
		return sw_err_set(err, SW_EINPUT, "path too long: '%s'", dst);
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (out < 0) {
		sw_err_set(err, SW_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		goto done;
	}
	while (len == 0 || done < len) {
		size_t want = 65536;
		ssize_t n;

		if (len && len - done < want)
			want = (size_t)(len - done);
		n = pread(src_fd, buf, want, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sw_err_set(err, SW_EIO, "cannot read the log: %s", strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				sw_err_set(err, SW_EIO, "cannot write '%s': %s", tmp, w < 0 ? strerror(errno) : "short write");
				goto done;
			}
			off += w;
		}
		done += (uint64_t)n;
	}
	if (close(out) < 0) {
		out = -1;
		sw_err_set(err, SW_EIO, "cannot write '%s': %s", tmp, strerror(errno));
		goto done;
	}
	out = -1;
	if (rename(tmp, dst) < 0) {
		sw_err_set(err, SW_EIO, "cannot rename '%s': %s", tmp, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (out >= 0)
		close(out);
	if (rc < 0)
		unlink(tmp);
	free(buf);
	return rc;
}

int sw_supervisor_rotate(const char *path, uint64_t max_bytes, unsigned keep, struct sw_err *err)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct stat st;
	uint64_t blk, cut;
	unsigned i;
	int fd, rc = -1;

	if (keep == 0)
		keep = 1;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : sw_err_set(err, SW_EIO, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		sw_err_set(err, SW_EIO, "cannot stat '%s': %s", path, strerror(errno));
		goto out;
	}
	if ((uint64_t)st.st_size < max_bytes || st.st_size == 0) {
		rc = 0;
		goto out;
	}
	for (i = keep; i > 1; i--) {
		if (sw_snprintf(from, sizeof(from), "%s.%u", path, i - 1) < 0 ||
		    sw_snprintf(to, sizeof(to), "%s.%u", path, i) < 0) {
			sw_err_set(err, SW_EINPUT, "path too long: '%s'", path);
			goto out;
		}
		if (rename(from, to) < 0 && errno != ENOENT) {
			sw_err_set(err, SW_EIO, "cannot rename '%s': %s", from, strerror(errno));
			goto out;
		}
	}
	if (sw_snprintf(to, sizeof(to), "%s.1", path) < 0) {
		sw_err_set(err, SW_EINPUT, "path too long: '%s'", path);
		goto out;
	}
	/* Cut only a block-aligned prefix that ends before EOF: what is written meanwhile stays. */
	blk = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
	cut = ((uint64_t)st.st_size / blk) * blk;
	if (cut == (uint64_t)st.st_size)
		cut -= blk;
	if (cut > 0) {
		if (sw_supervisor_copy_prefix(fd, cut, to, err) < 0)
			goto out;
		if (fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, (off_t)cut) == 0) {
			rc = 1;
			goto out;
		}
	}
	/* No collapse here (tmpfs, small files): copy everything, then truncate. */
	if (sw_supervisor_copy_prefix(fd, 0, to, err) < 0)
		goto out;
	if (ftruncate(fd, 0) < 0) {
		sw_err_set(err, SW_EIO, "cannot truncate '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = 1;
out:
	close(fd);
	return rc;
}

uint64_t sw_supervisor_log_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

const char *sw_supervisor_log_tail(const char *path, uint64_t since, unsigned lines, char *out, size_t size)
{
	char buf[SW_SUPERVISOR_TAIL_MAX + 1];
	const char *starts[16];
	size_t nl = 0, len = 0, pos = 0, i;
	struct stat st;
	off_t from;
	ssize_t r;
	int fd;

	if (size)
		out[0] = '\0';
	if (lines > 16)
		lines = 16;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return out;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return out;
	}
	from = st.st_size > SW_SUPERVISOR_TAIL_MAX ? st.st_size - SW_SUPERVISOR_TAIL_MAX : 0;
	if ((uint64_t)st.st_size >= since && (off_t)since > from)
		from = (off_t)since; /* starts at a line: what the release wrote */
	else
		since = 0;
	while (len < SW_SUPERVISOR_TAIL_MAX) {
		r = pread(fd, buf + len, SW_SUPERVISOR_TAIL_MAX - len, from + (off_t)len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	/* A read that starts inside the file starts inside a line: drop that part. */
	if (from > 0 && (uint64_t)from != since) {
		char *nlp = memchr(buf, '\n', len);

		pos = nlp ? (size_t)(nlp - buf) + 1 : len;
	}
	/* The last `lines` lines of the service (not the agent's own). */
	while (pos < len) {
		char *e = memchr(buf + pos, '\n', len - pos);
		size_t end = e ? (size_t)(e - buf) : len;

		buf[end] = '\0';
		if (end > pos && strncmp(buf + pos, "--- slipway", 11) && !(nl && !strcmp(starts[nl - 1], buf + pos))) {
			if (nl == lines && lines) {
				memmove(starts, starts + 1, (lines - 1) * sizeof(*starts));
				nl--;
			}
			if (lines)
				starts[nl++] = buf + pos;
		}
		pos = end + 1;
	}
	for (i = 0, pos = 0; i < nl && size; i++) {
		const char *p = starts[i];

		if (i && pos + 3 < size) {
			memcpy(out + pos, " | ", 3);
			pos += 3;
		}
		for (; *p && pos + 1 < size; p++) {
			if (*p == '\r')
				continue;
			out[pos++] = *p == '\t' ? ' ' : ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p;
		}
	}
	if (size)
		out[pos < size ? pos : size - 1] = '\0';
	return out;
}
