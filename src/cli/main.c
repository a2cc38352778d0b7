/*
 * main.c: the `sealtrain` command: global options, then one command group.
 *
 * Exit status (documented in docs/cli.md): 0 success, 2 usage, 3 invalid
 * input or unknown name, 4 security denial (authentication, integrity,
 * attestation, policy, permission), 5 system or internal failure,
 * 6 cancelled.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/log.h>
#include <sealtrain/sealtrain.h>

#include "cli.h"

struct command {
    const char *name;
    st_cli_handler run;
    const char *summary;
};

static const struct command commands[] = {
    {"version", st_cli_version, "print the version and build facts"},
    {"init", st_cli_init, "create a workspace and its keyring"},
    {"attest", st_cli_attest, "TEE evidence, verification, measurements"},
    {"key", st_cli_key, "manage key encryption keys (KEKs)"},
    {"identity", st_cli_identity, "create age + Ed25519 identity files"},
    {"doctor", st_cli_doctor, "check this machine's security features"},
    {"age", st_cli_age, "age v1 files: keygen, encrypt, decrypt, inspect"},
    {"principal", st_cli_principal_cmd, "principals, roles and grants"},
    {"audit", st_cli_audit, "show, verify, checkpoint and prove the audit log"},
    {"metrics", st_cli_metrics, "Prometheus metrics of the workspace"},
    {"check", st_cli_check, "the security checklist (pass/warn/fail)"},
    {"cleanup", st_cli_cleanup, "retention, stale jobs, temporary files"},
    {"data", st_cli_data,
     "import, verify, rewrap and remove encrypted datasets"},
    {"job", st_cli_job, "submit, run and watch secure training jobs"},
    {"model", st_cli_model,
     "registered models: lineage, verify, decrypt, share, export"},
    {"serve", st_cli_serve, "the HTTPS API with mutual TLS (and key broker)"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain [--workspace DIR] [--as NAME] [--key FILE] "
            "[--log-level L] [--log-json] [-q] [--server URL] COMMAND ...\n"
            "\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n", "help",
            "a command's help, man pages, "
            "completion scripts");
    fprintf(out, "\n`sealtrain COMMAND [SUBCOMMAND] --help` describes a "
                 "command.\n"
                 "Exit status: 0 ok, 2 usage, 3 input, 4 denied, 5 system, "
                 "6 cancelled.\n");
}

int st_cli_fail(const st_err *err)
{
    fprintf(stderr, "sealtrain: %s\n",
            err->msg[0] ? err->msg : st_code_name(err->code));
    return st_code_exit_status(err->code ? err->code : ST_E_INTERNAL);
}

int st_cli_usage(const char *group, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "sealtrain: %s: %s\n(see `sealtrain %s --help`)\n", group,
            msg, group);
    return 2;
}

char *st_cli_term_safe(const char *s, size_t n)
{
    char *o = malloc(4 * n + 1), *p = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        unsigned char next = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        if (ch < 0x20 || ch == 0x7f) {
            p += sprintf(p, "\\x%02x", ch);
        } else if (ch == 0xc2 && next >= 0x80 && next <= 0x9f) {
            p += sprintf(p, "\\u%04x", next);
            i++;
        } else if (ch == '\\') {
            *p++ = '\\';
            *p++ = '\\';
        } else {
            *p++ = (char)ch;
        }
    }
    *p = 0;
    return o;
}

int st_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

int st_cli_json_options(int argc, char **argv, const char *group,
                        const char *unknown, void (*print_usage)(FILE *out),
                        int *json)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': *json = 1; break;
        case 'h': print_usage(stdout); return 0;
        default: return st_cli_usage(group, "%s", unknown);
        }
    }
    return -1;
}

int st_cli_version(st_cli *cli, int argc, char **argv)
{
    int json = cli->json;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: sealtrain version [--json]\n\nPrints the "
                   "version (JSON: {\"version\": ...}).\n");
            return 0;
        } else
            return st_cli_usage("version", "unexpected argument \"%s\"",
                                argv[i]);
    }
    if (json)
        printf("{\"version\": \"%s\"}\n", st_version());
    else
        printf("sealtrain %s\n", st_version());
    return 0;
}

int main(int argc, char **argv)
{
    st_cli cli = {0};
    cli.workspace = getenv("SEALTRAIN_WORKSPACE");
    cli.as = getenv("SEALTRAIN_AS");
    cli.key = getenv("SEALTRAIN_KEY");
    cli.server = getenv("SEALTRAIN_SERVER");
    st_log_level level = ST_LOG_WARN;
    st_log_format format = ST_LOG_HUMAN;
    const char *env_level = getenv("SEALTRAIN_LOG_LEVEL");
    if (env_level && st_log_level_parse(env_level) >= 0) {
        level = (st_log_level)st_log_level_parse(env_level);
        cli.log_level_set = 1;
    }

    static const struct option opts[] = {
        {"workspace", required_argument, NULL, 'w'},
        {"as", required_argument, NULL, 'a'},
        {"key", required_argument, NULL, 'k'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"server", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    int c;
    /* "+" stops at the first non-option: the command's own options follow */
    while ((c = getopt_long(argc, argv, "+w:a:k:l:qhV", opts, NULL)) != -1) {
        switch (c) {
        case 'w': cli.workspace = optarg; break;
        case 'a': cli.as = optarg; break;
        case 'k': cli.key = optarg; break;
        case 'l':
            if (st_log_level_parse(optarg) < 0)
                return st_cli_usage("options",
                                    "--log-level must be debug, info, warn, "
                                    "error or off");
            level = (st_log_level)st_log_level_parse(optarg);
            cli.log_level_set = 1;
            break;
        case 'j':
            format = ST_LOG_JSON;
            cli.log_json = 1;
            break;
        case 'q': cli.quiet = 1; break;
        case 's': cli.server = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("sealtrain %s\n", st_version()); return 0;
        default: usage(stderr); return 2;
        }
    }
    st_log_configure(level, format, NULL);
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[optind];
    size_t ncommands = sizeof(commands) / sizeof(commands[0]);
    if (!strcmp(name, "help")) {
        st_cli_group_info groups[sizeof(commands) / sizeof(commands[0])];
        for (size_t i = 0; i < ncommands; i++) {
            groups[i].name = commands[i].name;
            groups[i].about = commands[i].summary;
        }
        return st_cli_help(groups, ncommands, argc - optind, argv + optind);
    }
    for (size_t i = 0; i < ncommands; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            /* a leaf's own --help, before the group parses anything */
            int h = st_cli_leaf_help(name, sub_argc, sub_argv);
            if (h >= 0)
                return h;
            /* --json where the command prints none: said before it acts */
            if ((h = st_cli_json_refused(name, sub_argc, sub_argv)) >= 0)
                return h;
            optind = 0; /* glibc: re-initialise getopt for the command */
            if (cli.server && cli.server[0] && strcmp(name, "version"))
                return st_cli_remote(&cli, sub_argc, sub_argv);
            return commands[i].run(&cli, sub_argc, sub_argv);
        }
    }
    fprintf(stderr, "sealtrain: unknown command \"%s\"\n", name);
    usage(stderr);
    return 2;
}
