/*
 * cli/release.c - `slipway keygen`, `slipway release`, `slipway verify`:
 * flags, glue between spec/, the pipeline's run summary, release/ and the
 * store, and printing. The work itself lives in src/release/.
 * May call every layer below cli.
 */
#include "base/clock.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "pipeline/gitrev.h"
#include "release/gitinfo.h"
#include "release/minisign.h"
#include "release/release.h"
#include "spec/spec.h"
#include "store/store.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- keygen ---- */

static void sw_keygen_usage(FILE *f)
{
	fputs("usage: slipway keygen [--force] [--output json]\n\n"
	      "Create the ed25519 signing key pair that `slipway release` signs with, in\n"
	      "minisign format (not encrypted):\n"
	      "  $SLIPWAY_HOME/keys/slipway.key   secret key, mode 0600\n"
	      "  $SLIPWAY_HOME/keys/slipway.pub   public key, for `slipway verify` and `minisign -V`\n\n"
	      "options:\n"
	      "  --force          replace an existing key pair\n"
	      "  --output FORMAT  text (default) or json\n"
	      "  -h, --help       show this help\n",
	      f);
}

int sw_cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char dir[PATH_MAX], skp[PATH_MAX], pkp[PATH_MAX], id[SW_MINISIGN_KEY_ID_HEX];
	struct sw_err err = SW_ERR_INIT;
	struct sw_minisign_pubkey pk;
	enum sw_output out = SW_OUTPUT_TEXT;
	bool force = false;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			force = true;
			break;
		case 'o':
			if (sw_cli_parse_output("keygen", optarg, &out) < 0)
				return 2;
			break;
		case 'h':
			sw_keygen_usage(stdout);
			return 0;
		default:
			return sw_cli_bad_option("keygen", c, argv, opts);
		}
	}
	if (optind < argc)
		return sw_cli_usage_error("keygen", "unexpected argument '%s'", argv[optind]);
	if (sw_home_subdir(dir, sizeof(dir), "keys", &err) < 0)
		return sw_cli_fail("keygen", &err);
	if (sw_path_join(skp, sizeof(skp), dir, "slipway.key") < 0 || sw_path_join(pkp, sizeof(pkp), dir, "slipway.pub") < 0) {
		sw_err_set(&err, SW_EINPUT, "path too long under '%s'", dir);
		return sw_cli_fail("keygen", &err);
	}
	if (sw_minisign_write_keypair(skp, pkp, force, &pk, &err) < 0)
		return sw_cli_fail("keygen", &err);
	sw_minisign_key_id(pk.keynum, id);
	if (out == SW_OUTPUT_JSON) {
		sw_cli_print_json(json_pack("{s:s, s:s, s:s}", "key_id", id, "secret_key", skp, "public_key", pkp));
		return 0;
	}
	printf("key id      %s\n"
	       "secret key  %s (keep it private; not encrypted)\n"
	       "public key  %s\n",
	       id, skp, pkp);
	return 0;
}

/* ---- release ---- */

static void sw_release_usage(FILE *f)
{
	fputs("usage: slipway release [-f slipway.yml] [--version V] [--out DIR] [--key FILE] [--allow-stale]\n"
	      "                       [--output json]\n\n"
	      "Bundle the outputs of every job of the latest passed pipeline run into a\n"
	      "deterministic tar.zst named by its sha256, write release.json, a CycloneDX\n"
	      "SBOM and in-toto SLSA provenance, sign the bundle and release.json with the\n"
	      "minisign key, and record the release in the local store.\n\n"
	      "The release records the commit (and tree state) the run built its outputs\n"
	      "from. When the working tree has moved on since (another commit, other\n"
	      "uncommitted changes), it refuses (exit 1): run the pipeline again, or pass\n"
	      "--allow-stale to sign the old outputs anyway, which the release records.\n\n"
	      "options:\n"
	      "  -f, --file PATH   the service spec (default slipway.yml)\n"
	      "  --version V       release version (default: the spec's `version:` -- a\n"
	      "                    literal, {file: VERSION} or {git: describe} -- else\n"
	      "                    `git describe --tags`, else 0.0.0+<commit>, else 0.0.0)\n"
	      "  --out DIR         where the files go (default $SLIPWAY_HOME/releases/<service>)\n"
	      "  --key FILE        minisign secret key (default $SLIPWAY_HOME/keys/slipway.key)\n"
	      "  --allow-stale     release outputs built from another commit or tree state\n"
	      "                    than the working tree's (recorded as \"stale\")\n"
	      "  --output FORMAT   text (default) or json\n"
	      "  -h, --help        show this help\n\n"
	      "Bundle entry times come from SOURCE_DATE_EPOCH, else the git commit time.\n"
	      "See docs/releases.md for the file formats.\n",
	      f);
}

