/*
 * state.c: the names of a job's states (sealtrain/jobspec.h), as the
 * catalog stores them, the runtime reports them and `job status` prints
 * them.
 * The transitions between them are the job controller's (src/job/job_db.c).
 *
 * Never: give two states one name, or a name to a value that is no state.
 */
#include <stdio.h>
#include <string.h>

#include "sealtrain/jobspec.h"

static const char *const state_names[] = {
    "queued",  "attesting", "keyed",  "loading",  "training",
    "sealing", "succeeded", "failed", "cancelled"};

const char *st_job_state_name(st_job_state s)
{
    return (unsigned)s < sizeof(state_names) / sizeof(state_names[0])
               ? state_names[s]
               : "?";
}

st_code st_job_state_parse(const char *name, st_job_state *out, st_err *err)
{
    for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (!strcmp(name, state_names[i])) {
            *out = (st_job_state)i;
            return ST_OK;
        }
    return st_err_set(err, ST_E_INPUT, "unknown job state \"%s\"", name);
}

int st_job_state_terminal(st_job_state s)
{
    return s == ST_JOB_SUCCEEDED || s == ST_JOB_FAILED || s == ST_JOB_CANCELLED;
}

void st_job_model_file_name(const st_job_spec *spec, const char *job_id,
                            char *out, size_t cap)
{
    snprintf(out, cap, "%s-%s.age", spec->model_name, job_id);
}
