/*
 * exec.h - runs one job: its steps one after another, with per-step
 * timeouts, retries, a masked and capped log file, and its JUnit reports.
 *
 * Event-driven, no blocking: the scheduler (pipeline.c) polls the fds of the
 * running step (proc.out_fd, proc.wait_fd) and calls sw_exec_on_output(),
 * sw_exec_on_exit() and, at sw_exec_deadline(), sw_exec_on_time(). When
 * phase becomes SW_EXEC_DONE the job's result is in the struct.
 *
 * An attempt runs every step in the job's workdir; the first step that
 * fails (exit status not 0, timeout, cannot start) ends it. After the steps
 * pass, every `reports` pattern (relative to the workdir) must match at
 * least one file and each file must be well-formed JUnit XML, and every
 * `outputs` path (relative to the spec's directory) must exist; if not,
 * the attempt failed. A failed attempt is retried from the first step
 * while attempts <= retries; a canceled one never is.
 *
 * Timeouts: at the step's deadline the whole process group gets SIGTERM,
 * SW_EXEC_KILL_GRACE_MS later SIGKILL; the step reports
 * "step 'x' timed out after 5s (killed by SIGTERM)".
 *
 * Log file (mode 0600): every byte the steps print, masked (mask.h), plus
 * "==> " lines from Slipway (step starts, failures, attempts). After
 * log_cap bytes of output the log gets "[log truncated]" and further output
 * is read and dropped, so memory and disk stay bounded. The file is created
 * at the first byte of output, or when an attempt fails: a job that passes
 * at once without printing anything leaves no log (log_created stays false). File
 * creation is the largest per-job cost on ext4, and thousands of silent
 * jobs would otherwise leave thousands of files that only say "==> step".
 *
 * Calls base/, spec/, pipeline/mask, pipeline/junit. The caller owns envp,
 * mask and the strings it sets; sw_exec_release() frees the rest.
 */
#ifndef SW_EXEC_H
#define SW_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/proc.h"
#include "pipeline/junit.h"
#include "pipeline/mask.h"
#include "spec/spec.h"

#define SW_EXEC_KILL_GRACE_MS 2000
#define SW_EXEC_LOG_CAP_DEFAULT ((uint64_t)64 << 20)
#define SW_EXEC_LOG_TRUNCATED "\n[log truncated]\n"

enum sw_exec_phase { SW_EXEC_IDLE, SW_EXEC_RUNNING, SW_EXEC_DONE };

struct sw_exec_attempt {
	int exit_code;        /* of the step that ended the attempt; -1 if none ran */
	uint64_t duration_ms;
	char *message;        /* why it failed (heap, masked), NULL when it passed */
};

typedef void (*sw_exec_output_fn)(void *ctx, size_t index, const char *data, size_t len);

struct sw_exec {
	/* Set by the caller before sw_exec_start(). */
	const struct sw_spec_job *job;
	size_t index;                 /* passed back to on_output */
	const char *workdir;          /* absolute */
	const char *base_dir;         /* the spec's directory, absolute: outputs are relative to it */
	char *const *envp;
	const struct sw_mask *mask;
	const char *log_path;
	uint64_t log_cap;             /* 0: SW_EXEC_LOG_CAP_DEFAULT */
	sw_exec_output_fn on_output;  /* masked output as it arrives, or NULL */
	void *ctx;

	/* State. */
	enum sw_exec_phase phase;
	int log_fd;
	uint64_t log_bytes;
	bool log_truncated, log_failed, log_created;
	struct sw_buf log_pending; /* "==> " lines written before the file exists */
	struct sw_mask_stream ms;
	unsigned attempt;             /* 1-based */
	size_t step;
	struct sw_proc proc;
	bool proc_live;
	uint64_t started_ms, attempt_started_ms, step_started_ms;
	uint64_t deadline_ms, kill_at_ms; /* 0: none */
	bool timed_out, canceled;

	/* Result, once phase == SW_EXEC_DONE. */
	bool passed;
	int exit_code;                /* -1 when no step ran */
	char *message;                /* of the last attempt (heap), NULL when passed */
	struct sw_exec_attempt *attempts;
	size_t nattempts;
	struct sw_junit tests;
	bool has_tests;               /* some report was parsed */
	uint64_t duration_ms;
};

/* Zero x and set the defaults; then fill in the caller's fields. */
void sw_exec_init(struct sw_exec *x);
/* Start the first step (err is kept for future use; returns 0). */
int sw_exec_start(struct sw_exec *x, uint64_t now_ms, struct sw_err *err);
/* proc.out_fd is readable (or hung up). */
void sw_exec_on_output(struct sw_exec *x);
/* The step's process has exited (proc.wait_fd readable, or sw_proc_exited()). */
void sw_exec_on_exit(struct sw_exec *x, uint64_t now_ms);
/* Time passed: enforce the step's deadline and the SIGKILL grace. */
void sw_exec_on_time(struct sw_exec *x, uint64_t now_ms);
/* The nearest moment sw_exec_on_time() has work to do, 0 if none. */
uint64_t sw_exec_deadline(const struct sw_exec *x);
/* Stop: SIGTERM to the group (SIGKILL with hard, or after the grace). No retries follow. */
void sw_exec_cancel(struct sw_exec *x, uint64_t now_ms, bool hard);
void sw_exec_release(struct sw_exec *x);

/* A step's display name: its name, or its command's first line (cut), into out. */
const char *sw_exec_step_name(const struct sw_spec_step *s, char *out, size_t size);
/* The last nlines lines of a log file (at most 64 KiB read) into out. */
int sw_exec_log_tail(const char *path, unsigned nlines, struct sw_buf *out, struct sw_err *err);

#endif