struct sw_release_cli {
	const char *spec_path, *version, *out_dir, *key_path;
	bool allow_stale;
	enum sw_output out;
};

/* "commit <hex>", "commit <hex> with uncommitted changes" or "no git commit". */
static const char *sw_release_tree_name(const char *commit, int dirty, char *out, size_t size)
{
	if (!commit)
		snprintf(out, size, "no git commit (outside a repository)");
	else
		snprintf(out, size, "commit %s%s", commit, dirty > 0 ? " with uncommitted changes" : "");
	return out;
}

/*
 * Whether the working tree (now) is not the one the run built from (its
 * summary's git_commit, git_dirty, git_changes). A summary without git_dirty
 * (older runs) is compared by commit only. msg gets the reason.
 */
static bool sw_release_tree_moved(const json_t *summary, const struct sw_gitrev_state *now, char *msg, size_t size)
{
	const char *commit = sw_json_str(summary, "git_commit"), *changes = sw_json_str(summary, "git_changes");
	const json_t *d = json_object_get(summary, "git_dirty");
	int dirty = json_is_boolean(d) ? json_is_true(d) : -1;
	char b[128], n[128];
	bool moved;

	if (!commit || !now->found)
		moved = !commit != !now->found;
	else if (strcmp(commit, now->commit))
		moved = true;
	else if (dirty < 0)
		moved = false;
	else if (dirty != now->dirty)
		moved = true;
	else
		moved = dirty && (!changes || strcmp(changes, now->changes));
	if (!moved)
		return false;
	sw_release_tree_name(commit, dirty, b, sizeof(b));
	sw_release_tree_name(now->found ? now->commit : NULL, now->dirty, n, sizeof(n));
	if (!strcmp(b, n))
		snprintf(n + strlen(n), sizeof(n) - strlen(n), " (other changes)");
	snprintf(msg, size, "outputs were built from %s, the working tree is now at %s", b, n);
	return true;
}

static json_t *sw_release_paths_json(const struct sw_release_result *r)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "bundle", r->paths[SW_RELEASE_BUNDLE], "bundle_signature",
			 r->paths[SW_RELEASE_BUNDLE_SIG], "manifest", r->paths[SW_RELEASE_MANIFEST], "manifest_signature",
			 r->paths[SW_RELEASE_MANIFEST_SIG], "sbom", r->paths[SW_RELEASE_SBOM], "provenance",
			 r->paths[SW_RELEASE_PROVENANCE]);
}

