/*
 * verify.c: reading and verifying an audit directory: every entry's syntax,
 * its seq (index) and prev (hash of the entry before), the RFC 9162 tree
 * over all entries, every stored checkpoint's signed-note signature and
 * that its root equals the tree at its size; plus proof documents.
 *
 * What each check pins down: a changed entry breaks the next entry's prev
 * link (so the changed index is named) and the root of every later
 * checkpoint; a removed or reordered entry breaks the seq run; a truncated
 * log is shorter than a signed checkpoint; a torn last line is an append
 * that was never acknowledged. An attacker who rewrites the whole tail
 * after the last checkpoint is caught only by a later checkpoint or by a
 * third party holding one: that is why `check` wants recent checkpoints.
 *
 * Verification only reads; it never repairs (see st_audit_log_repair).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit_internal.h"
#include "sealtrain/bytes.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

st_code st_audit_checkpoint_list(const char *dir, uint64_t **sizes, size_t *n,
                                 st_err *err)
{
    char cdir[PATH_MAX];
    *sizes = NULL;
    *n = 0;
    if (st_fs_join(cdir, sizeof(cdir), dir, ST_AUDIT_CP_DIR, err))
        return err ? err->code : ST_E_INTERNAL;
    DIR *d = opendir(cdir);
    if (!d) {
        if (errno == ENOENT)
            return ST_OK;
        return st_err_errno(err, ST_E_IO, errno, "listing %s", cdir);
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        size_t l = strlen(nm);
        if (l != 25 || strcmp(nm + 20, ".note") != 0)
            continue;
        uint64_t v = 0;
        int ok = 1;
        for (size_t i = 0; i < 20; i++) {
            if (nm[i] < '0' || nm[i] > '9')
                ok = 0;
            else
                v = v * 10 + (uint64_t)(nm[i] - '0');
        }
        if (!ok)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *s2 = realloc(*sizes, cap * sizeof(uint64_t));
            if (!s2) {
                closedir(d);
                free(*sizes);
                *sizes = NULL;
                return st_err_set(err, ST_E_IO, "out of memory");
            }
            *sizes = s2;
        }
        (*sizes)[(*n)++] = v;
    }
    closedir(d);
    if (*n)
        qsort(*sizes, *n, sizeof(uint64_t), cmp_u64);
    return ST_OK;
}

st_code st_audit_checkpoint_read(const char *dir, uint64_t size, char **note,
                                 size_t *len, st_err *err)
{
    char name[64], path[PATH_MAX];
    snprintf(name, sizeof(name), ST_AUDIT_CP_DIR "/%020llu.note",
             (unsigned long long)size);
    if (st_fs_join(path, sizeof(path), dir, name, err))
        return err ? err->code : ST_E_INTERNAL;
    unsigned char *b;
    if (st_fs_read_all(path, 1 << 20, &b, len, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    *note = (char *)b;
    return ST_OK;
}

st_code st_audit_latest_checkpoint(const char *dir, char **note, uint64_t *size,
                                   st_err *err)
{
    uint64_t *sizes;
    size_t n, len;
    *note = NULL;
    *size = 0;
    if (st_audit_checkpoint_list(dir, &sizes, &n, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    st_code rc = ST_OK;
    if (n) {
        *size = sizes[n - 1];
        rc = st_audit_checkpoint_read(dir, sizes[n - 1], note, &len, err);
    }
    free(sizes);
    return rc;
}

st_code st_audit_verifier_key(const char *dir, char **vkey, st_err *err)
{
    char path[PATH_MAX];
    unsigned char *b;
    size_t len;
    if (st_fs_join(path, sizeof(path), dir, ST_AUDIT_VKEY_FILE, err))
        return err ? err->code : ST_E_INTERNAL;
    if (st_fs_read_all(path, 4096, &b, &len, err) != ST_OK)
        return st_err_prefix(err, "the audit log's verifier key");
    while (len && (b[len - 1] == '\n' || b[len - 1] == '\r'))
        b[--len] = 0;
    *vkey = (char *)b;
    return ST_OK;
}

/* The log file mapped read-only (NULL data for an empty file). */
typedef struct mapped {
    const char *data;
    size_t len;
} mapped;

