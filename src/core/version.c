/* version.c: the library version, set by the build. */
#include "sealtrain/version.h"

const char *st_version(void)
{
    return ST_VERSION;
}
