/*
 * model_internal.h: helpers shared by the files of src/model/ (not public).
 */
#ifndef SEALTRAIN_MODEL_INTERNAL_H
#define SEALTRAIN_MODEL_INTERNAL_H

#include <jansson.h>

#include "sealtrain/model.h"
#include "sealtrain/train.h"

/* ST_E_IO naming the registry step and SQLite's message. */
ST_MUST_CHECK st_code st_model_db_err(st_workspace *ws, const char *what,
                                      st_err *err);
/* An "operation" audit entry for resource "model:NAME@VERSION"; takes
 * `details` (may be NULL). Failure to append is logged (st_error). */
void st_model_audit(st_workspace *ws, const char *actor, const char *action,
                    const st_model_record *r, const char *outcome,
                    const char *reason, json_t *details);

/* ONNX export of a gbdt model (onnx_trees.c): `sf` is the parsed sealed
 * buffer whose metadata says sealtrain.model_type "gbdt". As
 * st_model_onnx_export otherwise. */
ST_MUST_CHECK st_code st_model_onnx_export_gbdt(const st_safetensors *sf,
                                                const char *graph_name,
                                                void **out, size_t *out_len,
                                                st_err *err);

#endif
