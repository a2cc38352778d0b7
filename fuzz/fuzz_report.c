/*
 * fuzz_report.c: libFuzzer harness for the training report's rendering
 * (report.h): any JSON document, as st_report_collect would build from a
 * job whose metrics and names are hostile, renders without a crash, and
 * every '<' of the page opens one of the page's own elements: nothing in
 * the document becomes markup.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealtrain/json.h"
#include "sealtrain/report.h"

static const char *const tags[] = {
    "!DOCTYPE", "html", "head",   "meta",   "title", "style",   "body",
    "main",     "h1",   "h2",     "p",      "code",  "section", "table",
    "tr",       "th",   "td",     "figure", "svg",   "rect",    "text",
    "line",     "path", "circle", "footer", "br",    "span"};

static void check_markup(const char *s, size_t len)
{
    for (const char *p = memchr(s, '<', len); p;
         p = memchr(p + 1, '<', len - (size_t)(p + 1 - s))) {
        const char *n = p + 1 + (p[1] == '/');
        size_t k = 0;
        while (isalnum((unsigned char)n[k]) || n[k] == '!')
            k++;
        int known = 0;
        for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
            known |= strlen(tags[i]) == k && !strncmp(n, tags[i], k);
        if (!known)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = st_json_parse((const char *)data, size, "fuzz", NULL);
    if (!doc)
        return 0;
    st_buf b;
    st_buf_init(&b);
    if (st_report_html(doc, &b, NULL) == ST_OK)
        check_markup((const char *)b.data, b.len);
    st_buf_free(&b);
    st_report_chart *c = NULL;
    size_t n = 0;
    if (st_report_charts(doc, &c, &n, NULL) == ST_OK)
        for (size_t i = 0; i < n; i++)
            check_markup((const char *)c[i].svg.data, c[i].svg.len);
    st_report_charts_free(c, n);
    json_decref(doc);
    return 0;
}
