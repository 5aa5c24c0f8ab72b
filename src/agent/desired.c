/*
 * desired.c - parse the desired-state document (see desired.h).
 * Calls agent/runspec, spec/, jansson, base/.
 */
#include "agent/desired.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "spec/spec.h"

#include <stdio.h>
#include <string.h>

/* What a desired row may set; "run" only as a claim checked against the signed release (signedrun.h). */
static const char *const sw_desired_allowed[] = { "slot", "digest", "port", "active", "run" };

/* NULL when every key of row s is allowed, else the first one that is not. */
static const char *sw_desired_foreign_key(const json_t *s)
{
	const char *key;
	const json_t *v;
	size_t i;

	json_object_foreach((json_t *)s, key, v) {
		for (i = 0; i < SW_ARRAY_LEN(sw_desired_allowed); i++)
			if (!strcmp(key, sw_desired_allowed[i]))
				break;
		if (i == SW_ARRAY_LEN(sw_desired_allowed))
			return key;
	}
	return NULL;
}

static int sw_desired_row_parse(const char *service, const json_t *s, size_t si, size_t ri,
				struct sw_desired_row *row, struct sw_err *err)
{
	const char *slot = sw_json_str(s, "slot"), *digest = sw_json_str(s, "digest"), *foreign;
	const json_t *port = json_object_get(s, "port"), *active = json_object_get(s, "active");
	const json_t *run = json_object_get(s, "run");
	struct sw_err rerr = SW_ERR_INIT;

	if (!json_is_object(s))
		return sw_err_set(err, SW_EINPUT, "'services[%zu].slots[%zu]' must be an object", si, ri);
	if (!slot || (strcmp(slot, "a") && strcmp(slot, "b")))
		return sw_err_set(err, SW_EINPUT, "'services[%zu].slots[%zu].slot' must be \"a\" or \"b\"", si, ri);
	if (digest && !strncmp(digest, "sha256:", 7))
		digest += 7;
	if (!digest || !sw_is_sha256_hex(digest))
		return sw_err_set(err, SW_EINPUT, "'services[%zu].slots[%zu].digest' must be a sha256 hex digest", si,
				  ri);
	if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535)
		return sw_err_set(err, SW_EINPUT, "'services[%zu].slots[%zu].port' must be an integer 1..65535", si, ri);
	if (active && !json_is_boolean(active) && !json_is_integer(active))
		return sw_err_set(err, SW_EINPUT, "'services[%zu].slots[%zu].active' must be a boolean", si, ri);
	sw_strlcpy(row->service, service, sizeof(row->service));
	row->slot = slot[0];
	sw_strlcpy(row->digest, digest, sizeof(row->digest));
	row->port = (unsigned)json_integer_value(port);
	row->active = !active || json_is_true(active) || (json_is_integer(active) && json_integer_value(active) != 0);
	if ((foreign = sw_desired_foreign_key(s))) {
		row->invalid = row->refused = true;
		snprintf(row->error, sizeof(row->error),
			 "desired state field '%.64s' is not one the server may set (allowed: slot, digest, port, active; "
			 "what runs comes from the signed release)",
			 foreign);
		return 0;
	}
	if (run && !json_is_null(run) && !(row->claim = sw_runspec_parse(run, &rerr))) {
		row->invalid = true;
		snprintf(row->error, sizeof(row->error), "invalid run configuration: %s", rerr.msg);
	}
	return 0;
}

int sw_desired_parse(const char *body, size_t len, struct sw_desired *d, struct sw_err *err)
{
	const json_t *services, *gen;
	json_t *doc;
	size_t si, ri, i, cap = 0;

	memset(d, 0, sizeof(*d));
	doc = sw_json_parse(body, len, SW_DESIRED_MAX_BYTES, "desired state", err);
	if (!doc)
		return -1;
	gen = json_object_get(doc, "generation");
	if (!json_is_integer(gen) || json_integer_value(gen) < 0) {
		sw_err_set(err, SW_EINPUT, "'generation' must be an integer >= 0");
		goto fail;
	}
	d->generation = json_integer_value(gen);
	services = json_object_get(doc, "services");
	if (services && !json_is_null(services) && !json_is_array(services)) {
		sw_err_set(err, SW_EINPUT, "'services' must be an array");
		goto fail;
	}
	for (si = 0; si < json_array_size(services); si++) {
		const json_t *svc = json_array_get(services, si), *slots;
		const char *name = sw_json_str(svc, "service");

		if (!name || !sw_spec_service_name_ok(name)) {
			sw_err_set(err, SW_EINPUT, "'services[%zu].service' must be a service name", si);
			goto fail;
		}
		slots = json_object_get(svc, "slots");
		if (!json_is_array(slots)) {
			sw_err_set(err, SW_EINPUT, "'services[%zu].slots' must be an array", si);
			goto fail;
		}
		for (ri = 0; ri < json_array_size(slots); ri++) {
			if (d->n >= SW_DESIRED_MAX_ROWS) {
				sw_err_set(err, SW_EINPUT, "more than %d desired slots", SW_DESIRED_MAX_ROWS);
				goto fail;
			}
			if (d->n == cap) {
				cap = cap ? cap * 2 : 4;
				d->rows = sw_xreallocarray(d->rows, cap, sizeof(*d->rows));
			}
			memset(&d->rows[d->n], 0, sizeof(d->rows[d->n]));
			if (sw_desired_row_parse(name, json_array_get(slots, ri), si, ri, &d->rows[d->n], err) < 0)
				goto fail;
			d->n++;
			for (i = 0; i + 1 < d->n; i++)
				if (!strcmp(d->rows[i].service, name) && d->rows[i].slot == d->rows[d->n - 1].slot) {
					sw_err_set(err, SW_EINPUT, "'services[%zu]': slot '%c' of '%s' appears twice", si,
						   d->rows[i].slot, name);
					goto fail;
				}
		}
	}
	json_decref(doc);
	return 0;
fail:
	json_decref(doc);
	sw_desired_release(d);
	return -1;
}

void sw_desired_release(struct sw_desired *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		sw_runspec_free(d->rows[i].claim);
	free(d->rows);
	memset(d, 0, sizeof(*d));
}
