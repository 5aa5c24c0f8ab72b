/*
 * sbom.c - CycloneDX 1.5 JSON for a bundle's files (see sbom.h).
 * Calls jansson, libc, base/ and release/bundle.
 */
#include "release/sbom.h"
#include "base/hash.h"
#include "base/json.h"

#include <stdio.h>
#include <string.h>

static int sw_json_str_eq(const json_t *obj, const char *key, const char *want)
{
	const char *s = sw_json_str(obj, key);

	return s && !strcmp(s, want);
}

#ifndef SW_VERSION
#define SW_VERSION "0.1.0-dev"
#endif

void sw_sbom_serial(const char *bundle_sha256, char out[SW_SBOM_SERIAL_MAX])
{
	char h[33];

	snprintf(h, sizeof(h), "%.32s", bundle_sha256);
	if (strlen(h) < 32)
		memset(h + strlen(h), '0', 32 - strlen(h));
	h[32] = '\0';
	h[12] = '8'; /* version 8: custom, here "from the bundle digest" */
	/* variant 10xx */
	h[16] = "89ab"[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3];
	snprintf(out, SW_SBOM_SERIAL_MAX, "urn:uuid:%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

json_t *sw_sbom_build(const char *service, const char *version, const char *bundle_sha256,
		      const struct sw_bundle_list *l)
{
	char serial[SW_SBOM_SERIAL_MAX], bundle[SW_SHA256_HEX + 16];
	json_t *comps = json_array(), *root;
	size_t i;

	sw_sbom_serial(bundle_sha256, serial);
	snprintf(bundle, sizeof(bundle), "%s.tar.zst", bundle_sha256);
	for (i = 0; i < l->n; i++) {
		const struct sw_bundle_entry *e = &l->v[i];

		if (e->type != SW_BUNDLE_FILE)
			continue;
		json_array_append_new(comps, json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "type", "file", "name", e->path,
						       "hashes", "alg", "SHA-256", "content", e->sha256));
	}
	root = json_pack("{s:s, s:s, s:s, s:i, s:{s:{s:s, s:s, s:s}, s:{s:[{s:s, s:s, s:s}]}, s:[{s:s, s:s}]}, s:o}",
			 "bomFormat", "CycloneDX", "specVersion", "1.5", "serialNumber", serial, "version", 1,
			 "metadata", "component", "type", "application", "name", service, "version", version, "tools",
			 "components", "type", "application", "name", "slipway", "version", SW_VERSION, "properties",
			 "name", "slipway:bundle", "value", bundle, "components", comps);
	if (!root)
		json_decref(comps);
	return root;
}

json_t *sw_sbom_file_hashes(const json_t *sbom, const char *what, struct sw_err *err)
{
	const json_t *comps, *c;
	json_t *map;
	size_t i;

	if (!json_is_object(sbom) || !sw_json_str_eq(sbom, "bomFormat", "CycloneDX")) {
		sw_err_set(err, SW_EINPUT, "'%s' is not a CycloneDX SBOM", what);
		return NULL;
	}
	comps = json_object_get(sbom, "components");
	if (!json_is_array(comps)) {
		sw_err_set(err, SW_EINPUT, "'%s': components is not an array", what);
		return NULL;
	}
	map = json_object();
	json_array_foreach(comps, i, c) {
		const json_t *hashes = json_object_get(c, "hashes"), *h;
		const char *name = json_string_value(json_object_get(c, "name")), *hex = NULL;
		size_t j;

		json_array_foreach(hashes, j, h) {
			if (sw_json_str_eq(h, "alg", "SHA-256"))
				hex = json_string_value(json_object_get(h, "content"));
		}
		if (!name || !hex || !sw_is_sha256_hex(hex) || !sw_json_str_eq(c, "type", "file")) {
			sw_err_set(err, SW_EINPUT, "'%s': component %zu is not a file with a SHA-256 hash", what, i);
			json_decref(map);
			return NULL;
		}
		if (json_object_get(map, name)) {
			sw_err_set(err, SW_EINPUT, "'%s': file '%s' is listed twice", what, name);
			json_decref(map);
			return NULL;
		}
		json_object_set_new(map, name, json_string(hex));
	}
	return map;
}
