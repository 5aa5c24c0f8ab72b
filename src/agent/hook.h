/*
 * hook.h - run one bounded shell command for the agent: lifecycle hooks
 * (before_install, after_install, before_start, validate) and health check
 * commands.
 *
 * The command runs as `/bin/sh -c` in its own process group (base/proc),
 * in cwd, with exactly envp; its output is appended to log_fd (the slot's
 * log) as it comes. At the timeout the whole group is killed with SIGKILL
 * and the call fails with "<what> timed out after 5s" (SW_ETIMEOUT); a
 * non-zero exit fails with "<what> failed: exit 3" (SW_EFAILED). `cancel`
 * (may be NULL) is polled every 100 ms: when it becomes true the group is
 * killed and the call fails with SW_ECANCELED.
 *
 * `what` names the command in messages, e.g. "hook 'validate'".
 * Calls base/proc, base/clock, libc.
 */
#ifndef SW_AGENT_HOOK_H
#define SW_AGENT_HOOK_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/err.h"

int sw_hook_run(const char *what, const char *cmd, const char *cwd, char *const envp[], uint64_t timeout_ms,
		int log_fd, const atomic_bool *cancel, struct sw_err *err);

#endif
