/*
 * st_test.h: helpers shared by the cmocka unit tests.
 */
#ifndef ST_TEST_H
#define ST_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* Path of the shared test vectors, relative to the project root (tests run
 * from there). */
#define ST_VECTORS "../shared/testvectors"

/* A fresh private temporary directory under $ST_TEST_TMP (or /tmp);
 * returns a malloc'ed path. */
static inline char *st_test_tmpdir(const char *tag)
{
    const char *base = getenv("ST_TEST_TMP");
    char tmpl[4096];
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    snprintf(tmpl, sizeof(tmpl), "%s/%s.XXXXXX", base, tag);
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

/* rm -rf of a test directory. */
static inline void st_test_rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Fails the test with the error's message when rc != ST_OK. */
#define assert_st_ok(expr, errp)                                             \
    do {                                                                     \
        st_code rc_ = (expr);                                                \
        if (rc_ != ST_OK)                                                    \
            fail_msg("%s failed: %s", #expr, (errp)->msg);                   \
    } while (0)

#endif
