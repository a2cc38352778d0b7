/*
 * sealtrain/doctor.h: what this machine offers for confidential training:
 * TEE guest support, TPM, memory encryption, CPU crypto features, the
 * kernel's sandboxing features, resource controls and the secure-memory
 * mode. Each check says found / missing / unknown and what that means for
 * security. A check reports "found" only for what it positively detected;
 * what it cannot determine is "unknown", never assumed.
 */
#ifndef SEALTRAIN_DOCTOR_H
#define SEALTRAIN_DOCTOR_H

#include <jansson.h>
#include <stddef.h>

#include "sealtrain/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum st_doctor_status {
    ST_DOCTOR_FOUND = 0,
    ST_DOCTOR_MISSING,
    ST_DOCTOR_UNKNOWN
} st_doctor_status;

typedef struct st_doctor_check {
    char name[48]; /* stable id, e.g. "tee.sev-snp" */
    st_doctor_status status;
    char detail[256];  /* what was seen, e.g. "/dev/tpmrm0" */
    char meaning[320]; /* what it means for security */
} st_doctor_check;

#define ST_DOCTOR_MAX_CHECKS 32

typedef struct st_doctor_report {
    size_t n;
    st_doctor_check checks[ST_DOCTOR_MAX_CHECKS];
} st_doctor_report;

/* Runs every check (may fork a short-lived child to try user
 * namespaces). Never fails as a whole: a check that cannot run is
 * "unknown". */
void st_doctor_run(st_doctor_report *out);
const char *st_doctor_status_name(st_doctor_status s);
/* {"checks": [{"name", "status", "detail", "meaning"}...]}; new ref. */
json_t *st_doctor_report_json(const st_doctor_report *r);

#ifdef __cplusplus
}
#endif
#endif
