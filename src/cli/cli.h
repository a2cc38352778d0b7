/*
 * cli.h: shared pieces of the `sealtrain` command. One file per command
 * group (cmd_<group>.c) exports one handler listed in main.c's table. The
 * CLI uses only the public API in include/sealtrain/.
 */
#ifndef SEALTRAIN_CLI_H
#define SEALTRAIN_CLI_H

#include <sealtrain/err.h>

/* Global options, parsed before the command group. */
typedef struct st_cli {
    const char *workspace; /* --workspace, SEALTRAIN_WORKSPACE, ~/.sealtrain */
    const char *as;        /* --as, SEALTRAIN_AS: acting principal */
    const char *key;       /* --key, SEALTRAIN_KEY: that principal's key */
    int json;              /* --json given globally */
    int quiet;             /* -q */
} st_cli;

/* A command group: argv[0] is the group name ("key"), options follow. */
typedef int (*st_cli_handler)(st_cli *cli, int argc, char **argv);

/* Prints "sealtrain: <message>" to stderr and returns the exit status for
 * the error's code. */
int st_cli_fail(const st_err *err);
/* Prints a usage error ("sealtrain: <group>: <message>") plus a hint to
 * run `sealtrain <group> --help`, and returns 2. */
int st_cli_usage(const char *group, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 1 if argv[i] is -h or --help. */
int st_cli_wants_help(int argc, char **argv);

/* Command groups. */
int st_cli_version(st_cli *cli, int argc, char **argv);
int st_cli_init(st_cli *cli, int argc, char **argv);
int st_cli_data(st_cli *cli, int argc, char **argv);
int st_cli_key(st_cli *cli, int argc, char **argv);
int st_cli_age(st_cli *cli, int argc, char **argv);

#endif
