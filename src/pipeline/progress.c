/*
 * progress.c - plain and live (ANSI) rendering of a pipeline run (see progress.h).
 * Calls base/ only.
 */
#include "pipeline/progress.h"
#include "base/mem.h"
#include "base/num.h"

#include <stdio.h>
#include <string.h>

#define SW_ESC "\x1b["
#define SW_MAX_BLOCK_JOBS 12

static const char *const sw_spinner[] = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" };

void sw_progress_init(struct sw_progress *p, bool tty, bool verbose, bool color, size_t njobs)
{
	memset(p, 0, sizeof(*p));
	p->tty = tty;
	p->verbose = verbose;
	p->color = color && tty;
	p->cols = 80;
	p->rows = 24;
	p->njobs = njobs;
	if (verbose)
		p->partial = sw_xcalloc(njobs ? njobs : 1, sizeof(*p->partial));
}

void sw_progress_release(struct sw_progress *p)
{
	size_t i;

	for (i = 0; p->partial && i < p->njobs; i++)
		sw_buf_release(&p->partial[i]);
	free(p->partial);
	free(p->running);
	memset(p, 0, sizeof(*p));
}

void sw_progress_resize(struct sw_progress *p, unsigned cols, unsigned rows)
{
	if (cols >= 20)
		p->cols = cols;
	if (rows >= 4)
		p->rows = rows;
}

const char *sw_progress_duration(uint64_t ms, char *out, size_t size)
{
	if (ms < 60000)
		snprintf(out, size, "%llu.%llus", (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000 / 100));
	else
		sw_format_duration_ms(ms / 1000 * 1000, out, size);
	return out;
}

static void sw_color(const struct sw_progress *p, struct sw_buf *out, const char *code)
{
	if (p->color)
		sw_buf_puts(out, code);
}

/* Append text with control bytes made harmless (see progress.h). */
static void sw_put_clean(struct sw_buf *out, const char *s, size_t n, size_t max)
{
	size_t i, shown = 0;

	for (i = 0; i < n && shown < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r')
			continue;
		sw_buf_putc(out, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c);
		shown++;
	}
}

static void sw_erase(struct sw_progress *p, struct sw_buf *out)
{
	if (!p->tty || p->drawn == 0)
		return;
	sw_buf_printf(out, SW_ESC "%uA\r" SW_ESC "J", p->drawn);
	p->drawn = 0;
}

static void sw_draw(struct sw_progress *p, uint64_t now, struct sw_buf *out)
{
	char dur[32];
	size_t i, shown, maxjobs;
	unsigned width = p->cols > 1 ? p->cols - 1 : 79;

	if (!p->tty)
		return;
	sw_color(p, out, SW_ESC "36m");
	sw_buf_printf(out, "%s ", sw_spinner[p->spin % SW_ARRAY_LEN(sw_spinner)]);
	sw_color(p, out, SW_ESC "0m");
	sw_buf_printf(out, "%zu/%zu done, %zu running  %s\n", p->done, p->total, p->nrunning,
		      sw_progress_duration(now - p->start_ms, dur, sizeof(dur)));
	p->drawn = 1;
	maxjobs = p->rows > 4 ? p->rows - 3 : 1;
	if (maxjobs > SW_MAX_BLOCK_JOBS)
		maxjobs = SW_MAX_BLOCK_JOBS;
	shown = p->nrunning > maxjobs ? maxjobs - 1 : p->nrunning;
	for (i = 0; i < shown; i++) {
		const struct sw_progress_job *j = &p->running[i];
		size_t namemax = width > 16 ? width - 14 : 2;

		sw_buf_puts(out, "  ");
		sw_put_clean(out, j->name, strlen(j->name), namemax);
		sw_buf_printf(out, "  %s\n", sw_progress_duration(now - j->start_ms, dur, sizeof(dur)));
		p->drawn++;
	}
	if (shown < p->nrunning) {
		sw_buf_printf(out, "  ... and %zu more\n", p->nrunning - shown);
		p->drawn++;
	}
}

void sw_progress_begin(struct sw_progress *p, size_t total, uint64_t now, struct sw_buf *out)
{
	p->total = total;
	p->start_ms = now;
	if (p->tty) {
		sw_buf_puts(out, SW_ESC "?25l");
		sw_draw(p, now, out);
	}
}

void sw_progress_job_started(struct sw_progress *p, size_t index, const char *name, uint64_t now, struct sw_buf *out)
{
	(void)out;
	if (p->nrunning == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->running = sw_xreallocarray(p->running, p->cap, sizeof(*p->running));
	}
	p->running[p->nrunning++] = (struct sw_progress_job){ .index = index, .name = name, .start_ms = now };
}

static void sw_flush_partial(struct sw_progress *p, size_t index, const char *name, struct sw_buf *out)
{
	struct sw_buf *b;

	if (!p->partial || index >= p->njobs)
		return;
	b = &p->partial[index];
	if (b->len == 0)
		return;
	sw_color(p, out, SW_ESC "2m");
	sw_buf_printf(out, "[%s] ", name);
	sw_color(p, out, SW_ESC "0m");
	sw_put_clean(out, b->data, b->len, (size_t)-1);
	sw_buf_putc(out, '\n');
	sw_buf_reset(b);
}

