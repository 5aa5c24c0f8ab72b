/*
 * cli/run.c - `slipway run`: flags, the progress view and the final report
 * of a local pipeline run. The work is done by pipeline/pipeline.c; this
 * file parses flags, turns SIGINT/SIGTERM/SIGHUP into bytes on a self-pipe
 * that the pipeline polls, writes what pipeline/progress.c renders, and
 * maps the outcome to an exit code (0 passed, 1 failed, 2 bad input, 130
 * canceled).
 * May call every layer below cli.
 */
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/json.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "pipeline/pipeline.h"
#include "pipeline/progress.h"
#include "spec/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define SW_TAIL_LINES 20
#define SW_TICK_MS 100
#define SW_MAX_PARALLEL 4096

static const char sw_run_usage[] =
	"usage: slipway run [JOB...] [options]\n"
	"\n"
	"Run the jobs of build: in slipway.yml as a DAG on this machine. With JOB\n"
	"names (or matrix base names), run those and everything they need.\n"
	"\n"
	"options:\n"
	"  -f, --file PATH         the spec (default: slipway.yml)\n"
	"  -j, --jobs N            run up to N jobs at once (default: number of CPUs)\n"
	"  -k, --keep-going        after a failure keep starting jobs that do not need\n"
	"                          the failed one (default: start no new jobs)\n"
	"      --secret-file FILE  KEY=VALUE lines overriding build.secrets values\n"
	"      --no-cache          do not use cached outputs (they are still stored)\n"
	"  -v, --verbose           stream every job's output, prefixed with its name\n"
	"      --output FORMAT     text (default) or json (the run summary)\n"
	"  -h, --help              show this help\n"
	"\n"
	"Logs and the summary are written under $SLIPWAY_HOME/runs/<service>/<run_id>/.\n"
	"Exit status: 0 passed, 1 a job failed, 2 bad input, 130 canceled.\n";

/* ---- SIGINT/SIGTERM/SIGHUP -> self-pipe ---- */

static int sw_sig_write_fd = -1;

static void sw_on_signal(int sig)
{
	int e = errno;
	char c = (char)sig;

	if (sw_sig_write_fd >= 0 && write(sw_sig_write_fd, &c, 1) < 0) {
		/* full pipe: a cancel is already pending */
	}
	errno = e;
}

struct sw_sig_state {
	int fds[2];
	struct sigaction old_int, old_term, old_hup;
};

