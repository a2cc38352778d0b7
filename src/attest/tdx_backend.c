/*
 * tdx_backend.c: the request path of the `tdx` evidence backend: a TDX
 * quote for 64 bytes of report data through configfs-tsm.
 *
 * Protocol (Linux Documentation/ABI/testing/configfs-tsm): mkdir an entry
 * under the report directory, write the 64-byte report data to "inblob",
 * read "generation", read the quote from "outblob", read "generation"
 * again (a change means another writer raced us and the quote may not be
 * ours), check "provider" is "tdx_guest", rmdir the entry.
 *
 * The report directory is a parameter so that unit tests drive this code
 * against a plain directory holding recorded quote bytes. configfs
 * attributes are written in place (they are not files that could be
 * replaced atomically). This file never parses or verifies the quote:
 * dcap_quote.c / dcap_verify.c do.
 */
#include "attest/dcap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealtrain/bytes.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"

#define TSM_MAX_QUOTE (64u << 10)

static st_code read_small(const char *dir, const char *name, char *out,
                          size_t cap, st_err *err)
{
    char path[4096];
    unsigned char *buf;
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (st_fs_read_all(path, cap - 1, &buf, &len, err) != ST_OK)
        return st_err_prefix(err, "configfs-tsm %s", name);
    memcpy(out, buf, len);
    out[len] = 0;
    free(buf);
    /* attributes end with a newline */
    while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
        out[--len] = 0;
    return ST_OK;
}

st_code st_tdx_tsm_entry_quote(const char *entry, const uint8_t report_data[64],
                               uint8_t **out, size_t *outlen, st_err *err)
{
    char path[4096], provider[64], gen1[32], gen2[32];
    unsigned char *quote = NULL;
    size_t qlen;
    *out = NULL;
    *outlen = 0;
    snprintf(path, sizeof(path), "%s/inblob", entry);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "configfs-tsm: opening %s",
                            path);
    st_code rc = st_fs_write_fd(fd, report_data, 64, path, err);
    if (close(fd) != 0 && rc == ST_OK)
        rc =
            st_err_errno(err, ST_E_IO, errno, "configfs-tsm: writing %s", path);
    if (rc != ST_OK)
        return rc;
    if ((rc = read_small(entry, "provider", provider, sizeof(provider), err)) !=
        ST_OK)
        return rc;
    if (strcmp(provider, "tdx_guest") != 0)
        return st_err_set(err, ST_E_IO,
                          "configfs-tsm: provider is \"%s\", not tdx_guest "
                          "(not a TDX guest?)",
                          provider);
    if ((rc = read_small(entry, "generation", gen1, sizeof(gen1), err)) !=
        ST_OK)
        return rc;
    snprintf(path, sizeof(path), "%s/outblob", entry);
    if ((rc = st_fs_read_all(path, TSM_MAX_QUOTE, &quote, &qlen, err)) != ST_OK)
        return st_err_prefix(err, "configfs-tsm outblob");
    if ((rc = read_small(entry, "generation", gen2, sizeof(gen2), err)) !=
        ST_OK) {
        free(quote);
        return rc;
    }
    if (strcmp(gen1, gen2) != 0) {
        free(quote);
        return st_err_set(err, ST_E_IO,
                          "configfs-tsm: generation changed from %s to %s "
                          "while reading the quote (concurrent writer)",
                          gen1, gen2);
    }
    if (qlen == 0) {
        free(quote);
        return st_err_set(err, ST_E_IO, "configfs-tsm: empty outblob");
    }
    *out = quote;
    *outlen = qlen;
    return ST_OK;
}

st_code st_tdx_quote_request(const char *root, const uint8_t report_data[64],
                             uint8_t **out, size_t *outlen, st_err *err)
{
    char entry[4096], tag[17];
    uint8_t rnd[8];
    struct stat st;
    *out = NULL;
    *outlen = 0;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return st_err_errno(err, ST_E_IO, errno,
                            "configfs-tsm report directory %s is not "
                            "available (not a TDX guest, or configfs not "
                            "mounted)",
                            root);
    if (st_random(rnd, sizeof(rnd), err) != ST_OK)
        return ST_E_IO;
    st_hex_encode(rnd, sizeof(rnd), tag);
    snprintf(entry, sizeof(entry), "%s/sealtrain-%ld-%s", root, (long)getpid(),
             tag);
    if (mkdir(entry, 0700) != 0)
        return st_err_errno(err, ST_E_IO, errno,
                            "configfs-tsm: creating report entry %s", entry);
    st_code rc = st_tdx_tsm_entry_quote(entry, report_data, out, outlen, err);
    /* configfs entries hold no files of ours: rmdir removes them. */
    if (rmdir(entry) != 0 && rc == ST_OK) {
        rc = st_err_errno(err, ST_E_IO, errno,
                          "configfs-tsm: removing report entry %s", entry);
        free(*out);
        *out = NULL;
        *outlen = 0;
    }
    return rc;
}
