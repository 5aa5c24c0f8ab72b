/* cli/release.c - placeholder until its module lands. */
#include "cli/cli.h"
#include "cli/commands.h"
#include <stdio.h>
int sw_cmd_keygen(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("slipway keygen: not built yet\n", stderr);
	return 1;
}
int sw_cmd_release(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("slipway release: not built yet\n", stderr);
	return 1;
}
int sw_cmd_verify(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("slipway verify: not built yet\n", stderr);
	return 1;
}
