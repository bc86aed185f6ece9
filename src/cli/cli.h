/* Shared pieces of the command-line tool: every subcommand is a function
 * cmd_<name>(argc, argv) in src/cli/cmd_<name>.c, listed in main.c's table.
 *
 * Exit codes: 0 success, 1 the work failed (bad file, unsupported machine, ...),
 * 2 the command line itself was wrong. `measure` returns its child's status. */
#ifndef GREENTUNE_CLI_H
#define GREENTUNE_CLI_H

#include "greentune/common.h"

#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

/* Prints "greentune: <message>" on stderr (one line) and returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same for a library error. */
int cli_fail_error(const gt_error *err);

/* Strict number parsing for option values: the whole string must be a number in
 * [min, max]; on failure prints "greentune: --name: ..." and returns 0. */
int cli_parse_long(const char *option, const char *text, long min, long max, long *value);
int cli_parse_double(const char *option, const char *text, double min, double max, double *value);

/* getopt_long's error for an unknown option or missing value, in our format,
 * followed by a pointer to --help. */
int cli_usage_error(const char *command);

/* An output file option: path (may be NULL) names a file in an existing,
 * writable directory, checked before long work rather than after; prints the
 * problem and returns 0 when not. */
int cli_check_output(const char *option, const char *path);
/* mkdir -p (mode 0755 for what it creates); 0 on success, else reported. */
int cli_make_dirs(const char *dir);

/* True when stderr is a terminal (progress bars redraw in place then). */
int cli_stderr_is_tty(void);

/* Columns text takes on screen: UTF-8 continuation bytes (10xxxxxx) take none,
 * so "±", "†" and "Δ" count one each (tables pad by it, not by bytes). */
int cli_display_width(const char *text);

/* Puts back machine state (power limits, cpufreq) that a greentune killed with
 * kill -9 left changed, saying so in one line; runs before every command. */
void cli_recover_machine_state(void);

/* The subcommands. */
int cmd_measure(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_knobs(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);

#endif
