/*
 * fuzz_client_config.c: libFuzzer harness for the client configuration
 * parser (`sealtrain --server FILE`, st_client_config_parse). Property:
 * no crash or leak; what parses names an https:// server and
 * NUL-terminated paths under the base directory or absolute.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sealtrain/sealtrain.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_client_config c;
    if (st_client_config_parse((const char *)data, size, "fuzz", "/base", &c,
                               NULL) != ST_OK)
        return 0;
    if (strncmp(c.server, "https://", 8) != 0 ||
        memchr(c.server, 0, sizeof(c.server)) == NULL)
        abort();
    const char *paths[3] = {c.cert, c.cacert, c.key};
    for (size_t i = 0; i < 3; i++)
        if (paths[i][0] && paths[i][0] != '/')
            abort(); /* relative paths are joined to the base directory */
    return 0;
}
