/*
 * bootstrap.c - the remote steps of `slipway host bootstrap` as POSIX sh
 * scripts run over ssh, and what their output means (see bootstrap.h).
 * Calls remote/ssh, base/; no printing.
 */
#include "remote/bootstrap.h"

#include "base/num.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SW_BOOT_OUT_MAX ((size_t)64 << 10)

/*
 * $1 BIN, $2 DATA. Prints key=value lines; exit 3 with a message on stderr
 * when the directories cannot be made or written.
 */
static const char sw_boot_prepare_sh[] =
	"set -u\n"
	"bin=$1 data=$2\n"
	"echo \"machine=$(uname -m)\"\n"
	"echo \"hostname=$(uname -n)\"\n"
	"echo \"uid=$(id -u)\"\n"
	"if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then\n"
	"  echo \"systemd=$(systemctl is-system-running 2>/dev/null)\"\n"
	"else\n"
	"  echo systemd=none\n"
	"fi\n"
	"mkdir -p -- \"$bin\" \"$data\" || exit 3\n"
	"chmod 700 -- \"$data\" || exit 3\n"
	"if [ ! -w \"$bin\" ] || [ ! -w \"$data\" ]; then\n"
	"  echo \"$(id -un) cannot write to $bin and $data\" >&2; exit 3\n"
	"fi\n";

/*
 * $1 BIN, $2 DATA, $3 the copied binary, $4 server URL, $5 name, $6 ports,
 * $7 systemd|detached, $8 the copied CA file or "", $9 the unit's text
 * (systemd), then more agent options (--address A, --pin P, --insecure-http). stdin: the
 * join token. Prints started=... pid=N.
 */
static const char sw_boot_install_sh[] =
	"set -eu\n"
	"bin=$1 data=$2 new=$3 server=$4 name=$5 ports=$6 mode=$7 ca=$8 unit_text=$9\n"
	"shift 9\n"
	"umask 077\n"
	"if [ \"$mode\" = systemd ]; then\n"
	"  etc=/etc/slipway\n"
	"  mkdir -p -- \"$etc\"; chmod 755 -- \"$etc\"\n"
	"  tokf=$etc/join.token caf=$etc/server-ca.pem\n"
	"else\n"
	"  tokf=$data/join-token caf=$data/server-ca.pem\n"
	"fi\n"
	"tok=\"$tokf.new.$$\"\n"
	"trap 'rm -f -- \"$tok\" \"$new\" ${ca:+\"$ca\"}' EXIT\n"
	"cat >\"$tok\"\n"
	"if [ ! -s \"$tok\" ]; then echo 'no join token arrived on stdin' >&2; exit 3; fi\n"
	"chmod 600 -- \"$tok\"\n"
	"chmod 755 -- \"$new\"\n"
	"if ! out=$(\"$new\" version 2>&1); then\n"
	"  echo \"the copied binary does not run on this host: $out\" >&2; exit 3\n"
	"fi\n"
	"if [ \"$mode\" = systemd ]; then\n"
	"  if ! getent passwd slipway >/dev/null 2>&1; then\n"
	"    useradd --system --user-group --home-dir /var/lib/slipway-agent --no-create-home "
	"--shell /usr/sbin/nologin slipway\n"
	"  fi\n"
	"  chown slipway:slipway -- \"$tok\"\n"
	"fi\n"
	"mv -f -- \"$tok\" \"$tokf\"\n"
	"mv -f -- \"$new\" \"$bin/slipway\"\n"
	"if [ -n \"$ca\" ]; then\n"
	"  chmod 644 -- \"$ca\"; mv -f -- \"$ca\" \"$caf\"; set -- \"$@\" --ca \"$caf\"\n"
	"fi\n"
	"if [ \"$mode\" = systemd ]; then\n"
	"  umask 022\n"
	"  printf '# written by slipway host bootstrap (docs/agent.md)\\nSLIPWAY_SERVER=%s\\n"
	"SLIPWAY_AGENT_OPTS=\"--name %s --ports %s %s\"\\n' \"$server\" \"$name\" \"$ports\" \"$*\" >\"$etc/agent.env.new\"\n"
	"  mv -f -- \"$etc/agent.env.new\" \"$etc/agent.env\"\n"
	"  unit=/etc/systemd/system/slipway-agent.service\n"
	"  printf '%s\\n' \"$unit_text\" >\"$unit.new\"\n"
	"  mv -f -- \"$unit.new\" \"$unit\"\n"
	"  systemctl daemon-reload\n"
	"  systemctl enable --quiet slipway-agent.service\n"
	"  systemctl restart slipway-agent.service\n"
	"  echo started=systemd\n"
	"  exit 0\n"
	"fi\n"
	"pidf=\"$data/agent.pid\"\n"
	"if [ -f \"$pidf\" ]; then\n"
	"  old=$(cat -- \"$pidf\")\n"
	"  case \"$old\" in ''|*[!0-9]*) old= ;; esac\n"
	"  if [ -n \"$old\" ] && kill -0 \"$old\" 2>/dev/null && tr '\\0' ' ' </proc/\"$old\"/cmdline | grep -q ' agent '; "
	"then\n"
	"    kill \"$old\"\n"
	"    i=0\n"
	"    while kill -0 \"$old\" 2>/dev/null && [ \"$i\" -lt 200 ]; do sleep 0.1; i=$((i + 1)); done\n"
	"  fi\n"
	"fi\n"
	"cd /\n"
	"setsid nohup \"$bin/slipway\" agent --root \"$data\" --server \"$server\" --name \"$name\" --ports \"$ports\" "
	"--join-file \"$tokf\" \"$@\" </dev/null >>\"$data/agent.log\" 2>&1 &\n"
	"echo \"$!\" >\"$pidf\"\n"
	"echo \"started=detached pid=$!\"\n";

