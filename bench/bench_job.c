/*
 * bench_job.c: the plain side of bench/job.sh: the same training as a
 * secure job, in one ordinary process: read the dataset's plaintext tensor
 * (the data owner's own decryption of it), train with the same engine and
 * configuration (the job spec's "model" and "training"), print the wall
 * time as JSON. No sandbox, no attestation, no encryption.
 *
 *   bench_job TENSOR_FILE SPEC_JSON
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sealtrain/sealtrain.h"

#include "train/train.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_job TENSOR_FILE SPEC_JSON\n");
        return 2;
    }
    st_err e;
    st_err_clear(&e);
    double t0 = now_s();
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *spec = st_json_load_file(argv[2], 1 << 20, &e);
    st_tensor_view v;
    st_train_config cfg;
    st_trainer *t = NULL;
    if (!spec || st_fs_read_all(argv[1], (size_t)1 << 34, &buf, &len, &e) ||
        st_tensor_parse(buf, len, &v, &e) ||
        st_train_config_from_json(json_object_get(spec, "model"),
                                  json_object_get(spec, "training"), &cfg,
                                  &e)) {
        fprintf(stderr, "bench_job: %s\n", e.msg);
        return 1;
    }
    st_train_data d = {v.features, v.labels, (size_t)v.rows,
                       v.cols,     1,        v.classes};
    double t1 = now_s();
    if (st_train_config_resolve(&cfg, &d, &e) || st_trainer_new(&cfg, &t, &e) ||
        st_trainer_fit(t, &d, NULL, NULL, NULL, &e)) {
        fprintf(stderr, "bench_job: %s\n", e.msg);
        return 1;
    }
    double t2 = now_s();
    printf("{\"load_seconds\":%.3f,\"train_seconds\":%.3f,\"total_seconds\":"
           "%.3f}\n",
           t1 - t0, t2 - t1, t2 - t0);
    st_trainer_free(t);
    free(buf);
    json_decref(spec);
    return 0;
}
