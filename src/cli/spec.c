/* cli/spec.c - placeholder until its module lands. */
#include "cli/cli.h"
#include "cli/commands.h"
#include <stdio.h>
int sw_cmd_init(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("slipway init: not built yet\n", stderr);
	return 1;
}
int sw_cmd_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("slipway check: not built yet\n", stderr);
	return 1;
}
