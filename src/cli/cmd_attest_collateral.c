/*
 * cmd_attest_collateral.c: `sealtrain attest collateral import BUNDLE |
 * list | show DIGEST | rm DIGEST`: the workspace's offline collateral
 * bundles (docs/attestation.md, "Offline collateral"), which `attest
 * verify` and the key broker use for what evidence does not carry.
 *
 * Reached from `sealtrain attest` (cmd_attest.c) with argv[0] ==
 * "collateral". import and rm need "attest.collateral" (admins); list and
 * show "attest.collateral.read".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

#define MAX_BUNDLE_FILE (32u << 20)

static void collateral_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain attest collateral import BUNDLE\n"
            "       sealtrain attest collateral list [--json]\n"
            "       sealtrain attest collateral show DIGEST [--json]\n"
            "       sealtrain attest collateral rm DIGEST\n\n"
            "An offline collateral bundle holds AMD KDS and Intel PCS "
            "documents (VCEK/VLEK,\nASK/ASVK/ARK, CRLs; TCB Info, QE "
            "Identity, the TCB signing chain, PCK and root\nCA CRLs). The "
            "importing admin signs it (--key); `attest verify` and the key\n"
            "broker use it for what evidence does not carry, and still "
            "check every document\nup to the pinned roots. DIGEST: the "
            "bundle's sha256, or 8+ leading hex digits.\n"
            "Format: docs/attestation.md (\"Offline collateral\").\n");
}

static void when(int64_t t, char out[ST_TIME_LEN])
{
    if (t > 0)
        st_time_format((time_t)t, out);
    else
        snprintf(out, ST_TIME_LEN, "-");
}

static json_t *entry_json(const st_collateral_entry *e)
{
    char stale[ST_TIME_LEN];
    when(e->stale_at, stale);
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "digest", e->digest,
                     "signer", e->signer, "imported_by", e->imported_by,
                     "imported_at", e->imported_at, "documents",
                     (json_int_t)e->documents, "stale_at", stale,
                     "stale_document", e->stale_doc);
}

static void print_json(json_t *j)
{
    char *s = j ? st_json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

static st_code do_import(st_cli *cli, st_workspace *ws, const char *actor,
                         const char *file, st_err *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    uint8_t *seed = NULL;
    st_collateral_entry e;
    st_code rc = st_fs_read_all(file, MAX_BUNDLE_FILE, &text, &len, err);
    /* the acting admin's key signs a plain bundle; an envelope already
     * carries its signer's signature */
    if (rc == ST_OK && cli->key && !(seed = st_secmem_alloc(32, err)))
        rc = err->code;
    if (rc == ST_OK && seed)
        rc = st_ed25519_load_private_pem(cli->key, seed, err);
    if (rc == ST_OK)
        rc = st_collateral_import(ws, actor, (const char *)text, len, file,
                                  seed, &e, err);
    st_secmem_free(seed);
    free(text);
    if (rc == ST_OK && !cli->quiet) {
        char stale[ST_TIME_LEN];
        when(e.stale_at, stale);
        printf("imported collateral bundle sha256:%s\n  %lld documents, "
               "signed by %s; first stale %s: %s\n",
               e.digest, (long long)e.documents, e.signer, stale,
               e.stale_doc[0] ? e.stale_doc : "-");
    }
    return rc;
}

static st_code do_list(st_workspace *ws, int json, st_err *err)
{
    st_collateral_entry *rows = NULL;
    size_t n = 0;
    st_code rc = st_collateral_list(ws, &rows, &n, err);
    if (rc == ST_OK && json) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
            json_array_append_new(a, entry_json(&rows[i]));
        print_json(a);
    } else if (rc == ST_OK) {
        printf("%-18s %5s %-16s %-20s %s\n", "DIGEST", "DOCS", "SIGNER",
               "IMPORTED", "FIRST STALE");
        for (size_t i = 0; i < n; i++) {
            char stale[ST_TIME_LEN];
            when(rows[i].stale_at, stale);
            printf("%-18.16s %5lld %-16s %-20s %s %s\n", rows[i].digest,
                   (long long)rows[i].documents, rows[i].signer,
                   rows[i].imported_at, stale, rows[i].stale_doc);
        }
    }
    free(rows);
    return rc;
}

static st_code do_show(st_workspace *ws, const char *digest, int json,
                       st_err *err)
{
    st_collateral_entry e;
    st_collateral_bundle *b = NULL;
    st_code rc = st_collateral_get(ws, digest, &e, &b, err);
    json_t *docs = rc == ST_OK ? st_collateral_bundle_describe(b) : NULL;
    if (rc == ST_OK && !docs)
        rc = st_err_set(err, ST_E_IO, "out of memory");
    if (rc == ST_OK && json) {
        json_t *o = entry_json(&e);
        if (o)
            json_object_set(o, "documents_list", docs);
        print_json(o);
    } else if (rc == ST_OK) {
        char stale[ST_TIME_LEN];
        when(e.stale_at, stale);
        printf("bundle sha256:%s\nsigned by %s, imported by %s at %s "
               "(signature verified)\nfirst stale %s: %s\ndocuments:\n",
               e.digest, e.signer, e.imported_by, e.imported_at, stale,
               e.stale_doc);
        size_t i;
        json_t *d;
        json_array_foreach(docs, i, d)
        {
            char iss[ST_TIME_LEN], nxt[ST_TIME_LEN];
            when(json_integer_value(json_object_get(d, "issued")), iss);
            when(json_integer_value(json_object_get(d, "next_update")), nxt);
            printf("  [%zu] %-18s %s\n        issued %s, stale %s\n", i,
                   json_string_value(json_object_get(d, "kind")),
                   json_string_value(json_object_get(d, "name")), iss, nxt);
        }
    }
    json_decref(docs);
    st_collateral_bundle_free(b);
    return rc;
}

int st_cli_attest_collateral(st_cli *cli, int argc, char **argv)
{
    int json = cli->json;
    optind = 0;
    int status =
        st_cli_json_options(argc, argv, "attest", "collateral: unknown option",
                            collateral_usage, &json);
    if (status >= 0)
        return status;
    int n = argc - optind;
    char **a = argv + optind;
    const char *sub = n ? a[0] : "";
    int want =
        !strcmp(sub, "list") ? 1
        : (!strcmp(sub, "import") || !strcmp(sub, "show") || !strcmp(sub, "rm"))
            ? 2
            : 0;
    if (!want || n != want)
        return st_cli_usage("attest", "collateral import BUNDLE | list | "
                                      "show DIGEST | rm DIGEST");
    int writes = !strcmp(sub, "import") || !strcmp(sub, "rm");
    st_workspace *ws = NULL;
    st_access_session who;
    status = st_cli_open_checked(
        cli, writes ? "attest.collateral" : "attest.collateral.read", NULL, &ws,
        &who);
    if (status)
        return status;
    st_err err;
    st_err_clear(&err);
    const char *actor = who.bootstrap ? "local" : who.name;
    st_code rc;
    if (!strcmp(sub, "import"))
        rc = do_import(cli, ws, actor, a[1], &err);
    else if (!strcmp(sub, "list"))
        rc = do_list(ws, json, &err);
    else if (!strcmp(sub, "show"))
        rc = do_show(ws, a[1], json, &err);
    else {
        rc = st_collateral_rm(ws, actor, a[1], &err);
        if (rc == ST_OK && !cli->quiet)
            printf("removed collateral bundle %s\n", a[1]);
    }
    st_workspace_close(ws);
    return rc == ST_OK ? 0 : st_cli_fail(&err);
}
