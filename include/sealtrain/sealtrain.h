/*
 * sealtrain/sealtrain.h: the whole public API of libsealtrain.
 *
 * Include this one header; each module's header is included below.
 */
#ifndef SEALTRAIN_SEALTRAIN_H
#define SEALTRAIN_SEALTRAIN_H

#include "sealtrain/access.h"
#include "sealtrain/age.h"
#include "sealtrain/attest.h"
#include "sealtrain/audit.h"
#include "sealtrain/broker.h"
#include "sealtrain/bytes.h"
#include "sealtrain/check.h"
#include "sealtrain/cleanup.h"
#include "sealtrain/clock.h"
#include "sealtrain/collateral.h"
#include "sealtrain/crypto.h"
#include "sealtrain/dataset.h"
#include "sealtrain/doctor.h"
#include "sealtrain/err.h"
#include "sealtrain/fs.h"
#include "sealtrain/identity.h"
#include "sealtrain/job.h"
#include "sealtrain/json.h"
#include "sealtrain/keyring.h"
#include "sealtrain/log.h"
#include "sealtrain/metrics.h"
#include "sealtrain/model.h"
#include "sealtrain/readers.h"
#include "sealtrain/release.h"
#include "sealtrain/report.h"
#include "sealtrain/secmem.h"
#include "sealtrain/server.h"
#include "sealtrain/version.h"
#include "sealtrain/workspace.h"

#endif
