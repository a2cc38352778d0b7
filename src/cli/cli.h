/*
 * cli.h: shared pieces of the `sealtrain` command. One file per command
 * group (cmd_<group>.c) exports one handler listed in main.c's table. The
 * CLI uses only the public API in include/sealtrain/.
 */
#ifndef SEALTRAIN_CLI_H
#define SEALTRAIN_CLI_H

#include <stdio.h>

#include <jansson.h>

#include <sealtrain/err.h>

/* Global options, parsed before the command group. */
typedef struct st_cli {
    const char *workspace; /* --workspace, SEALTRAIN_WORKSPACE, ~/.sealtrain */
    const char *as;        /* --as, SEALTRAIN_AS: acting principal */
    const char *key;       /* --key, SEALTRAIN_KEY: that principal's key */
    int json;              /* --json given globally */
    int quiet;             /* -q */
    const char *server;    /* --server URL, SEALTRAIN_SERVER (cmd_remote.c) */
    int log_level_set;     /* --log-level or SEALTRAIN_LOG_LEVEL given */
    int log_json;          /* --log-json */
} st_cli;

/* The figures of a model evaluation (`model evaluate`, local or
 * --server), as the CLI prints them. */
void st_cli_print_evaluation(const json_t *ev);
/* Takes the signed statement out of a model use's result and, when
 * `path` is not NULL, writes it there (atomically, 0600). */
st_code st_cli_take_provenance(json_t *result, const char *path, st_err *err);

/* A command group: argv[0] is the group name ("key"), options follow. */
typedef int (*st_cli_handler)(st_cli *cli, int argc, char **argv);

/* Prints "sealtrain: <message>" to stderr and returns the exit status for
 * the error's code. */
int st_cli_fail(const st_err *err);
/* Prints a usage error ("sealtrain: <group>: <message>") plus a hint to
 * run `sealtrain <group> --help`, and returns 2. */
int st_cli_usage(const char *group, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A copy of s[0..n) safe to print on a terminal: C0 controls (NUL
 * included), DEL and the C1 controls (U+0080..U+009F, which some
 * terminals obey) become \xHH or \u00HH, and a backslash is doubled so
 * the escapes stay unambiguous. Raw ESC/BEL/CR from an attacker would
 * otherwise rewrite the reader's screen. free() it; NULL when out of
 * memory. */
char *st_cli_term_safe(const char *s, size_t n);
/* 1 if argv[i] is -h or --help. */
int st_cli_wants_help(int argc, char **argv);
/* Parses the options of a command that takes only --json and --help with
 * getopt_long (the caller resets optind first): --json sets *json to 1
 * (left as it was otherwise); --help prints print_usage(stdout) and returns 0;
 * any other option prints st_cli_usage(group, unknown) and returns 2.
 * Returns -1 when the command goes on with argv[optind..]. */
int st_cli_json_options(int argc, char **argv, const char *group,
                        const char *unknown, void (*print_usage)(FILE *out),
                        int *json);

/* Opens the workspace and authenticates the acting principal (--as and
 * --key, see session.c). Returns 0, or the exit status after printing the
 * error. */
typedef struct st_workspace st_workspace;
typedef struct st_access_session st_access_session;
int st_cli_open(st_cli *cli, st_workspace **ws, st_access_session *session);
/* st_cli_open, then the one access check of the command: `action` on
 * `resource` (NULL: none) for the acting principal. Returns 0, or the exit
 * status after printing the error (the workspace is closed then). */
int st_cli_open_checked(st_cli *cli, const char *action, const char *resource,
                        st_workspace **ws, st_access_session *session);
/* The principal name to pass to st_access_check (NULL in bootstrap). */
const char *st_cli_principal(const st_access_session *session);

/* The keyring when it opens without a prompt (file or TPM protection, or
 * SEALTRAIN_PASSPHRASE_FILE); NULL otherwise. For reporting commands. */
typedef struct st_keyring st_keyring;
st_keyring *st_cli_keyring_if_unattended(st_workspace *ws);

/* help.c: the per-command help, man pages and completion scripts. */
typedef struct st_cli_group_info {
    const char *name, *about;
} st_cli_group_info;
/* `GROUP LEAF ... --help`: prints LEAF's own help and returns 0; -1 when
 * argv is not a help request for a known leaf of `group`. */
int st_cli_leaf_help(const char *group, int argc, char **argv);
/* `GROUP LEAF ... --json` for a leaf whose synopsis (the help table, the
 * one source) offers no --json: prints the usage error and returns 2;
 * -1 otherwise. So every command either prints JSON or says that it
 * cannot, before it acts. */
int st_cli_json_refused(const char *group, int argc, char **argv);
/* `sealtrain help ...` (argv[0] == "help"). */
int st_cli_help(const st_cli_group_info *groups, size_t ngroups, int argc,
                char **argv);

/* Command groups. */
int st_cli_version(st_cli *cli, int argc, char **argv);
int st_cli_init(st_cli *cli, int argc, char **argv);
int st_cli_attest(st_cli *cli, int argc, char **argv);
int st_cli_data(st_cli *cli, int argc, char **argv);
int st_cli_key(st_cli *cli, int argc, char **argv);
int st_cli_identity(st_cli *cli, int argc, char **argv);
int st_cli_doctor(st_cli *cli, int argc, char **argv);
int st_cli_age(st_cli *cli, int argc, char **argv);
int st_cli_principal_cmd(st_cli *cli, int argc, char **argv);
int st_cli_audit(st_cli *cli, int argc, char **argv);
int st_cli_metrics(st_cli *cli, int argc, char **argv);
int st_cli_check(st_cli *cli, int argc, char **argv);
int st_cli_cleanup(st_cli *cli, int argc, char **argv);
int st_cli_job(st_cli *cli, int argc, char **argv);
int st_cli_model(st_cli *cli, int argc, char **argv);
/* `data policy ...`: called by `data` with argv[0] == "policy" */
int st_cli_data_policy(st_cli *cli, int argc, char **argv);
int st_cli_data_import_encrypted(st_cli *cli, int argc, char **argv);
int st_cli_serve(st_cli *cli, int argc, char **argv);
/* any command under --server URL: run remotely (cmd_remote.c) */
int st_cli_remote(st_cli *cli, int argc, char **argv);
/* `attest collateral ...`: called by `attest` with argv[0] == "collateral" */
int st_cli_attest_collateral(st_cli *cli, int argc, char **argv);
/* `principal cert ...`: called by `principal` with argv[0] == "cert" */
int st_cli_principal_cert(st_cli *cli, int argc, char **argv);
/* Prints `principal list` (an array) or `principal show` (one object,
 * with "grants") from their JSON: as is with `json`, else as text; local
 * and remote (--server) alike. */
void st_cli_principal_print(const json_t *out, int show, int json);
/* Prints `key list` (an array of st_kek_info_json) or `key show` (one,
 * with "owner") from their JSON, local and remote alike; the exit
 * status. */
int st_cli_key_print(const json_t *out, int show, int json, int quiet);

#endif
