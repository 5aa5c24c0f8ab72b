/* cli/audit.c - placeholder until its module lands. */
#include "cli/cli.h"
#include "cli/commands.h"
#include <stdio.h>
int sw_cmd_audit(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("slipway audit: not built yet\n", stderr);
	return 1;
}
