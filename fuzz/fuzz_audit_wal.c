/*
 * fuzz_audit_wal.c: the replay of log.wal after a kernel crash
 * (st_audit_wal_recover, src/audit/wal.c) on arbitrary record bytes.
 *
 * Input: gen (u64), base (u64), log length (u16), that many bytes of
 * log.jsonl, then the record area of log.wal (from offset 4096). The
 * harness seals a header for gen/base with another boot id, so the replay
 * runs. Properties: no crash, no read or write out of bounds, the log
 * below `base` is never changed, and the log ends where the replayed
 * records end unless what lay beyond held no NUL byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 18)
        return 0;
    st_audit_wal_header h;
    memset(&h, 0, sizeof(h));
    memcpy(&h.gen, data, 8);
    memcpy(&h.base, data + 8, 8);
    uint16_t loglen;
    memcpy(&loglen, data + 16, 2);
    data += 18;
    size -= 18;
    if (loglen > size)
        loglen = (uint16_t)size;
    h.base %= (uint64_t)loglen + 1;
    memset(h.boot, 0xee, sizeof(h.boot));
    st_audit_wal_header_seal(&h);
    const uint8_t *recs = data + loglen;
    size_t nrecs = size - loglen;
    if (nrecs > ST_AUDIT_WAL_CAP - ST_AUDIT_WAL_DATA)
        nrecs = ST_AUDIT_WAL_CAP - ST_AUDIT_WAL_DATA;

    int lfd = memfd_create("log", 0), wfd = memfd_create("wal", 0);
    if (lfd < 0 || wfd < 0)
        abort();
    if (write(lfd, data, loglen) != loglen ||
        pwrite(wfd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
        pwrite(wfd, recs, nrecs, ST_AUDIT_WAL_DATA) != (ssize_t)nrecs)
        abort();
    st_audit_wal w;
    memset(&w, 0, sizeof(w));
    w.fd = wfd;
    w.dfd = -1;
    st_audit_wal_recovery rec;
    st_err err;
    if (st_audit_wal_recover(&w, lfd, "log", &rec, &err) == ST_OK) {
        if (!rec.ran || rec.end < h.base)
            abort();
        struct stat st;
        fstat(lfd, &st);
        uint8_t *now = malloc((size_t)st.st_size + 1);
        if (!now ||
            pread(lfd, now, (size_t)st.st_size, 0) != (ssize_t)st.st_size)
            abort();
        if (memcmp(now, data, (size_t)h.base) != 0)
            abort(); /* the durable part was changed */
        if ((uint64_t)st.st_size > rec.end &&
            memchr(now + rec.end, 0, (size_t)st.st_size - rec.end))
            abort(); /* a NUL-holding tail was left */
        free(now);
    }
    close(lfd);
    close(wfd);
    return 0;
}
