/*
 * log.c: appending to the audit log, durably and concurrently.
 *
 * Files of an audit directory (0700):
 *   log.jsonl     the entries, one JSON object per line (the Merkle leaves)
 *   log.wal       the write-ahead file that makes appends durable (wal.c)
 *   tree.state    a checksummed cache of the tree frontier and end offset
 *                 (and of where log.wal continues), so an append costs
 *                 O(log n) instead of re-reading the log
 *   log.key       the log's Ed25519 seed (0600)
 *   log.vkey      its signed-note verifier key (the name is the origin)
 *   checkpoints/  <size>.note: signed tlog-checkpoints (see checkpoint.c)
 *
 * Append protocol. Threads queue their entries; one of them (the leader)
 * takes the whole queue, locks the log file with flock(2) against other
 * processes, catches up with lines others appended since (hashing them into
 * the frontier), writes the batch as one record of log.wal and with one
 * pwrite at the end of log.jsonl, records the new state, unlocks, and
 * fdatasyncs log.wal; only then are the batch's appenders told "done".
 * log.wal is overwritten in place (written blocks, fixed size), so that
 * flush carries data only, where an fdatasync of the growing log.jsonl
 * would also commit its new size through the filesystem journal; log.jsonl
 * is flushed when a log.wal cycle begins, and a batch too large for a
 * cycle is written and flushed there directly. While the leader flushes,
 * new entries queue up for the next batch: one fsync serves many
 * appenders (group commit). Processes fsync after unlocking so the
 * filesystem can merge their flushes too; an entry is acknowledged only
 * after an fdatasync that began after its bytes were written, so every
 * acknowledged entry (and every byte before it) is on disk: in log.jsonl
 * or in the current cycle of log.wal.
 *
 * Crash safety. The log is the only truth: tree.state is a cache that is
 * checksummed and checked against the log (offset inside the file, a
 * newline just before it); if it is stale or torn it is rebuilt by hashing
 * the log. A killed process leaves its writes in the page cache, so a
 * crash mid-write can only leave an incomplete last line (no newline): it
 * was never acknowledged. The next append (or `audit repair`) cuts it off
 * and records the cut (size and SHA-256 of the bytes) as a "security"
 * entry, so the repair itself is in the tamper-evident record; the cut
 * also begins a new log.wal cycle, so no record can bring the bytes back.
 * After a kernel crash the first opener replays log.wal into log.jsonl
 * (st_audit_wal_recover) and records that as an "audit.recover" entry.
 * Nothing else ever truncates or rewrites the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit_internal.h"
#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/json.h"
#include "sealtrain/log.h"
#include "sealtrain/secmem.h"

#define STATE_MAGIC "STAUDIT2"

typedef struct request {
    json_t *obj; /* the event without seq, time and prev */
    uint64_t index;
    st_code rc;
    st_err err;
    int done;
    struct request *next;
} request;

struct st_audit_log {
    char dir[PATH_MAX];
    char path[PATH_MAX];
    char origin[256];
    int fd;
    int state_fd;
    int refs;
    struct st_audit_log *next_open;

    pthread_mutex_t mu; /* queue and leader flag */
    pthread_cond_t cv;
    request *head, *tail;
    int leader;

    /* owned by the leader (or by a caller holding `io`) */
    pthread_mutex_t io;
    st_audit_hasher *h;
    st_audit_frontier fr;
    uint64_t offset;  /* end of the last complete line counted */
    uint8_t last[32]; /* leaf hash of the last entry */
    int loaded;
    st_audit_wal wal;
};

static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static st_audit_log *open_logs;

const char *st_audit_log_dir(const st_audit_log *log)
{
    return log->dir;
}

const char *st_audit_log_origin(const st_audit_log *log)
{
    return log->origin;
}

/* ---- state cache ---- */

typedef struct state_rec {
    char magic[8];
    uint64_t size;
    uint64_t offset;
    uint8_t last[32];
    uint8_t hash[64][32];
    uint64_t wal_gen, wal_pos, wal_next; /* where log.wal continues */
    uint8_t sum[32];
} state_rec;

static void state_save(st_audit_log *log)
{
    state_rec r;
    memset(&r, 0, sizeof(r));
    memcpy(r.magic, STATE_MAGIC, 8);
    r.size = log->fr.size;
    r.offset = log->offset;
    memcpy(r.last, log->last, 32);
    memcpy(r.hash, log->fr.hash, sizeof(r.hash));
    r.wal_gen = log->wal.gen;
    r.wal_pos = log->wal.pos;
    r.wal_next = log->wal.next;
    st_sha256(&r, offsetof(state_rec, sum), r.sum);
    /* no fsync: the cache is checked on load and rebuilt from the log when
     * it is stale or torn, so it never needs to be durable */
    if (pwrite(log->state_fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r))
        st_warn("audit.state", "could not save the tree state of %s: %s",
                log->dir, strerror(errno));
}