/*
 * contrib/systemd/slipway-agent.service.in, the unit `make install` and the
 * Debian package install, as C string lines (build/gen/agent_unit.inc,
 * made by the Makefile): one unit source, whoever installs it.
 */
static const char sw_boot_unit_in[] =
#include "agent_unit.inc"
	;

/* The unit with @BINDIR@ (the bin dir it was copied to) and @DOCDIR@ filled in. */
int sw_bootstrap_unit(const char *bin_dir, struct sw_buf *out)
{
	const char *p = sw_boot_unit_in, *at;

	while ((at = strchr(p, '@'))) {
		sw_buf_append(out, p, (size_t)(at - p));
		if (!strncmp(at, "@BINDIR@", 8)) {
			sw_buf_puts(out, bin_dir);
			p = at + 8;
		} else if (!strncmp(at, "@DOCDIR@", 8)) {
			sw_buf_puts(out, "/usr/share/doc/slipway");
			p = at + 8;
		} else {
			sw_buf_putc(out, '@');
			p = at + 1;
		}
	}
	sw_buf_puts(out, p);
	return sw_buf_failed(out) ? -1 : 0;
}

/* $1 DATA, $2 pid or "systemd": exit 0 when the agent runs, 1 when not. */
static const char sw_boot_alive_sh[] =
	"if [ \"$2\" = systemd ]; then systemctl is-active --quiet slipway-agent.service; exit $?; fi\n"
	"kill -0 \"$2\" 2>/dev/null || exit 1\n"
	"[ \"$(cat -- \"$1/agent.pid\" 2>/dev/null)\" = \"$2\" ]\n";

/* $1 DATA, $2 lines, $3 systemd|detached. */
static const char sw_boot_tail_sh[] =
	"if [ \"$3\" = systemd ]; then journalctl -u slipway-agent.service -n \"$2\" --no-pager -o cat 2>&1; exit 0; fi\n"
	"tail -n \"$2\" -- \"$1/agent.log\" 2>&1\n";

