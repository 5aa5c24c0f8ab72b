/*
 * haproxy.h - HAProxy runtime API client (the "stats socket" CLI).
 *
 * Owns struct sw_haproxy (an address and timeouts; no open connection
 * between calls) and implements struct sw_traffic_ops for HAProxy. Talks to
 * the runtime API over a UNIX stream socket ("/run/haproxy/admin.sock",
 * "unix@/path") or TCP ("127.0.0.1:9999", "ipv4@127.0.0.1:9999"), one
 * command per connection (non-interactive mode: HAProxy answers and closes).
 * Connect and command each have a poll()-based timeout (default 1 s); no
 * call blocks longer than connect_timeout_ms + timeout_ms. Answers are capped
 * at max_response bytes (default 4 MiB).
 *
 * Commands spoken (HAProxy 2.6; a set command answers nothing on success,
 * anything else is HAProxy's error text, reported as SW_EFAILED quoting it):
 *
 *   set server <b>/<s> weight <0..256>       ""  | "No such server."
 *   set server <b>/<s> state ready|drain|maint  "" | "No such backend."
 *   get weight <b>/<s>                       "75 (initial 100)"
 *   show servers state [<b>]                 format below
 *   show stat [<b> -1 -1]                    CSV below
 *
 * `show servers state`, format version 1 (space-separated, one server a
 * line, columns found by their header names; this client needs the ones
 * marked *):
 *
 *   line 1   "1"                              the format version
 *   line 2   "# be_id be_name srv_id ..."     column names
 *   column            meaning
 *   be_id, be_name*   backend id and name
 *   srv_id, srv_name* server id and name
 *   srv_addr          address ("127.0.0.1")      srv_port   port
 *   srv_op_state*     0 stopped, 1 starting, 2 running, 3 stopping
 *   srv_admin_state*  bits: 0x01 forced maint, 0x02 inherited maint,
 *                     0x04 config maint, 0x08 forced drain, 0x10 inherited
 *                     drain, 0x20 resolver maint, 0x40 hostname maint
 *   srv_uweight*      current weight            srv_iweight* initial weight
 *   srv_check_status  HCHK_STATUS_* number      srv_check_result 0 unknown,
 *                     1 neutral, 2 failed, 3 passed, 4 conditional pass
 *   srv_check_state   bits: 0x02 configured, 0x04 enabled, 0x08 paused
 *
 * `show stat`: a CSV whose first line is "# " followed by the column names,
 * each line (header included) ending in ",". Columns are found by name; any
 * column not listed in struct sw_haproxy_stat is ignored; an empty field or
 * an absent column reads as SW_TRAFFIC_NONE (-1). type: 0 frontend,
 * 1 backend, 2 server, 3 listener.
 *
 * Both multi-line answers end with an empty line; a missing one means the
 * answer was cut and is an error, as are rows whose field count differs
 * from the header's.
 *
 * Parsers borrow: every struct sw_haproxy_str points into the answer
 * buffer (valid until that buffer changes), and row arrays come from the
 * caller's arena. Parse errors are SW_EIO naming the line.
 * Calls libc (sockets, poll), base/ and traffic/traffic.h.
 */
#ifndef SW_HAPROXY_H
#define SW_HAPROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "traffic/traffic.h"

#define SW_HAPROXY_TIMEOUT_MS 1000u
#define SW_HAPROXY_RESPONSE_MAX ((size_t)4 << 20)
#define SW_HAPROXY_ADDR_MAX 128
#define SW_HAPROXY_NAME_MAX 127
#define SW_HAPROXY_ROWS_MAX 100000
#define SW_HAPROXY_NONE SW_TRAFFIC_NONE

/* srv_admin_state bits. */
#define SW_HAPROXY_ADMIN_MAINT_MASK 0x67u
#define SW_HAPROXY_ADMIN_DRAIN_MASK 0x18u

struct sw_haproxy {
	struct sw_traffic traffic; /* first member: ops = HAProxy's */
	char addr[SW_HAPROXY_ADDR_MAX]; /* as given, for messages */
	int family;                /* AF_UNIX or AF_INET */
	union {
		struct sockaddr_un un;
		struct sockaddr_in in;
	} sa;
	socklen_t salen;
	unsigned connect_timeout_ms;
	unsigned timeout_ms;       /* from the end of connect to the end of the answer */
	size_t max_response;
};

/* A borrowed slice: not NUL-terminated. */
struct sw_haproxy_str {
	const char *p;
	size_t len;
};

