/* version.c: the library version, set by the build. */
#include "sealtrain/sealtrain.h"

const char *st_version(void)
{
    return ST_VERSION;
}