static ST_MUST_CHECK st_code map_log(const char *dir, mapped *m, st_err *err)
{
    char path[PATH_MAX];
    m->data = NULL;
    m->len = 0;
    if (st_fs_join(path, sizeof(path), dir, ST_AUDIT_LOG_FILE, err))
        return err ? err->code : ST_E_INTERNAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return ST_OK;
        return st_err_errno(err, ST_E_IO, errno, "opening %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return st_err_errno(err, ST_E_IO, errno, "reading %s", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return st_err_errno(err, ST_E_IO, errno, "mapping %s", path);
        }
        madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
        m->data = p;
        m->len = (size_t)st.st_size;
    }
    close(fd);
    return ST_OK;
}

static void unmap_log(mapped *m)
{
    if (m->data)
        munmap((void *)m->data, m->len);
}

st_code st_audit_read(const char *dir, st_audit_visit_fn fn, void *ctx,
                      st_err *err)
{
    mapped m;
    if (map_log(dir, &m, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    size_t off = 0;
    uint64_t i = 0;
    while (off < m.len) {
        const char *nl = memchr(m.data + off, '\n', m.len - off);
        if (!nl)
            break; /* a torn tail is not an entry */
        size_t l = (size_t)(nl - (m.data + off));
        if (fn(ctx, i++, m.data + off, l))
            break;
        off += l + 1;
    }
    unmap_log(&m);
    return ST_OK;
}

st_code st_audit_leaf_hashes(const char *dir, uint8_t (**leaves)[32],
                             uint64_t *n, st_err *err)
{
    mapped m;
    *leaves = NULL;
    *n = 0;
    if (map_log(dir, &m, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    size_t lines = 0;
    for (size_t off = 0; off < m.len; off++)
        lines += m.data[off] == '\n';
    st_audit_hasher *h = st_audit_hasher_new();
    uint8_t(*l)[32] = malloc((lines ? lines : 1) * 32);
    if (!l || !h) {
        free(l);
        st_audit_hasher_free(h);
        unmap_log(&m);
        return st_err_set(err, ST_E_IO, "audit log: out of memory");
    }
    size_t off = 0, i = 0;
    while (i < lines) {
        const char *nl = memchr(m.data + off, '\n', m.len - off);
        size_t len = (size_t)(nl - (m.data + off));
        st_audit_hasher_leaf(h, m.data + off, len, l[i++]);
        off += len + 1;
    }
    st_audit_hasher_free(h);
    unmap_log(&m);
    *leaves = l;
    *n = lines;
    return ST_OK;
}

/* ---- verification ---- */

typedef struct cp_info {
    uint64_t size;
    uint8_t root[32];
    long long time;
} cp_info;

static void problem(st_audit_report *rep, uint64_t index, const char *kind,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void problem(st_audit_report *rep, uint64_t index, const char *kind,
                    const char *fmt, ...)
{
    if (rep->nproblems < sizeof(rep->problems) / sizeof(rep->problems[0])) {
        st_audit_problem *p = &rep->problems[rep->nproblems];
        p->index = index;
        snprintf(p->kind, sizeof(p->kind), "%s", kind);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
        va_end(ap);
    }
    rep->nproblems++;
}

static ST_MUST_CHECK st_code load_checkpoints(const char *dir, const char *vkey,
                                              const char *name,
                                              st_audit_report *rep,
                                              cp_info **out, size_t *nout,
                                              st_err *err)
{
    uint64_t *sizes;
    size_t n;
    *out = NULL;
    *nout = 0;
    if (st_audit_checkpoint_list(dir, &sizes, &n, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    cp_info *cps = calloc(n ? n : 1, sizeof(cp_info));
    if (!cps) {
        free(sizes);
        return st_err_set(err, ST_E_IO, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char *note = NULL;
        size_t len = 0, tlen = 0;
        st_err e;
        st_audit_checkpoint_body body;
        if (st_audit_checkpoint_read(dir, sizes[i], &note, &len, &e) != ST_OK ||
            st_audit_note_open(note, len, vkey, &tlen, &e) != ST_OK ||
            st_audit_checkpoint_parse(note, tlen, &body, &e) != ST_OK) {
            problem(rep, sizes[i], "checkpoint", "checkpoint %llu: %s",
                    (unsigned long long)sizes[i], e.msg);
        } else if (strcmp(body.origin, name) != 0) {
            problem(rep, sizes[i], "checkpoint",
                    "checkpoint %llu: origin \"%s\" is not this log (%s)",
                    (unsigned long long)sizes[i], body.origin, name);
        } else if (body.size != sizes[i]) {
            problem(rep, sizes[i], "checkpoint",
                    "checkpoint file %llu holds a checkpoint of size %llu",
                    (unsigned long long)sizes[i],
                    (unsigned long long)body.size);
        } else {
            cps[k].size = body.size;
            memcpy(cps[k].root, body.root, 32);
            cps[k].time = body.time;
            k++;
            rep->checkpoints++;
            rep->last_checkpoint_size = body.size;
            rep->last_checkpoint_time = body.time;
        }
        free(note);
    }
    free(sizes);
    *out = cps;
    *nout = k;
    return ST_OK;
}

/* 1 if the line starting at p (up to end) parses with seq == want. */
static int next_seq_is(const char *p, const char *end, uint64_t want)
{
    if (p >= end)
        return 0;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    st_audit_entry e;
    return nl && st_audit_entry_parse(p, (size_t)(nl - p), &e, NULL) == ST_OK &&
           e.seq == want;
}

st_code st_audit_verify(const char *dir, const char *vkey, st_audit_report *rep,
                        st_err *err)
{
    memset(rep, 0, sizeof(*rep));
    char *own = NULL, *name = NULL;
    uint8_t pub[32];
    if (!vkey) {
        if (st_audit_verifier_key(dir, &own, err) != ST_OK)
            return err ? err->code : ST_E_IO;
        vkey = own;
    }
    cp_info *cps = NULL;
    size_t ncp = 0, ci = 0;
    mapped m = {0};
    st_audit_hasher *h = NULL;
    st_code rc = st_audit_note_vkey_parse(vkey, &name, pub, err);
    if (rc == ST_OK)
        rc = load_checkpoints(dir, vkey, name, rep, &cps, &ncp, err);
    if (rc == ST_OK)
        rc = map_log(dir, &m, err);
    if (rc != ST_OK)
        goto out;
    h = st_audit_hasher_new();
    st_audit_frontier *fr = calloc(1, sizeof(*fr));
    if (!h || !fr) {
        free(fr);
        rc = st_err_set(err, ST_E_IO, "out of memory");
        goto out;
    }
    uint8_t last[32] = {0}, root[32];
    uint64_t expect = 0;
    int chain_ok = 1; /* the previous entry parsed and was in sequence */
    size_t off = 0;
    for (; ci < ncp && cps[ci].size == 0; ci++) {
        st_audit_frontier_root(fr, h, root);
        if (memcmp(root, cps[ci].root, 32))
            problem(rep, 0, "checkpoint",
                    "checkpoint 0: root is not the empty tree's");
    }
    while (off < m.len) {
        const char *line = m.data + off;
        const char *nl = memchr(line, '\n', m.len - off);
        uint64_t i = fr->size;
        if (!nl) {
            problem(rep, i, "torn",
                    "entry %llu is incomplete (%zu bytes without a newline): "
                    "an append that was never acknowledged; `sealtrain audit "
                    "repair` cuts it off",
                    (unsigned long long)i, m.len - off);
            break;
        }
        size_t len = (size_t)(nl - line);
        st_audit_entry e;
        st_err pe;
        int cur_ok = 0;
        if (st_audit_entry_parse(line, len, &e, &pe) != ST_OK) {
            problem(rep, i, "malformed", "entry %llu is malformed: %s",
                    (unsigned long long)i, pe.msg);
        } else if (e.seq > expect &&
                   next_seq_is(nl + 1, m.data + m.len, expect)) {
            /* the entry that belongs here comes next: swapped, not lost */
            problem(rep, i, "reordered",
                    "line %llu holds entry %llu and the next line entry "
                    "%llu: entries were reordered",
                    (unsigned long long)i + 1, (unsigned long long)e.seq,
                    (unsigned long long)expect);
            expect = e.seq + 1;
        } else if (e.seq > expect) {
            problem(rep, i, "removed",
                    "entries %llu to %llu are missing: line %llu holds entry "
                    "%llu",
                    (unsigned long long)expect, (unsigned long long)e.seq - 1,
                    (unsigned long long)i + 1, (unsigned long long)e.seq);
            expect = e.seq + 1;
        } else if (e.seq < expect) {
            problem(rep, i, "reordered",
                    "line %llu holds entry %llu where entry %llu belongs: "
                    "entries were reordered or duplicated",
                    (unsigned long long)i + 1, (unsigned long long)e.seq,
                    (unsigned long long)expect);
            expect = e.seq + 1;
        } else {
            expect++;
            cur_ok = 1;
            if (chain_ok && memcmp(e.prev, last, 32) != 0) {
                if (i == 0)
                    problem(rep, 0, "modified",
                            "entry 0 does not start the chain (prev is not "
                            "zero)");
                else
                    problem(rep, i - 1, "modified",
                            "entry %llu was modified: its hash no longer "
                            "matches the prev link of entry %llu",
                            (unsigned long long)i - 1, (unsigned long long)i);
            }
        }
        chain_ok = cur_ok;
        st_audit_hasher_leaf(h, line, len, last);
        st_audit_frontier_push(fr, h, last);
        for (; ci < ncp && cps[ci].size == fr->size; ci++) {
            st_audit_frontier_root(fr, h, root);
            if (memcmp(root, cps[ci].root, 32))
                problem(rep, fr->size - 1, "checkpoint",
                        "checkpoint %llu does not match the log: an entry "
                        "below %llu was changed (entry %llu if no earlier "
                        "problem is listed)",
                        (unsigned long long)cps[ci].size,
                        (unsigned long long)cps[ci].size,
                        (unsigned long long)cps[ci].size - 1);
        }
        off += len + 1;
    }
    for (; ci < ncp; ci++)
        problem(rep, fr->size, "truncated",
                "the log is truncated: checkpoint %llu was signed over %llu "
                "entries but the log holds %llu",
                (unsigned long long)cps[ci].size,
                (unsigned long long)cps[ci].size, (unsigned long long)fr->size);
    if (st_audit_wal_replay_pending(dir))
        problem(rep, fr->size, "unreplayed",
                "log.wal holds appends from before a system crash that are "
                "not replayed into the log yet; opening the log for writing "
                "(`sealtrain audit repair`) restores them");
    rep->entries = fr->size;
    st_audit_frontier_root(fr, h, rep->root);
    free(fr);
    if (rep->nproblems)
        rc = st_err_set(err, ST_E_DENIED, "audit log verification failed: %s%s",
                        rep->problems[0].msg,
                        rep->nproblems > 1 ? " (and more problems)" : "");
out:
    st_audit_hasher_free(h);
    unmap_log(&m);
    free(cps);
    free(name);
    free(own);
    return rc;
}

/* ---- proof documents ---- */

static ST_MUST_CHECK st_code get_hash(const json_t *o, const char *key,
                                      uint8_t out[32], st_err *err)
{
    const char *s = NULL;
    if (st_json_get_string(o, key, 1, &s, "proof", err) != ST_OK)
        return err ? err->code : ST_E_INPUT;
    uint8_t *raw = NULL;
    size_t n = 0;
    if (st_base64_decode(s, strlen(s), 1, &raw, &n, err) != ST_OK || n != 32) {
        free(raw);
        return st_err_set(err, ST_E_INPUT,
                          "proof: \"%s\" must be base64 of 32 bytes", key);
    }
    memcpy(out, raw, 32);
    free(raw);
    return ST_OK;
}

static ST_MUST_CHECK st_code get_path(const json_t *o, uint8_t (**p)[32],
                                      size_t *n, st_err *err)
{
    json_t *a = json_object_get(o, "proof");
    if (!json_is_array(a) || json_array_size(a) > 64)
        return st_err_set(err, ST_E_INPUT,
                          "proof: \"proof\" must be an array of at most 64 "
                          "hashes");
    *n = json_array_size(a);
    *p = calloc(*n ? *n : 1, 32);
    if (!*p)
        return st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; i < *n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        uint8_t *raw = NULL;
        size_t rl = 0;
        if (!s || st_base64_decode(s, strlen(s), 1, &raw, &rl, err) != ST_OK ||
            rl != 32) {
            free(raw);
            return st_err_set(err, ST_E_INPUT,
                              "proof: hash %zu must be base64 of 32 bytes", i);
        }
        memcpy((*p)[i], raw, 32);
        free(raw);
    }
    return ST_OK;
}

/* A checkpoint note signed by vkey whose origin is the key's name: a log's
 * checkpoints name the log they are for, and a checkpoint of another log
 * under the same key does not vouch for this one (audit verify checks the
 * same). `what` names the note in errors. */
static ST_MUST_CHECK st_code open_checkpoint(const char *note, const char *vkey,
                                             const char *what,
                                             st_audit_checkpoint_body *b,
                                             st_err *err)
{
    size_t tlen;
    char *name = NULL;
    uint8_t pub[32];
    if (st_audit_note_open(note, strlen(note), vkey, &tlen, err) != ST_OK ||
        st_audit_checkpoint_parse(note, tlen, b, err) != ST_OK ||
        st_audit_note_vkey_parse(vkey, &name, pub, err) != ST_OK)
        return st_err_prefix(err, "%s", what);
    st_code rc = ST_OK;
    if (strcmp(b->origin, name) != 0)
        rc = st_err_set(err, ST_E_DENIED,
                        "%s: origin \"%s\" is not the verifier key's log "
                        "(\"%s\")",
                        what, b->origin, name);
    free(name);
    return rc;
}

/* The embedded checkpoint must verify under vkey, name the key's log and
 * be of `size`/`root`. */
static ST_MUST_CHECK st_code check_embedded(const json_t *o, const char *vkey,
                                            uint64_t size,
                                            const uint8_t root[32], st_err *err)
{
    const char *note = NULL;
    if (st_json_get_string(o, "checkpoint", 1, &note, "proof", err) != ST_OK)
        return err ? err->code : ST_E_INPUT;
    st_audit_checkpoint_body b;
    st_code rc = open_checkpoint(note, vkey, "proof: checkpoint", &b, err);
    if (rc != ST_OK)
        return rc;
    if (b.size != size || memcmp(b.root, root, 32) != 0)
        return st_err_set(err, ST_E_DENIED,
                          "proof: the signed checkpoint is of size %llu with "
                          "another root than the proof's",
                          (unsigned long long)b.size);
    return ST_OK;
}

/* A consistency proof's old tree against the checkpoint the auditor kept
 * (`old`, a signed note): same size, same root, or the log forked. */
static ST_MUST_CHECK st_code check_old(const char *old, const char *vkey,
                                       uint64_t size1, const uint8_t root1[32],
                                       st_err *err)
{
    st_audit_checkpoint_body b;
    st_code rc = open_checkpoint(old, vkey, "your checkpoint (--old)", &b, err);
    if (rc != ST_OK)
        return rc;
    if (b.size != size1)
        return st_err_set(err, ST_E_USAGE,
                          "your checkpoint (--old) is of size %llu, the "
                          "proof starts from size %llu: ask for a proof from "
                          "%llu (`audit consistency --from %llu`)",
                          (unsigned long long)b.size, (unsigned long long)size1,
                          (unsigned long long)b.size,
                          (unsigned long long)b.size);
    if (memcmp(b.root, root1, 32) != 0) {
        char *mine = st_base64_encode(b.root, 32, 1);
        char *theirs = st_base64_encode(root1, 32, 1);
        rc = st_err_set(err, ST_E_DENIED,
                        "the log forked: the proof's tree of size %llu has "
                        "root %s, your checkpoint of that size has root %s",
                        (unsigned long long)size1, theirs ? theirs : "?",
                        mine ? mine : "?");
        free(mine);
        free(theirs);
    }
    return rc;
}

st_code st_audit_proof_check(const char *text, size_t len, const char *vkey,
                             const char *old, char *what, size_t whatcap,
                             st_err *err)
{
    if (old && !vkey)
        return st_err_set(err, ST_E_USAGE,
                          "checking against your checkpoint needs the "
                          "verifier key");
    static const char *const inc_keys[] = {
        "type",  "index",      "tree_size", "leaf_hash", "root_hash",
        "proof", "checkpoint", "entry",     NULL};
    static const char *const con_keys[] = {"type",       "size1", "size2",
                                           "root1",      "root2", "proof",
                                           "checkpoint", NULL};
    json_t *o = st_json_parse(text, len, "proof", err);
    if (!o)
        return err ? err->code : ST_E_INPUT;
    st_code rc = ST_OK;
    uint8_t(*p)[32] = NULL;
    size_t n = 0;
    const char *type = NULL;
    if (!json_is_object(o)) {
        rc = st_err_set(err, ST_E_INPUT, "proof: must be a JSON object");
        goto out;
    }
    if ((rc = st_json_get_string(o, "type", 1, &type, "proof", err)))
        goto out;
    if (strcmp(type, "inclusion") == 0) {
        long long idx, size;
        uint8_t leaf[32], root[32];
        if ((rc = st_json_check_keys(o, inc_keys, "proof", err)) ||
            (rc = st_json_get_int(o, "index", 1, 0, INT64_MAX, &idx, "proof",
                                  err)) ||
            (rc = st_json_get_int(o, "tree_size", 1, 1, INT64_MAX, &size,
                                  "proof", err)) ||
            (rc = get_hash(o, "leaf_hash", leaf, err)) ||
            (rc = get_hash(o, "root_hash", root, err)) ||
            (rc = get_path(o, &p, &n, err)))
            goto out;
        const char *entry = NULL;
        if ((rc = st_json_get_string(o, "entry", 0, &entry, "proof", err)))
            goto out;
        if (entry) {
            uint8_t lh[32];
            st_audit_leaf_hash(entry, strlen(entry), lh);
            if (memcmp(lh, leaf, 32) != 0) {
                rc = st_err_set(err, ST_E_DENIED,
                                "proof: the entry's hash is not leaf_hash");
                goto out;
            }
        }
        if ((rc = st_audit_verify_inclusion((uint64_t)idx, (uint64_t)size, leaf,
                                            (const uint8_t(*)[32])p, n, root,
                                            err)))
            goto out;
        if (vkey && (rc = check_embedded(o, vkey, (uint64_t)size, root, err)))
            goto out;
        if (old) {
            rc = st_err_set(err, ST_E_USAGE,
                            "--old applies to consistency proofs; an "
                            "inclusion proof is checked against its own "
                            "signed checkpoint");
            goto out;
        }
        if (what)
            snprintf(what, whatcap,
                     "entry %lld is included in the tree of size %lld%s", idx,
                     size, vkey ? " (signed checkpoint verified)" : "");
    } else if (strcmp(type, "consistency") == 0) {
        long long s1, s2;
        uint8_t r1[32], r2[32];
        if ((rc = st_json_check_keys(o, con_keys, "proof", err)) ||
            (rc = st_json_get_int(o, "size1", 1, 0, INT64_MAX, &s1, "proof",
                                  err)) ||
            (rc = st_json_get_int(o, "size2", 1, 0, INT64_MAX, &s2, "proof",
                                  err)) ||
            (rc = get_hash(o, "root1", r1, err)) ||
            (rc = get_hash(o, "root2", r2, err)) ||
            (rc = get_path(o, &p, &n, err)))
            goto out;
        if ((rc =
                 st_audit_verify_consistency((uint64_t)s1, (uint64_t)s2, r1, r2,
                                             (const uint8_t(*)[32])p, n, err)))
            goto out;
        if (vkey && (rc = check_embedded(o, vkey, (uint64_t)s2, r2, err)))
            goto out;
        if (old && (rc = check_old(old, vkey, (uint64_t)s1, r1, err)))
            goto out;
        if (what) {
            char *b1 = st_base64_encode(r1, 32, 1);
            if (old)
                snprintf(what, whatcap,
                         "the tree of size %lld is a prefix of the tree of "
                         "size %lld%s\nold root (proof):           %s\n"
                         "old root (your checkpoint): %s (equal)",
                         s1, s2, vkey ? " (signed checkpoint verified)" : "",
                         b1 ? b1 : "?", b1 ? b1 : "?");
            else
                snprintf(what, whatcap,
                         "the tree of size %lld is a prefix of the tree of "
                         "size %lld%s\nold root (proof): %s\n"
                         "the old root was not checked against a checkpoint "
                         "you kept (--old CHECKPOINT): a forked log would "
                         "pass",
                         s1, s2, vkey ? " (signed checkpoint verified)" : "",
                         b1 ? b1 : "?");
            free(b1);
        }
    } else {
        rc = st_err_set(err, ST_E_INPUT,
                        "proof: \"type\" must be inclusion or consistency");
    }
out:
    free(p);
    json_decref(o);
    return rc;
}

/* ---- proof documents for `audit prove` / `audit consistency` ---- */

typedef struct line_at {
    uint64_t want;
    char *text;
} line_at;

static int grab_line(void *ctx, uint64_t index, const char *line, size_t len)
{
    line_at *l = ctx;
    if (index != l->want)
        return 0;
    l->text = strndup(line, len);
    return 1;
}

/* The latest checkpoint, verified under the log's own key, and the leaf
 * hashes of the log, checked to extend that checkpoint. */
static ST_MUST_CHECK st_code proof_base(const char *dir, char **note,
                                        st_audit_checkpoint_body *cp,
                                        uint8_t (**leaves)[32], uint64_t *n,
                                        st_err *err)
{
    char *vkey = NULL;
    uint64_t size;
    size_t tlen;
    *note = NULL;
    *leaves = NULL;
    st_code rc = st_audit_latest_checkpoint(dir, note, &size, err);
    if (rc == ST_OK && !*note)
        rc = st_err_set(err, ST_E_NOTFOUND,
                        "the audit log has no checkpoint yet: run `sealtrain "
                        "audit checkpoint`");
    if (rc == ST_OK)
        rc = st_audit_verifier_key(dir, &vkey, err);
    if (rc == ST_OK && (rc = st_audit_note_open(*note, strlen(*note), vkey,
                                                &tlen, err)) == ST_OK)
        rc = st_audit_checkpoint_parse(*note, tlen, cp, err);
    free(vkey);
    if (rc == ST_OK)
        rc = st_audit_leaf_hashes(dir, leaves, n, err);
    if (rc == ST_OK) {
        uint8_t root[32];
        if (*n < cp->size)
            rc = st_err_set(err, ST_E_DENIED,
                            "the log holds %llu entries, fewer than its "
                            "latest checkpoint (%llu): it was truncated",
                            (unsigned long long)*n,
                            (unsigned long long)cp->size);
        else {
            st_audit_tree_root((const uint8_t(*)[32]) * leaves, cp->size, root);
            if (memcmp(root, cp->root, 32) != 0)
                rc = st_err_set(err, ST_E_DENIED,
                                "the log does not match its latest "
                                "checkpoint (size %llu): run `sealtrain "
                                "audit verify`",
                                (unsigned long long)cp->size);
        }
    }
    if (rc != ST_OK) {
        free(*note);
        free(*leaves);
        *note = NULL;
        *leaves = NULL;
    }
    return rc;
}

static json_t *hash_array(const uint8_t (*p)[32], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char *b = st_base64_encode(p[i], 32, 1);
        json_array_append_new(a, json_string(b ? b : ""));
        free(b);
    }
    return a;
}

static json_t *b64_json(const uint8_t h[32])
{
    char *b = st_base64_encode(h, 32, 1);
    json_t *s = json_string(b ? b : "");
    free(b);
    return s;
}

static ST_MUST_CHECK st_code emit(json_t *doc, char **out, st_err *err)
{
    *out = doc ? st_json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    return *out ? ST_OK : st_err_set(err, ST_E_IO, "proof: out of memory");
}

st_code st_audit_prove_inclusion(const char *dir, uint64_t index, char **doc,
                                 st_err *err)
{
    char *note;
    st_audit_checkpoint_body cp;
    uint8_t(*leaves)[32];
    uint64_t n;
    if (proof_base(dir, &note, &cp, &leaves, &n, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    st_code rc = ST_OK;
    uint8_t(*p)[32] = NULL;
    size_t plen = 0;
    line_at l = {index, NULL};
    if (index >= cp.size)
        rc = st_err_set(err, ST_E_NOTFOUND,
                        "entry %llu is not covered by the latest checkpoint "
                        "(size %llu): run `sealtrain audit checkpoint`",
                        (unsigned long long)index, (unsigned long long)cp.size);
    if (rc == ST_OK)
        rc = st_audit_inclusion_proof((const uint8_t(*)[32])leaves, cp.size,
                                      index, &p, &plen, err);
    if (rc == ST_OK)
        rc = st_audit_read(dir, grab_line, &l, err);
    if (rc == ST_OK)
        rc = emit(json_pack("{s:s,s:I,s:I,s:o,s:o,s:o,s:s,s:s?}", "type",
                            "inclusion", "index", (json_int_t)index,
                            "tree_size", (json_int_t)cp.size, "leaf_hash",
                            b64_json(leaves[index]), "root_hash",
                            b64_json(cp.root), "proof",
                            hash_array((const uint8_t(*)[32])p, plen),
                            "checkpoint", note, "entry", l.text),
                  doc, err);
    free(l.text);
    free(p);
    free(leaves);
    free(note);
    return rc;
}

st_code st_audit_prove_consistency(const char *dir, uint64_t from, char **doc,
                                   st_err *err)
{
    char *note;
    st_audit_checkpoint_body cp;
    uint8_t(*leaves)[32];
    uint64_t n;
    if (proof_base(dir, &note, &cp, &leaves, &n, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    st_code rc = ST_OK;
    uint8_t(*p)[32] = NULL, r1[32];
    size_t plen = 0;
    if (from == 0)
        rc = st_err_set(err, ST_E_USAGE,
                        "a consistency proof from size 0 proves nothing "
                        "(every log extends the empty one, and RFC 9162 "
                        "verifiers reject it): give the size of a "
                        "checkpoint you saved (1 or more)");
    else if (from > cp.size)
        rc = st_err_set(err, ST_E_NOTFOUND,
                        "size %llu is larger than the latest checkpoint "
                        "(%llu): run `sealtrain audit checkpoint`",
                        (unsigned long long)from, (unsigned long long)cp.size);
    if (rc == ST_OK)
        rc = st_audit_consistency_proof((const uint8_t(*)[32])leaves, cp.size,
                                        from, &p, &plen, err);
    if (rc == ST_OK) {
        st_audit_tree_root((const uint8_t(*)[32])leaves, from, r1);
        rc = emit(json_pack("{s:s,s:I,s:I,s:o,s:o,s:o,s:s}", "type",
                            "consistency", "size1", (json_int_t)from, "size2",
                            (json_int_t)cp.size, "root1", b64_json(r1), "root2",
                            b64_json(cp.root), "proof",
                            hash_array((const uint8_t(*)[32])p, plen),
                            "checkpoint", note),
                  doc, err);
    }
    free(p);
    free(leaves);
    free(note);
    return rc;
}

st_code st_audit_copy_write(const char *dir, const char *lines, size_t len,
                            const char *note, st_err *err)
{
    char path[PATH_MAX], name[64];
    st_audit_checkpoint_body b;
    const char *blank = note ? strstr(note, "\n\n") : NULL;
    if (!blank)
        return st_err_set(err, ST_E_INPUT,
                          "the log's checkpoint is not a signed note");
    st_code rc =
        st_audit_checkpoint_parse(note, (size_t)(blank - note) + 1, &b, err);
    if (rc == ST_OK)
        rc = st_fs_join(path, sizeof(path), dir, ST_AUDIT_LOG_FILE, err);
    if (rc == ST_OK)
        rc = st_fs_write_atomic(path, lines, len, 0600, err);
    if (rc == ST_OK)
        rc = st_fs_join(path, sizeof(path), dir, ST_AUDIT_CP_DIR, err);
    if (rc == ST_OK)
        rc = st_fs_mkdir_private(path, err);
    snprintf(name, sizeof(name), ST_AUDIT_CP_DIR "/%020llu.note",
             (unsigned long long)b.size);
    if (rc == ST_OK)
        rc = st_fs_join(path, sizeof(path), dir, name, err);
    if (rc == ST_OK)
        rc = st_fs_write_atomic(path, note, strlen(note), 0600, err);
    return rc;
}
