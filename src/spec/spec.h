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
 * jobs[] is in a topological order (every job after all it needs), keeping
 * the file's order where the needs allow it.
 *
 * Refused as input: files over SW_SPEC_MAX_BYTES, YAML aliases and anchors
 * (so no alias bomb can expand), non-standard tags, several documents,
 * nesting deeper than SW_SPEC_MAX_DEPTH. docs/spec.md describes every key.
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
#define SW_SPEC_MAX_DEPTH 64         /* deeper YAML nesting is refused */
#define SW_SPEC_MAX_JOBS 10000       /* jobs after matrix expansion */

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

/* A number of hosts or instances: a count, or a percentage of them. */
struct sw_spec_amount {
	unsigned value;
	bool percent; /* value is 0..100 of the hosts */
};

/* run.health: exactly one of http, tcp, command. */
enum sw_health_kind { SW_HEALTH_NONE, SW_HEALTH_HTTP, SW_HEALTH_TCP, SW_HEALTH_COMMAND };
struct sw_spec_health {
	enum sw_health_kind kind; /* SW_HEALTH_NONE when run.health is absent */
	const char *target;       /* HTTP: the path ("/healthz"); COMMAND: shell text; TCP: NULL */
	uint64_t interval_ms;
	uint64_t timeout_ms;
	unsigned retries;         /* failures in a row before unhealthy; default 3 */
	uint64_t start_period_ms; /* failures ignored this long after start; default 0 */
	struct sw_spec_loc loc;
};

/* run.hooks: shell commands run on the host around an install; NULL = none. */
struct sw_spec_hooks {
	const char *before_install;
	const char *after_install;
	const char *before_start;
	const char *validate;
	uint64_t timeout_ms; /* each hook; default 5m */
};

struct sw_spec_run {
	const char *command; /* shell text the agent supervises */
	struct sw_spec_kv *env;
	size_t nenv;
	struct sw_spec_health health;
	int stop_signal;             /* signal number; default SIGTERM */
	const char *stop_signal_name; /* "TERM", "INT", ... as written */
	uint64_t stop_grace_ms;      /* before SIGKILL; default 10s */
	struct sw_spec_hooks hooks;
	unsigned keep_releases;      /* installed releases kept per host; default 3 */
	struct sw_spec_loc loc;
};

/* strategy traffic: {haproxy: {socket, backend}}; socket NULL = none given. */
struct sw_spec_traffic {
	const char *haproxy_socket; /* runtime API: unix socket path or host:port */
	const char *haproxy_backend;
	struct sw_spec_loc loc;
};

enum sw_strategy { SW_STRATEGY_ROLLING, SW_STRATEGY_BLUE_GREEN, SW_STRATEGY_CANARY, SW_STRATEGY_RINGS };

struct sw_spec_rolling {
	struct sw_spec_amount batch;           /* hosts updated at once; default 1 */
	struct sw_spec_amount max_unavailable; /* default 1 */
	struct sw_spec_amount min_healthy;     /* default 0 (no extra floor) */
	uint64_t health_timeout_ms;            /* per batch; default 5m */
	struct sw_spec_traffic traffic;        /* optional: drain each host in the balancer while it is replaced */
};

struct sw_spec_blue_green {
	const char *smoke;    /* command run against the idle colour; NULL = none */
	uint64_t keep_old_ms; /* old colour kept for instant rollback; default 1h */
	struct sw_spec_traffic traffic;
};

enum sw_canary_step_kind { SW_CANARY_WEIGHT, SW_CANARY_PAUSE, SW_CANARY_ANALYSIS, SW_CANARY_INSTANCES };
struct sw_spec_canary_step {
	enum sw_canary_step_kind kind;
	unsigned weight;                 /* WEIGHT: 0..100 percent of traffic */
	uint64_t pause_ms;               /* PAUSE with a duration */
	bool pause_manual;               /* PAUSE `{}`: until resumed by hand */
	const char *analysis;            /* ANALYSIS: name in spec->analyses */
	size_t analysis_index;           /* ANALYSIS: index into spec->analyses */
	struct sw_spec_amount instances; /* INSTANCES: canary hosts */
	struct sw_spec_loc loc;
};

struct sw_spec_canary {
	struct sw_spec_traffic traffic; /* required when a step sets weight */
	const char **templates;         /* background analyses (canary.analysis.templates) */
	size_t *template_index;         /* into spec->analyses */
	size_t ntemplates;
	unsigned start_at_step;         /* background analyses start at this step; default 0 */
	struct sw_spec_canary_step *steps;
	size_t nsteps;
};

struct sw_spec_rings {
	const char *label;  /* host label naming the ring; default "ring" */
	const char **order; /* label values, deployed in this order */
	size_t norder;
	uint64_t bake_ms;   /* wait after each ring; default 0 */
	const char *analysis; /* run while each ring bakes; NULL = none */
	size_t analysis_index;
	struct sw_spec_traffic traffic; /* optional: drain each host while it is replaced (as rolling) */
};

/* environments.<name>.unpack: limits on the agents' unpacking (0: not set, the agent's own applies). */
struct sw_spec_unpack {
	uint64_t max_size;      /* all files together, bytes */
	uint64_t max_file_size; /* one file, bytes */
	unsigned max_ratio;     /* unpacked / bundle bytes */
};

