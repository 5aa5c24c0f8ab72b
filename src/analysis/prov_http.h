/*
 * prov_http.h - the http provider: one GET probe.
 *
 * GET url ({{canary}} / {{stable}} replaced by the first instance's
 * address), answer at most SW_PROVIDER_BODY_MAX bytes within the
 * measurement's timeout, redirects not followed:
 *
 *   value       type                     meaning
 *   status      integer                  the HTTP status
 *   latency_ms  number                   from the request to the whole answer
 *   result      number, boolean, string  json_field set: that field of the JSON
 *                                        body (dotted path; a number component
 *                                        indexes an array: "data.items.0.ok");
 *                                        else the body as a number
 *
 * A status other than expect_status (default 200) is a FAILURE by itself
 * ("GET 'http://...' answered 503, expected 200"), whatever the conditions.
 * ABSENT (error): result when the body is not JSON, the path is missing,
 * null, an object or an array, or (no json_field) the body is not a number.
 * Provider failures (measurement error): cannot connect, timeout, answer
 * too large, a placeholder without an address.
 *
 * Allocates nothing the caller must free. Calls base/httpc, analysis/values, base/.
 */
#ifndef SW_PROV_HTTP_H
#define SW_PROV_HTTP_H

#include "analysis/provider.h"

int sw_prov_http_measure(struct sw_provider_run *run, struct sw_err *err);

#endif