/* Run one script with its arguments; remote failures (exit != 0) become SW_EIO "what: <stderr>". */
static int sw_boot_script(const struct sw_bootstrap *b, const char *what, const char *script, const char *const *args,
			  const char *in, struct sw_buf *out, int *code, struct sw_err *err)
{
	const char *argv[24];
	struct sw_buf e = SW_BUF_INIT(SW_BOOT_OUT_MAX);
	size_t n = 0, i;
	int rc;

	argv[n++] = "sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n++] = "slipway-bootstrap";
	for (i = 0; args[i] && n < 23; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	rc = sw_ssh_run(b->ssh, argv, in, in ? strlen(in) : 0, out, &e, code, err);
	if (rc == 0 && *code != 0 && what) {
		size_t len = e.len;

		while (len > 0 && (e.data[len - 1] == '\n' || e.data[len - 1] == ' '))
			len--;
		sw_err_set(err, SW_EIO, "%s: %.*s", what, (int)(len ? (len > 700 ? 700 : len) : 15),
			   len ? (len > 700 ? e.data + len - 700 : e.data) : "no message");
		rc = -1;
	}
	sw_buf_release(&e);
	return rc;
}

/* The value of "key=" at the start of a line of text, into out ("" when absent). */
static void sw_boot_value(const char *text, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	const char *p = text;

	out[0] = '\0';
	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			const char *v = p + klen + 1, *e = strchr(v, '\n');
			size_t n = e ? (size_t)(e - v) : strlen(v);

			snprintf(out, size, "%.*s", (int)(n >= size ? size - 1 : n), v);
			return;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
}

int sw_bootstrap_prepare(const struct sw_bootstrap *b, const char *local_machine, struct sw_bootstrap_host *h,
			 struct sw_err *err)
{
	const char *args[] = { b->bin_dir, b->data_dir, NULL };
	struct sw_buf out = SW_BUF_INIT(SW_BOOT_OUT_MAX);
	char uid[32], url[512];
	int64_t v;
	int code;

	memset(h, 0, sizeof(*h));
	if (sw_boot_script(b, "cannot prepare the host", sw_boot_prepare_sh, args, NULL, &out, &code, err) < 0) {
		sw_buf_release(&out);
		return -1;
	}
	sw_boot_value(sw_buf_str(&out), "machine", h->machine, sizeof(h->machine));
	sw_boot_value(sw_buf_str(&out), "hostname", h->hostname, sizeof(h->hostname));
	sw_boot_value(sw_buf_str(&out), "systemd", h->systemd_state, sizeof(h->systemd_state));
	sw_boot_value(sw_buf_str(&out), "uid", uid, sizeof(uid));
	sw_buf_release(&out);
	h->uid = sw_parse_i64(uid, strlen(uid), 0, INT32_MAX, &v) == 0 ? (long)v : -1;
	/* A booted systemd, in a state where it starts units. */
	h->systemd = !strcmp(h->systemd_state, "running") || !strcmp(h->systemd_state, "degraded") ||
		     !strcmp(h->systemd_state, "starting") || !strcmp(h->systemd_state, "initializing") ||
		     !strcmp(h->systemd_state, "maintenance");
	if (!h->systemd_state[0])
		snprintf(h->systemd_state, sizeof(h->systemd_state), "unknown");
	sw_ssh_url(&b->ssh->t, url, sizeof(url));
	if (!h->machine[0])
		return sw_err_set(err, SW_EIO, "%s did not say what machine it is (uname -m)", url);
	if (local_machine && strcmp(h->machine, local_machine))
		return sw_err_set(err, SW_EFAILED,
				  "%s is a %s machine and this slipway is built for %s: run the bootstrap from a "
				  "slipway built for %s",
				  url, h->machine, local_machine, h->machine);
	h->use_systemd = h->systemd && !b->detached_only;
	if (h->use_systemd && h->uid != 0)
		return sw_err_set(err, SW_EFAILED,
				  "%s runs systemd and installing the unit needs root: log in as root (uid is %ld)", url,
				  h->uid);
	return 0;
}

int sw_bootstrap_copy(const struct sw_bootstrap *b, const char *local_exe, char *tmp, size_t tmp_size,
		      struct sw_err *err)
{
	if (sw_snprintf(tmp, tmp_size, "%s/.slipway.new.%ld", b->bin_dir, (long)getpid()) < 0)
		return sw_err_set(err, SW_EINPUT, "remote directory '%.200s' is too long", b->bin_dir);
	return sw_ssh_copy(b->ssh, local_exe, tmp, err);
}

int sw_bootstrap_install(const struct sw_bootstrap *b, const char *tmp, const struct sw_bootstrap_agent *a,
			 const char *join_token, bool systemd, struct sw_bootstrap_started *st, struct sw_err *err)
{
	char ca_tmp[600] = "";
	struct sw_buf unit = SW_BUF_INIT(64 << 10);
	const char *args[] = { b->bin_dir, b->data_dir, tmp, a->server, a->name, a->ports,
			       systemd ? "systemd" : "detached", ca_tmp, "", NULL, NULL, NULL, NULL, NULL, NULL };
	struct sw_buf out = SW_BUF_INIT(SW_BOOT_OUT_MAX);
	struct sw_buf in = SW_BUF_INIT(4096);
	char pid[32], started[32];
	size_t n = 9;
	int64_t v;
	int code, rc;

	memset(st, 0, sizeof(*st));
	if (a->ca) {
		if (sw_snprintf(ca_tmp, sizeof(ca_tmp), "%s/.server-ca.new.%ld", b->data_dir, (long)getpid()) < 0)
			return sw_err_set(err, SW_EINPUT, "remote directory '%.200s' is too long", b->data_dir);
		if (sw_ssh_copy(b->ssh, a->ca, ca_tmp, err) < 0)
			return -1;
	}
	if (systemd) {
		if (sw_bootstrap_unit(b->bin_dir, &unit) < 0) {
			sw_buf_release(&unit);
			return sw_err_set(err, SW_EINTERNAL, "the unit text does not fit");
		}
		args[8] = sw_buf_str(&unit);
	}
	if (a->address) {
		args[n++] = "--address";
		args[n++] = a->address;
	}
	if (a->pin) {
		args[n++] = "--pin";
		args[n++] = a->pin;
	}
	if (a->insecure_http)
		args[n++] = "--insecure-http";
	sw_buf_printf(&in, "%s\n", join_token);
	rc = sw_boot_script(b, "cannot install the agent", sw_boot_install_sh, args, sw_buf_str(&in), &out, &code, err);
	sw_buf_release(&unit);
	if (in.data)
		explicit_bzero(in.data, in.len);
	sw_buf_release(&in);
	if (rc < 0) {
		sw_buf_release(&out);
		return -1;
	}
	sw_boot_value(sw_buf_str(&out), "started", started, sizeof(started));
	{
		const char *p = strstr(sw_buf_str(&out), "pid=");

		snprintf(pid, sizeof(pid), "%s", p ? p + 4 : "");
		pid[strcspn(pid, "\n ")] = '\0';
	}
	sw_buf_release(&out);
	st->systemd = !strncmp(started, "systemd", 7);
	if (!st->systemd) {
		if (strncmp(started, "detached", 8) || sw_parse_i64(pid, strlen(pid), 1, INT32_MAX, &v) < 0)
			return sw_err_set(err, SW_EIO, "the host did not say how the agent started");
		st->pid = (long)v;
	}
	return 0;
}

int sw_bootstrap_alive(const struct sw_bootstrap *b, const struct sw_bootstrap_started *st, struct sw_err *err)
{
	char pid[32];
	const char *args[] = { b->data_dir, pid, NULL };
	int code;

	snprintf(pid, sizeof(pid), "%ld", st->pid);
	if (st->systemd)
		snprintf(pid, sizeof(pid), "systemd");
	if (sw_boot_script(b, NULL, sw_boot_alive_sh, args, NULL, NULL, &code, err) < 0)
		return -1;
	return code == 0;
}

int sw_bootstrap_log_tail(const struct sw_bootstrap *b, const struct sw_bootstrap_started *st, unsigned lines,
			  struct sw_buf *out, struct sw_err *err)
{
	char n[16];
	const char *args[] = { b->data_dir, n, st->systemd ? "systemd" : "detached", NULL };
	int code;

	snprintf(n, sizeof(n), "%u", lines);
	return sw_boot_script(b, NULL, sw_boot_tail_sh, args, NULL, out, &code, err);
}
