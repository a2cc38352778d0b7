/*
 * wal.c: log.wal, the write-ahead file that makes an audit append durable
 * with a flush of data alone.
 *
 * Why: an append to log.jsonl grows the file, so its fdatasync must also
 * commit the new size through the filesystem journal (on ext4 a journal
 * write and a second cache flush). An append is instead made durable by
 * overwriting already-written blocks of this file, whose fdatasync flushes
 * the data and nothing else (the design of SQLite's WAL). The entry bytes
 * still go to log.jsonl at once (page cache), so readers see the log as
 * before, in the same format; log.jsonl itself is fdatasync'ed only when a
 * cycle of this file starts (every ST_AUDIT_WAL_CAP bytes of entries).
 *
 * Layout (integers little-endian as the host writes them; this file never
 * leaves the machine that wrote it):
 *   0     header (st_audit_wal_header): magic, cycle number `gen`, `base`
 *         (log.jsonl offset durable when the cycle began), the boot id of
 *         the kernel that began it, SHA-256 of those fields
 *   4096  records, each starting on a 512-byte boundary: "STWALREC",
 *         gen, off, len (u64 each), the len bytes that belong at log.jsonl
 *         offset `off`, SHA-256 of everything before in the record, zeros
 *         up to the next boundary. The first record of a cycle has
 *         off == base, each next one starts where the last ended. Stale
 *         records of older cycles stay behind and are told apart by gen; a
 *         torn record by its checksum.
 *
 * Records are written with O_DIRECT where the filesystem allows it (whole
 * sectors, hence the alignment): the bytes reach the device when pwrite
 * returns, so the fdatasync that follows is the cache flush alone, with
 * no page-cache writeback before it. Header and zero-fill go through the
 * page cache (pages no record shares) and the same fdatasync flushes
 * them.
 *
 * Recovery. A process killed with SIGKILL leaves its writes in the page
 * cache: log.jsonl then holds every acknowledged byte. Only a crash of the
 * kernel (or power) can lose them, and then the boot id differs from the
 * header's: st_audit_wal_recover replays the records of the current cycle
 * into log.jsonl where it lacks or differs from them, stops at the first
 * record that is torn, stale or out of sequence (never acknowledged), and
 * cuts what log.jsonl holds beyond that point only when it contains NUL
 * bytes (blocks whose data never reached the disk); log.c records what it
 * did as a "security" entry.
 *
 * This file never decides which entries are valid (verify.c does) and
 * never writes log.jsonl outside recovery.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit_internal.h"
#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"

#define WAL_MAGIC "STAWAL01"
#define REC_MAGIC "STWALREC"
#define REC_HEAD 32
#define REC_TAIL 32
#define REC_ALIGN 512u /* the smallest logical block size O_DIRECT takes */
/* the file grows by written zeros in steps of this size, so that a record
 * always overwrites initialised blocks */
#define WAL_GROW (256u << 10)

/* The current kernel's boot id (zeros if unknown: then every open
 * replays, which costs a read of the file, never correctness). */
static uint8_t boot_cached[16];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void boot_read(void)
{
    char txt[64], hex[33];
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, txt, sizeof(txt) - 1) : -1;
    if (fd >= 0)
        close(fd);
    size_t k = 0;
    for (ssize_t i = 0; i < n && k < 32; i++)
        if (txt[i] != '-' && txt[i] != '\n')
            hex[k++] = txt[i];
    hex[k] = 0;
    if (k != 32 || st_hex_decode(hex, boot_cached, 16, NULL) != ST_OK)
        memset(boot_cached, 0, 16);
}

static void boot_id(uint8_t out[16])
{
    pthread_once(&boot_once, boot_read);
    memcpy(out, boot_cached, 16);
}

void st_audit_wal_header_seal(st_audit_wal_header *h)
{
    memcpy(h->magic, WAL_MAGIC, 8);
    st_sha256(h, offsetof(st_audit_wal_header, sum), h->sum);
}

int st_audit_wal_header_read(int fd, st_audit_wal_header *h)
{
    uint8_t sum[32];
    if (pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h))
        return 0;
    st_sha256(h, offsetof(st_audit_wal_header, sum), sum);
    return memcmp(h->magic, WAL_MAGIC, 8) == 0 && memcmp(sum, h->sum, 32) == 0;
}

st_code st_audit_wal_open(st_audit_wal *w, const char *dir, st_err *err)
{
    char path[PATH_MAX];
    memset(w, 0, sizeof(*w));
    w->fd = w->dfd = -1;
    if (st_fs_join(path, sizeof(path), dir, ST_AUDIT_WAL_FILE, err))
        return err ? err->code : ST_E_INTERNAL;
    w->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (w->fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "opening %s", path);
    /* no O_DIRECT here (tmpfs before Linux 6.6, ...): page cache then */
    w->dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
    return ST_OK;
}

void st_audit_wal_close(st_audit_wal *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->dfd >= 0)
        close(w->dfd);
    w->fd = w->dfd = -1;
}

