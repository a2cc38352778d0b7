/*
 * keys/stamp.h: internal to libsealtrain (the gate keeps a dataset's file
 * key while the keyring file is unchanged, src/broker/gate.c); not part of
 * the public sealtrain/keyring.h.
 */
#ifndef SEALTRAIN_KEYS_STAMP_H
#define SEALTRAIN_KEYS_STAMP_H

#include <stdint.h>

#include "sealtrain/keyring.h"

/* What tells a handle that the keyring file changed (it loads it again
 * when this differs from what it loaded): the file's identity, size and
 * modification time, and whether a change is being committed. Equal
 * stamps: every handle reads the same keys and versions. `ok` is 0 when
 * the file could not be looked at; such a stamp equals no other. */
typedef struct st_keyring_stamp {
    uint64_t dev, ino, size, sec, nsec;
    int next, ok;
} st_keyring_stamp;
void st_keyring_stamp_get(st_keyring *kr, st_keyring_stamp *out);
int st_keyring_stamp_equal(const st_keyring_stamp *a,
                           const st_keyring_stamp *b);

#endif