/* release.created + release.signed and the release row, in one transaction. */
static int sw_release_record(const struct sw_release_result *r, const char *service, const char *version,
			     const json_t *summary, const json_t *stale, struct sw_err *err)
{
	struct sw_buf canon = SW_BUF_INIT(SW_BUF_UNLIMITED);
	char digest[SW_SHA256_HEX + 8], subject[SW_SHA256_HEX + 16], actor[256];
	struct sw_store *st = NULL;
	json_t *created = NULL, *signed_ = NULL;
	const json_t *git = json_object_get(r->manifest, "git");
	int rc = -1;

	snprintf(digest, sizeof(digest), "sha256:%s", r->digest);
	snprintf(subject, sizeof(subject), "release/%s", digest);
	sw_store_actor(actor, sizeof(actor));
	if (sw_json_canonical(r->manifest, &canon) < 0) {
		sw_err_set(err, SW_EINTERNAL, "cannot encode the manifest");
		goto out;
	}
	created = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:O}", "digest", digest, "service", service, "version",
			    version, "bundle", r->paths[SW_RELEASE_BUNDLE], "size", (json_int_t)r->size, "files",
			    (json_int_t)r->nfiles, "run_id", sw_json_str(summary, "run_id") ? sw_json_str(summary, "run_id") : "",
			    "git_commit", json_is_object(git) ? json_object_get(git, "commit") : json_null());
	if (created)
		json_object_set_new(created, "stale", stale ? json_deep_copy(stale) : json_null());
	signed_ = json_pack("{s:s, s:s, s:[s, s]}", "digest", digest, "key_id", r->key_id, "signatures",
			    r->paths[SW_RELEASE_BUNDLE_SIG], r->paths[SW_RELEASE_MANIFEST_SIG]);
	if (!created || !signed_) {
		sw_err_set(err, SW_EINTERNAL, "cannot encode the release events");
		goto out;
	}
	if (sw_store_open_default(&st, err) < 0)
		goto out;
	if (sw_store_begin(st, err) < 0)
		goto out;
	if (sw_store_put_release(st, digest, service, version, canon.data, r->paths[SW_RELEASE_BUNDLE], err) < 0 ||
	    sw_store_append(st, actor, "release.created", subject, created, NULL, err) < 0 ||
	    sw_store_append(st, actor, "release.signed", subject, signed_, NULL, err) < 0 ||
	    sw_store_commit(st, err) < 0) {
		sw_store_rollback(st);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		sw_err_prefix(err, "cannot record release %s in the store", digest);
	if (st)
		sw_store_close(st);
	json_decref(created);
	json_decref(signed_);
	sw_buf_release(&canon);
	return rc;
}

static void sw_release_print(const struct sw_release_result *r, const char *service, const char *version,
			     const json_t *summary, enum sw_output out)
{
	const char *run_id = sw_json_str(summary, "run_id");

	if (out == SW_OUTPUT_JSON) {
		char digest[SW_SHA256_HEX + 8];

		snprintf(digest, sizeof(digest), "sha256:%s", r->digest);
		sw_cli_print_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:b, s:o, s:O}", "service", service,
					    "version", version, "digest", digest, "size", (json_int_t)r->size, "files",
					    (json_int_t)r->nfiles, "key_id", r->key_id, "run_id", run_id ? run_id : "",
					    "existing", r->existed, "paths", sw_release_paths_json(r), "manifest",
					    r->manifest));
		return;
	}
	if (r->existed)
		printf("release %s %s already exists (the outputs have not changed)\n", service, version);
	else
		printf("released %s %s\n", service, version);
	printf("  digest      sha256:%s\n"
	       "  bundle      %s (%llu bytes, %zu files)\n"
	       "  manifest    %s\n"
	       "  sbom        %s\n"
	       "  provenance  %s\n"
	       "  signed by   key %s\n"
	       "  from run    %s\n",
	       r->digest, r->paths[SW_RELEASE_BUNDLE], (unsigned long long)r->size, r->nfiles,
	       r->paths[SW_RELEASE_MANIFEST], r->paths[SW_RELEASE_SBOM], r->paths[SW_RELEASE_PROVENANCE], r->key_id,
	       run_id ? run_id : "?");
}

