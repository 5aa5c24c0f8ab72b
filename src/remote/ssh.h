/*
 * ssh.h - reaching another machine through the system's OpenSSH client:
 * the ssh:// URL, POSIX shell quoting, one remote command, one file copy.
 *
 * ssh and scp run as child processes with an argv (base/proc: no local
 * shell), never interactively: every call passes
 *   -o BatchMode=yes            no password or passphrase prompt, no host key question
 *   -o ConnectTimeout=N         an unreachable host fails within N seconds
 *   -o LogLevel=ERROR           no "Permanently added" chatter in captured output
 *   -T -x -a                    (ssh) no terminal, no X11 or agent forwarding
 * then -i FILE and -p/-P PORT and -l USER when given, then each extra -o OPT
 * in order (StrictHostKeyChecking, UserKnownHostsFile, ProxyJump, ...).
 *
 * The remote side of ssh gets ONE command string, which the remote user's
 * login shell parses: sw_ssh_run() quotes every argument with
 * sw_sh_quote() ('...', a ' inside as '\''), so an argument is never split,
 * expanded or run, whatever it holds. Secrets go on stdin, never in an
 * argument (arguments are visible in ps on both machines).
 *
 * URL accepted (the parser borrows, never reads past len):
 *   ssh://[USER@]HOST[:PORT][/]
 *     USER  1..32 of A-Z a-z 0-9 . _ -, not starting with '-'
 *     HOST  a name (1..253 of A-Z a-z 0-9 . -, starting with a letter or
 *           digit) or an IPv6 address in brackets ([::1])
 *     PORT  1..65535
 * Anything else is SW_EINPUT naming what is wrong.
 *
 * Errors: ssh's own failures (exit 255: refused, timed out, auth, host key)
 * are SW_EIO "cannot reach ssh://...: <ssh's last message>"; a remote command
 * that exits non-zero is reported to the caller through *exit_code.
 * Calls base/proc, base/buf, base/err, libc. No printing.
 */
#ifndef SW_REMOTE_SSH_H
#define SW_REMOTE_SSH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

struct sw_ssh_target {
	char user[33];  /* "" when the URL names none: ssh's default */
	char host[254]; /* without brackets */
	unsigned port;  /* 0: ssh's default */
	bool ipv6;      /* host was given in brackets */
};

#define SW_SSH_MAX_OPTIONS 16

struct sw_ssh {
	struct sw_ssh_target t;
	const char *identity;                      /* -i FILE, or NULL */
	const char *options[SW_SSH_MAX_OPTIONS];   /* extra -o values, in order */
	unsigned n_options;
	unsigned connect_timeout_s;                /* ConnectTimeout, 1..600 */
	int timeout_ms;                            /* each ssh/scp run is killed after this */
	const char *ssh_prog, *scp_prog;           /* "ssh", "scp" unless set (PATH lookup) */
};

int sw_ssh_parse_url(const char *url, size_t len, struct sw_ssh_target *t, struct sw_err *err);
/* "ssh://user@host:port" (what was parsed, for messages) into out. */
const char *sw_ssh_url(const struct sw_ssh_target *t, char *out, size_t size);
/* Append s to b as one POSIX shell word: '...' with ' written as '\''. */
int sw_sh_quote(struct sw_buf *b, const char *s);
/*
 * Run argv (NULL-terminated) on the target, each word quoted. stdin gets
 * in[0..in_len) (in NULL: nothing). out gets the command's stdout (NULL:
 * dropped; at most out->max). *exit_code is the remote command's exit code.
 * Returns -1 (SW_EIO, SW_ETIMEOUT) when ssh itself failed; remote stderr is
 * kept in errout (NULL: dropped) for the caller's message.
 */
int sw_ssh_run(const struct sw_ssh *s, const char *const *argv, const void *in, size_t in_len, struct sw_buf *out,
	       struct sw_buf *errout, int *exit_code, struct sw_err *err);
/*
 * scp the local file to remote_path on the target. remote_path must be
 * absolute and made of A-Z a-z 0-9 / . _ + - only (checked: SW_EINPUT), so
 * that scp's SFTP and legacy modes read it alike. The file keeps its mode.
 */
int sw_ssh_copy(const struct sw_ssh *s, const char *local, const char *remote_path, struct sw_err *err);
/* Is p an absolute path of A-Z a-z 0-9 / . _ + - only, 2..400 bytes, without a ".." component? */
bool sw_ssh_path_ok(const char *p);

#endif
