/*
 * cli.c - shared helpers of the command groups (see cli.h).
 */
#include "cli/cli.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/suggest.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sw_cli_parse_output(const char *cmd, const char *value, enum sw_output *out)
{
	if (!strcmp(value, "json")) {
		*out = SW_OUTPUT_JSON;
		return 0;
	}
	if (!strcmp(value, "text")) {
		*out = SW_OUTPUT_TEXT;
		return 0;
	}
	sw_cli_usage_error(cmd, "--output: unknown format '%s' (expected text or json)", value);
	return -1;
}

int sw_cli_fail(const char *cmd, const struct sw_err *err)
{
	char msg[SW_ERR_MSG_MAX + SW_ERR_WHERE_MAX + 4];
	int code = sw_err_exit_code(err);

	fprintf(stderr, "slipway %s: %s\n", cmd, sw_err_format(err, msg, sizeof(msg)));
	return code ? code : 1;
}

int sw_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "slipway %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry 'slipway %s --help'\n", cmd);
	return 2;
}

int sw_cli_bad_option(const char *cmd, int c, char **argv, const struct option *opts)
{
	const char *arg = argv[optind - 1], *eq;
	char name[SW_SUGGEST_MAX_WORD + 1];
	struct sw_suggest sg;
	size_t i, n, matches = 0;

	if (c == ':')
		return sw_cli_usage_error(cmd, "option '%s' needs a value", arg);
	eq = strchr(arg, '=');
	if (optopt > 0 && !strncmp(arg, "--", 2) && eq) /* --wait=1: glibc sets optopt to the option's val */
		return sw_cli_usage_error(cmd, "option '%.*s' takes no value", (int)(eq - arg), arg);
	/* an unknown short option, or one inside a cluster such as -xv */
	if (optopt > 0 || strncmp(arg, "--", 2) || !arg[2]) {
		if (optopt > 0 && optopt < 128)
			return sw_cli_usage_error(cmd, "unknown option '-%c'", optopt);
		return sw_cli_usage_error(cmd, "unknown option '%s'", arg);
	}
	eq = strchr(arg + 2, '=');
	n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
	if (n > SW_SUGGEST_MAX_WORD)
		return sw_cli_usage_error(cmd, "unknown option '%.*s'", (int)n + 2, arg);
	memcpy(name, arg + 2, n);
	name[n] = '\0';
	for (i = 0; opts[i].name; i++)
		matches += !strncmp(opts[i].name, name, n);
	if (matches > 1) { /* getopt_long takes unique abbreviations; this one is not */
		struct sw_buf list = SW_BUF_INIT(512);

		for (i = 0; opts[i].name; i++)
			if (!strncmp(opts[i].name, name, n))
				sw_buf_printf(&list, "%s--%s", list.len ? ", " : "", opts[i].name);
		sw_cli_usage_error(cmd, "option '--%s' is ambiguous (%s)", name, sw_buf_str(&list));
		sw_buf_release(&list);
		return 2;
	}
	sw_suggest_init(&sg, name, true);
	for (i = 0; opts[i].name; i++)
		sw_suggest_add(&sg, opts[i].name);
	if (sw_suggest_best(&sg))
		return sw_cli_usage_error(cmd, "unknown option '--%s' (did you mean '--%s'?)", name, sw_suggest_best(&sg));
	return sw_cli_usage_error(cmd, "unknown option '--%s'", name);
}

int sw_cli_unknown_subcommand(const char *cmd, const char *word, const char *const *names)
{
	struct sw_buf list = SW_BUF_INIT(512);
	struct sw_suggest sg;
	size_t i;

	sw_suggest_init(&sg, word, true);
	for (i = 0; names[i]; i++) {
		sw_suggest_add(&sg, names[i]);
		sw_buf_printf(&list, "%s%s", i ? ", " : "", names[i]);
	}
	if (sw_suggest_best(&sg))
		sw_cli_usage_error(cmd, "unknown command '%s' (did you mean '%s'?)", word, sw_suggest_best(&sg));
	else
		sw_cli_usage_error(cmd, "unknown command '%s' (expected %s)", word, sw_buf_str(&list));
	sw_buf_release(&list);
	return 2;
}

void sw_cli_print_json(json_t *v)
{
	struct sw_buf b = SW_BUF_INIT(SW_BUF_UNLIMITED);

	if (sw_json_pretty(v, &b) == 0)
		fwrite(b.data, 1, b.len, stdout);
	sw_buf_release(&b);
	json_decref(v);
	fflush(stdout);
}

bool sw_cli_stdout_is_tty(void)
{
	return isatty(STDOUT_FILENO) == 1;
}

static int sw_cli_label_key_ok(const char *k, size_t n)
{
	size_t i;

	if (n == 0 || n > 63)
		return 0;
	for (i = 0; i < n; i++) {
		char c = k[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.' || c == '/'))
			return 0;
	}
	return 1;
}

int sw_cli_parse_labels(const char *cmd, const char *text, json_t *labels)
{
	const char *p = text;

	while (*p) {
		const char *end = strchr(p, ','), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char key[64], *val;

		eq = memchr(p, '=', len);
		if (!eq || !sw_cli_label_key_ok(p, (size_t)(eq - p))) {
			sw_cli_usage_error(cmd, "--labels: '%.*s' is not KEY=VALUE (keys: letters, digits, _ - . /)",
					   (int)len, p);
			return -1;
		}
		memcpy(key, p, (size_t)(eq - p));
		key[eq - p] = '\0';
		if (json_object_get(labels, key)) {
			sw_cli_usage_error(cmd, "--labels: '%s' appears twice", key);
			return -1;
		}
		val = strndup(eq + 1, len - (size_t)(eq - p) - 1);
		if (!val || strlen(val) > 255) {
			free(val);
			sw_cli_usage_error(cmd, "--labels: the value of '%s' is too long", key);
			return -1;
		}
		json_object_set_new(labels, key, json_string(val));
		free(val);
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}
