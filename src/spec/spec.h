/*
 * spec.h - the typed model of slipway.yml and its loader.
 *
 * sw_spec_load() reads slipway.yml with libyaml into a struct sw_spec whose
 * every piece lives in spec->arena (one sw_spec_free() releases it all).
 * Nothing is half-loaded: on any error the result is NULL and err holds
 * "file:line:col" in err->where and the message (with "did you mean" for a
 * misspelled key), code SW_EINPUT.
 *
 * Matrix jobs are expanded at load time: job `test` with
 * `matrix: { os: [a, b] }` becomes jobs "test[os=a]" and "test[os=b]", each
 * with MATRIX_OS in its env; `needs: [test]` means all of them.
 * jobs[] is in a topological order (every job after all it needs).
 *
 * Calls libyaml, liblua (syntax check of conditions), base/.
 */
#ifndef SW_SPEC_H
#define SW_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"

#define SW_SPEC_MAX_BYTES (1u << 20) /* slipway.yml larger than 1 MiB is refused */

struct sw_spec_loc {
	unsigned line, col; /* 1-based, of the node in slipway.yml */
};

struct sw_spec_kv {
	const char *key;
	const char *value;
	struct sw_spec_loc loc;
};

struct sw_spec_step {
	const char *name;    /* optional; defaults to the command's first line */
	const char *run;     /* shell text, run with /bin/sh -c */
	uint64_t timeout_ms; /* 0: the job's timeout */
	struct sw_spec_loc loc;
};

struct sw_spec_job {
	const char *name; /* after matrix expansion, e.g. "test[os=a]" */
	const char *base_name; /* the key in build.jobs, e.g. "test" */
	struct sw_spec_step *steps;
	size_t nsteps;
	const char **needs; /* names as written (before expansion) */
	size_t nneeds;
	size_t *deps; /* indices into spec->jobs of every job this one needs (expanded) */
	size_t ndeps;
	struct sw_spec_kv *env; /* declared env, matrix values included */
	size_t nenv;
	const char **secrets; /* names from build.secrets this job receives as env */
	size_t nsecrets;
	const char *workdir;  /* relative to the spec's directory; "." by default */
	uint64_t timeout_ms;  /* per step; default 30m */
	unsigned retries;     /* extra attempts after a failed step; default 0 */
	const char **cache;   /* input paths/globs whose contents key the cache; none: no caching */
	size_t ncache;
	const char **reports; /* JUnit XML paths (relative to workdir) */
	size_t nreports;
	const char **outputs; /* files or directories (trailing '/') the job produces */
	size_t noutputs;
	struct sw_spec_loc loc;
};

/* build.secrets: NAME -> where its value comes from. */
enum sw_secret_source { SW_SECRET_ENV, SW_SECRET_FILE };
struct sw_spec_secret {
	const char *name;
	enum sw_secret_source source;
	const char *from; /* env var name or file path */
	struct sw_spec_loc loc;
};

/* Filled in by the loader for run:, environments: and analysis: (see below). */
struct sw_spec_run;
struct sw_spec_env;
struct sw_spec_analysis;

struct sw_spec {
	struct sw_arena arena;
	const char *path;   /* as given to sw_spec_load */
	const char *dir;    /* directory of path: jobs run relative to it */
	const char *service;
	const char *version; /* optional `version:`; releases may override */
	struct sw_spec_job *jobs;
	size_t njobs;
	struct sw_spec_secret *secrets;
	size_t nsecrets;
	struct sw_spec_run *run;         /* NULL when absent */
	struct sw_spec_env *envs;
	size_t nenvs;
	struct sw_spec_analysis *analyses;
	size_t nanalyses;
};

struct sw_spec *sw_spec_load(const char *path, struct sw_err *err);
/* Same, from memory; `path` is only used in messages and for spec->dir. */
struct sw_spec *sw_spec_parse(const char *path, const char *data, size_t len, struct sw_err *err);
void sw_spec_free(struct sw_spec *spec);
/* Index of a job by expanded name, or -1. */
long sw_spec_job_index(const struct sw_spec *spec, const char *name);

#endif
