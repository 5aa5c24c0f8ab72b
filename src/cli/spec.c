/*
 * cli/spec.c - `slipway check` and `slipway init`.
 *
 * check: loads slipway.yml with the spec loader and reports ok or the first
 *   error. A spec error is printed as "file:line:col: message" at the start
 *   of the line (no "slipway check:" prefix) so editors can jump to it.
 * init: writes a commented slipway.yml that `check` accepts, guessing the
 *   build steps from the directory (a Makefile: make / make test).
 * Calls spec/, base/ (fs, err, buf, json). Prints; owns nothing it returns.
 */
#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/num.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "release/gitinfo.h"
#include "spec/spec.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SPEC "slipway.yml"

/* ---- check ------------------------------------------------------------- */

static const char check_usage[] =
	"usage: slipway check [-f FILE] [--output json]\n"
	"\n"
	"Validate slipway.yml: every key, type, name reference and expression,\n"
	"and that `version:` resolves (its file is readable and holds a version).\n"
	"Prints 'FILE: ok (...)' and exits 0, or the first error as\n"
	"'FILE:LINE:COL: message' on stderr and exits 2.\n"
	"\n"
	"  -f, --file FILE    the spec to check (default ./slipway.yml)\n"
	"  -o, --output FMT   text (default) or json\n"
	"  -h, --help         show this help\n";

/* JSON for a failed check; err->where is "file:line:col", "file" or "". */
static json_t *error_json(const struct sw_err *err, const char *file)
{
	size_t flen = strlen(file);
	const char *w = err->where, *colon;
	uint64_t line = 0, col = 0;

	if (!strncmp(w, file, flen) && w[flen] == ':' && (colon = strchr(w + flen + 1, ':')) &&
	    (sw_parse_u64(w + flen + 1, (size_t)(colon - w - flen - 1), 1, UINT_MAX, &line) < 0 ||
	     sw_parse_u64(colon + 1, strlen(colon + 1), 1, UINT_MAX, &col) < 0))
		line = col = 0;
	return json_pack("{s:b, s:{s:s, s:o, s:o, s:s}}", "ok", 0, "error", "file", file, "line",
			 line ? json_integer((json_int_t)line) : json_null(), "col",
			 col ? json_integer((json_int_t)col) : json_null(), "message", err->msg);
}

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int sw_cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum sw_output out = SW_OUTPUT_TEXT;
	const char *file = DEFAULT_SPEC;
	struct sw_err err = SW_ERR_INIT;
	char version[SW_SPEC_VERSION_MAX + 1] = "";
	struct sw_spec *spec;
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":f:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 'o':
			if (sw_cli_parse_output("check", optarg, &out) < 0)
				return 2;
			break;
		case 'h':
			fputs(check_usage, stdout);
			return 0;
		case ':':
		default:
			return sw_cli_bad_option("check", ch, argv, opts);
		}
	}
	if (optind < argc)
		return sw_cli_usage_error("check", "unexpected argument '%s'", argv[optind]);

	spec = sw_spec_load(file, &err);
	if (spec && spec->version_from == SW_SPEC_VERSION_GIT) {
		/* {git: describe} as `slipway release` will see it (of HEAD here; of the commit built there). */
		struct sw_git_info gi;

		if (sw_gitinfo_read(spec->dir, &gi, &err) < 0 ||
		    sw_spec_version_resolve(spec, gi.found ? gi.describe : NULL, version, sizeof(version), &err) < 0) {
			sw_spec_free(spec);
			spec = NULL;
		}
	} else if (spec && sw_spec_version_resolve(spec, NULL, version, sizeof(version), &err) < 0) {
		sw_spec_free(spec);
		spec = NULL;
	}
	if (!spec) {
		char msg[SW_ERR_MSG_MAX + SW_ERR_WHERE_MAX + 4];
		int code = sw_err_exit_code(&err);

		if (out == SW_OUTPUT_JSON) {
			sw_cli_print_json(error_json(&err, file));
			return code ? code : 1;
		}
		if (!err.where[0])
			return sw_cli_fail("check", &err);
		fprintf(stderr, "%s\n", sw_err_format(&err, msg, sizeof(msg)));
		return code ? code : 1;
	}
	if (out == SW_OUTPUT_JSON) {
		json_t *jobs = json_array(), *envs = json_array(), *analyses = json_array();
		size_t i;

		for (i = 0; i < spec->njobs; i++)
			json_array_append_new(jobs, json_string(spec->jobs[i].name));
		for (i = 0; i < spec->nenvs; i++)
			json_array_append_new(envs, json_string(spec->envs[i].name));
		for (i = 0; i < spec->nanalyses; i++)
			json_array_append_new(analyses, json_string(spec->analyses[i].name));
		sw_cli_print_json(json_pack("{s:b, s:s, s:s, s:s?, s:o, s:o, s:o}", "ok", 1, "file", file, "service",
					    spec->service, "version", version[0] ? version : NULL, "jobs", jobs, "environments", envs,
					    "analyses", analyses));
	} else {
		printf("%s: ok (service '%s', %zu %s, %zu %s, %zu %s)\n", file, spec->service, spec->njobs,
		       plural(spec->njobs, "job", "jobs"), spec->nenvs,
		       plural(spec->nenvs, "environment", "environments"), spec->nanalyses,
		       plural(spec->nanalyses, "analysis", "analyses"));
	}
	sw_spec_free(spec);
	return 0;
}