static int state_load(st_audit_log *log, uint64_t fsize)
{
    state_rec r;
    uint8_t sum[32];
    if (pread(log->state_fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return 0;
    st_sha256(&r, offsetof(state_rec, sum), sum);
    if (memcmp(r.magic, STATE_MAGIC, 8) != 0 || memcmp(sum, r.sum, 32) != 0)
        return 0;
    if (r.offset > fsize)
        return 0;
    if (r.offset > 0) {
        char c;
        if (pread(log->fd, &c, 1, (off_t)r.offset - 1) != 1 || c != '\n')
            return 0;
    }
    log->fr.size = r.size;
    memcpy(log->fr.hash, r.hash, sizeof(r.hash));
    log->offset = r.offset;
    memcpy(log->last, r.last, 32);
    return 1;
}

static void state_reset(st_audit_log *log)
{
    memset(&log->fr, 0, sizeof(log->fr));
    memset(log->last, 0, 32);
    log->offset = 0;
}

/* Finds where log.wal continues (caller holds the flock, after catch_up).
 * This handle's own view holds while no other process appended; else the
 * last writer's tree.state says it, provided it describes this very log
 * end and the header's cycle. Anything else begins a new cycle. */
static void wal_sync(st_audit_log *log)
{
    st_audit_wal_header h;
    if (!st_audit_wal_header_read(log->wal.fd, &h)) {
        log->wal.gen = 0;
        return;
    }
    if (h.gen == log->wal.gen && log->offset == log->wal.next)
        return;
    state_rec r;
    uint8_t sum[32];
    log->wal.gen = 0;
    if (pread(log->state_fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return;
    st_sha256(&r, offsetof(state_rec, sum), sum);
    if (memcmp(r.magic, STATE_MAGIC, 8) != 0 || memcmp(sum, r.sum, 32) != 0 ||
        r.wal_gen != h.gen || r.offset != log->offset ||
        r.wal_next != log->offset || r.wal_pos < ST_AUDIT_WAL_DATA ||
        r.wal_pos > ST_AUDIT_WAL_CAP)
        return;
    log->wal.gen = r.wal_gen;
    log->wal.pos = r.wal_pos;
    log->wal.next = r.wal_next;
}

/* Hashes complete lines from log->offset to the end of the file into the
 * frontier. *torn receives the bytes of an incomplete last line. Caller
 * holds the flock and `io`. */
static ST_MUST_CHECK st_code catch_up(st_audit_log *log, size_t *torn,
                                      st_err *err)
{
    /* the size by lseek, not fstat: a stat that reports ctime marks it
     * as observed, so (multigrain timestamps, Linux 6.13+) the next write
     * must store a fine-grained ctime in the inode, a journal write in
     * the flush that acknowledges the append (on ext4 here: 3 disk
     * writes per append instead of 2, ~50 us more each) */
    off_t end = lseek(log->fd, 0, SEEK_END);
    if (end < 0)
        return st_err_errno(err, ST_E_IO, errno, "audit log %s", log->path);
    uint64_t fsize = (uint64_t)end;
    if (!log->loaded) {
        if (!state_load(log, fsize))
            state_reset(log);
        log->loaded = 1;
    }
    if (log->offset > fsize) {
        /* the file shrank under us: only a repair or tampering does that;
         * start over from the log, the truth */
        st_warn("audit.state",
                "audit log %s is shorter than its tree state; rehashing it",
                log->path);
        state_reset(log);
    }
    char buf[1 << 16];
    char *carry = NULL;
    size_t carry_len = 0;
    uint64_t pos = log->offset;
    st_code rc = ST_OK;
    while (pos < fsize) {
        size_t want =
            (size_t)(fsize - pos < sizeof(buf) ? fsize - pos : sizeof(buf));
        ssize_t n = pread(log->fd, buf, want, (off_t)pos);
        if (n <= 0) {
            rc = st_err_errno(err, ST_E_IO, n < 0 ? errno : EIO,
                              "reading audit log %s", log->path);
            goto out;
        }
        pos += (uint64_t)n;
        size_t start = 0;
        for (;;) {
            char *nl = memchr(buf + start, '\n', (size_t)n - start);
            if (!nl)
                break;
            size_t l = (size_t)(nl - (buf + start));
            uint8_t leaf[32];
            if (carry_len) {
                char *c2 = realloc(carry, carry_len + l);
                if (!c2) {
                    rc = st_err_set(err, ST_E_IO, "audit log: out of memory");
                    goto out;
                }
                carry = c2;
                memcpy(carry + carry_len, buf + start, l);
                st_audit_hasher_leaf(log->h, carry, carry_len + l, leaf);
                log->offset += carry_len + l + 1;
                carry_len = 0;
            } else {
                st_audit_hasher_leaf(log->h, buf + start, l, leaf);
                log->offset += l + 1;
            }
            st_audit_frontier_push(&log->fr, log->h, leaf);
            memcpy(log->last, leaf, 32);
            start += l + 1;
        }
        if (start < (size_t)n) {
            char *c2 = realloc(carry, carry_len + (size_t)n - start);
            if (!c2) {
                rc = st_err_set(err, ST_E_IO, "audit log: out of memory");
                goto out;
            }
            carry = c2;
            memcpy(carry + carry_len, buf + start, (size_t)n - start);
            carry_len += (size_t)n - start;
        }
    }
    *torn = (size_t)(fsize - log->offset);
out:
    free(carry);
    return rc;
}

/* ---- opening ---- */

static ST_MUST_CHECK st_code ensure_key(st_audit_log *log, st_err *err)
{
    char kpath[PATH_MAX], vpath[PATH_MAX];
    if (st_fs_join(kpath, sizeof(kpath), log->dir, ST_AUDIT_KEY_FILE, err) ||
        st_fs_join(vpath, sizeof(vpath), log->dir, ST_AUDIT_VKEY_FILE, err))
        return err ? err->code : ST_E_INTERNAL;
    if (!st_fs_exists(vpath)) {
        /* first use: make the log's key and name (under the flock, so one
         * process does it) */
        st_secret *seed = st_secret_new(32, err);
        if (!seed)
            return err ? err->code : ST_E_IO;
        uint8_t pub[32], idb[8];
        char idhex[17], name[64];
        st_code rc = st_random(st_secret_bytes(seed), 32, err);
        if (rc == ST_OK)
            rc = st_random(idb, sizeof(idb), err);
        if (rc == ST_OK)
            rc = st_ed25519_public(st_secret_bytes(seed), pub, err);
        if (rc == ST_OK)
            rc =
                st_fs_write_atomic(kpath, st_secret_bytes(seed), 32, 0600, err);
        st_secret_free(seed);
        if (rc != ST_OK)
            return st_err_prefix(err, "creating the audit log key");
        st_hex_encode(idb, sizeof(idb), idhex);
        snprintf(name, sizeof(name), "sealtrain/audit/%s", idhex);
        char *vk = st_audit_note_vkey(name, pub);
        if (!vk)
            return st_err_set(err, ST_E_IO, "audit log key: out of memory");
        size_t vlen = strlen(vk);
        vk[vlen] = '\n';
        rc = st_fs_write_atomic(vpath, vk, vlen + 1, 0600, err);
        free(vk);
        if (rc != ST_OK)
            return rc;
    }
    unsigned char *txt;
    size_t len;
    if (st_fs_read_all(vpath, 4096, &txt, &len, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    const char *plus = memchr(txt, '+', len);
    size_t nlen = plus ? (size_t)(plus - (const char *)txt) : 0;
    if (!plus || nlen == 0 || nlen >= sizeof(log->origin)) {
        free(txt);
        return st_err_set(err, ST_E_INPUT, "%s: not a verifier key", vpath);
    }
    memcpy(log->origin, txt, nlen);
    log->origin[nlen] = 0;
    free(txt);
    return ST_OK;
}

static int lock_file(st_audit_log *log, st_err *err)
{
    while (flock(log->fd, LOCK_EX) != 0) {
        if (errno != EINTR)
            return st_err_errno(err, ST_E_IO, errno, "locking %s", log->path);
    }
    return ST_OK;
}

static void unlock_file(st_audit_log *log)
{
    flock(log->fd, LOCK_UN);
}

static void log_free(st_audit_log *log)
{
    if (!log)
        return;
    if (log->fd >= 0)
        close(log->fd);
    if (log->state_fd >= 0)
        close(log->state_fd);
    st_audit_wal_close(&log->wal);
    st_audit_hasher_free(log->h);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->io);
    pthread_cond_destroy(&log->cv);
    free(log);
}

/* After a kernel crash: log.wal back into log.jsonl (caller holds the
 * flock). A changed log.jsonl invalidates the tree cache; the new cycle
 * carries this boot's id, so later opens skip the replay. */
static ST_MUST_CHECK st_code recover(st_audit_log *log,
                                     st_audit_wal_recovery *rec, st_err *err)
{
    st_code rc = st_audit_wal_recover(&log->wal, log->fd, log->path, rec, err);
    if (rc != ST_OK || !rec->ran)
        return rc;
    if ((rec->restored || rec->cut) && ftruncate(log->state_fd, 0) != 0)
        return st_err_errno(err, ST_E_IO, errno,
                            "resetting the tree state of %s", log->dir);
    struct stat st;
    if (fstat(log->fd, &st) != 0)
        return st_err_errno(err, ST_E_IO, errno, "audit log %s", log->path);
    rc = st_audit_wal_begin(&log->wal, (uint64_t)st.st_size, err);
    if (rc == ST_OK && fdatasync(log->wal.fd) != 0)
        rc = st_err_errno(err, ST_E_IO, errno,
                          "flushing the audit write-ahead file");
    return rc;
}

static ST_MUST_CHECK st_code record_recovery(st_audit_log *log,
                                             const st_audit_wal_recovery *rec,
                                             st_err *err)
{
    char reason[256], hex[65];
    snprintf(reason, sizeof(reason),
             "after a system crash: restored %llu bytes of appended entries "
             "from the write-ahead file (%llu records), cut %llu bytes that "
             "were never written",
             (unsigned long long)rec->restored,
             (unsigned long long)rec->records, (unsigned long long)rec->cut);
    st_hex_encode(rec->cut_sha256, 32, hex);
    json_t *d =
        json_pack("{s:I,s:I,s:I,s:I}", "records", (json_int_t)rec->records,
                  "restored_bytes", (json_int_t)rec->restored, "end",
                  (json_int_t)rec->end, "cut_bytes", (json_int_t)rec->cut);
    if (d && rec->cut)
        json_object_set_new(d, "cut_sha256", json_string(hex));
    st_audit_event ev = {
        "security", "system", "audit.recover", "audit:log", "success",
        reason,     d};
    st_code rc = d ? st_audit_log_append(log, &ev, NULL, err)
                   : st_err_set(err, ST_E_IO, "out of memory");
    json_decref(d);
    return rc;
}

st_code st_audit_log_open(const char *dir, st_audit_log **out, st_err *err)
{
    char real[PATH_MAX];
    if (st_fs_mkdir_private(dir, err) != ST_OK)
        return st_err_prefix(err, "audit log directory");
    if (!realpath(dir, real))
        return st_err_errno(err, ST_E_IO, errno, "audit log directory %s", dir);
    pthread_mutex_lock(&open_mu);
    for (st_audit_log *l = open_logs; l; l = l->next_open)
        if (strcmp(l->dir, real) == 0) {
            l->refs++;
            pthread_mutex_unlock(&open_mu);
            *out = l;
            return ST_OK;
        }
    st_code rc = ST_OK;
    st_audit_log *log = calloc(1, sizeof(*log));
    if (!log) {
        pthread_mutex_unlock(&open_mu);
        return st_err_set(err, ST_E_IO, "audit log: out of memory");
    }
    log->fd = log->state_fd = log->wal.fd = log->wal.dfd = -1;
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->io, NULL);
    pthread_cond_init(&log->cv, NULL);
    snprintf(log->dir, sizeof(log->dir), "%s", real);
    char spath[PATH_MAX], cpath[PATH_MAX];
    if ((rc = st_fs_join(log->path, sizeof(log->path), real, ST_AUDIT_LOG_FILE,
                         err)) != ST_OK ||
        (rc = st_fs_join(spath, sizeof(spath), real, ST_AUDIT_STATE_FILE,
                         err)) != ST_OK ||
        (rc = st_fs_join(cpath, sizeof(cpath), real, ST_AUDIT_CP_DIR, err)) !=
            ST_OK)
        goto fail;
    log->fd = open(log->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (log->fd < 0) {
        rc = st_err_errno(err, ST_E_IO, errno, "opening audit log %s",
                          log->path);
        goto fail;
    }
    log->state_fd = open(spath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (log->state_fd < 0) {
        rc = st_err_errno(err, ST_E_IO, errno, "opening %s", spath);
        goto fail;
    }
    log->h = st_audit_hasher_new();
    if (!log->h) {
        rc = st_err_set(err, ST_E_IO, "audit log: out of memory");
        goto fail;
    }
    if ((rc = st_audit_wal_open(&log->wal, real, err)) != ST_OK)
        goto fail;
    if ((rc = lock_file(log, err)) != ST_OK)
        goto fail;
    st_audit_wal_recovery rec = {0};
    rc = st_fs_mkdir_private(cpath, err);
    if (rc == ST_OK)
        rc = ensure_key(log, err);
    if (rc == ST_OK)
        rc = recover(log, &rec, err);
    unlock_file(log);
    if (rc != ST_OK)
        goto fail;
    log->refs = 1;
    log->next_open = open_logs;
    open_logs = log;
    pthread_mutex_unlock(&open_mu);
    if (rec.restored || rec.cut) {
        rc = record_recovery(log, &rec, err);
        if (rc != ST_OK) {
            st_audit_log_close(log);
            return st_err_prefix(err, "recording the audit log recovery");
        }
    }
    *out = log;
    return ST_OK;
fail:
    pthread_mutex_unlock(&open_mu);
    log_free(log);
    return rc;
}

void st_audit_log_close(st_audit_log *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&open_mu);
    if (--log->refs > 0) {
        pthread_mutex_unlock(&open_mu);
        return;
    }
    for (st_audit_log **pp = &open_logs; *pp; pp = &(*pp)->next_open)
        if (*pp == log) {
            *pp = log->next_open;
            break;
        }
    pthread_mutex_unlock(&open_mu);
    log_free(log);
}

/* ---- entries ---- */

static json_t *event_object(const st_audit_event *ev, st_err *err)
{
    if (!ev || !st_audit_category_valid(ev->category))
        return st_err_set(err, ST_E_USAGE,
                          "audit event: unknown category \"%s\"",
                          ev && ev->category ? ev->category : "(null)"),
               NULL;
    if (!st_audit_outcome_valid(ev->outcome))
        return st_err_set(err, ST_E_USAGE,
                          "audit event: unknown outcome \"%s\"",
                          ev->outcome ? ev->outcome : "(null)"),
               NULL;
    if (!ev->actor || !*ev->actor || !ev->action || !*ev->action ||
        !ev->resource || !*ev->resource)
        return st_err_set(
                   err, ST_E_USAGE,
                   "audit event: actor, action and resource are required"),
               NULL;
    if (ev->details && !json_is_object(ev->details))
        return st_err_set(err, ST_E_USAGE,
                          "audit event: details must be a JSON object"),
               NULL;
    unsigned long failures = st_json_alloc_failures();
    json_t *o = json_object();
    int bad = !o;
    /* json_string returns NULL for invalid UTF-8: such text is refused */
    bad |= json_object_set_new(o, "category", json_string(ev->category));
    bad |= json_object_set_new(o, "actor", json_string(ev->actor));
    bad |= json_object_set_new(o, "action", json_string(ev->action));
    bad |= json_object_set_new(o, "resource", json_string(ev->resource));
    bad |= json_object_set_new(o, "outcome", json_string(ev->outcome));
    if (ev->reason)
        bad |= json_object_set_new(o, "reason", json_string(ev->reason));
    /* the caller's details, shared, not copied: the entry only reads
     * them (entry_line adds its fields to `o`), and the caller waits
     * until its entry is written */
    if (ev->details)
        bad |= json_object_set(o, "details", ev->details);
    if (bad || st_json_alloc_failures() != failures) {
        json_decref(o);
        /* it returns NULL when out of memory too: that is no bad text
         * (key rotate said "not valid UTF-8", exit 2) */
        if (st_json_alloc_failures() != failures)
            return st_err_errno(err, ST_E_IO, ENOMEM, "audit event"), NULL;
        return st_err_set(err, ST_E_USAGE,
                          "audit event: a field is not valid UTF-8 text"),
               NULL;
    }
    return o;
}

static void now_rfc3339(char out[40])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000);
}

/* Serialises `obj` as entry number `seq` after a leaf `prev` and appends
 * the line (with '\n') to `b`; *leaf receives its leaf hash. */
static ST_MUST_CHECK st_code entry_line(st_audit_log *log, json_t *obj,
                                        uint64_t seq, const uint8_t prev[32],
                                        st_buf *b, uint8_t leaf[32],
                                        st_err *err)
{
    char t[40], hex[65];
    now_rfc3339(t);
    st_hex_encode(prev, 32, hex);
    if (json_object_set_new(obj, "v", json_integer(1)) ||
        json_object_set_new(obj, "seq", json_integer((json_int_t)seq)) ||
        json_object_set_new(obj, "time", json_string(t)) ||
        json_object_set_new(obj, "prev", json_string(hex)))
        return st_err_set(err, ST_E_IO, "audit entry: out of memory");
    char *s = st_json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        return st_err_errno(err, ST_E_IO, ENOMEM, "audit entry");
    size_t n = strlen(s);
    st_audit_hasher_leaf(log->h, s, n, leaf);
    st_code rc = st_buf_append(b, s, n, err);
    if (rc == ST_OK)
        rc = st_buf_append(b, "\n", 1, err);
    free(s);
    return rc;
}

static json_t *repair_object(st_audit_log *log, size_t torn, st_err *err)
{
    char *bytes = malloc(torn ? torn : 1);
    if (!bytes)
        return st_err_set(err, ST_E_IO, "audit repair: out of memory"), NULL;
    ssize_t n = pread(log->fd, bytes, torn, (off_t)log->offset);
    uint8_t h[32];
    char hex[65];
    st_sha256(bytes, n > 0 ? (size_t)n : 0, h);
    free(bytes);
    st_hex_encode(h, 32, hex);
    char reason[160];
    snprintf(reason, sizeof(reason),
             "cut %zu bytes of an incomplete last line (a write that was "
             "never acknowledged) at offset %llu",
             torn, (unsigned long long)log->offset);
    json_t *d = json_pack("{s:I,s:I,s:s}", "bytes", (json_int_t)torn, "offset",
                          (json_int_t)log->offset, "sha256", hex);
    st_audit_event ev = {
        "security", "system", "audit.repair", "audit:log", "success",
        reason,     d};
    json_t *o = event_object(&ev, err);
    json_decref(d);
    return o;
}

/* Cuts a torn tail (caller holds flock + io, after catch_up). */
static ST_MUST_CHECK st_code cut_tail(st_audit_log *log, size_t torn,
                                      json_t **repair, st_err *err)
{
    *repair = repair_object(log, torn, err);
    if (!*repair)
        return err ? err->code : ST_E_IO;
    st_warn("audit.repair",
            "audit log %s: cutting %zu bytes of an incomplete last line",
            log->path, torn);
    if (ftruncate(log->fd, (off_t)log->offset) != 0 || fdatasync(log->fd)) {
        json_decref(*repair);
        *repair = NULL;
        return st_err_errno(err, ST_E_IO, errno, "repairing %s", log->path);
    }
    /* a record of the old cycle may hold the bytes just cut: a durable new
     * cycle makes sure no replay ever brings them back */
    st_code rc = st_audit_wal_begin(&log->wal, log->offset, err);
    if (rc == ST_OK && fdatasync(log->wal.fd) != 0)
        rc = st_err_errno(err, ST_E_IO, errno,
                          "flushing the audit write-ahead file");
    if (rc != ST_OK) {
        json_decref(*repair);
        *repair = NULL;
    }
    return rc;
}

/* Writes a batch of requests (plus a repair record when needed): the
 * leader's work. Sets each request's rc / err / index. */
static void commit_batch(st_audit_log *log, request *batch)
{
    st_err err;
    st_err_clear(&err);
    st_code rc;
    st_buf b;
    st_buf_init(&b);
    json_t *repair = NULL;
    pthread_mutex_lock(&log->io);
    if ((rc = lock_file(log, &err)) != ST_OK) {
        pthread_mutex_unlock(&log->io);
        goto done;
    }
    size_t torn = 0;
    if ((rc = catch_up(log, &torn, &err)) != ST_OK)
        goto unlock;
    if (torn && (rc = cut_tail(log, torn, &repair, &err)) != ST_OK)
        goto unlock;
    st_audit_frontier saved = log->fr;
    uint8_t saved_last[32];
    memcpy(saved_last, log->last, 32);
    uint64_t seq = log->fr.size;
    uint8_t leaf[32];
    if (repair) {
        rc = entry_line(log, repair, seq++, log->last, &b, leaf, &err);
        if (rc != ST_OK)
            goto unlock;
        st_audit_frontier_push(&log->fr, log->h, leaf);
        memcpy(log->last, leaf, 32);
    }
    for (request *r = batch; r; r = r->next) {
        r->index = seq;
        rc = entry_line(log, r->obj, seq++, log->last, &b, leaf, &err);
        if (rc != ST_OK)
            break;
        st_audit_frontier_push(&log->fr, log->h, leaf);
        memcpy(log->last, leaf, 32);
    }
    int full = 0;
    if (rc == ST_OK) {
        wal_sync(log);
        rc = st_audit_wal_put(&log->wal, log->offset, b.data, b.len, &full,
                              &err);
    }
    if (rc == ST_OK && full) {
        /* a new cycle: log.jsonl must first be durable up to its start */
        if (fdatasync(log->fd) != 0)
            rc = st_err_errno(&err, ST_E_IO, errno, "flushing audit log %s",
                              log->path);
        if (rc == ST_OK)
            rc = st_audit_wal_begin(&log->wal, log->offset, &err);
        if (rc == ST_OK)
            rc = st_audit_wal_put(&log->wal, log->offset, b.data, b.len, &full,
                                  &err);
        /* still full: the batch exceeds a cycle; flush log.jsonl itself */
    }
    if (rc == ST_OK)
        rc = st_fs_write_fd_at(log->fd, b.data, b.len, log->offset, log->path,
                               &err);
    if (rc != ST_OK) {
        /* leave the log as it was: no partial batch, no torn line */
        if (ftruncate(log->fd, (off_t)log->offset) != 0)
            st_error("audit.append", "could not undo a failed append to %s",
                     log->path);
        /* and a replay must not bring back the failed batch's record */
        st_err e2;
        if (log->wal.gen && log->wal.next != log->offset &&
            (fdatasync(log->fd) != 0 ||
             st_audit_wal_begin(&log->wal, log->offset, &e2) != ST_OK ||
             fdatasync(log->wal.fd) != 0))
            st_error("audit.append",
                     "could not retire the write-ahead record of a failed "
                     "append to %s",
                     log->path);
        log->fr = saved;
        memcpy(log->last, saved_last, 32);
        goto unlock;
    }
    log->offset += b.len;
    state_save(log);
unlock:
    unlock_file(log);
    pthread_mutex_unlock(&log->io);
    /* flushing outside both locks lets other processes write meanwhile */
    if (rc == ST_OK && fdatasync(full ? log->fd : log->wal.fd) != 0)
        rc = st_err_errno(&err, ST_E_IO, errno, "flushing audit log %s",
                          log->path);
done:
    json_decref(repair);
    st_buf_free(&b);
    for (request *r = batch; r; r = r->next) {
        r->rc = rc;
        if (rc != ST_OK)
            r->err = err;
    }
}

st_code st_audit_log_append(st_audit_log *log, const st_audit_event *ev,
                            uint64_t *index, st_err *err)
{
    return st_audit_log_append_all(log, ev, 1, index, err);
}

st_code st_audit_log_append_all(st_audit_log *log, const st_audit_event *evs,
                                size_t n, uint64_t *index, st_err *err)
{
    if (n == 0)
        return ST_OK;
    request *rs = calloc(n, sizeof(*rs));
    if (!rs)
        return st_err_set(err, ST_E_IO, "audit entry: out of memory");
    st_code rc = ST_OK;
    for (size_t i = 0; i < n && rc == ST_OK; i++) {
        if (!(rs[i].obj = event_object(&evs[i], err)))
            rc = err ? err->code : ST_E_USAGE;
        rs[i].next = i + 1 < n ? &rs[i + 1] : NULL;
    }
    if (rc != ST_OK) {
        for (size_t i = 0; i < n; i++)
            json_decref(rs[i].obj);
        free(rs);
        return rc;
    }
    /* queued together, so that one leader commits them in one batch:
     * one write and one flush, all of them or none */
    request *last = &rs[n - 1];
    pthread_mutex_lock(&log->mu);
    if (log->tail)
        log->tail->next = &rs[0];
    else
        log->head = &rs[0];
    log->tail = last;
    while (!last->done) {
        if (log->leader) {
            pthread_cond_wait(&log->cv, &log->mu);
            continue;
        }
        log->leader = 1;
        request *batch = log->head;
        log->head = log->tail = NULL;
        pthread_mutex_unlock(&log->mu);
        commit_batch(log, batch);
        pthread_mutex_lock(&log->mu);
        for (request *q = batch; q;) {
            request *next = q->next;
            q->done = 1;
            q = next;
        }
        log->leader = 0;
        pthread_cond_broadcast(&log->cv);
    }
    pthread_mutex_unlock(&log->mu);
    rc = last->rc;
    if (rc != ST_OK && err)
        *err = last->err;
    if (rc == ST_OK && index)
        *index = rs[0].index;
    for (size_t i = 0; i < n; i++)
        json_decref(rs[i].obj);
    free(rs);
    return rc;
}

st_code st_audit_log_head(st_audit_log *log, uint64_t *size, uint8_t root[32],
                          st_err *err)
{
    pthread_mutex_lock(&log->io);
    st_code rc = lock_file(log, err);
    size_t torn = 0;
    if (rc == ST_OK) {
        rc = catch_up(log, &torn, err);
        unlock_file(log);
    }
    if (rc == ST_OK) {
        *size = log->fr.size;
        if (root)
            st_audit_frontier_root(&log->fr, log->h, root);
    }
    pthread_mutex_unlock(&log->io);
    return rc;
}

st_code st_audit_log_repair(st_audit_log *log, size_t *cut, st_err *err)
{
    *cut = 0;
    pthread_mutex_lock(&log->io);
    st_code rc = lock_file(log, err);
    if (rc != ST_OK) {
        pthread_mutex_unlock(&log->io);
        return rc;
    }
    size_t torn = 0;
    json_t *repair = NULL;
    st_buf b;
    st_buf_init(&b);
    rc = catch_up(log, &torn, err);
    if (rc == ST_OK && torn) {
        rc = cut_tail(log, torn, &repair, err);
        uint8_t leaf[32];
        if (rc == ST_OK)
            rc =
                entry_line(log, repair, log->fr.size, log->last, &b, leaf, err);
        if (rc == ST_OK)
            rc = st_fs_write_fd_at(log->fd, b.data, b.len, log->offset,
                                   log->path, err);
        if (rc == ST_OK) {
            st_audit_frontier_push(&log->fr, log->h, leaf);
            memcpy(log->last, leaf, 32);
            log->offset += b.len;
            state_save(log);
            *cut = torn;
        } else if (ftruncate(log->fd, (off_t)log->offset) != 0) {
            st_error("audit.repair", "could not undo a failed repair of %s",
                     log->path);
        }
    }
    unlock_file(log);
    pthread_mutex_unlock(&log->io);
    if (rc == ST_OK && *cut && fdatasync(log->fd) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "flushing %s", log->path);
    json_decref(repair);
    st_buf_free(&b);
    return rc;
}

/* ---- checkpoints ---- */

st_code st_audit_log_read_key(st_audit_log *log, st_secret **seed, st_err *err)
{
    char kpath[PATH_MAX];
    if (st_fs_join(kpath, sizeof(kpath), log->dir, ST_AUDIT_KEY_FILE, err))
        return err ? err->code : ST_E_INTERNAL;
    if (!st_fs_exists(kpath)) {
        char spath[PATH_MAX];
        if (st_fs_join(spath, sizeof(spath), log->dir, ST_AUDIT_SEALED_FILE,
                       err))
            return err ? err->code : ST_E_INTERNAL;
        if (st_fs_exists(spath))
            return st_err_set(err, ST_E_USAGE,
                              "checkpoint: the log key is sealed under the "
                              "keyring: checkpoint through the workspace "
                              "(st_audit_checkpoint_sealed)");
    }
    *seed = st_secret_new(32, err);
    if (!*seed)
        return err ? err->code : ST_E_IO;
    int fd = open(kpath, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, st_secret_bytes(*seed), 32) : -1;
    if (fd >= 0)
        close(fd);
    if (n != 32) {
        st_secret_free(*seed);
        *seed = NULL;
        return st_err_set(err, ST_E_IO,
                          "checkpoint: cannot read the log key %s", kpath);
    }
    return ST_OK;
}

st_code st_audit_checkpoint(st_audit_log *log, char **note, st_err *err)
{
    st_secret *seed = NULL;
    if (st_audit_log_read_key(log, &seed, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    st_code rc = st_audit_checkpoint_with(log, seed, note, err);
    st_secret_free(seed);
    return rc;
}

st_code st_audit_checkpoint_with(st_audit_log *log, const st_secret *seed,
                                 char **note, st_err *err)
{
    char cpath[PATH_MAX], name[64];
    uint64_t size;
    uint8_t root[32];
    if (st_secret_len(seed) != 32)
        return st_err_set(err, ST_E_USAGE, "checkpoint: bad log key length");
    if (st_audit_log_head(log, &size, root, err) != ST_OK)
        return err ? err->code : ST_E_IO;
    snprintf(name, sizeof(name), ST_AUDIT_CP_DIR "/%020llu.note",
             (unsigned long long)size);
    if (st_fs_join(cpath, sizeof(cpath), log->dir, name, err))
        return err ? err->code : ST_E_INTERNAL;
    char *b64 = st_base64_encode(root, 32, 1);
    char text[512];
    snprintf(text, sizeof(text), "%s\n%llu\n%s\ntime %lld\n", log->origin,
             (unsigned long long)size, b64 ? b64 : "", (long long)time(NULL));
    free(b64);
    char *signed_note = NULL;
    st_code rc = st_audit_note_sign(log->origin, st_secret_cbytes(seed), text,
                                    &signed_note, err);
    if (rc != ST_OK)
        return rc;
    rc = st_fs_write_atomic(cpath, signed_note, strlen(signed_note), 0600, err);
    if (rc != ST_OK) {
        free(signed_note);
        return rc;
    }
    if (note)
        *note = signed_note;
    else
        free(signed_note);
    return ST_OK;
}
