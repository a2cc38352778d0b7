/*
 * runtime.h (private): the enclave runtime's entry point and what the
 * controller hands it at fork time. Only src/job/run.c starts it, inside
 * st_sandbox_spawn(); everything else reaches it through the broker
 * protocol (broker.h) on its socket.
 *
 * The arguments carry no KEK and no dataset key: only descriptors of the
 * encrypted inputs, the output directory, the signed job spec and, for the
 * sim backend, the simulated platform's signing key (the "hardware" key
 * of an insecure TEE; a real TEE keeps it in silicon).
 */
#ifndef SEALTRAIN_ENCLAVE_RUNTIME_H
#define SEALTRAIN_ENCLAVE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "sealtrain/attest.h"
#include "sealtrain/jobspec.h"

#define ST_RUNTIME_MAX_DATASETS 2 /* train, validation */

/* Files the runtime writes in its output directory. */
#define ST_RUNTIME_MODEL_FILE "model.age"
#define ST_RUNTIME_CHECKPOINT_FILE "checkpoint.enc"
#define ST_RUNTIME_PREDICTIONS_FILE "predictions.age"
/* The KEYS entry by which controllers once sent a checkpoint key: the
 * runtime derives its own and ignores any entry by this name. */
#define ST_RUNTIME_CHECKPOINT_KEY "job:checkpoint"

/* Exit statuses of the runtime (besides 0). */
#define ST_RUNTIME_EXIT_FAILED 1 /* reported in an ERROR message */
#define ST_RUNTIME_EXIT_DENIED 4 /* the broker refused the keys */
#define ST_RUNTIME_EXIT_CANCEL 6 /* CANCEL received */
#define ST_RUNTIME_EXIT_PROTO 7  /* the broker broke the protocol */

typedef struct st_runtime_dataset {
    char name[ST_JOB_NAME_MAX + 1];
    int fd;                      /* the encrypted file, read-only */
    uint8_t plain_sha256[32];    /* from the verified manifest */
    uint8_t manifest_sha256[32]; /* of the signed manifest's payload */
} st_runtime_dataset;

typedef struct st_runtime_args {
    char job_id[ST_JOB_ID_LEN + 1];
    const char *spec; /* the signed payload (job spec JSON) */
    size_t spec_len;
    st_tee tee;
    const unsigned char *sim_seed; /* sim: platform key (locked page) */
    int agent_fd; /* tpm: socket to the platform's attestation agent */
    uint8_t measurement[32]; /* SHA-256 of the runtime binary */
    size_t ndatasets;        /* [0] train, [1] validation (opt.) */
    st_runtime_dataset ds[ST_RUNTIME_MAX_DATASETS];
    int outdir_fd;
    /* a model-use job (evaluate, predict): the sealed model file of the
     * version the signed spec names, read-only; its file key comes in
     * KEYS as "model:NAME@VERSION", released by the gate; -1 otherwise */
    int model_fd;
    int resume; /* continue from checkpoint.enc in the output directory */
    size_t nrecipients; /* the job's recipients allowed by every policy */
    char recipients[ST_JOB_MAX_RECIPIENTS][ST_JOB_RECIPIENT_MAX];
} st_runtime_args;

/* The platform attestation agent (tpm): the TPM (swtpm over TCP, or a
 * device) is not reachable from the sandbox, so a small process outside
 * it, started before the keyring is opened and holding no key, extends
 * the application PCR with what the platform measured (the runtime
 * binary, the job spec, the encrypted datasets) and quotes it over the
 * runtime's report data. The runtime sends the 64 report-data bytes as an
 * EVIDENCE frame; the agent answers with the evidence bundle (EVIDENCE)
 * or ERROR, once, and exits. */
typedef struct st_agent_args {
    const char *tcti; /* NULL: $SEALTRAIN_TPM_TCTI */
    size_t nitems;
    st_measure_item items[2 + ST_RUNTIME_MAX_DATASETS];
} st_agent_args;
int st_agent_main(const st_agent_args *a, int sock);

/* The runtime: the sandboxed child's main (st_sandbox_main). */
int st_runtime_main(void *arg, int sock);

/* Checkpoint files: "STCKENC3" || nonce (12) || ChaCha20-Poly1305(u32le
 * state length || state || the metrics history as compact JSON) under
 * the key the runtime derives from the released file keys, the job id and
 * the spec digest (runtime.c, rt_checkpoint_key), AAD
 * "sealtrain-checkpoint-v3" 0 job id 0 spec digest (32 bytes), so that a
 * resumed job's history starts at its first epoch. Version 2
 * ("STCKENC2", AAD "...-v2", the state alone) is still resumed, with the
 * history of the resumed run only; version 1 ("STCKENC1") was sealed
 * under a key the controller made and is refused. */
#define ST_CHECKPOINT_MAGIC "STCKENC3"
#define ST_CHECKPOINT_MAGIC_V2 "STCKENC2"
#define ST_CHECKPOINT_MAGIC_V1 "STCKENC1"

#endif
