/*
 * bootstrap.h - the steps of `slipway host bootstrap` on the remote host,
 * each one ssh or scp run (remote/ssh.h): look at the host and make the
 * directories, copy the binary, install the join token, the agent and
 * start it, check that it still runs, read its last log lines.
 *
 * What lands on the host (BIN = bin_dir, DATA = data_dir; defaults
 * /usr/local/bin and /var/lib/slipway-agent):
 *   | path                                  | mode | what                                       |
 *   | BIN/slipway                           | 0755 | this binary, copied to BIN/.slipway.new.N then renamed |
 *   | DATA/                                 | 0700 | the agent's --root (agent.json, releases/, logs/ ...) |
 * Detached (no running systemd, or detached_only):
 *   | DATA/join-token                       | 0600 | the one-time join token (umask 077, from ssh's stdin) |
 *   | DATA/server-ca.pem                    | 0644 | the CA of --ca, when given (the agent's --ca)  |
 *   | DATA/agent.pid, DATA/agent.log        | 0600 | the detached agent's pid and output            |
 * Under systemd (DATA must be the unit's /var/lib/slipway-agent):
 *   | /etc/slipway/join.token               | 0600 | the join token, owned by the user slipway (made if missing) |
 *   | /etc/slipway/server-ca.pem            | 0644 | the CA of --ca, when given                     |
 *   | /etc/slipway/agent.env                | 0644 | SLIPWAY_SERVER, SLIPWAY_AGENT_OPTS (--name, --ports, trust) |
 *   | /etc/systemd/system/slipway-agent.service | 0644 | the unit make install installs, BINDIR filled in |
 *
 * The agent runs `BIN/slipway agent --root DATA --name NAME --ports A,B
 * --join-file TOKEN_FILE [--address A] [--pin P] [--ca CA_FILE]
 * [--insecure-http]`:
 * under systemd as slipway-agent.service (the packaged unit, as user
 * slipway, enabled and restarted); on a host without a running systemd (no
 * /run/systemd/system, or `systemctl is-system-running` says offline) as
 * the login user, detached with setsid nohup, output appended to
 * DATA/agent.log, replacing an agent that DATA/agent.pid names. The token
 * never appears in an argument, here or on the host.
 *
 * The remote scripts are POSIX sh, run as `sh -c SCRIPT slipway-bootstrap
 * ARG...` with every word quoted (sw_sh_quote), so the remote login shell
 * only has to understand '...' quoting. Before the copied binary replaces
 * BIN/slipway it must run there (`slipway version`): a host that lacks its
 * shared libraries is refused with the loader's message, the old binary
 * left in place.
 *
 * Errors: SW_EIO (ssh, or a step that failed on the host: the message
 * holds the host's stderr), SW_EFAILED (a host this binary cannot serve:
 * another machine type, systemd without root), SW_EINPUT (paths).
 * Calls remote/ssh, base/; no printing.
 */
#ifndef SW_REMOTE_BOOTSTRAP_H
#define SW_REMOTE_BOOTSTRAP_H

#include <stdbool.h>

#include "base/buf.h"
#include "base/err.h"
#include "remote/ssh.h"

struct sw_bootstrap {
	const struct sw_ssh *ssh;
	const char *bin_dir;  /* remote, absolute (sw_ssh_path_ok) */
	const char *data_dir; /* remote, absolute (sw_ssh_path_ok) */
	bool detached_only;   /* start the agent detached even where systemd runs */
};

/* What sw_bootstrap_prepare() learned about the host. */
struct sw_bootstrap_host {
	char machine[64];       /* uname -m */
	char hostname[256];     /* uname -n */
	char systemd_state[32]; /* systemctl is-system-running, or "none" */
	bool systemd;           /* systemd runs (it may still be unused: detached_only) */
	bool use_systemd;       /* the agent goes under systemd: systemd && !detached_only */
	long uid;
};

/* The agent's settings, written into the unit or its command line. */
struct sw_bootstrap_agent {
	const char *server;  /* URL the agent reaches the server at */
	const char *name;    /* host name to enroll with */
	const char *ports;   /* "A,B" */
	const char *address; /* --address for the agent (how balancers reach it), or NULL */
	const char *pin;     /* --pin for the agent ("sha256//..."), or NULL */
	const char *ca;      /* a CA file here, copied to the host for the agent's --ca, or NULL */
	bool insecure_http;  /* --insecure-http for the agent */
};

struct sw_bootstrap_started {
	bool systemd; /* slipway-agent.service, else detached */
	long pid;     /* the detached agent's pid (0 under systemd) */
};

/*
 * Look at the host (machine, host name, uid, systemd) and make bin_dir and
 * data_dir (mkdir -p). Fails when the directories cannot be written, when
 * the host's machine type is not local_machine, or when the agent goes under
 * systemd and the login is not root.
 */
int sw_bootstrap_prepare(const struct sw_bootstrap *b, const char *local_machine, struct sw_bootstrap_host *h,
			 struct sw_err *err);
/* scp local_exe to bin_dir/.slipway.new.N; the remote temporary name into tmp. */
int sw_bootstrap_copy(const struct sw_bootstrap *b, const char *local_exe, char *tmp, size_t tmp_size,
		      struct sw_err *err);
/*
 * Check and move the copied binary in place, write the join token (sent on
 * ssh's stdin), copy a->ca (scp) and start the agent: under systemd when
 * systemd is true, else detached. On failure the temporary binary, CA and
 * token file are removed.
 */
int sw_bootstrap_install(const struct sw_bootstrap *b, const char *tmp, const struct sw_bootstrap_agent *a,
			 const char *join_token, bool systemd, struct sw_bootstrap_started *st, struct sw_err *err);
/* The agent's unit (contrib/systemd/slipway-agent.service.in) with its binary in bin_dir, into out. */
int sw_bootstrap_unit(const char *bin_dir, struct sw_buf *out);
/* 1 when the agent started by install still runs, 0 when it has exited, -1 on ssh errors. */
int sw_bootstrap_alive(const struct sw_bootstrap *b, const struct sw_bootstrap_started *st, struct sw_err *err);
/* The agent's last `lines` lines of output (journal or DATA/agent.log) into out. */
int sw_bootstrap_log_tail(const struct sw_bootstrap *b, const struct sw_bootstrap_started *st, unsigned lines,
			  struct sw_buf *out, struct sw_err *err);

#endif
