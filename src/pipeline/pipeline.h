/*
 * pipeline.h - `slipway run`: the jobs of build: as a DAG on this machine.
 *
 * sw_pipeline_run() does, in order:
 *   1. resolves the selected jobs (names or matrix base names) and all they
 *      need, and the secrets those jobs declare (build.secrets: an env var
 *      or a file, one trailing newline stripped; --secret-file KEY=VALUE
 *      lines override); bad names or missing secrets: SW_EINPUT/SW_ENOTFOUND,
 *      nothing run;
 *   2. opens the store and appends pipeline.started (a store that is
 *      locked or read-only fails here, before any job runs);
 *   3. runs the DAG (dag.h): up to `parallel` jobs at once, one poll() loop
 *      over every running step's output pipe and pidfd plus cancel_fd, with
 *      a timeout computed from the nearest step deadline (no sleeping);
 *      jobs with `cache:` are looked up in the content-hash cache first
 *      (cache.h) and their outputs stored after they pass;
 *   4. writes runs/<service>/<run_id>/summary.json atomically (fsynced),
 *      then runs/<service>/latest, then appends job.finished for every job
 *      and pipeline.finished in one transaction.
 *
 * Run directory: $SLIPWAY_HOME/runs/<service>/<run_id>/ with logs/<job>.log
 * (job names with characters outside [A-Za-z0-9._=,+@[]-] get them replaced
 * by '_' in the file name). run_id: UTC time + 6 random hex digits,
 * "20261122T101500Z-3fa9c1".
 *
 * Environment of every step (nothing else from the parent):
 *   PATH, HOME, TMPDIR   inherited (defaults /usr/local/bin:/usr/bin:/bin, /, /tmp)
 *   LANG=C.UTF-8
 *   the job's env:, its matrix values, its declared secrets (in that order,
 *   later wins), then SLIPWAY_RUN_ID, SLIPWAY_SERVICE, SLIPWAY_JOB.
 *
 * Cancel: when cancel_fd becomes readable (the CLI's SIGINT/SIGTERM/SIGHUP
 * self-pipe), running process groups get SIGTERM (SIGKILL 2 s later, or at
 * once on a second byte), are reaped, jobs end "canceled" and the summary
 * and events are still written with status "canceled".
 *
 * Nothing here prints: progress goes to the observer callbacks (the CLI's
 * view). Calls base/, spec/, store/ and the pipeline/ modules.
 * The caller owns res->summary (json_decref).
 */
#ifndef SW_PIPELINE_H
#define SW_PIPELINE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "spec/spec.h"

enum sw_job_status {
	SW_JOB_PENDING,
	SW_JOB_RUNNING,
	SW_JOB_PASSED,
	SW_JOB_FAILED,
	SW_JOB_SKIPPED,
	SW_JOB_CACHED,
	SW_JOB_CANCELED,
};

enum sw_run_status { SW_RUN_PASSED, SW_RUN_FAILED, SW_RUN_CANCELED };

struct sw_pipeline_job_info {
	size_t index; /* into spec->jobs */
	const char *name;
	enum sw_job_status status;
	unsigned attempts;
	uint64_t duration_ms;
	int exit_code;        /* -1: none */
	const char *message;  /* masked; NULL when none */
	const char *log_path; /* NULL for jobs that never ran */
	const char *blocker;  /* SKIPPED: the failed job it waited for, or NULL */
};

struct sw_pipeline_observer {
	void (*run_started)(void *ctx, const char *run_id, const char *run_dir, size_t njobs);
	void (*job_started)(void *ctx, size_t index, const char *name, uint64_t now_ms);
	/* Masked output of a running job's steps (only with opts.stream_output). */
	void (*job_output)(void *ctx, size_t index, const char *name, const char *data, size_t len);
	void (*job_finished)(void *ctx, const struct sw_pipeline_job_info *info);
	/* Every opts.tick_ms while jobs run (for a live view). */
	void (*tick)(void *ctx, uint64_t now_ms);
	/* Something went wrong that does not fail the run (cache write, short secret). */
	void (*warning)(void *ctx, const char *msg);
};

struct sw_pipeline_opts {
	const char *const *jobs; /* selected names; none: every job */
	size_t njobs;
	unsigned parallel;       /* jobs at once; 0: number of CPUs */
	bool no_cache;           /* do not read the cache (still write it) */
	bool keep_going;         /* after a failure, keep starting independent jobs */
	const char *secret_file; /* KEY=VALUE lines, or NULL */
	int cancel_fd;           /* readable = cancel; -1: none */
	uint64_t log_cap;        /* bytes of output per job log; 0: 64 MiB */
	bool stream_output;
	unsigned tick_ms;        /* 0: no ticks */
	const struct sw_pipeline_observer *obs;
	void *obs_ctx;
};

struct sw_pipeline_result {
	enum sw_run_status status;
	char run_id[64];
	char run_dir[PATH_MAX];
	char summary_path[PATH_MAX];
	json_t *summary; /* caller decrefs */
};

/*
 * 0 when the run took place (res->status says how it went; the summary is
 * written), -1 with err when it could not start or its record could not be
 * written (then res->summary may still be set).
 */
int sw_pipeline_run(const struct sw_spec *spec, const struct sw_pipeline_opts *opts, struct sw_pipeline_result *res,
		    struct sw_err *err);

const char *sw_job_status_name(enum sw_job_status s);
const char *sw_run_status_name(enum sw_run_status s);
/* The last nlines lines of a job log (see exec.h). */
int sw_pipeline_log_tail(const char *path, unsigned nlines, struct sw_buf *out, struct sw_err *err);

#endif
