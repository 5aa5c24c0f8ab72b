/*
 * progress.h - what `slipway run` shows while it runs, rendered into bytes
 * (the CLI writes them; nothing here prints).
 *
 * Plain mode (stdout not a terminal): one line per finished job
 *   "✓ test  1.2s", "✓ lint  cached", "✗ build  exit 2  0.4s" (+ the reason
 *   and the last lines of its log, indented), "- package  skipped (needs build)".
 * TTY mode: the same lines scroll up while a live block below them shows the
 *   running jobs with their elapsed times and done/total; each frame erases
 *   the previous block with ANSI (cursor up + clear to end of screen) and
 *   is written as one write(), so it does not flicker. Colours unless NO_COLOR.
 * Verbose: every output line of every job, prefixed "[job] ". Control bytes
 *   other than tab are shown as '?' ('\r' is dropped) so job output cannot
 *   move the cursor or change the terminal.
 *
 * Calls base/ and pipeline/pipeline.h (types only). The caller owns the
 * output buffers; sw_progress_release() frees the rest.
 */
#ifndef SW_PROGRESS_H
#define SW_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "pipeline/pipeline.h"

#define SW_PROGRESS_LINE_MAX 4096 /* longer output lines are split (verbose) */

struct sw_progress_job {
	size_t index;
	const char *name;
	uint64_t start_ms;
};

struct sw_progress {
	bool tty, verbose, color;
	unsigned cols, rows;
	size_t total, done;
	uint64_t start_ms;
	struct sw_progress_job *running;
	size_t nrunning, cap;
	unsigned drawn; /* lines of the live block on screen now */
	unsigned spin;
	struct sw_buf *partial; /* verbose: unfinished output line per job index */
	size_t njobs;
};

void sw_progress_init(struct sw_progress *p, bool tty, bool verbose, bool color, size_t njobs);
void sw_progress_release(struct sw_progress *p);
/* Terminal size (TTY mode); 0 keeps the default 80x24. */
void sw_progress_resize(struct sw_progress *p, unsigned cols, unsigned rows);
void sw_progress_begin(struct sw_progress *p, size_t total, uint64_t now_ms, struct sw_buf *out);
void sw_progress_job_started(struct sw_progress *p, size_t index, const char *name, uint64_t now_ms,
			     struct sw_buf *out);
/* tail: the last lines of a failed job's log, or NULL. */
void sw_progress_job_finished(struct sw_progress *p, const struct sw_pipeline_job_info *info, const char *tail,
			      uint64_t now_ms, struct sw_buf *out);
void sw_progress_output(struct sw_progress *p, size_t index, const char *name, const char *data, size_t len,
			uint64_t now_ms, struct sw_buf *out);
/* A line that is not a job's (warnings). */
void sw_progress_note(struct sw_progress *p, const char *text, uint64_t now_ms, struct sw_buf *out);
/* Redraw the live block (TTY mode); nothing in plain mode. */
void sw_progress_frame(struct sw_progress *p, uint64_t now_ms, struct sw_buf *out);
/* Remove the live block and show the cursor again. */
void sw_progress_end(struct sw_progress *p, struct sw_buf *out);
/* "0.4s", "12.3s", "2m5s" */
const char *sw_progress_duration(uint64_t ms, char *out, size_t size);

#endif
