/*
 * cmd_serve.c: `sealtrain serve`: the workspace behind HTTPS with mutual
 * TLS (src/server, docs/api.md).
 *
 * The operator starting it must be able to open the workspace (and, for
 * --broker, its keyring: SEALTRAIN_PASSPHRASE_FILE or the configured
 * protection). When principals exist, --as/--key must name an admin: the
 * server is the workspace's front door.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

static void serve_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain serve [--listen HOST:PORT] [--broker] "
            "[--ready-file FILE]\n"
            "                       [--rate N] [--burst N] [--principal-rate "
            "N] [--principal-burst N]\n"
            "                       [--max-conns N] [--max-conns-per-ip N] "
            "[--max-body BYTES]\n"
            "                       [--max-headers BYTES] [--timeout S] "
            "[--drain S]\n"
            "                       [--workers N] [--jobs N] [--runner-as NAME "
            "--runner-key PEM]\n"
            "                       [--uploads] [--max-upload BYTES] "
            "[--max-upload-inflight BYTES]\n"
            "                       [--upload-ttl S]\n\n"
            "Serves the workspace's /v1 API over HTTPS (TLS 1.3 only) with "
            "client\ncertificates from the workspace CA (`sealtrain principal "
            "cert NAME`).\nDefault --listen 127.0.0.1:8443 (loopback). "
            "--broker serves only the\nattestation-gated key release "
            "(/v1/broker/...) and /v1/healthz.\nThe server certificate is "
            "<workspace>/keys/tls/server.crt, signed by ca.crt.\nSIGTERM/"
            "SIGINT: stop accepting, finish requests (at most --drain "
            "seconds).\n--workers N (default 4): key-release threads, each "
            "with its own catalog\nconnection and keyring (0: all on the "
            "event loop).\n--jobs N (default 1): queued jobs run at a time, "
            "each as `sealtrain job run`\nby principal --runner-as (a "
            "trainer) with --runner-key; on SIGTERM they get\n--drain "
            "seconds to finish, then checkpoint and stop (resumable).\n"
            "--uploads: take client-encrypted datasets at /v1/uploads (opens "
            "the\nkeyring: the owner's KEK wraps each upload's file key); "
            "--max-upload\n(4 GiB) per upload, --max-upload-inflight (16 GiB) "
            "over open uploads,\n--upload-ttl (86400 s) before an idle upload "
            "is removed. See docs/api.md.\n");
}

static int num(const char *opt, const char *v, double lo, double hi,
               double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || d < lo || d > hi)
        return st_cli_usage("serve",
                            "%s: \"%s\" must be a number in "
                            "%g..%g",
                            opt, v, lo, hi);
    *out = d;
    return 0;
}

int st_cli_serve(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"broker", no_argument, NULL, 'b'},
        {"ready-file", required_argument, NULL, 'r'},
        {"rate", required_argument, NULL, 1},
        {"burst", required_argument, NULL, 2},
        {"principal-rate", required_argument, NULL, 3},
        {"principal-burst", required_argument, NULL, 4},
        {"max-conns", required_argument, NULL, 5},
        {"max-conns-per-ip", required_argument, NULL, 6},
        {"max-body", required_argument, NULL, 7},
        {"max-headers", required_argument, NULL, 8},
        {"timeout", required_argument, NULL, 9},
        {"drain", required_argument, NULL, 10},
        {"workers", required_argument, NULL, 11},
        {"jobs", required_argument, NULL, 12},
        {"runner-as", required_argument, NULL, 13},
        {"runner-key", required_argument, NULL, 14},
        {"max-upload", required_argument, NULL, 15},
        {"max-upload-inflight", required_argument, NULL, 16},
        {"upload-ttl", required_argument, NULL, 17},
        {"uploads", no_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    st_server_opts o;
    st_server_opts_default(&o);
    int c, rc = 0;
    double d = 0;
    while ((c = getopt_long(argc, argv, "l:br:h", opts, NULL)) != -1) {
        const char *name = c > 0 && c <= 17 ? opts[c + 2].name : "";
        switch (c) {
        case 'l': o.listen = optarg; break;
        case 'b': o.broker = 1; break;
        case 'r': o.ready_file = optarg; break;
        case 'h': serve_usage(stdout); return 0;
        case 1:
        case 2:
        case 3:
        case 4:
            if ((rc = num(name, optarg, 0.001, 1e6, &d)))
                return rc;
            if (c == 1)
                o.ip_rate = d;
            if (c == 2)
                o.ip_burst = d;
            if (c == 3)
                o.principal_rate = d;
            if (c == 4)
                o.principal_burst = d;
            break;
        case 5:
        case 6:
        case 7:
        case 8:
        case 9:
        case 10:
            if ((rc = num(name, optarg, 1, 1e10, &d)))
                return rc;
            if (c == 5)
                o.max_conns = (unsigned)d;
            if (c == 6)
                o.max_conns_per_ip = (unsigned)d;
            if (c == 7)
                o.max_body = (size_t)d;
            if (c == 8)
                o.max_headers = (size_t)d;
            if (c == 9)
                o.timeout_s = (int)d;
            if (c == 10)
                o.drain_s = (int)d;
            break;
        case 11:
            if ((rc = num(name, optarg, 0, 64, &d)))
                return rc;
            o.workers = (unsigned)d;
            break;
        case 12:
            if ((rc = num(name, optarg, 0, 64, &d)))
                return rc;
            o.jobs = (unsigned)d;
            break;
        case 13: o.runner_as = optarg; break;
        case 14: o.runner_key = optarg; break;
        case 'u': o.uploads = 1; break;
        case 15:
        case 16:
        case 17:
            if ((rc = num(name, optarg, 1, 1e15, &d)))
                return rc;
            if (c == 15)
                o.max_upload = (uint64_t)d;
            if (c == 16)
                o.max_upload_inflight = (uint64_t)d;
            if (c == 17)
                o.upload_ttl_s = (uint64_t)d;
            break;
        default: serve_usage(stderr); return 2;
        }
    }
    if (optind != argc)
        return st_cli_usage("serve", "unexpected argument \"%s\"",
                            argv[optind]);
    /* without a runner of its own, jobs run as the serving principal
     * (which then needs the trainer role, else the runner stays off) */
    if (!o.runner_as && !o.runner_key) {
        o.runner_as = cli->as;
        o.runner_key = cli->key;
    }
    if (!o.runner_as != !o.runner_key)
        return st_cli_usage("serve", "--runner-as and --runner-key go "
                                     "together");
    /* a daemon says where it listens and logs each request (info) unless
     * the operator chose a level */
    if (!cli->log_level_set)
        st_log_configure(ST_LOG_INFO,
                         cli->log_json ? ST_LOG_JSON : ST_LOG_HUMAN, NULL);
    st_workspace *ws = NULL;
    st_access_session s;
    if ((rc = st_cli_open(cli, &ws, &s)))
        return rc;
    st_err err;
    st_err_clear(&err);
    st_keyring *kr = NULL;
    st_code code = st_access_check(ws, st_cli_principal(&s), "principal.admin",
                                   "server", &err);
    if (code == ST_OK && (o.broker || o.uploads))
        code = st_keyring_open(ws, &kr, &err);
    if (code == ST_OK)
        code = st_server_run(ws, kr, &o, &err);
    st_keyring_close(kr);
    st_workspace_close(ws);
    return code == ST_OK ? 0 : st_cli_fail(&err);
}