/* environments.<name>. Only the member of `strategy` that is set is filled. */
struct sw_spec_env {
	const char *name;
	struct sw_spec_kv *hosts; /* label selector: every pair must match */
	size_t nhosts;
	const char *after;        /* promotion order: the environment before; NULL = none */
	size_t after_index;       /* into spec->envs, when after is set */
	uint64_t progress_deadline_ms; /* default 10m */
	struct sw_spec_unpack unpack;
	enum sw_strategy strategy; /* default rolling */
	struct sw_spec_rolling rolling;
	struct sw_spec_blue_green blue_green;
	struct sw_spec_canary canary;
	struct sw_spec_rings rings;
	struct sw_spec_loc loc;
};

enum sw_provider { SW_PROVIDER_HAPROXY, SW_PROVIDER_PROMETHEUS, SW_PROVIDER_HTTP, SW_PROVIDER_COMMAND };

/* analysis.<name>: a metric check; conditions are Lua expressions (compiled, not run). */
struct sw_spec_analysis {
	const char *name;
	enum sw_provider provider;
	const char *address;      /* PROMETHEUS: base URL */
	const char *query;        /* PROMETHEUS: PromQL */
	const char *url;          /* HTTP */
	unsigned expect_status;   /* HTTP: default 200 */
	const char *json_field;   /* HTTP: dotted path of the value; NULL = whole body */
	const char *command;      /* COMMAND: shell text */
	uint64_t interval_ms;     /* between measurements; default 30s */
	unsigned count;           /* measurements; default 1; 0 = until the deployment ends */
	uint64_t initial_delay_ms; /* default 0 */
	const char *success;      /* Lua expression; NULL = none */
	const char *failure;      /* Lua expression; NULL = none */
	struct sw_spec_loc success_loc, failure_loc;
	unsigned failure_limit;   /* failed measurements tolerated; default 0 */
	unsigned inconclusive_limit; /* default 0 */
	bool dry_run;             /* measured and listed, never fails or pauses a rollout; default false */
	struct sw_spec_loc loc;
};

/* Where `version:` comes from (docs/spec.md, `service`). */
enum sw_spec_version_from {
	SW_SPEC_VERSION_NONE,    /* no `version:` */
	SW_SPEC_VERSION_LITERAL, /* `version: 1.2.3` (spec->version) */
	SW_SPEC_VERSION_FILE,    /* `version: {file: VERSION}` (spec->version_file) */
	SW_SPEC_VERSION_GIT,     /* `version: {git: describe}` */
};

#define SW_SPEC_VERSION_MAX 128 /* bytes of a version */

struct sw_spec {
	struct sw_arena arena;
	const char *path;   /* as given to sw_spec_load */
	const char *dir;    /* directory of path: jobs run relative to it */
	const char *service;
	const char *version; /* `version: <literal>`, else NULL; see sw_spec_version_resolve() */
	enum sw_spec_version_from version_from;
	const char *version_file;      /* `version: {file: PATH}`: relative to dir */
	struct sw_spec_loc version_loc; /* of the literal, the file path or `describe` */
	struct sw_spec_job *jobs;
	size_t njobs;
	struct sw_spec_secret *secrets;
	size_t nsecrets;
	struct sw_spec_run *run;         /* NULL when absent */
	struct sw_spec_env *envs;
	size_t nenvs;
	struct sw_spec_analysis *analyses;
	size_t nanalyses;
	size_t *job_by_name; /* internal: job indices sorted by name, for sw_spec_job_index() */
};

struct sw_spec *sw_spec_load(const char *path, struct sw_err *err);
/* Same, from memory; `path` is only used in messages and for spec->dir. */
struct sw_spec *sw_spec_parse(const char *path, const char *data, size_t len, struct sw_err *err);
void sw_spec_free(struct sw_spec *spec);
/* A usable version: 1..SW_SPEC_VERSION_MAX bytes of printable ASCII, no space, no '/'. */
bool sw_spec_version_ok(const char *s);
/*
 * The version `version:` gives, into out: the literal; the trimmed content
 * of the file (read from spec->dir, at most 4 KiB, must be a usable
 * version); or git_describe (`git describe --tags --always` of the commit
 * released, found by the caller; NULL or "" when there is no repository).
 * "" without `version:`. Errors are SW_EINPUT at slipway.yml:line:col of the
 * value ("cannot read version file 'VERSION': No such file or directory").
 */
int sw_spec_version_resolve(const struct sw_spec *spec, const char *git_describe, char *out, size_t size,
			    struct sw_err *err);
/* Index of a job by expanded name, or -1 (a binary search). */
long sw_spec_job_index(const struct sw_spec *spec, const char *name);
/* Index of an environment / analysis by name, or -1. */
long sw_spec_env_index(const struct sw_spec *spec, const char *name);
long sw_spec_analysis_index(const struct sw_spec *spec, const char *name);
/* Is name a valid service name: [a-z0-9][a-z0-9-]*, at most 63 bytes? */
bool sw_spec_service_name_ok(const char *name);

/*
 * Analysis conditions may read only what their provider measures (and
 * `math`); a condition naming anything else is refused at load time
 * ("condition refers to unknown field 'p95_ms' (the haproxy provider
 * measures: ...)"). The names, per provider (src/analysis/ sets exactly
 * these; docs/analysis.md describes them):
 *
 *   haproxy     requests request_rate errors error_rate response_ms
 *               stable_requests stable_request_rate stable_errors
 *               stable_error_rate stable_response_ms
 *   prometheus  result results
 *   http        status latency_ms result
 *   command     exit_code result
 *
 * sw_spec_provider_fields() returns that static list (*n names);
 * sw_spec_provider_name() "haproxy", "prometheus", "http", "command".
 */
const char *const *sw_spec_provider_fields(enum sw_provider p, size_t *n);
const char *sw_spec_provider_name(enum sw_provider p);

#endif