/* ---- init ---------------------------------------------------------------- */

static const char init_usage[] =
	"usage: slipway init [-f FILE] [--service NAME] [--force] [--output json]\n"
	"\n"
	"Write a commented slipway.yml for the repository in the current directory\n"
	"(or FILE's directory). The service name is the directory's name made valid\n"
	"(a-z, 0-9, '-') unless --service gives one. With a Makefile the build job\n"
	"runs 'make' and, if there is a 'test' target, a test job runs 'make test'.\n"
	"\n"
	"  -f, --file FILE      where to write (default ./slipway.yml)\n"
	"  -s, --service NAME   the service name\n"
	"      --force          overwrite an existing file\n"
	"  -o, --output FMT     text (default) or json\n"
	"  -h, --help           show this help\n";

/* The directory's base name, lower-cased, other characters as '-'. */
static void service_from_dir(const char *dir, char *out, size_t size)
{
	char real[PATH_MAX];
	const char *base, *p;
	size_t n = 0;

	if (!realpath(dir, real))
		sw_strlcpy(real, dir, sizeof(real));
	base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
	for (p = base; *p && n + 1 < size && n < 63; p++) {
		char ch = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
			ch = '-';
		if (ch == '-' && (n == 0 || out[n - 1] == '-'))
			continue;
		out[n++] = ch;
	}
	while (n > 0 && out[n - 1] == '-')
		n--;
	out[n] = '\0';
	if (n == 0)
		sw_strlcpy(out, "app", size);
}

/* Does the directory have a Makefile, and one with a `test` target? */
static int find_makefile(const char *dir, bool *has_test)
{
	static const char *const names[] = { "GNUmakefile", "makefile", "Makefile" };
	char path[PATH_MAX];
	size_t i;

	*has_test = false;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct sw_buf b = SW_BUF_INIT(1u << 20);
		const char *line;

		if (sw_path_join(path, sizeof(path), dir, names[i]) < 0 || !sw_fs_exists(path))
			continue;
		if (sw_fs_read_file(path, 1u << 20, &b, NULL) == 0) {
			for (line = b.data; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
				if (!strncmp(line, "test:", 5) || !strncmp(line, "test :", 6))
					*has_test = true;
		}
		sw_buf_release(&b);
		return 1;
	}
	return 0;
}

