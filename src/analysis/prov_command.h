/*
 * prov_command.h - the command provider: a shell command's exit code and
 * the number it prints.
 *
 * `/bin/sh -c <run>` ({{canary}} / {{stable}} replaced by the instance
 * addresses joined by ',') in the target's cwd, as the leader of its own
 * process group, stdin /dev/null, with only this environment: PATH and
 * HOME (ours, or defaults), LANG=C.UTF-8, SLIPWAY_ANALYSIS (its name),
 * SLIPWAY_CANARY and SLIPWAY_STABLE (addresses joined by ',').
 *
 *   value      type     meaning
 *   exit_code  integer  its exit status (128 + N when killed by signal N)
 *   result     number   the last non-empty line of stdout+stderr, when that
 *                       whole line is a decimal number
 *
 * ABSENT (error): result when the last line is not a number. Only the last
 * SW_PROV_COMMAND_TAIL bytes of output are kept.
 * Provider failures (measurement error): it cannot start, or it runs past
 * the measurement's timeout: then the whole process group is killed
 * (SIGKILL) and reaped before the measurement returns.
 *
 * Allocates nothing the caller must free. Calls base/proc, analysis/values, base/.
 */
#ifndef SW_PROV_COMMAND_H
#define SW_PROV_COMMAND_H

#include "analysis/provider.h"

#define SW_PROV_COMMAND_TAIL 4096

int sw_prov_command_measure(struct sw_provider_run *run, struct sw_err *err);

#endif
