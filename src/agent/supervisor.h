/*
 * supervisor.h - one supervised service process: start, watch, stop,
 * survive an agent restart (pid files, adoption), restart backoff and
 * size-based log rotation.
 *
 * A service runs as `/bin/sh -c <command>` in the release directory, in a
 * new session (setsid: its own process group, no controlling terminal), with
 * exactly the environment it is given, stdin on /dev/null and stdout +
 * stderr appended straight to its log file (O_APPEND). Nothing of the agent
 * sits between the service and its log, so the service keeps running and
 * logging when the agent stops or restarts; the agent then finds it again
 * through its pid file (sw_supervisor_adopt).
 *
 * Pid file (one line, written atomically):
 *   "<pid> <start_ticks> <boot_id>\n"
 *   start_ticks: field 22 of /proc/<pid>/stat (clock ticks since boot)
 *   boot_id:     /proc/sys/kernel/random/boot_id
 * A pid file matches a process only when the pid exists, is not a zombie,
 * and has the same start time in the same boot: a recycled pid is never
 * mistaken for the service.
 *
 * Exit is seen through a pidfd (poll POLLIN), which also works for adopted
 * processes that are not our children; without pidfds the caller polls
 * sw_supervisor_alive(). Our own children are reaped (waitid); an adopted
 * process's exit status is unknown (status -1).
 *
 * Stop: the stop signal to the whole process group, SIGKILL to the group
 * after the grace period, then whatever is left of the group is killed
 * while the leader's pid is still held (so the group id cannot have been
 * reused).
 *
 * Log rotation (sw_supervisor_rotate): when the log reaches max bytes,
 * <log>.N-1 -> <log>.N ... <log>.1 -> <log>.2, the log's content is copied
 * to <log>.1 and removed from the live file: with fallocate
 * COLLAPSE_RANGE (ext4, xfs) only the copied, block-aligned prefix is cut,
 * so nothing the service writes meanwhile is lost; elsewhere the file is
 * truncated after the copy (lines written between the copy and the
 * truncation are lost, as with logrotate's copytruncate).
 *
 * Restart backoff: 0.5 s, doubling up to 30 s; reset to 0.5 s when the
 * process had been up for 60 s or more.
 *
 * Calls libc and base/. The caller owns struct sw_supervisor_proc
 * (sw_supervisor_release closes its pidfd).
 */
#ifndef SW_AGENT_SUPERVISOR_H
#define SW_AGENT_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

struct sw_supervisor_proc {
	pid_t pid;            /* also its process group and session id; 0 = none */
	uint64_t start_ticks; /* /proc/<pid>/stat starttime */
	int pidfd;            /* -1 when unavailable */
	bool child;           /* spawned by this process: reaped by us */
	bool exited;          /* exit observed (and reaped, for children) */
	int status;           /* wait status once exited; -1 unknown (adopted) */
	uint64_t started_mono_ms;
};

#define SW_SUPERVISOR_PROC_INIT { .pid = 0, .start_ticks = 0, .pidfd = -1, .child = false, .exited = false, .status = 0, .started_mono_ms = 0 }

struct sw_supervisor_spec {
	const char *command;  /* shell text */
	const char *cwd;      /* release directory */
	const char *log_path; /* stdout + stderr, appended */
	char *const *envp;    /* NULL-terminated, exactly the environment */
};

int sw_supervisor_spawn(struct sw_supervisor_proc *p, const struct sw_supervisor_spec *s, struct sw_err *err);
/* Non-blocking: 1 running, 0 exited (reaps our child; sets exited/status). */
int sw_supervisor_alive(struct sw_supervisor_proc *p);
/* Wait up to timeout_ms for the process to exit: 1 exited, 0 still running. */
int sw_supervisor_wait(struct sw_supervisor_proc *p, uint64_t timeout_ms);
/*
 * Graceful stop: sig to the group, SIGKILL after grace_ms. *killed (may be
 * NULL) tells whether SIGKILL was needed. Returns 0 once the process is
 * gone, -1 if it survived SIGKILL for 10 s (err set).
 */
int sw_supervisor_stop(struct sw_supervisor_proc *p, int sig, uint64_t grace_ms, bool *killed, struct sw_err *err);
void sw_supervisor_release(struct sw_supervisor_proc *p);
/* "exit 1", "killed by SIGKILL", "exited (status unknown)" into out. */
const char *sw_supervisor_describe(const struct sw_supervisor_proc *p, char *out, size_t size);

/* /proc/<pid>/stat: start time and state letter ('R', 'S', 'Z', ...). -1 if no such process. */
int sw_supervisor_proc_stat(pid_t pid, uint64_t *start_ticks, char *state);
/* The boot id (36 characters), or "" when unavailable. */
void sw_supervisor_boot_id(char out[40]);

int sw_supervisor_pidfile_write(const char *path, const struct sw_supervisor_proc *p, struct sw_err *err);
/*
 * Take over the process a pid file names: 1 adopted (p filled, not a
 * child), 0 the file is missing, stale or names another process, -1 the
 * file is malformed (err set).
 */
int sw_supervisor_adopt(const char *path, struct sw_supervisor_proc *p, struct sw_err *err);

struct sw_backoff {
	uint64_t next_ms; /* 0 before the first restart */
};

#define SW_BACKOFF_MIN_MS 500
#define SW_BACKOFF_MAX_MS 30000
#define SW_BACKOFF_RESET_MS 60000

/* Delay before restarting a process that ran uptime_ms; advances b. */
uint64_t sw_backoff_next(struct sw_backoff *b, uint64_t uptime_ms);

/*
 * Rotate path when it is at least max_bytes long, keeping `keep` old files
 * (path.1 newest .. path.keep). 1 rotated, 0 nothing to do, -1 error.
 */
int sw_supervisor_rotate(const char *path, uint64_t max_bytes, unsigned keep, struct sw_err *err);

/*
 * The service's last words: the last `lines` (at most 16) lines of the log
 * that the service wrote at or after byte offset `since` (what an earlier
 * release wrote is not this one's; a log rotated since, shorter than
 * `since`, is read from its start), read from at most its last
 * SW_SUPERVISOR_TAIL_MAX bytes. Lines starting with "--- slipway" are the
 * agent's and are skipped, a line repeating the one before is kept once;
 * they are joined with " | ", tabs as spaces, other control characters as
 * '?', cut to fit out. "" when the file is missing or holds none.
 * Returns out.
 */
#define SW_SUPERVISOR_TAIL_MAX 4096
const char *sw_supervisor_log_tail(const char *path, uint64_t since, unsigned lines, char *out, size_t size);
/* The size of the file at path now (0 when missing): the `since` of a new release's lines. */
uint64_t sw_supervisor_log_size(const char *path);

#endif
