/*
 * keys_db.h (private to src/keys): the keys module's rows in the catalog,
 * all of its SQL in keys_db.c.
 *
 * keyring_state: one row, the generation and MAC of the keyring file in
 * force, with their authenticator (HMAC under the keyring's MAC key: see
 * keyring.c, which computes and checks it; this file only stores it).
 * The datasets a KEK wraps are read (never written) to find a KEK's owner
 * in workspaces from before KEK owners (kek_owner.c).
 */
#ifndef SEALTRAIN_KEYS_KEYS_DB_H
#define SEALTRAIN_KEYS_KEYS_DB_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/err.h"
#include "sealtrain/workspace.h"

/* Creates or updates the keys module's tables. */
ST_MUST_CHECK st_code st_keys_db_migrate(st_workspace *ws, st_err *err);

/* Records (generation, MAC, authenticator), inside the caller's
 * transaction when one is open. */
ST_MUST_CHECK st_code st_keys_db_state_put(st_workspace *ws, uint64_t gen,
                                           const char mac[65],
                                           const char auth[65], st_err *err);

/* The recorded state: *have 0 when there is none; auth[0] == 0 for a
 * record from before authenticators existed. */
ST_MUST_CHECK st_code st_keys_db_state_get(st_workspace *ws, int *have,
                                           uint64_t *gen, char mac[65],
                                           char auth[65], st_err *err);

/* The one registered owner of the datasets wrapped under KEK `name`, ""
 * when there is none or more than one. */
ST_MUST_CHECK st_code st_keys_db_wrapped_owner(st_workspace *ws,
                                               const char *name, char *out,
                                               size_t cap, st_err *err);

#endif
