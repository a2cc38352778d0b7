/*
 * model_internal.h: helpers shared by the files of src/model/ (not public).
 */
#ifndef SEALTRAIN_MODEL_INTERNAL_H
#define SEALTRAIN_MODEL_INTERNAL_H

#include <jansson.h>

#include "sealtrain/model.h"
#include "train/train.h"

/* ---- the registry's rows (model_db.c, all of the module's SQL) ---- */

/* ST_E_IO naming the registry step and SQLite's message. */
ST_MUST_CHECK st_code st_model_db_err(st_workspace *ws, const char *what,
                                      st_err *err);
/* The owner of the first version of model `name` ("" when none). */
ST_MUST_CHECK st_code st_model_db_first_owner(st_workspace *ws,
                                              const char *name, char *owner,
                                              size_t cap, st_err *err);
/* Inserts `r` as the next version of its name (r->version set), inside
 * the caller's transaction. */
ST_MUST_CHECK st_code st_model_db_insert(st_workspace *ws, st_model_record *r,
                                         st_err *err);
/* Records a shared copy of `r` sealed to `recipient` at `path`. */
ST_MUST_CHECK st_code st_model_db_share_put(st_workspace *ws,
                                            const st_model_record *r,
                                            const char *recipient,
                                            const char *path, const char *sha,
                                            const char *actor, st_err *err);
/* Calls fn for the path of each shared copy of `r`, stopping at the first
 * failure. */
typedef st_code (*st_model_db_path_fn)(void *ctx, const char *path,
                                       st_err *err);
ST_MUST_CHECK st_code st_model_db_share_paths(st_workspace *ws,
                                              const st_model_record *r,
                                              st_model_db_path_fn fn, void *ctx,
                                              st_err *err);
/* Marks `r` removed (its paths cleared, its shares deleted), inside the
 * caller's transaction. */
ST_MUST_CHECK st_code st_model_db_mark_removed(st_workspace *ws,
                                               const st_model_record *r,
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