void sw_progress_job_finished(struct sw_progress *p, const struct sw_pipeline_job_info *info, const char *tail,
			      uint64_t now, struct sw_buf *out)
{
	char dur[32];
	size_t i;

	for (i = 0; i < p->nrunning; i++) {
		if (p->running[i].index == info->index) {
			memmove(&p->running[i], &p->running[i + 1], (p->nrunning - i - 1) * sizeof(*p->running));
			p->nrunning--;
			break;
		}
	}
	p->done++;
	sw_erase(p, out);
	sw_flush_partial(p, info->index, info->name, out);
	sw_progress_duration(info->duration_ms, dur, sizeof(dur));
	switch (info->status) {
	case SW_JOB_PASSED:
	case SW_JOB_CACHED:
		sw_color(p, out, SW_ESC "32m");
		sw_buf_puts(out, "✓ ");
		sw_color(p, out, SW_ESC "0m");
		sw_put_clean(out, info->name, strlen(info->name), 512);
		if (info->status == SW_JOB_CACHED)
			sw_buf_puts(out, "  cached\n");
		else if (info->attempts > 1)
			sw_buf_printf(out, "  %s (attempt %u)\n", dur, info->attempts);
		else
			sw_buf_printf(out, "  %s\n", dur);
		break;
	case SW_JOB_SKIPPED:
		sw_color(p, out, SW_ESC "2m");
		sw_buf_puts(out, "- ");
		sw_put_clean(out, info->name, strlen(info->name), 512);
		if (info->blocker) {
			sw_buf_puts(out, "  skipped (needs ");
			sw_put_clean(out, info->blocker, strlen(info->blocker), 512);
			sw_buf_puts(out, ")\n");
		} else {
			sw_buf_puts(out, "  skipped (the run stopped after a failure)\n");
		}
		sw_color(p, out, SW_ESC "0m");
		break;
	case SW_JOB_CANCELED:
		sw_color(p, out, SW_ESC "33m");
		sw_buf_puts(out, "✗ ");
		sw_color(p, out, SW_ESC "0m");
		sw_put_clean(out, info->name, strlen(info->name), 512);
		sw_buf_puts(out, info->log_path ? "  canceled\n" : "  canceled (not started)\n");
		break;
	default:
		sw_color(p, out, SW_ESC "31m");
		sw_buf_puts(out, "✗ ");
		sw_color(p, out, SW_ESC "0m");
		sw_put_clean(out, info->name, strlen(info->name), 512);
		if (info->exit_code >= 0)
			sw_buf_printf(out, "  exit %d", info->exit_code);
		sw_buf_printf(out, "  %s", dur);
		if (info->attempts > 1)
			sw_buf_printf(out, " (%u attempts)", info->attempts);
		sw_buf_putc(out, '\n');
		if (info->message) {
			sw_buf_puts(out, "    ");
			sw_put_clean(out, info->message, strlen(info->message), 2048);
			sw_buf_putc(out, '\n');
		}
		if (tail && *tail && !p->verbose) {
			const char *s = tail;

			while (*s) {
				size_t n = strcspn(s, "\n");

				sw_color(p, out, SW_ESC "2m");
				sw_buf_puts(out, "    | ");
				sw_color(p, out, SW_ESC "0m");
				sw_put_clean(out, s, n, 1024);
				sw_buf_putc(out, '\n');
				s += n;
				if (*s)
					s++;
			}
		}
		if (info->log_path)
			sw_buf_printf(out, "    log: %s\n", info->log_path);
		break;
	}
	sw_draw(p, now, out);
}

void sw_progress_output(struct sw_progress *p, size_t index, const char *name, const char *data, size_t len,
			uint64_t now, struct sw_buf *out)
{
	struct sw_buf *b;
	bool erased = false;

	if (!p->verbose || !p->partial || index >= p->njobs)
		return;
	b = &p->partial[index];
	if (b->max == 0)
		sw_buf_init(b, SW_PROGRESS_LINE_MAX);
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len, room = SW_PROGRESS_LINE_MAX - b->len;

		if (n > room)
			n = room;
		sw_buf_append(b, data, n);
		data += n;
		len -= n;
		if ((nl && data == nl) || b->len >= SW_PROGRESS_LINE_MAX) {
			if (!erased) {
				sw_erase(p, out);
				erased = true;
			}
			sw_color(p, out, SW_ESC "2m");
			sw_buf_printf(out, "[%s] ", name);
			sw_color(p, out, SW_ESC "0m");
			sw_put_clean(out, b->data, b->len, (size_t)-1);
			sw_buf_putc(out, '\n');
			sw_buf_reset(b);
			if (nl && data == nl) {
				data++;
				len--;
			}
		}
	}
	if (erased)
		sw_draw(p, now, out);
}

void sw_progress_note(struct sw_progress *p, const char *text, uint64_t now, struct sw_buf *out)
{
	sw_erase(p, out);
	sw_color(p, out, SW_ESC "33m");
	sw_buf_puts(out, "warning: ");
	sw_color(p, out, SW_ESC "0m");
	sw_put_clean(out, text, strlen(text), 4096);
	sw_buf_putc(out, '\n');
	sw_draw(p, now, out);
}

void sw_progress_frame(struct sw_progress *p, uint64_t now, struct sw_buf *out)
{
	if (!p->tty)
		return;
	p->spin++;
	sw_erase(p, out);
	sw_draw(p, now, out);
}

void sw_progress_end(struct sw_progress *p, struct sw_buf *out)
{
	if (!p->tty)
		return;
	sw_erase(p, out);
	sw_buf_puts(out, SW_ESC "?25h");
}
