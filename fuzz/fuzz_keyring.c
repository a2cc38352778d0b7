/*
 * fuzz_keyring.c: the keyring file parsers (keys/keyring.json and
 * keys/root.json, src/keys/keyring_file.c) on arbitrary bytes. Whatever
 * parses must re-serialise and parse again to the same MAC input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keyring_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_err e;
    st_kr_data *d = NULL;
    static const uint8_t mac_key[32] = {1};
    if (st_kr_data_parse((const char *)data, size, "fuzz", &d, &e) == ST_OK) {
        size_t len;
        uint8_t mac1[32], mac2[32];
        if (st_kr_data_mac(d, mac_key, mac1, &e) != ST_OK)
            abort();
        char *text = st_kr_data_serialize(d, mac_key, &len, &e);
        if (!text)
            abort();
        st_kr_data *d2 = NULL;
        if (st_kr_data_parse(text, len, "again", &d2, &e) != ST_OK ||
            st_kr_data_mac(d2, mac_key, mac2, &e) != ST_OK ||
            memcmp(mac1, mac2, 32) != 0)
            abort();
        st_kr_data_free(d2);
        free(text);
        st_kr_data_free(d);
    }
    st_root_file rf;
    if (st_root_file_parse((const char *)data, size, "fuzz", &rf, &e) ==
        ST_OK) {
        size_t len;
        char *text = st_root_file_serialize(&rf, &len, &e);
        st_root_file rf2;
        if (!text ||
            st_root_file_parse(text, len, "again", &rf2, &e) != ST_OK ||
            rf2.kind != rf.kind)
            abort();
        st_root_file_clear(&rf2);
        free(text);
        st_root_file_clear(&rf);
    }
    return 0;
}