static uint64_t rec_span(uint64_t len)
{
    return (REC_HEAD + len + REC_TAIL + REC_ALIGN - 1) / REC_ALIGN * REC_ALIGN;
}

/* Makes [0, want) of the file written bytes (zeros where new). */
static ST_MUST_CHECK st_code grow(st_audit_wal *w, uint64_t want, st_err *err)
{
    if (want <= w->size) {
        return ST_OK;
    }
    struct stat st;
    if (fstat(w->fd, &st) != 0)
        return st_err_errno(err, ST_E_IO, errno, "audit write-ahead file");
    w->size = (uint64_t)st.st_size; /* another process may have grown it */
    if (want <= w->size)
        return ST_OK;
    uint64_t to = (want + WAL_GROW - 1) / WAL_GROW * WAL_GROW;
    char *zeros = calloc(1, (size_t)(to - w->size));
    if (!zeros)
        return st_err_set(err, ST_E_IO,
                          "audit write-ahead file: out of memory");
    st_code rc = st_fs_write_fd_at(w->fd, zeros, (size_t)(to - w->size),
                                   w->size, "audit write-ahead file", err);
    free(zeros);
    if (rc == ST_OK)
        w->size = to;
    return rc;
}

st_code st_audit_wal_begin(st_audit_wal *w, uint64_t base, st_err *err)
{
    st_audit_wal_header h, old;
    memset(&h, 0, sizeof(h));
    h.gen = (st_audit_wal_header_read(w->fd, &old) ? old.gen : 0) + 1;
    if (h.gen <= w->gen)
        h.gen = w->gen + 1;
    h.base = base;
    boot_id(h.boot);
    st_audit_wal_header_seal(&h);
    st_code rc = grow(w, ST_AUDIT_WAL_DATA, err);
    if (rc == ST_OK)
        rc = st_fs_write_fd_at(w->fd, &h, sizeof(h), 0,
                               "audit write-ahead file", err);
    if (rc != ST_OK) {
        w->gen = 0;
        return rc;
    }
    w->gen = h.gen;
    w->pos = ST_AUDIT_WAL_DATA;
    w->next = base;
    return ST_OK;
}

st_code st_audit_wal_put(st_audit_wal *w, uint64_t off, const void *data,
                         size_t len, int *full, st_err *err)
{
    *full = 0;
    uint64_t total = rec_span(len);
    if (w->gen == 0 || off != w->next || w->pos % REC_ALIGN ||
        w->pos + total > ST_AUDIT_WAL_CAP) {
        *full = 1;
        return ST_OK;
    }
    void *mem = NULL;
    if (posix_memalign(&mem, 4096, (size_t)total) != 0)
        return st_err_set(err, ST_E_IO,
                          "audit write-ahead file: out of memory");
    unsigned char *rec = mem;
    uint64_t head[3] = {w->gen, off, (uint64_t)len};
    memcpy(rec, REC_MAGIC, 8);
    memcpy(rec + 8, head, sizeof(head));
    memcpy(rec + REC_HEAD, data, len);
    st_sha256(rec, REC_HEAD + len, rec + REC_HEAD + len);
    memset(rec + REC_HEAD + len + REC_TAIL, 0,
           (size_t)total - REC_HEAD - len - REC_TAIL);
    st_code rc = grow(w, w->pos + total, err);
    int written = 0;
    if (rc == ST_OK && w->dfd >= 0) {
        if (pwrite(w->dfd, rec, (size_t)total, (off_t)w->pos) ==
            (ssize_t)total) {
            written = 1;
        } else {
            /* refused (this device's alignment rules) or short: the same
             * bytes through the page cache from now on */
            close(w->dfd);
            w->dfd = -1;
        }
    }
    if (rc == ST_OK && !written)
        rc = st_fs_write_fd_at(w->fd, rec, (size_t)total, w->pos,
                               "audit write-ahead file", err);
    free(mem);
    if (rc != ST_OK) {
        w->gen = 0; /* the next batch starts a fresh cycle */
        return rc;
    }
    w->pos += total;
    w->next = off + len;
    return ST_OK;
}

/* Reads the record at `pos` of cycle `gen` that must start at log offset
 * `off`; *data (malloc'ed) and *len on success, 0 if there is none. */
static int read_record(int fd, uint64_t pos, uint64_t gen, uint64_t off,
                       unsigned char **data, size_t *len)
{
    unsigned char head[REC_HEAD];
    uint64_t f[3];
    if (pos + REC_HEAD + REC_TAIL > ST_AUDIT_WAL_CAP ||
        pread(fd, head, REC_HEAD, (off_t)pos) != REC_HEAD ||
        memcmp(head, REC_MAGIC, 8) != 0)
        return 0;
    memcpy(f, head + 8, sizeof(f));
    if (f[0] != gen || f[1] != off ||
        f[2] > ST_AUDIT_WAL_CAP - pos - REC_HEAD - REC_TAIL)
        return 0;
    size_t n = (size_t)f[2];
    unsigned char *rec = malloc(REC_HEAD + n + REC_TAIL);
    if (!rec)
        return 0;
    uint8_t sum[32];
    memcpy(rec, head, REC_HEAD);
    if (pread(fd, rec + REC_HEAD, n + REC_TAIL, (off_t)(pos + REC_HEAD)) !=
        (ssize_t)(n + REC_TAIL)) {
        free(rec);
        return 0;
    }
    st_sha256(rec, REC_HEAD + n, sum);
    if (memcmp(sum, rec + REC_HEAD + n, 32) != 0) {
        free(rec);
        return 0;
    }
    memmove(rec, rec + REC_HEAD, n);
    *data = rec;
    *len = n;
    return 1;
}

