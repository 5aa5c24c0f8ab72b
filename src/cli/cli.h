/*
 * cli.h - what every command group in src/cli/ shares.
 *
 * A command is `int sw_cmd_<name>(int argc, char **argv)` where argv[0] is
 * the command name; it returns the process exit code (0 ok, 1 failed
 * operation, 2 bad usage or bad input). Commands parse flags with
 * getopt_long, call the layers below and print: human text on stdout by
 * default, one JSON document with --output json; errors go to stderr as
 * "slipway <cmd>: <where>: <message>". No business logic lives here.
 * May call every layer below cli.
 */
#ifndef SW_CLI_H
#define SW_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"

enum sw_output { SW_OUTPUT_TEXT, SW_OUTPUT_JSON };

struct sw_cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

/* The command table (main.c) for `slipway help`. */
extern const struct sw_cli_cmd sw_cli_commands[];
extern const unsigned sw_cli_command_count;

/* Parse the value of --output; returns -1 (after printing) if unknown. */
int sw_cli_parse_output(const char *cmd, const char *value, enum sw_output *out);
/* Print err to stderr and return its exit code (never 0). */
int sw_cli_fail(const char *cmd, const struct sw_err *err);
/* Print a usage error to stderr ("try 'slipway CMD --help'") and return 2. */
int sw_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Report an option getopt_long did not accept and return 2. Call it with the
 * c getopt_long returned (':' a value is missing, '?' unknown or ambiguous),
 * after parsing with opterr = 0 and an optstring starting with ':'; opts is
 * the table given to getopt_long. An unknown long option gets "did you mean"
 * among opts: "unknown option '--environment' (did you mean '--env'?)".
 */
int sw_cli_bad_option(const char *cmd, int c, char **argv, const struct option *opts);
/*
 * Report an unknown subcommand of cmd ("slipway audit lgo") with "did you
 * mean" among names (NULL-terminated), and return 2.
 */
int sw_cli_unknown_subcommand(const char *cmd, const char *word, const char *const *names);
/*
 * Parse "K=V,K=V" into the JSON object labels: keys 1..63 of A-Z a-z 0-9
 * _ - . /, values up to 255 bytes, no key twice. -1 after printing a usage
 * error naming the item.
 */
int sw_cli_parse_labels(const char *cmd, const char *text, json_t *labels);
/* Print v (pretty, sorted keys) to stdout with a newline; steals the reference. */
void sw_cli_print_json(json_t *v);
/* True when stdout is a terminal (for live progress views). */
bool sw_cli_stdout_is_tty(void);

#endif
