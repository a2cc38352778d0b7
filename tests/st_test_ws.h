/*
 * st_test_ws.h: a workspace with an open keyring for unit tests that need
 * one.
 */
#ifndef ST_TEST_WS_H
#define ST_TEST_WS_H

#include <sealtrain/sealtrain.h>

#include "st_test.h"

/* Creates the workspace `ws_dir` protected by the key file
 * `<root>/root.key` and opens its keyring where the workspace now is (the
 * keyring is made in the staging directory, so it is reopened). */
static inline void st_test_workspace(const char *root, const char *ws_dir,
                                     st_workspace **ws, st_keyring **kr)
{
    st_err e;
    char spec[4300];
    snprintf(spec, sizeof(spec), "file:%s/root.key", root);
    st_protect p;
    assert_st_ok(st_protect_parse(spec, &p, &e), &e);
    assert_st_ok(st_workspace_create_begin(ws_dir, &p, ws, &e), &e);
    assert_st_ok(st_keyring_create(*ws, kr, &e), &e);
    assert_st_ok(st_workspace_create_commit(*ws, &e), &e);
    st_keyring_close(*kr);
    assert_st_ok(st_keyring_open(*ws, kr, &e), &e);
}

#endif