struct sw_haproxy_srv_state {
	struct sw_haproxy_str backend, name, addr;
	int64_t backend_id, id, port;
	int64_t op_state, admin_state;
	int64_t weight, initial_weight;
	int64_t check_status, check_result, check_health, check_state;
};

struct sw_haproxy_stat {
	struct sw_haproxy_str pxname, svname, status, check_status, addr, mode, algo;
	int64_t type, iid, sid;
	int64_t weight, uweight, act, bck;
	int64_t qcur, qmax, scur, smax, slim, stot, lbtot, bin, bout;
	int64_t ereq, econ, eresp, wretr, wredis, cli_abrt, srv_abrt;
	int64_t chkfail, chkdown, lastchg, downtime;
	int64_t check_code, check_duration;
	int64_t hrsp_1xx, hrsp_2xx, hrsp_3xx, hrsp_4xx, hrsp_5xx, hrsp_other;
	int64_t req_tot, rate, qtime, ctime, rtime, ttime;
};

/*
 * Parse addr (see above) into h, with default timeouts and cap; connects to
 * nothing. SW_EINPUT for an address that is too long or malformed.
 */
int sw_haproxy_init(struct sw_haproxy *h, const char *addr, struct sw_err *err);

/*
 * Send one command (no '\n', '\r' or ';': SW_EINPUT) and append the whole
 * answer to out. SW_EIO: cannot connect/read/write, or the answer passes
 * max_response; SW_ETIMEOUT: connect or answer too slow. On failure out is
 * left as it was.
 */
int sw_haproxy_command(struct sw_haproxy *h, const char *cmd, struct sw_buf *out, struct sw_err *err);
/* A command whose success is an empty answer; any text is SW_EFAILED quoting it. */
int sw_haproxy_exec(struct sw_haproxy *h, const char *cmd, struct sw_err *err);

/* Names may hold only [A-Za-z0-9_.:-], 1..SW_HAPROXY_NAME_MAX bytes (SW_EINPUT). */
int sw_haproxy_set_weight(struct sw_haproxy *h, const char *backend, const char *server,
			  unsigned weight, struct sw_err *err);
int sw_haproxy_set_state(struct sw_haproxy *h, const char *backend, const char *server,
			 enum sw_traffic_state state, struct sw_err *err);
int sw_haproxy_get_weight(struct sw_haproxy *h, const char *backend, const char *server,
			  unsigned *current, unsigned *initial, struct sw_err *err);
/*
 * Set w[0..n) on servers of backend in order, then read every weight back
 * with one `show servers state <backend>`. On failure *bad (if not NULL) is
 * the index of the first server that refused or did not keep its weight,
 * and the error names every such server. Weights set before a refusal stay
 * set (the runtime API has no transactions).
 */
int sw_haproxy_set_weights(struct sw_haproxy *h, const char *backend,
			   const struct sw_traffic_weight *w, size_t n, size_t *bad, struct sw_err *err);

/* `show servers state [backend]` (backend may be NULL): rows borrow from *resp. */
int sw_haproxy_servers_state(struct sw_haproxy *h, const char *backend, struct sw_buf *resp,
			     struct sw_arena *a, struct sw_haproxy_srv_state **rows, size_t *n,
			     struct sw_err *err);
/* `show stat [backend -1 -1]` (backend may be NULL): rows borrow from *resp. */
int sw_haproxy_show_stat(struct sw_haproxy *h, const char *backend, struct sw_buf *resp,
			 struct sw_arena *a, struct sw_haproxy_stat **rows, size_t *n,
			 struct sw_err *err);

/* Pure parsers of recorded answers (p need not be NUL-terminated). */
int sw_haproxy_parse_weight(const char *p, size_t len, unsigned *current, unsigned *initial,
			    struct sw_err *err);
int sw_haproxy_parse_servers_state(const char *p, size_t len, struct sw_arena *a,
				   struct sw_haproxy_srv_state **rows, size_t *n, struct sw_err *err);
int sw_haproxy_parse_stat(const char *p, size_t len, struct sw_arena *a,
			  struct sw_haproxy_stat **rows, size_t *n, struct sw_err *err);

/* Admin and operational state of a parsed row in the neutral words. */
enum sw_traffic_state sw_haproxy_admin_state(int64_t admin_state);
enum sw_traffic_health sw_haproxy_health(int64_t op_state);

/* 1 if s equals the NUL-terminated z. */
int sw_haproxy_str_eq(struct sw_haproxy_str s, const char *z);

#endif
