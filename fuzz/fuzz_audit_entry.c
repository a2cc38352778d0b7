/*
 * fuzz_audit_entry.c: the audit entry parser (src/audit/entry.c) on
 * arbitrary bytes. Properties: no crash or out-of-bounds read; every view
 * it returns lies inside the input; and it is never laxer than jansson:
 * whatever it accepts, jansson parses too (it is stricter on whitespace,
 * nesting depth and keys, never looser).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/audit.h"

static void inside(const st_audit_view *v, const char *p, size_t n)
{
    if (v->len && (v->p < p || v->p + v->len > p + n))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy so ASan sees any read past the end */
    char *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    st_audit_entry e;
    st_err err;
    if (st_audit_entry_parse(p, size, &e, &err) == ST_OK) {
        inside(&e.time, p, size);
        inside(&e.category, p, size);
        inside(&e.actor, p, size);
        inside(&e.action, p, size);
        inside(&e.resource, p, size);
        inside(&e.outcome, p, size);
        inside(&e.reason, p, size);
        inside(&e.details, p, size);
        json_error_t je;
        json_t *v = json_loadb(p, size, 0, &je);
        if (!v)
            abort();
        json_decref(v);
    }
    free(p);
    return 0;
}