static void write_template(struct sw_buf *b, const char *service, bool make, bool make_test)
{
	sw_buf_printf(b,
		      "# slipway.yml: how Slipway builds, releases and deploys '%s'.\n"
		      "# Written by 'slipway init'. Check it with 'slipway check', run the\n"
		      "# pipeline with 'slipway run'. Every key is described in docs/spec.md.\n"
		      "service: %s\n"
		      "\n"
		      "build:\n"
		      "  # Secrets a job may receive as environment variables:\n"
		      "  # secrets:\n"
		      "  #   NPM_TOKEN: { env: NPM_TOKEN }        # or { file: path/to/token }\n"
		      "  jobs:\n"
		      "    # Each job runs its steps in order with /bin/sh; jobs run as a DAG (needs).\n"
		      "    build:\n"
		      "      steps:\n",
		      service, service);
	if (make)
		sw_buf_puts(b, "        - make\n");
	else
		sw_buf_puts(b, "        - echo \"replace this step with the build command\"\n");
	sw_buf_puts(b, "      # timeout: 30m                    # per step\n"
		       "      # cache: [ src/, Makefile ]      # skip the job when these are unchanged\n"
		       "      # outputs: [ dist/ ]              # what a release bundles\n");
	if (make_test)
		sw_buf_puts(b, "    test:\n"
			       "      needs: [ build ]\n"
			       "      steps:\n"
			       "        - make test\n"
			       "      # reports: [ build/junit.xml ]   # JUnit XML test results\n");
	sw_buf_printf(b,
		      "\n"
		      "# How hosts run the service; uncomment and adapt:\n"
		      "# run:\n"
		      "#   command: ./dist/%s --port ${PORT}\n"
		      "#   health: { http: /healthz, interval: 1s, timeout: 2s }\n"
		      "#   stop: { signal: TERM, grace: 10s }\n"
		      "#\n"
		      "# environments:\n"
		      "#   staging:\n"
		      "#     hosts: { env: staging }\n"
		      "#     strategy: { rolling: { batch: 1 } }\n"
		      "#   prod:\n"
		      "#     after: staging\n"
		      "#     hosts: { env: prod }\n"
		      "#     strategy:\n"
		      "#       canary:\n"
		      "#         traffic: { haproxy: { socket: /run/haproxy/admin.sock, backend: %s } }\n"
		      "#         steps: [ { weight: 10 }, { analysis: errors }, { weight: 100 } ]\n"
		      "#\n"
		      "# analysis:\n"
		      "#   errors:\n"
		      "#     provider: { haproxy: {} }\n"
		      "#     interval: 10s\n"
		      "#     count: 3\n"
		      "#     success: \"error_rate < 0.01\"\n",
		      service, service);
}

int sw_cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "service", required_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum sw_output out = SW_OUTPUT_TEXT;
	const char *file = DEFAULT_SPEC, *service = NULL, *slash;
	struct sw_buf text = SW_BUF_INIT(1u << 16);
	struct sw_err err = SW_ERR_INIT;
	char dir[PATH_MAX], name[64];
	bool force = false, make, make_test;
	struct sw_spec *spec;
	int ch, rc = 1;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":f:s:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 's':
			service = optarg;
			break;
		case 'F':
			force = true;
			break;
		case 'o':
			if (sw_cli_parse_output("init", optarg, &out) < 0)
				return 2;
			break;
		case 'h':
			fputs(init_usage, stdout);
			return 0;
		case ':':
		default:
			return sw_cli_bad_option("init", ch, argv, opts);
		}
	}
	if (optind < argc)
		return sw_cli_usage_error("init", "unexpected argument '%s'", argv[optind]);
	if (service && !sw_spec_service_name_ok(service))
		return sw_cli_usage_error("init", "bad service name '%s' (use a-z, 0-9 and '-', "
						  "starting with a letter or digit, at most 63)", service);
	slash = strrchr(file, '/');
	if (!slash)
		sw_strlcpy(dir, ".", sizeof(dir));
	else if (sw_snprintf(dir, sizeof(dir), "%.*s", (int)(slash == file ? 1 : slash - file), file) < 0)
		return sw_cli_usage_error("init", "path too long: '%s'", file);
	if (!service) {
		service_from_dir(dir, name, sizeof(name));
		service = name;
	}
	if (sw_fs_exists(file) && !force) {
		sw_err_set(&err, SW_EINPUT, "'%s' already exists (use --force to overwrite)", file);
		return sw_cli_fail("init", &err);
	}
	make = find_makefile(dir, &make_test);
	write_template(&text, service, make, make && make_test);
	/* the template must always pass check: prove it before writing */
	if (sw_buf_failed(&text) || !(spec = sw_spec_parse(file, text.data, text.len, &err))) {
		sw_err_prefix(&err, "generated spec is invalid (a bug)");
		err.code = SW_EINTERNAL;
		rc = sw_cli_fail("init", &err);
		goto out;
	}
	if (sw_fs_write_atomic(file, text.data, text.len, 0644, &err) < 0) {
		rc = sw_cli_fail("init", &err);
	} else if (out == SW_OUTPUT_JSON) {
		json_t *jobs = json_array();
		size_t i;

		for (i = 0; i < spec->njobs; i++)
			json_array_append_new(jobs, json_string(spec->jobs[i].name));
		sw_cli_print_json(json_pack("{s:s, s:s, s:o}", "file", file, "service", service, "jobs", jobs));
		rc = 0;
	} else {
		printf("wrote %s (service '%s', %zu %s%s)\n", file, service, spec->njobs,
		       plural(spec->njobs, "job", "jobs"), make ? " from the Makefile" : "");
		rc = 0;
	}
	sw_spec_free(spec);
out:
	sw_buf_release(&text);
	return rc;
}
