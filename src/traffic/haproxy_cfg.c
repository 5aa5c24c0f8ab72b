/*
 * haproxy_cfg.c - renders the HAProxy backend section for an environment's
 * hosts (see haproxy_cfg.h). Pure: checks values, appends text to the
 * caller's buffer. Calls libc (inet_pton) and base/.
 */
#include "traffic/haproxy_cfg.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#define SW_HAPROXY_CFG_NAME_MAX 127
#define SW_HAPROXY_CFG_HOSTNAME_MAX 253
#define SW_HAPROXY_CFG_TIME_MAX 2147483647u

/* HAProxy's own rule for proxy and server names. */
static bool sw_haproxy_cfg_name_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0, i;

	if (n < 1 || n > max)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

enum sw_haproxy_cfg_addr { SW_ADDR_BAD, SW_ADDR_PLAIN, SW_ADDR_IPV6_BARE };

/*
 * IPv4 (inet_pton's strict dotted quad), bracketed or bare IPv6, or a host
 * name of [A-Za-z0-9.-]. Something made of digits and dots only must be a
 * valid IPv4 address ("999.1.1.1" is not a host name to resolve).
 */
static enum sw_haproxy_cfg_addr sw_haproxy_cfg_addr_kind(const char *s)
{
	size_t n = s ? strlen(s) : 0, i;
	bool digits_dots = true;
	unsigned char buf[sizeof(struct in6_addr)];

	if (n == 0)
		return SW_ADDR_BAD;
	if (s[0] == '[') {
		char inner[64];

		if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(inner))
			return SW_ADDR_BAD;
		memcpy(inner, s + 1, n - 2);
		inner[n - 2] = '\0';
		return inet_pton(AF_INET6, inner, buf) == 1 ? SW_ADDR_PLAIN : SW_ADDR_BAD;
	}
	if (strchr(s, ':'))
		return inet_pton(AF_INET6, s, buf) == 1 ? SW_ADDR_IPV6_BARE : SW_ADDR_BAD;
	if (n > SW_HAPROXY_CFG_HOSTNAME_MAX || s[0] == '-' || s[0] == '.')
		return SW_ADDR_BAD;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			continue;
		if (c == '.')
			continue;
		digits_dots = false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
			return SW_ADDR_BAD;
	}
	if (digits_dots)
		return inet_pton(AF_INET, s, buf) == 1 ? SW_ADDR_PLAIN : SW_ADDR_BAD;
	return SW_ADDR_PLAIN;
}

/*
 * An HTTP path HAProxy's config tokenizer keeps as one word: printable
 * ASCII without space, '#' (starts a comment), quotes or '\' (unquoting).
 */
static bool sw_haproxy_cfg_path_ok(const char *s)
{
	size_t i;

	if (!s || s[0] != '/')
		return false;
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == '#' || c == '"' || c == '\'' || c == '\\')
			return false;
	}
	return i <= 1024;
}

/* HAProxy time: whole seconds as "Ns", else "Nms". */
static void sw_haproxy_cfg_time(struct sw_buf *b, uint64_t ms)
{
	if (ms % 1000 == 0)
		sw_buf_printf(b, "%llus", (unsigned long long)(ms / 1000));
	else
		sw_buf_printf(b, "%llums", (unsigned long long)ms);
}

