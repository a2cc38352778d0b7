/*
 * cmd_doctor.c: `sealtrain doctor [--json]`: hardware and OS check. Each
 * line: found / missing / unknown, what was seen, what it means. It
 * reports only what it detected (src/core/doctor.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

int st_cli_doctor(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int json = cli->json, c;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h':
            printf("usage: sealtrain doctor [--json]\n\n"
                   "Checks TEE guest support (SEV-SNP, TDX, configfs-tsm), "
                   "TPM, memory\nencryption, CPU features, user namespaces, "
                   "seccomp, Landlock, cgroup v2,\nRLIMIT_MEMLOCK and the "
                   "secure-memory mode. Each line says found, missing\nor "
                   "unknown and what it means for security. Exit status 0.\n");
            return 0;
        default: return st_cli_usage("doctor", "unknown option");
        }
    }
    if (optind < argc)
        return st_cli_usage("doctor", "unexpected argument \"%s\"",
                            argv[optind]);
    st_doctor_report r;
    st_doctor_run(&r);
    if (json) {
        json_t *j = st_doctor_report_json(&r);
        char *s = j ? st_json_dumps(j, JSON_INDENT(2)) : NULL;
        json_decref(j);
        if (!s)
            return 5;
        printf("%s\n", s);
        free(s);
        return 0;
    }
    for (size_t i = 0; i < r.n; i++) {
        const st_doctor_check *k = &r.checks[i];
        printf("%-24s %-8s %s\n%24s -> %s\n", k->name,
               st_doctor_status_name(k->status), k->detail, "", k->meaning);
    }
    return 0;
}
