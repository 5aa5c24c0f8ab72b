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
int sw_cmd_releases(int argc, char **argv); /* cli/releases.c */
int sw_cmd_audit(int argc, char **argv);   /* cli/audit.c */
int sw_cmd_server(int argc, char **argv);  /* cli/server.c */
int sw_cmd_token(int argc, char **argv);   /* cli/tokens.c */
int sw_cmd_join_token(int argc, char **argv); /* cli/tokens.c */
int sw_cmd_hosts(int argc, char **argv);   /* cli/hosts.c */
int sw_cmd_host_bootstrap(int argc, char **argv); /* cli/bootstrap.c, through sw_cmd_hosts */
int sw_cmd_agent(int argc, char **argv);   /* cli/agent.c */
int sw_cmd_logs(int argc, char **argv);    /* cli/logs.c */
int sw_cmd_deploy(int argc, char **argv);  /* cli/deploy.c */
int sw_cmd_status(int argc, char **argv);  /* cli/deploy.c */
int sw_cmd_rollback(int argc, char **argv); /* cli/deploy.c */
int sw_cmd_history(int argc, char **argv); /* cli/deploy.c */
int sw_cmd_pause(int argc, char **argv);   /* cli/deploy.c */
int sw_cmd_resume(int argc, char **argv);  /* cli/deploy.c */
int sw_cmd_promote(int argc, char **argv); /* cli/deploy.c */
int sw_cmd_abort(int argc, char **argv);   /* cli/deploy.c */
int sw_cmd_retry(int argc, char **argv);   /* cli/deploy.c */
int sw_cmd_analysis(int argc, char **argv); /* cli/analysis.c */
int sw_cmd_haproxy_config(int argc, char **argv); /* cli/haproxy_config.c */
int sw_cmd_ping(int argc, char **argv);     /* cli/ping.c */

#endif
