/*
 * fuzz_audit_checkpoint.c: the signed-note opener, the verifier-key parser and
 * the tlog-checkpoint parser (src/audit/note.c) on arbitrary bytes. The
 * first line of the input is used as a verifier key, the rest as a note;
 * the whole input is also parsed as checkpoint text. Properties: no crash,
 * no out-of-bounds read, and an opened note's text length lies inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "sealtrain/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size + 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    p[size] = 0;
    st_audit_checkpoint_body cp;
    st_err err;
    (void)st_audit_checkpoint_parse(p, size, &cp, &err);

    char *nl = memchr(p, '\n', size);
    if (nl) {
        size_t klen = (size_t)(nl - p);
        char *vkey = strndup(p, klen);
        const char *note = nl + 1;
        size_t nlen = size - klen - 1;
        char *copy = malloc(nlen ? nlen : 1);
        if (vkey && copy) {
            memcpy(copy, note, nlen);
            char *name = NULL;
            uint8_t pub[32];
            if (st_audit_note_vkey_parse(vkey, &name, pub, &err) == ST_OK) {
                /* a parsed key prints as a key that parses back to the
                 * same name and public key */
                char *again = st_audit_note_vkey(name, pub), *name2 = NULL;
                uint8_t pub2[32];
                if (!again ||
                    st_audit_note_vkey_parse(again, &name2, pub2, &err) !=
                        ST_OK ||
                    strcmp(name, name2) != 0 || memcmp(pub, pub2, 32) != 0)
                    abort();
                free(again);
                free(name2);
            }
            free(name);
            size_t tlen = 0;
            if (st_audit_note_open(copy, nlen, vkey, &tlen, &err) == ST_OK &&
                tlen > nlen)
                abort();
        }
        free(vkey);
        free(copy);
    }
    free(p);
    return 0;
}
