#include "data/rows.h"
/*
#include "data/rows.h"
 * fuzz_data_common.h: shared body of the dataset reader harnesses: scan
#include "data/rows.h"
 * and convert an input in memory; whatever the readers accept must
#include "data/rows.h"
 * convert to a tensor that st_tensor_parse accepts, of the announced size.
#include "data/rows.h"
 */
#include "data/rows.h"
#ifndef FUZZ_DATA_COMMON_H
#include "data/rows.h"
#define FUZZ_DATA_COMMON_H
#include "data/rows.h"

#include "data/rows.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/rows.h"
#include <sealtrain/readers.h>
#include <sealtrain/sealtrain.h>

#include "data/rows.h"
static ST_MUST_CHECK st_code fuzz_sink(void *ctx, const uint8_t *p, size_t n,
#include "data/rows.h"
                                       st_err *err)
#include "data/rows.h"
{
#include "data/rows.h"
    return st_buf_append(ctx, p, n, err);
#include "data/rows.h"
}
#include "data/rows.h"

#include "data/rows.h"
static void fuzz_convert(const st_data_input *in)
#include "data/rows.h"
{
#include "data/rows.h"
    st_data_schema sc;
#include "data/rows.h"
    st_err e;
#include "data/rows.h"
    if (st_data_scan(in, &sc, NULL, NULL, &e) != ST_OK)
#include "data/rows.h"
        return;
#include "data/rows.h"
    st_buf b;
#include "data/rows.h"
    st_buf_init(&b);
#include "data/rows.h"
    uint64_t size = 0;
#include "data/rows.h"
    uint8_t sha[32];
#include "data/rows.h"
    if (st_data_convert(in, &sc, fuzz_sink, &b, NULL, NULL, &size, sha, &e) !=
#include "data/rows.h"
        ST_OK)
#include "data/rows.h"
        abort(); /* the same bytes scanned fine: convert must too */
#include "data/rows.h"
    st_tensor_view v;
#include "data/rows.h"
    if (size != b.len || st_tensor_parse(b.data, b.len, &v, &e) != ST_OK ||
#include "data/rows.h"
        v.rows != sc.rows || v.cols != sc.cols || v.classes != sc.classes ||
#include "data/rows.h"
        v.targets != sc.targets)
#include "data/rows.h"
        abort();
#include "data/rows.h"
    st_buf_free(&b);
#include "data/rows.h"
    st_data_schema_free(&sc);
#include "data/rows.h"
}
#include "data/rows.h"

#include "data/rows.h"
#endif
