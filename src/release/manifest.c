/*
 * manifest.c - build and check release.json (see manifest.h).
 * Calls jansson, libc, base/ (clock, hash, json) and release/gitinfo.
 */
#include "release/manifest.h"
#include "base/clock.h"
#include "base/hash.h"
#include "base/json.h"

#include <string.h>

static json_t *sw_manifest_git(const struct sw_git_info *g)
{
	char t[SW_TIME_STR_MAX];

	if (!g || !g->found)
		return json_null();
	sw_clock_format_utc(g->commit_time * 1000, t, sizeof(t));
	return json_pack("{s:s, s:s, s:b}", "commit", g->commit, "commit_time", t, "dirty", g->dirty);
}

json_t *sw_manifest_build(const struct sw_manifest_input *in)
{
	const json_t *s = in->summary, *tests = json_object_get(in->summary, "tests");
	const char *run_id = sw_json_str(s, "run_id"), *status = sw_json_str(s, "status");
	char created[SW_TIME_STR_MAX], digest[SW_SHA256_HEX + 8];

	sw_clock_format_utc(in->created_ms, created, sizeof(created));
	snprintf(digest, sizeof(digest), "sha256:%s", in->digest_hex);
	json_t *m;

	m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:{s:s, s:s, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, "
			 "s:I, s:{s:s, s:s}, s:{s:s, s:s}, s:s}",
			 "schema", SW_MANIFEST_SCHEMA, "service", in->service, "version", in->version, "digest", digest,
			 "bundle", in->bundle_name, "size", (json_int_t)in->size, "created", created, "git",
			 sw_manifest_git(in->git), "pipeline", "run_id", run_id ? run_id : "", "status",
			 status ? status : "", "duration_ms", (json_int_t)sw_json_int(s, "duration_ms", 0), "jobs",
			 (json_int_t)json_array_size(json_object_get(s, "jobs")), "tests", "passed",
			 (json_int_t)sw_json_int(tests, "passed", 0), "failed", (json_int_t)sw_json_int(tests, "failed", 0),
			 "skipped", (json_int_t)sw_json_int(tests, "skipped", 0), "errors",
			 (json_int_t)sw_json_int(tests, "errors", 0), "files", (json_int_t)in->nfiles, "sbom", "file",
			 in->sbom_file, "sha256", in->sbom_sha256, "provenance", "file", in->provenance_file, "sha256",
			 in->provenance_sha256, "key_id", in->key_id);
	if (m && in->spec_text)
		json_object_set_new(m, "spec", json_string(in->spec_text));
	if (m && in->stale)
		json_object_set_new(m, "stale", json_deep_copy(in->stale));
	return m;
}

static int sw_need_str(const json_t *obj, const char *key, const char *what, const char *field, const char **out,
		       struct sw_err *err)
{
	*out = sw_json_str(obj, key);
	if (!*out || !**out)
		return sw_err_set(err, SW_EINPUT, "'%s': field '%s' is missing or not a string", what, field);
	return 0;
}

static int sw_need_u64(const json_t *obj, const char *key, const char *what, uint64_t *out, struct sw_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return sw_err_set(err, SW_EINPUT, "'%s': field '%s' is missing or not a non-negative integer", what, key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int sw_plain_name(const char *s)
{
	return s && *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

int sw_manifest_check(const json_t *m, const char *what, struct sw_manifest_view *v, struct sw_err *err)
{
	const json_t *sbom = json_object_get(m, "sbom"), *prov = json_object_get(m, "provenance");
	const char *schema = sw_json_str(m, "schema");

	memset(v, 0, sizeof(*v));
	if (!json_is_object(m))
		return sw_err_set(err, SW_EINPUT, "'%s' is not a JSON object", what);
	if (!schema || strcmp(schema, SW_MANIFEST_SCHEMA))
		return sw_err_set(err, SW_EINPUT, "'%s': schema is '%s', expected '%s'", what, schema ? schema : "(none)",
				  SW_MANIFEST_SCHEMA);
	if (sw_need_str(m, "service", what, "service", &v->service, err) < 0 ||
	    sw_need_str(m, "version", what, "version", &v->version, err) < 0 ||
	    sw_need_str(m, "digest", what, "digest", &v->digest, err) < 0 ||
	    sw_need_str(m, "bundle", what, "bundle", &v->bundle, err) < 0 ||
	    sw_need_str(m, "key_id", what, "key_id", &v->key_id, err) < 0 ||
	    sw_need_str(sbom, "file", what, "sbom.file", &v->sbom_file, err) < 0 ||
	    sw_need_str(sbom, "sha256", what, "sbom.sha256", &v->sbom_sha256, err) < 0 ||
	    sw_need_str(prov, "file", what, "provenance.file", &v->provenance_file, err) < 0 ||
	    sw_need_str(prov, "sha256", what, "provenance.sha256", &v->provenance_sha256, err) < 0 ||
	    sw_need_u64(m, "size", what, &v->size, err) < 0 || sw_need_u64(m, "files", what, &v->files, err) < 0)
		return -1;
	if (strncmp(v->digest, "sha256:", 7) || !sw_is_sha256_hex(v->digest + 7))
		return sw_err_set(err, SW_EINPUT, "'%s': digest '%s' is not sha256:<64 hex digits>", what, v->digest);
	if (!sw_plain_name(v->bundle) || !sw_plain_name(v->sbom_file) || !sw_plain_name(v->provenance_file))
		return sw_err_set(err, SW_EINPUT, "'%s': bundle, sbom.file and provenance.file must be plain file names",
				  what);
	if (!sw_is_sha256_hex(v->sbom_sha256) || !sw_is_sha256_hex(v->provenance_sha256))
		return sw_err_set(err, SW_EINPUT, "'%s': sbom.sha256 and provenance.sha256 must be 64 hex digits", what);
	return 0;
}
