/*
 * ports.h - the agent's two slot ports (`--ports A,B`) checked at start:
 * are they free, and do they lie in the kernel's ephemeral port range.
 *
 * A port is taken when binding it fails with EADDRINUSE, on 0.0.0.0 and
 * (where the host has IPv6) on [::] with IPV6_V6ONLY, each socket with
 * SO_REUSEADDR as servers set it (a TIME_WAIT left by a stopped service
 * does not count; a listener on any address, or a connection bound to the
 * port, does). A port that one of this agent's own services holds (the
 * caller passes those: the ports of slots whose pid file names a live
 * process, the ones the agent adopts) is not probed: it is not taken by
 * another process.
 *
 * Ephemeral: the kernel picks local ports for outgoing connections from
 * /proc/sys/net/ipv4/ip_local_port_range ("32768\t60999"), minus
 * /proc/sys/net/ipv4/ip_local_reserved_ports ("8000-8010,9000" or empty).
 * A slot port in that range can be taken by any outgoing connection while
 * the service is down (a restart, a deploy), and the service then cannot
 * bind it: it crash-loops. That is a warning, not a refusal.
 *
 * The two parsers take the files' text (pointer and length, not
 * NUL-terminated) and are fuzzed by tests/fuzz/fuzz_hostargs.c.
 * Calls libc (sockets) and base/.
 */
#ifndef SW_AGENT_PORTS_H
#define SW_AGENT_PORTS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define SW_PORTS_RANGE_FILE "/proc/sys/net/ipv4/ip_local_port_range"
#define SW_PORTS_RESERVED_FILE "/proc/sys/net/ipv4/ip_local_reserved_ports"

/* "LO HI" (white space between, around): 0 with 1 <= lo <= hi <= 65535, else -1. */
int sw_ports_parse_range(const char *text, size_t len, unsigned *lo, unsigned *hi);
/* 1 when port is in the list "N,N-M,..." (empty: none), 0 when not, -1 when the text is malformed. */
int sw_ports_reserved(const char *text, size_t len, unsigned port);
/*
 * Bind test of one port: 0 free, 1 taken (EADDRINUSE), -1 another failure
 * (err says which: e.g. EACCES for a port below 1024 without the capability).
 */
int sw_ports_probe(unsigned port, struct sw_err *err);
/*
 * The warning for a port in the ephemeral range, into msg (""), using the
 * two /proc files (paths given, for tests). 1 when there is one, else 0
 * (also when the files cannot be read or parsed: nothing to say then).
 */
int sw_ports_ephemeral_warning(unsigned port, const char *range_file, const char *reserved_file, char *msg,
			       size_t size);
/*
 * The start check of slots a and b on ports[0], ports[1]: a port taken by
 * another process is SW_EINPUT naming the port and the slot; ports in
 * own[0..nown) are skipped. Warnings (ephemeral range, a probe that failed
 * otherwise) go through base/log.
 */
int sw_ports_check(const unsigned ports[2], const unsigned *own, size_t nown, struct sw_err *err);

#endif
