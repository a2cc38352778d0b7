/*
 * cmd_principal_cert.c: `sealtrain principal cert NAME --out DIR [--days N]`:
 * a client certificate from the workspace CA for `sealtrain serve`
 * (include/sealtrain/server.h). The certificate carries NAME's registered
 * Ed25519 signing key, so the client uses the same key file as --key.
 * Needs principal.admin.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

static void cert_usage(FILE *out)
{
    fprintf(out, "usage: sealtrain principal cert NAME --out DIR [--days N]\n\n"
                 "Issues DIR/NAME.crt (valid N days, default 90) for NAME's "
                 "registered\nsigning key from the workspace CA and writes "
                 "DIR/ca.crt (to verify the\nserver); DIR is created when "
                 "missing. Use them with the "
                 "principal's own key file, e.g.\n  curl --cacert DIR/ca.crt "
                 "--cert DIR/NAME.crt --key NAME.pem https://...\n");
}

/* mkdir -p: the certificates are public (0755 like any `mkdir -p`). */
static st_code make_dirs(const char *dir, st_err *err)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(p))
        return st_err_set(err, ST_E_USAGE, "--out: bad directory");
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char was = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return st_err_errno(err, ST_E_IO, errno, "creating %s", p);
        p[i] = was;
    }
    return ST_OK;
}

int st_cli_principal_cert(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"days", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    unsigned long days = 90;
    int c;
    while ((c = getopt_long(argc, argv, "o:d:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o': dir = optarg; break;
        case 'd':
            days = strtoul(optarg, &end, 10);
            if (!*optarg || *end || days < 1 || days > 3650)
                return st_cli_usage("principal", "--days must be 1..3650");
            break;
        case 'h': cert_usage(stdout); return 0;
        default: cert_usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc || !dir)
        return st_cli_usage("principal", "cert needs NAME and --out DIR");
    const char *name = argv[optind];
    st_workspace *ws = NULL;
    st_access_session s;
    int rc = st_cli_open(cli, &ws, &s);
    if (rc)
        return rc;
    st_err err;
    st_err_clear(&err);
    char res[128];
    snprintf(res, sizeof(res), "principal:%s", name);
    st_code code =
        st_access_check(ws, st_cli_principal(&s), "principal.admin", res, &err);
    if (code == ST_OK)
        code = make_dirs(dir, &err);
    if (code == ST_OK)
        code = st_server_cert_issue(ws, name, dir, (unsigned)days, &err);
    if (code == ST_OK) {
        st_audit_event ev = {"security",
                             s.bootstrap ? "system" : s.name,
                             "principal.cert",
                             res,
                             "success",
                             "client certificate issued",
                             NULL};
        code = st_audit_append(ws, &ev, &err);
    }
    st_workspace_close(ws);
    if (code != ST_OK)
        return st_cli_fail(&err);
    if (!cli->quiet)
        printf("%s/%s.crt\n", dir, name);
    return 0;
}