static int sw_release_run(const struct sw_release_cli *o)
{
	struct sw_err err = SW_ERR_INIT;
	struct sw_spec *spec = NULL;
	json_t *summary = NULL, *stale = NULL;
	struct sw_gitrev_state now;
	struct sw_git_info git;
	char moved[512];
	struct sw_minisign_seckey key;
	struct sw_release_result res;
	struct sw_release_output *outs = NULL;
	const char **jobs = NULL;
	char home[PATH_MAX], runs[PATH_MAX], out_dir[PATH_MAX], keyp[PATH_MAX], version[256];
	char spec_version[SW_SPEC_VERSION_MAX + 1] = "";
	char spec_sha[SW_SHA256_HEX];
	struct sw_buf spec_text = SW_BUF_INIT(SW_SPEC_MAX_BYTES);
	const char *spec_name, *sum_spec;
	size_t i, j, nouts = 0;
	int64_t mtime;
	int rc = 1, have_key = 0;

	memset(&res, 0, sizeof(res));
	spec = sw_spec_load(o->spec_path, &err);
	if (!spec)
		return sw_cli_fail("release", &err);
	if (!sw_release_safe_name(spec->service)) {
		sw_err_set(&err, SW_EINPUT, "service name '%s' cannot be used in a file name", spec->service);
		goto fail;
	}
	if (sw_home_dir(home, sizeof(home), &err) < 0)
		goto fail;
	if (sw_path_join(runs, sizeof(runs), home, "runs") < 0) {
		sw_err_set(&err, SW_EINPUT, "SLIPWAY_HOME is too long");
		goto fail;
	}
	if (sw_release_load_run(runs, spec->service, &summary, &err) < 0)
		goto fail;
	if (sw_sha256_file_hex(spec->path, spec_sha, NULL, &err) < 0)
		goto fail;
	if (sw_fs_read_file(spec->path, SW_SPEC_MAX_BYTES, &spec_text, &err) < 0)
		goto fail;
	sum_spec = sw_json_str(summary, "spec_digest");
	if (sum_spec && strcmp(sum_spec, spec_sha) && strcmp(sum_spec + (strncmp(sum_spec, "sha256:", 7) ? 0 : 7), spec_sha))
		fprintf(stderr, "slipway release: warning: '%s' changed since run %s; the outputs may not match it\n",
			spec->path, sw_json_str(summary, "run_id"));
	/* Sign the outputs for the tree they were built from, and only that one unless told. */
	if (sw_gitrev_state(spec->dir, &now) < 0) {
		sw_err_set(&err, SW_EIO, "cannot read the git working tree state around '%s'", spec->dir);
		goto fail;
	}
	if (sw_release_tree_moved(summary, &now, moved, sizeof(moved))) {
		if (!o->allow_stale) {
			sw_err_set(&err, SW_EFAILED, "%s (run %s); run the pipeline again or pass --allow-stale", moved,
				   sw_json_str(summary, "run_id"));
			goto fail;
		}
		fprintf(stderr, "slipway release: warning: %s; releasing anyway (--allow-stale, recorded)\n", moved);
		stale = json_pack("{s:b, s:{s:o, s:b}}", "allow_stale", 1, "worktree", "commit",
				  now.found ? json_string(now.commit) : json_null(), "dirty", now.dirty);
	}
	if (sw_json_str(summary, "git_commit")) {
		const json_t *d = json_object_get(summary, "git_dirty");

		if (sw_gitinfo_read_at(spec->dir, sw_json_str(summary, "git_commit"), &git, &err) < 0)
			goto fail;
		git.dirty = json_is_boolean(d) ? json_is_true(d) : now.dirty;
	} else {
		memset(&git, 0, sizeof(git)); /* built outside git: the release records none */
	}
	/* --version, else `version:` (a literal, a file, or git describe of the commit built), else git. */
	if (!o->version &&
	    sw_spec_version_resolve(spec, git.found ? git.describe : NULL, spec_version, sizeof(spec_version), &err) < 0)
		goto fail;
	sw_release_version(o->version, spec_version, &git, version, sizeof(version));
	if (sw_release_mtime(&git, &mtime, &err) < 0)
		goto fail;

	/* Outputs of every job, relative to the spec's directory. */
	for (i = 0; i < spec->njobs; i++)
		nouts += spec->jobs[i].noutputs;
	outs = sw_xcalloc(nouts ? nouts : 1, sizeof(*outs));
	jobs = sw_xcalloc(spec->njobs ? spec->njobs : 1, sizeof(*jobs));
	for (i = 0, nouts = 0; i < spec->njobs; i++) {
		jobs[i] = spec->jobs[i].name;
		for (j = 0; j < spec->jobs[i].noutputs; j++) {
			outs[nouts].job = spec->jobs[i].name;
			outs[nouts].path = spec->jobs[i].outputs[j];
			nouts++;
		}
	}

	if (o->key_path) {
		sw_strlcpy(keyp, o->key_path, sizeof(keyp));
	} else if (sw_snprintf(keyp, sizeof(keyp), "%s/keys/slipway.key", home) < 0) {
		sw_err_set(&err, SW_EINPUT, "SLIPWAY_HOME is too long");
		goto fail;
	}
	if (sw_minisign_seckey_load(keyp, &key, &err) < 0) {
		if (err.code == SW_ENOTFOUND)
			sw_err_set(&err, SW_ENOTFOUND, "no signing key at '%s'; create one with 'slipway keygen'", keyp);
		goto fail;
	}
	have_key = 1;
	if (o->out_dir) {
		sw_strlcpy(out_dir, o->out_dir, sizeof(out_dir));
	} else if (sw_snprintf(out_dir, sizeof(out_dir), "%s/releases/%s", home, spec->service) < 0) {
		sw_err_set(&err, SW_EINPUT, "SLIPWAY_HOME is too long");
		goto fail;
	}
	spec_name = strrchr(spec->path, '/') ? strrchr(spec->path, '/') + 1 : spec->path;
	{
		struct sw_release_params p = {
			.service = spec->service,
			.version = version,
			.base_dir = spec->dir,
			.spec_name = spec_name,
			.spec_sha256 = spec_sha,
			.spec_text = sw_buf_str(&spec_text),
			.outputs = outs,
			.noutputs = nouts,
			.jobs = jobs,
			.njobs = spec->njobs,
			.summary = summary,
			.git = &git,
			.stale = stale,
			.mtime = mtime,
			.now_ms = sw_clock_wall_ms(),
			.out_dir = out_dir,
			.key = &key,
		};

		if (sw_release_create(&p, &res, &err) < 0)
			goto fail;
	}
	sw_minisign_seckey_wipe(&key);
	have_key = 0;
	if (res.existed) {
		const char *signed_spec = sw_json_str(res.manifest, "spec");

		/* The existing release keeps the slipway.yml it was signed with: say so when this one differs. */
		if (!signed_spec || strcmp(signed_spec, sw_buf_str(&spec_text)))
			fprintf(stderr,
				"slipway release: warning: '%s' differs from the slipway.yml release %s %s was signed with; "
				"that release (its run: and environments:) is unchanged. To release this slipway.yml, "
				"change the outputs and the version\n",
				spec->path, spec->service, version);
	}
	if (!res.existed && sw_release_record(&res, spec->service, version, summary, stale, &err) < 0) {
		sw_release_remove(&res);
		goto fail;
	}
	sw_release_print(&res, spec->service, version, summary, o->out);
	rc = 0;
	goto out;
fail:
	rc = sw_cli_fail("release", &err);
out:
	if (have_key)
		sw_minisign_seckey_wipe(&key);
	sw_release_result_release(&res);
	free(outs);
	free(jobs);
	json_decref(summary);
	json_decref(stale);
	sw_spec_free(spec);
	sw_buf_release(&spec_text);
	return rc;
}

