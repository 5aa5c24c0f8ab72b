/*
 * commands.h - entry points of the command groups (one file each in src/cli/).
 * See cli.h for the calling convention.
 */
#ifndef SW_COMMANDS_H
#define SW_COMMANDS_H

int sw_cmd_init(int argc, char **argv);    /* cli/spec.c */
int sw_cmd_check(int argc, char **argv);   /* cli/spec.c */
int sw_cmd_run(int argc, char **argv);     /* cli/run.c */
int sw_cmd_keygen(int argc, char **argv);  /* cli/release.c */
int sw_cmd_release(int argc, char **argv); /* cli/release.c */
int sw_cmd_verify(int argc, char **argv);  /* cli/release.c */
int sw_cmd_audit(int argc, char **argv);   /* cli/audit.c */

#endif
