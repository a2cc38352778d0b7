/*
 * cmd_identity.c: `sealtrain identity new NAME --out DIR`: a new age
 * X25519 identity (age-keygen format) and Ed25519 signing key; prints the
 * public halves only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

static void identity_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain identity new NAME --out DIR [--json]\n\n"
            "Writes DIR/NAME.age (age X25519 identity, the same format as "
            "age-keygen;\n0600), DIR/NAME.pem (Ed25519 private key, PKCS#8 "
            "PEM, 0600) and\nDIR/NAME.pub.pem (its public key), and prints "
            "the age recipient and the\nsigning key's public half and key "
            "id. Never overwrites existing files.\n");
}

int st_cli_identity(st_cli *cli, int argc, char **argv)
{
    if (argc < 2 || st_cli_wants_help(argc, argv)) {
        identity_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "new") != 0)
        return st_cli_usage("identity", "unknown subcommand \"%s\"", argv[1]);
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    const char *outdir = NULL;
    int json = cli->json, c;
    argc--;
    argv++;
    optind = 0;
    while ((c = getopt_long(argc, argv, "o:j", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outdir = optarg; break;
        case 'j': json = 1; break;
        default: return st_cli_usage("identity", "unknown option");
        }
    }
    if (optind >= argc)
        return st_cli_usage("identity", "new needs a NAME");
    if (optind + 1 < argc)
        return st_cli_usage("identity", "unexpected argument \"%s\"",
                            argv[optind + 1]);
    if (!outdir)
        return st_cli_usage("identity", "new needs --out DIR");
    st_err err;
    st_err_clear(&err);
    st_identity_info info;
    if (st_identity_new(argv[optind], outdir, &info, &err))
        return st_cli_fail(&err);
    if (json) {
        json_t *j = json_pack(
            "{s:s,s:s,s:s,s:s,s:s,s:s}", "age_recipient", info.recipient,
            "ed25519_keyid", info.keyid, "ed25519_public_pem", info.public_pem,
            "age_identity_file", info.age_path, "signing_key_file",
            info.key_path, "public_key_file", info.pub_path);
        char *s = j ? st_json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        printf("age recipient: %s\n", info.recipient);
        printf("ed25519 key id: %s\n%s", info.keyid, info.public_pem);
        if (!cli->quiet)
            fprintf(stderr, "wrote %s, %s (secret, 0600) and %s\n",
                    info.age_path, info.key_path, info.pub_path);
    }
    st_identity_info_clear(&info);
    return 0;
}
