/*
 * fuzz_gzip.c: gzip-compressed input to the dataset readers (the inflating
 * byte source of src/data/rows.c). Byte 0 chooses:
 *  - bit 0 set: the rest is taken as the compressed file itself (bad
 *    headers, CRCs and lengths, truncation, concatenated members, bytes
 *    after a member), read as CSV (bit 1 clear) or LIBSVM (bit 1 set): no
 *    crash, and what scans converts (fuzz_convert);
 *  - bit 0 clear: the rest is a plain CSV or LIBSVM file that the harness
 *    compresses into two gzip members, split at the position byte 1 gives;
 *    the compressed input must be accepted exactly when the plain one is,
 *    and give the same tensor, byte for byte (plain bytes that begin
 *    with gzip's magic are skipped: they would be inflated as well).
 */
#include <zlib.h>

#include "data/rows.h"
#include "fuzz_data_common.h"

/* One gzip member of p[0..n) appended to *out. */
static int gzip_member(const uint8_t *p, size_t n, st_buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uint8_t chunk[4096];
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    int zr;
    do {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        zr = deflate(&z, Z_FINISH);
        if (st_buf_append(out, chunk, sizeof(chunk) - z.avail_out, NULL) !=
            ST_OK)
            zr = Z_MEM_ERROR;
    } while (zr == Z_OK);
    deflateEnd(&z);
    return zr == Z_STREAM_END ? 0 : -1;
}

/* The tensor of `in`, or -1 when the readers refuse it. */
static int tensor_of(const st_data_input *in, st_buf *out)
{
    st_data_schema sc;
    st_err e;
    if (st_data_scan(in, &sc, NULL, NULL, &e) != ST_OK)
        return -1;
    uint64_t size = 0;
    uint8_t sha[32];
    st_code rc =
        st_data_convert(in, &sc, fuzz_sink, out, NULL, NULL, &size, sha, &e);
    st_data_schema_free(&sc);
    if (rc != ST_OK)
        abort(); /* the same bytes scanned fine: convert must too */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    st_data_format f = data[0] & 2 ? ST_DATA_LIBSVM : ST_DATA_CSV;
    const char *label = f == ST_DATA_CSV ? "y" : NULL;
    if (data[0] & 1) {
        st_data_input in = {.format = f,
                            .path = "fuzz.gz",
                            .label = label,
                            .data = data + 1,
                            .data_len = size - 1};
        fuzz_convert(&in);
        return 0;
    }
    const uint8_t *plain = data + 2;
    size_t n = size - 2, cut = n ? data[1] % (n + 1) : 0;
    if (n >= 2 && plain[0] == 0x1f && plain[1] == 0x8b)
        return 0; /* "plain" bytes that are gzip would be inflated too */
    st_buf gz, a, b;
    st_buf_init(&gz);
    st_buf_init(&a);
    st_buf_init(&b);
    if (gzip_member(plain, cut, &gz) != 0 ||
        gzip_member(plain + cut, n - cut, &gz) != 0)
        abort();
    st_data_input pin = {.format = f,
                         .path = "fuzz",
                         .label = label,
                         .data = plain,
                         .data_len = n};
    st_data_input zin = {.format = f,
                         .path = "fuzz.gz",
                         .label = label,
                         .data = gz.data,
                         .data_len = gz.len};
    /* an empty plain input is no input at all; compressed, it is a
     * member of nothing: both refused, for different reasons */
    int pa = tensor_of(&pin, &a), za = tensor_of(&zin, &b);
    if (pa != za ||
        (pa == 0 && (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)))
        abort();
    st_buf_free(&gz);
    st_buf_free(&a);
    st_buf_free(&b);
    return 0;
}