int sw_cmd_release(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "version", required_argument, NULL, 'V' },
		{ "out", required_argument, NULL, 'O' },
		{ "key", required_argument, NULL, 'k' },
		{ "allow-stale", no_argument, NULL, 'S' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sw_release_cli o = { .spec_path = "slipway.yml", .out = SW_OUTPUT_TEXT };
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.spec_path = optarg;
			break;
		case 'V':
			if (!sw_spec_version_ok(optarg))
				return sw_cli_usage_error("release", "--version: '%s' is not a usable version", optarg);
			o.version = optarg;
			break;
		case 'O':
			o.out_dir = optarg;
			break;
		case 'k':
			o.key_path = optarg;
			break;
		case 'S':
			o.allow_stale = true;
			break;
		case 'o':
			if (sw_cli_parse_output("release", optarg, &o.out) < 0)
				return 2;
			break;
		case 'h':
			sw_release_usage(stdout);
			return 0;
		case ':':
		default:
			return sw_cli_bad_option("release", c, argv, opts);
		}
	}
	if (optind < argc)
		return sw_cli_usage_error("release", "unexpected argument '%s'", argv[optind]);
	return sw_release_run(&o);
}

/* ---- verify ---- */

static void sw_verify_usage(FILE *f)
{
	fputs("usage: slipway verify BUNDLE [--key PUBFILE] [--output json]\n\n"
	      "Check a release bundle (<sha256>.tar.zst) and the files beside it: the\n"
	      "name's digest against the content, the bundle's and release.json's minisign\n"
	      "signatures, that release.json describes this bundle, that the SBOM and the\n"
	      "provenance match their recorded sha256, and that every file in the archive\n"
	      "matches its SBOM hash (read without unpacking).\n\n"
	      "options:\n"
	      "  --key FILE       minisign public key (default $SLIPWAY_HOME/keys/slipway.pub)\n"
	      "  --output FORMAT  text (default) or json\n"
	      "  -h, --help       show this help\n\n"
	      "exit status: 0 every check passed, 1 a check failed, 2 unreadable input\n",
	      f);
}

