/*
 * report.h: a job's training report (docs/jobs.md, "Training reports").
 *
 * A report is built in two steps. st_report_collect gathers, for a
 * principal allowed to read the job (job.read on "job:ID", the check of
 * `job status`), what the report shows into one JSON document: the job,
 * its signed spec's hyperparameters, the metrics the runtime reported
 * (per-epoch or per-round history, final evaluation, confusion matrix,
 * feature importances), the attestation verdicts with their EAR digests,
 * the model's version and digest and the datasets' digests from its
 * registry record, and the training dataset's feature names from its
 * signed manifest. Nothing in it is secret: no weights, no rows, no keys.
 * st_report_html and st_report_charts render that document; they are
 * pure functions, and every string of the document is escaped, since
 * names (datasets, features, classes) are chosen by whoever imported the
 * data.
 */
#ifndef SEALTRAIN_REPORT_H
#define SEALTRAIN_REPORT_H

#include <jansson.h>
#include <stddef.h>

#include "sealtrain/bytes.h"
#include "sealtrain/err.h"
#include "sealtrain/workspace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The report document of job `id` for `principal` (NULL in a workspace
 * without principals), into *doc (json_decref). ST_E_DENIED when the
 * principal may not read the job, ST_E_NOTFOUND when there is no such
 * job. A job that has not finished gives a document without result. */
ST_MUST_CHECK st_code st_report_collect(st_workspace *ws, const char *principal,
                                        const char *id, json_t **doc,
                                        st_err *err);

/* One chart of a report: its file name ("loss.svg", "accuracy.svg",
 * "mse.svg", "mae.svg", "r2.svg", "confusion.svg", "importance.svg") and
 * a standalone SVG document. */
typedef struct st_report_chart {
    char name[32];
    char title[64];
    st_buf svg;
} st_report_chart;

/* The charts the document has data for, in report order (possibly none).
 * Free with st_report_charts_free. Malformed parts of the document are
 * left out, never an error; ST_E_IO only when memory runs out. */
ST_MUST_CHECK st_code st_report_charts(const json_t *doc,
                                       st_report_chart **charts, size_t *n,
                                       st_err *err);
void st_report_charts_free(st_report_chart *charts, size_t n);

/* The whole report as one self-contained HTML5 page appended to `out`:
 * inline CSS and SVG, no script, no external resource (its
 * Content-Security-Policy allows none). */
ST_MUST_CHECK st_code st_report_html(const json_t *doc, st_buf *out,
                                     st_err *err);

#ifdef __cplusplus
}
#endif
#endif
