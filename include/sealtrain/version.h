/*
 * sealtrain/version.h: the library's version (set by the build), for the
 * CLI's --version and for what the library writes about itself
 * (provenance, attestation results, exported models).
 */
#ifndef SEALTRAIN_VERSION_H
#define SEALTRAIN_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

/* "0.1.0" */
const char *st_version(void);

#ifdef __cplusplus
}
#endif
#endif