int sw_cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sw_err err = SW_ERR_INIT;
	struct sw_minisign_pubkey pk;
	struct sw_verify_report rep;
	enum sw_output out = SW_OUTPUT_TEXT;
	const char *key_path = NULL, *bundle;
	char keyp[PATH_MAX], home[PATH_MAX];
	size_t i, failed = 0;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'o':
			if (sw_cli_parse_output("verify", optarg, &out) < 0)
				return 2;
			break;
		case 'h':
			sw_verify_usage(stdout);
			return 0;
		case ':':
		default:
			return sw_cli_bad_option("verify", c, argv, opts);
		}
	}
	if (optind >= argc)
		return sw_cli_usage_error("verify", "which bundle? (slipway verify <sha256>.tar.zst)");
	if (optind + 1 < argc)
		return sw_cli_usage_error("verify", "unexpected argument '%s'", argv[optind + 1]);
	bundle = argv[optind];
	if (key_path) {
		sw_strlcpy(keyp, key_path, sizeof(keyp));
	} else {
		if (sw_home_dir(home, sizeof(home), &err) < 0)
			return sw_cli_fail("verify", &err);
		if (sw_snprintf(keyp, sizeof(keyp), "%s/keys/slipway.pub", home) < 0) {
			sw_err_set(&err, SW_EINPUT, "SLIPWAY_HOME is too long");
			return sw_cli_fail("verify", &err);
		}
	}
	if (sw_minisign_pubkey_load(keyp, &pk, &err) < 0) {
		if (err.code == SW_ENOTFOUND && !key_path)
			sw_err_set(&err, SW_ENOTFOUND, "no public key at '%s'; pass --key or create a key pair with 'slipway keygen'",
				   keyp);
		return sw_cli_fail("verify", &err);
	}
	if (sw_release_verify(bundle, &pk, &rep, &err) < 0)
		return sw_cli_fail("verify", &err);
	for (i = 0; i < rep.n; i++)
		failed += !rep.checks[i].ok;
	if (out == SW_OUTPUT_JSON) {
		json_t *checks = json_array();

		for (i = 0; i < rep.n; i++)
			json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "name", rep.checks[i].name, "ok",
								rep.checks[i].ok, "detail", rep.checks[i].detail));
		sw_cli_print_json(json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:o}", "bundle", bundle, "digest", rep.digest,
					    "ok", rep.ok, "service", rep.service, "version", rep.version, "files",
					    (json_int_t)rep.files, "checks", checks));
	} else {
		for (i = 0; i < rep.n; i++)
			printf("%-7s %-19s %s\n", rep.checks[i].ok ? "ok" : "FAILED", rep.checks[i].name,
			       rep.checks[i].detail);
		if (rep.ok)
			printf("verified %s %s (sha256:%s)\n", rep.service, rep.version, rep.digest);
	}
	fflush(stdout);
	if (!rep.ok) {
		sw_err_set(&err, SW_EINTEGRITY, "'%s' failed %zu of %zu checks", bundle, failed, rep.n);
		return sw_cli_fail("verify", &err);
	}
	return 0;
}