static int sw_signals_install(struct sw_sig_state *s)
{
	struct sigaction sa;

	if (pipe2(s->fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	sw_sig_write_fd = s->fds[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sw_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, &s->old_int);
	sigaction(SIGTERM, &sa, &s->old_term);
	sigaction(SIGHUP, &sa, &s->old_hup); /* the terminal went away: do not orphan the jobs */
	return 0;
}

static void sw_signals_restore(struct sw_sig_state *s)
{
	sigaction(SIGINT, &s->old_int, NULL);
	sigaction(SIGTERM, &s->old_term, NULL);
	sigaction(SIGHUP, &s->old_hup, NULL);
	sw_sig_write_fd = -1;
	close(s->fds[0]);
	close(s->fds[1]);
}

/* ---- the view: observer callbacks writing what progress.c renders ---- */

struct sw_view {
	struct sw_progress prog;
	FILE *f;
	bool quiet;
	struct sw_buf out;
};

static void sw_view_flush(struct sw_view *v)
{
	if (v->out.len) {
		fwrite(v->out.data, 1, v->out.len, v->f);
		fflush(v->f);
	}
	sw_buf_reset(&v->out);
}

static void sw_view_run_started(void *ctx, const char *run_id, const char *run_dir, size_t njobs)
{
	struct sw_view *v = ctx;

	(void)run_id;
	(void)run_dir;
	sw_progress_begin(&v->prog, njobs, sw_clock_mono_ms(), &v->out);
	sw_view_flush(v);
}

static void sw_view_job_started(void *ctx, size_t index, const char *name, uint64_t now)
{
	struct sw_view *v = ctx;

	sw_progress_job_started(&v->prog, index, name, now, &v->out);
}

static void sw_view_job_output(void *ctx, size_t index, const char *name, const char *data, size_t len)
{
	struct sw_view *v = ctx;

	sw_progress_output(&v->prog, index, name, data, len, sw_clock_mono_ms(), &v->out);
	sw_view_flush(v);
}

static void sw_view_job_finished(void *ctx, const struct sw_pipeline_job_info *info)
{
	struct sw_view *v = ctx;
	struct sw_buf tail = SW_BUF_INIT(1 << 20);

	if (v->quiet)
		return;
	if (info->status == SW_JOB_FAILED && info->log_path && !v->prog.verbose)
		sw_pipeline_log_tail(info->log_path, SW_TAIL_LINES, &tail, NULL);
	sw_progress_job_finished(&v->prog, info, sw_buf_str(&tail), sw_clock_mono_ms(), &v->out);
	sw_buf_release(&tail);
	sw_view_flush(v);
}

static void sw_view_tick(void *ctx, uint64_t now)
{
	struct sw_view *v = ctx;
	struct winsize ws;

	if (ioctl(fileno(v->f), TIOCGWINSZ, &ws) == 0)
		sw_progress_resize(&v->prog, ws.ws_col, ws.ws_row);
	sw_progress_frame(&v->prog, now, &v->out);
	sw_view_flush(v);
}

static void sw_view_warning(void *ctx, const char *msg)
{
	struct sw_view *v = ctx;

	sw_progress_note(&v->prog, msg, sw_clock_mono_ms(), &v->out);
	sw_view_flush(v);
}

static const struct sw_pipeline_observer sw_view_observer = {
	.run_started = sw_view_run_started,
	.job_started = sw_view_job_started,
	.job_output = sw_view_job_output,
	.job_finished = sw_view_job_finished,
	.tick = sw_view_tick,
	.warning = sw_view_warning,
};

/* ---- the final report ---- */

static void sw_print_report(FILE *f, const struct sw_pipeline_result *res)
{
	json_t *jobs = json_object_get(res->summary, "jobs"), *tests = json_object_get(res->summary, "tests"), *j;
	size_t i, n[SW_JOB_CANCELED + 1] = { 0 };
	char dur[32];
	long long tp = sw_json_int(tests, "passed", 0), tf = sw_json_int(tests, "failed", 0);
	long long ts = sw_json_int(tests, "skipped", 0), te = sw_json_int(tests, "errors", 0);

	json_array_foreach(jobs, i, j) {
		const char *s = sw_json_str(j, "status");
		int k;

		for (k = 0; k <= SW_JOB_CANCELED; k++)
			if (s && !strcmp(s, sw_job_status_name((enum sw_job_status)k)))
				n[k]++;
	}
	if (tp || tf || ts || te) {
		json_t *names = json_object_get(tests, "failures"), *nm;

		fprintf(f, "tests: %lld passed, %lld failed, %lld skipped, %lld errors\n", tp, tf, ts, te);
		json_array_foreach(names, i, nm) {
			if (i >= SW_TAIL_LINES) {
				fprintf(f, "  ... and %zu more\n", json_array_size(names) - i);
				break;
			}
			fprintf(f, "  failing: %s\n", json_string_value(nm));
		}
	}
	sw_progress_duration((uint64_t)sw_json_int(res->summary, "duration_ms", 0), dur, sizeof(dur));
	switch (res->status) {
	case SW_RUN_PASSED:
		fprintf(f, "passed: %zu job%s", n[SW_JOB_PASSED] + n[SW_JOB_CACHED],
			n[SW_JOB_PASSED] + n[SW_JOB_CACHED] == 1 ? "" : "s");
		if (n[SW_JOB_CACHED])
			fprintf(f, " (%zu cached)", n[SW_JOB_CACHED]);
		fprintf(f, " in %s\n", dur);
		break;
	case SW_RUN_FAILED:
		fprintf(f, "failed: %zu failed, %zu skipped, %zu passed", n[SW_JOB_FAILED], n[SW_JOB_SKIPPED],
			n[SW_JOB_PASSED] + n[SW_JOB_CACHED]);
		fprintf(f, " in %s\n", dur);
		break;
	case SW_RUN_CANCELED:
		fprintf(f, "canceled after %s: %zu canceled, %zu passed\n", dur, n[SW_JOB_CANCELED],
			n[SW_JOB_PASSED] + n[SW_JOB_CACHED]);
		break;
	}
	fprintf(f, "run %s: %s\n", res->run_id, res->run_dir);
	fflush(f);
}

static int sw_parse_jobs_flag(const char *s, unsigned *out)
{
	uint64_t v;

	if (sw_parse_u64(s, strlen(s), 1, SW_MAX_PARALLEL, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

enum { OPT_SECRET_FILE = 256, OPT_NO_CACHE, OPT_OUTPUT };

int sw_cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "keep-going", no_argument, NULL, 'k' },
		{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sw_pipeline_opts o = { .cancel_fd = -1 };
	struct sw_pipeline_result res;
	struct sw_err err = SW_ERR_INIT;
	enum sw_output output = SW_OUTPUT_TEXT;
	const char *file = "slipway.yml";
	struct sw_sig_state sig;
	struct sw_spec *spec;
	struct sw_view view;
	bool verbose = false, tty;
	int c, rc, code;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:f:j:kvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'j':
			if (sw_parse_jobs_flag(optarg, &o.parallel) < 0)
				return sw_cli_usage_error("run", "-j: expected a number from 1 to %d, got '%s'",
							  SW_MAX_PARALLEL, optarg);
			break;
		case 'k': o.keep_going = true; break;
		case OPT_SECRET_FILE: o.secret_file = optarg; break;
		case OPT_NO_CACHE: o.no_cache = true; break;
		case 'v': verbose = true; break;
		case OPT_OUTPUT:
			if (sw_cli_parse_output("run", optarg, &output) < 0)
				return 2;
			break;
		case 'h': fputs(sw_run_usage, stdout); return 0;
		default:
			return sw_cli_bad_option("run", c, argv, longopts);
		}
	}
	o.jobs = (const char *const *)(argv + optind);
	o.njobs = (size_t)(argc - optind);

	spec = sw_spec_load(file, &err);
	if (!spec)
		return sw_cli_fail("run", &err);

	/* Human progress: stdout for text output, stderr (plain) beside --output json. */
	tty = output == SW_OUTPUT_TEXT && sw_cli_stdout_is_tty();
	memset(&view, 0, sizeof(view));
	view.f = output == SW_OUTPUT_TEXT ? stdout : stderr;
	sw_buf_init(&view.out, SW_BUF_UNLIMITED);
	sw_progress_init(&view.prog, tty, verbose, getenv("NO_COLOR") == NULL, spec->njobs);
	o.obs = &sw_view_observer;
	o.obs_ctx = &view;
	o.stream_output = verbose;
	o.tick_ms = tty ? SW_TICK_MS : 0;

	if (sw_signals_install(&sig) < 0) {
		sw_err_set(&err, SW_EIO, "cannot create a pipe: %s", strerror(errno));
		sw_progress_release(&view.prog);
		sw_buf_release(&view.out);
		sw_spec_free(spec);
		return sw_cli_fail("run", &err);
	}
	o.cancel_fd = sig.fds[0];
	rc = sw_pipeline_run(spec, &o, &res, &err);
	sw_signals_restore(&sig);
	sw_progress_end(&view.prog, &view.out);
	sw_view_flush(&view);
	sw_progress_release(&view.prog);
	sw_buf_release(&view.out);

	if (rc < 0 && !res.summary) {
		sw_spec_free(spec);
		return sw_cli_fail("run", &err);
	}
	code = res.status == SW_RUN_PASSED ? 0 : res.status == SW_RUN_FAILED ? 1 : 130;
	if (output == SW_OUTPUT_JSON) {
		sw_cli_print_json(json_incref(res.summary));
	} else {
		sw_print_report(stdout, &res);
	}
	if (rc < 0) {
		sw_cli_fail("run", &err);
		if (code == 0)
			code = 1;
	}
	json_decref(res.summary);
	sw_spec_free(spec);
	return code;
}