static int sw_haproxy_cfg_check(const struct sw_haproxy_cfg *cfg, struct sw_err *err)
{
	size_t i, j;

	if (!sw_haproxy_cfg_name_ok(cfg->backend, SW_HAPROXY_CFG_NAME_MAX))
		return sw_err_set(err, SW_EINPUT,
				  "backend '%.127s' is not a valid HAProxy name (1 to 127 of A-Z a-z 0-9 _ . : -)",
				  cfg->backend ? cfg->backend : "");
	if (!sw_haproxy_cfg_name_ok(cfg->env, SW_HAPROXY_CFG_NAME_MAX))
		return sw_err_set(err, SW_EINPUT,
				  "environment name '%.127s' cannot go into the config comment (1 to 127 of A-Z a-z 0-9 _ . : -)",
				  cfg->env ? cfg->env : "");
	if (cfg->http_path && !sw_haproxy_cfg_path_ok(cfg->http_path))
		return sw_err_set(err, SW_EINPUT,
				  "health check path '%.200s' cannot go into an HAProxy config: it must start with '/' "
				  "and hold only printable ASCII without spaces, '#', quotes or '\\'",
				  cfg->http_path);
	if (cfg->interval_ms > SW_HAPROXY_CFG_TIME_MAX)
		return sw_err_set(err, SW_EINPUT, "health check interval %llums is beyond HAProxy's timer range",
				  (unsigned long long)cfg->interval_ms);
	if (cfg->timeout_ms > SW_HAPROXY_CFG_TIME_MAX)
		return sw_err_set(err, SW_EINPUT, "health check timeout %llums is beyond HAProxy's timer range",
				  (unsigned long long)cfg->timeout_ms);
	if (cfg->nhosts == 0)
		return sw_err_set(err, SW_EINPUT, "no hosts: backend '%s' would have no servers", cfg->backend);
	for (i = 0; i < cfg->nhosts; i++) {
		const struct sw_haproxy_cfg_host *h = &cfg->hosts[i];

		/* "-a" is added to the name: two bytes fewer for the host. */
		if (!sw_haproxy_cfg_name_ok(h->name, SW_HAPROXY_CFG_NAME_MAX - 2))
			return sw_err_set(err, SW_EINPUT,
					  "host '%.125s': field 'name' is not usable in an HAProxy server name "
					  "(1 to 125 of A-Z a-z 0-9 _ . : -)",
					  h->name ? h->name : "");
		if (sw_haproxy_cfg_addr_kind(h->address) == SW_ADDR_BAD)
			return sw_err_set(err, SW_EINPUT,
					  "host '%s': field 'address' '%.253s' is not an IPv4 address, an IPv6 address or "
					  "a host name of A-Z a-z 0-9 . -",
					  h->name, h->address ? h->address : "");
		if (h->ports[0] == 0 || h->ports[1] == 0)
			return sw_err_set(err, SW_EINPUT,
					  "host '%s': field 'ports' is missing: it has no slot ports (start its agent "
					  "with --ports A,B)",
					  h->name);
		if (h->ports[0] > 65535 || h->ports[1] > 65535)
			return sw_err_set(err, SW_EINPUT, "host '%s': field 'ports' [%u, %u] out of range 1..65535",
					  h->name, h->ports[0], h->ports[1]);
		for (j = 0; j < i; j++)
			if (!strcmp(cfg->hosts[j].name, h->name))
				return sw_err_set(err, SW_EINPUT,
						  "host '%s' appears twice: its server names would clash", h->name);
	}
	return 0;
}

int sw_haproxy_cfg_backend(struct sw_buf *out, const struct sw_haproxy_cfg *cfg, struct sw_err *err)
{
	size_t start = out->len, i, s;

	if (sw_haproxy_cfg_check(cfg, err) < 0)
		return -1;
	sw_buf_printf(out, "backend %s\n", cfg->backend);
	sw_buf_printf(out,
		      "    # generated by slipway haproxy-config --env %s: servers <host>-a and <host>-b "
		      "(slots a/b of each host)\n",
		      cfg->env);
	if (cfg->http_path)
		sw_buf_puts(out, "    mode http\n");
	sw_buf_puts(out, "    balance random            # honours runtime weight changes at once (roundrobin "
			 "can starve a lowered server for hundreds of requests)\n");
	/* A slot being replaced refuses connections: try another server. */
	sw_buf_puts(out, "    option redispatch\n"
			 "    retries 3\n"
			 "    retry-on conn-failure empty-response\n");
	if (cfg->http_path) {
		sw_buf_printf(out, "    option httpchk GET %s\n", cfg->http_path);
		/* The agent counts any 2xx as healthy; HAProxy must agree. */
		sw_buf_puts(out, "    http-check expect status 200-299\n");
	}
	if (cfg->timeout_ms) {
		sw_buf_puts(out, "    timeout check ");
		sw_haproxy_cfg_time(out, cfg->timeout_ms);
		sw_buf_putc(out, '\n');
	}
	sw_buf_puts(out, "    default-server inter ");
	sw_haproxy_cfg_time(out, cfg->interval_ms ? cfg->interval_ms : 2000);
	sw_buf_puts(out, " fall 2 rise 1 weight 100 observe layer4 error-limit 1 on-error mark-down\n");
	for (i = 0; i < cfg->nhosts; i++) {
		const struct sw_haproxy_cfg_host *h = &cfg->hosts[i];
		bool bare6 = sw_haproxy_cfg_addr_kind(h->address) == SW_ADDR_IPV6_BARE;

		for (s = 0; s < 2; s++)
			sw_buf_printf(out, "    server %s-%c %s%s%s:%u check\n", h->name, s ? 'b' : 'a', bare6 ? "[" : "",
				      h->address, bare6 ? "]" : "", h->ports[s]);
	}
	if (sw_buf_failed(out)) {
		sw_buf_truncate(out, start);
		return sw_err_set(err, SW_EINPUT, "backend '%s': the config does not fit in %zu bytes", cfg->backend,
				  out->max);
	}
	return 0;
}