/* Restores [off, off+len) of the log from `data` (with `dry`, only
 * counts); adds the bytes that were missing or different to *restored. */
static ST_MUST_CHECK st_code restore(int log_fd, const char *log_path, int dry,
                                     uint64_t off, const unsigned char *data,
                                     size_t len, uint64_t *restored,
                                     st_err *err)
{
    unsigned char *have = malloc(len ? len : 1);
    if (!have)
        return st_err_set(err, ST_E_IO, "audit recovery: out of memory");
    ssize_t n = pread(log_fd, have, len, (off_t)off);
    size_t got = n > 0 ? (size_t)n : 0;
    uint64_t differ = len - got;
    for (size_t i = 0; i < got; i++)
        differ += have[i] != data[i];
    free(have);
    if (!differ)
        return ST_OK;
    *restored += differ;
    if (dry)
        return ST_OK;
    return st_fs_write_fd_at(log_fd, data, len, off, log_path, err);
}

/* The replay (see the top of the file); `dry` changes nothing. */
static ST_MUST_CHECK st_code replay(int wal_fd, int log_fd,
                                    const char *log_path, int dry,
                                    st_audit_wal_recovery *out, st_err *err)
{
    memset(out, 0, sizeof(*out));
    st_audit_wal_header h;
    uint8_t boot[16];
    boot_id(boot);
    if (!st_audit_wal_header_read(wal_fd, &h))
        return ST_OK; /* no cycle began: every append went to log.jsonl
                         and was flushed there */
    if (memcmp(h.boot, boot, 16) == 0 && memcmp(boot, (uint8_t[16]){0}, 16))
        return ST_OK; /* same kernel: the page cache held every write */
    out->ran = 1;
    uint64_t pos = ST_AUDIT_WAL_DATA, off = h.base;
    st_code rc = ST_OK;
    for (;;) {
        unsigned char *data;
        size_t len;
        if (!read_record(wal_fd, pos, h.gen, off, &data, &len))
            break;
        rc =
            restore(log_fd, log_path, dry, off, data, len, &out->restored, err);
        free(data);
        if (rc != ST_OK)
            return rc;
        pos += rec_span(len);
        off += len;
        out->records++;
    }
    out->end = off;
    /* beyond the last record: writes never acknowledged; blocks whose data
     * was lost read as zeros, which no entry holds */
    struct stat st;
    if (fstat(log_fd, &st) != 0)
        return st_err_errno(err, ST_E_IO, errno, "audit log %s", log_path);
    uint64_t fsize = (uint64_t)st.st_size;
    if (fsize > off) {
        size_t n = (size_t)(fsize - off);
        unsigned char *tail = malloc(n);
        if (!tail)
            return st_err_set(err, ST_E_IO, "audit recovery: out of memory");
        if (pread(log_fd, tail, n, (off_t)off) == (ssize_t)n &&
            memchr(tail, 0, n)) {
            st_sha256(tail, n, out->cut_sha256);
            out->cut = n;
            if (!dry && ftruncate(log_fd, (off_t)off) != 0)
                rc = st_err_errno(err, ST_E_IO, errno, "recovering %s",
                                  log_path);
        }
        free(tail);
    }
    if (rc == ST_OK && !dry && fdatasync(log_fd) != 0)
        rc = st_err_errno(err, ST_E_IO, errno, "flushing %s", log_path);
    return rc;
}

int st_audit_wal_replay_pending(const char *dir)
{
    char wpath[PATH_MAX], lpath[PATH_MAX];
    if (st_fs_join(wpath, sizeof(wpath), dir, ST_AUDIT_WAL_FILE, NULL) ||
        st_fs_join(lpath, sizeof(lpath), dir, ST_AUDIT_LOG_FILE, NULL))
        return 0;
    int wfd = open(wpath, O_RDONLY | O_CLOEXEC);
    int lfd = open(lpath, O_RDONLY | O_CLOEXEC);
    st_audit_wal_recovery r;
    int pending = wfd >= 0 && lfd >= 0 &&
                  replay(wfd, lfd, lpath, 1, &r, NULL) == ST_OK &&
                  (r.restored || r.cut);
    if (wfd >= 0)
        close(wfd);
    if (lfd >= 0)
        close(lfd);
    return pending;
}

st_code st_audit_wal_recover(st_audit_wal *w, int log_fd, const char *log_path,
                             st_audit_wal_recovery *out, st_err *err)
{
    w->gen = 0; /* where the cycle continues is the state's to say */
    return replay(w->fd, log_fd, log_path, 0, out, err);
}
