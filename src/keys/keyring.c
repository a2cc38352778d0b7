/*
 * keyring.c: the workspace keyring (see include/sealtrain/keyring.h,
 * file formats in keyring_file.h, user documentation in docs/keys.md).
 *
 * Key hierarchy:
 *   root key (32 random bytes)   protected by passphrase / TPM / key file
 *     wrap key = HKDF-SHA256(root, info "sealtrain kek wrap v1")
 *       KEK version = ChaCha20-Poly1305(wrap key, AAD "sealtrain-kek\0
 *                     NAME\0VERSION")            stored in keyring.json
 *     mac key  = HKDF-SHA256(root, info "sealtrain keyring mac v1")
 *       HMAC over keyring.json (tamper evidence)
 *
 * Every change is a read-modify-write under an exclusive flock on
 * keys/keyring.lock, and one transaction with the catalog and the
 * change's audit entry (save()): reload and re-authenticate the file,
 * change, write the new generation to keys/keyring.json.next (flushed,
 * file and directory), then in one catalog transaction record its
 * generation and MAC with the audit entry (src/audit/outbox.c), COMMIT,
 * and only then rename it over keyring.json. The COMMIT decides: a .next
 * whose generation and MAC the catalog recorded is the keyring in force
 * (load() takes it, and moves it into place under the lock); any other
 * .next never committed and is removed. A failed COMMIT is unknown until
 * the catalog's recovery at the next open, so the process that saw it
 * leaves .next alone. A keyring file older than what the catalog
 * recorded (with no committed .next) is a rollback and is refused; one
 * ahead of it (written by a version that replaced the file before the
 * catalog) is accepted and recorded.
 *
 * Must never: hold the root key, a wrap key or a KEK outside secure
 * memory; write key material unwrapped; log a secret; let a revoked
 * version unwrap (its material is deleted from the file, and the state is
 * checked before anything else).
 */
#include "sealtrain/keyring.h"
#include "audit/txn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "crypto/primitives.h"
#include "keys/keyring_file.h"
#include "keys/keys_db.h"
#include "keys/stamp.h"
#include "keys/tpm_seal.h"
#include "sealtrain/access.h"
#include "sealtrain/audit.h"
#include "sealtrain/crypto.h"
#include "sealtrain/fs.h"
#include "sealtrain/log.h"

#define KEYRING_MAX (16u << 20)
#define ROOT_MAX (64u << 10)
#define PASSPHRASE_MAX 1024

struct st_keyring {
    st_workspace *ws;
    st_secret *wrap_key;
    st_secret *mac_key;
    st_kr_data *data;
    char path[PATH_MAX];
    char next[PATH_MAX]; /* keyring.json.next: a change being committed */
    int unknown;         /* a commit of this handle's failed: see save() */
    struct stat seen;    /* keyring.json as last loaded */
};

const char *st_kek_state_name(st_kek_state state)
{
    switch (state) {
    case ST_KEK_ACTIVE: return "active";
    case ST_KEK_RETIRED: return "retired";
    case ST_KEK_REVOKED: return "revoked";
    }
    return "unknown";
}

/* --- unlocking the root key --------------------------------------------- */

/* Reads at most `max` bytes of a private file into a new secret. */
static ST_MUST_CHECK st_code read_private_secret(const char *path, size_t max,
                                                 const char *what,
                                                 st_secret **out, size_t *len,
                                                 st_err *err)
{
    *out = NULL;
    st_code rc = st_fs_check_private(path, err);
    if (rc) {
        if (rc == ST_E_NOTFOUND)
            return st_err_set(err, ST_E_NOTFOUND, "%s %s does not exist", what,
                              path);
        return st_err_prefix(err, "%s", what);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "open %s %s", what, path);
    st_secret *s = st_secret_new(max + 1, err);
    if (!s) {
        close(fd);
        return err ? err->code : ST_E_IO;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, st_secret_bytes(s) + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = st_err_errno(err, ST_E_IO, errno, "read %s %s", what, path);
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            rc = st_err_set(err, ST_E_INPUT, "%s %s is longer than %zu bytes",
                            what, path, max);
            break;
        }
    }
    close(fd);
    if (rc) {
        st_secret_free(s);
        return rc;
    }
    *out = s;
    *len = n;
    return ST_OK;
}

/* Prompts on the controlling terminal with echo off. */
static ST_MUST_CHECK st_code prompt_passphrase(const char *prompt,
                                               st_secret *buf, size_t *len,
                                               st_err *err)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return st_err_set(err, ST_E_USAGE,
                          "no passphrase: set SEALTRAIN_PASSPHRASE_FILE or "
                          "run on a terminal");
    struct termios old, quiet;
    int tty = tcgetattr(fd, &old) == 0;
    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    st_code rc = st_fs_write_fd(fd, prompt, strlen(prompt), "/dev/tty", err);
    size_t n = 0;
    unsigned char *b = st_secret_bytes(buf);
    size_t cap = st_secret_len(buf);
    while (!rc) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = st_err_set(err, ST_E_CANCELLED, "passphrase entry aborted");
            break;
        }
        if (c == '\n' || c == '\r')
            break;
        if (n + 1 >= cap) {
            rc = st_err_set(err, ST_E_INPUT,
                            "passphrase longer than %zu "
                            "bytes",
                            cap - 1);
            break;
        }
        b[n++] = (unsigned char)c;
    }
    if (tty)
        tcsetattr(fd, TCSAFLUSH, &old);
    (void)!write(fd, "\n", 1);
    close(fd);
    *len = n;
    return rc;
}

/* The passphrase into a new secret (without a trailing newline).
 * `confirm`: ask twice on a terminal (at init). */
static ST_MUST_CHECK st_code get_passphrase(int confirm, st_secret **out,
                                            size_t *len, st_err *err)
{
    *out = NULL;
    const char *file = getenv("SEALTRAIN_PASSPHRASE_FILE");
    st_code rc;
    if (file && *file) {
        rc = read_private_secret(file, PASSPHRASE_MAX, "passphrase file", out,
                                 len, err);
        if (rc)
            return rc;
        unsigned char *b = st_secret_bytes(*out);
        if (*len > 0 && b[*len - 1] == '\n')
            (*len)--;
        if (*len > 0 && b[*len - 1] == '\r')
            (*len)--;
    } else {
        *out = st_secret_new(PASSPHRASE_MAX + 1, err);
        if (!*out)
            return err ? err->code : ST_E_IO;
        rc = prompt_passphrase(confirm ? "New workspace passphrase: "
                                       : "Workspace passphrase: ",
                               *out, len, err);
        if (!rc && confirm) {
            st_secret *again = st_secret_new(PASSPHRASE_MAX + 1, err);
            size_t len2 = 0;
            rc = again ? prompt_passphrase("Repeat the passphrase: ", again,
                                           &len2, err)
                       : (err ? err->code : ST_E_IO);
            if (!rc &&
                (len2 != *len || !st_ct_equal(st_secret_bytes(again),
                                              st_secret_bytes(*out), *len)))
                rc =
                    st_err_set(err, ST_E_INPUT, "the passphrases do not match");
            st_secret_free(again);
        }
        if (rc) {
            st_secret_free(*out);
            *out = NULL;
            return rc;
        }
    }
    if (*len == 0) {
        st_secret_free(*out);
        *out = NULL;
        return st_err_set(err, ST_E_INPUT, "the passphrase is empty");
    }
    return ST_OK;
}

/* The key that wraps the root key, from the passphrase or key file. */
static ST_MUST_CHECK st_code root_wrapping_key(const st_workspace *ws,
                                               const st_root_file *rf,
                                               int creating, st_secret **out,
                                               st_err *err)
{
    *out = NULL;
    st_secret *in = NULL;
    size_t len = 0;
    st_code rc;
    if (rf->kind == ST_PROTECT_PASSPHRASE)
        rc = get_passphrase(creating, &in, &len, err);
    else
        rc = read_private_secret(st_workspace_protect(ws)->path, ST_KR_KEY_LEN,
                                 "root key file", &in, &len, err);
    if (rc)
        return rc;
    if (rf->kind == ST_PROTECT_FILE && len != ST_KR_KEY_LEN) {
        st_secret_free(in);
        return st_err_set(err, ST_E_INPUT,
                          "root key file %s must hold exactly %d bytes, not "
                          "%zu",
                          st_workspace_protect(ws)->path, ST_KR_KEY_LEN, len);
    }
    st_secret *k = st_secret_new(ST_KR_KEY_LEN, err);
    if (!k) {
        st_secret_free(in);
        return err ? err->code : ST_E_IO;
    }
    if (rf->kind == ST_PROTECT_PASSPHRASE)
        rc = st_scrypt(st_secret_bytes(in), len, rf->salt, sizeof(rf->salt),
                       rf->log2n, rf->r, rf->p, st_secret_bytes(k),
                       ST_KR_KEY_LEN, err);
    else
        rc = st_hkdf_sha256(st_secret_bytes(in), len, rf->salt,
                            sizeof(rf->salt), "sealtrain root key file v1", 26,
                            st_secret_bytes(k), ST_KR_KEY_LEN, err);
    st_secret_free(in);
    if (rc) {
        st_secret_free(k);
        return rc;
    }
    *out = k;
    return ST_OK;
}

static void root_aad(st_protect_kind kind, char *aad, size_t cap)
{
    snprintf(aad, cap, "sealtrain-root-key v1 %s", st_protect_kind_name(kind));
}

/* Creates a missing key file for file:PATH protection (32 random bytes,
 * 0600, written atomically so a crash leaves no short key file). */
static ST_MUST_CHECK st_code ensure_key_file(const char *path, st_err *err)
{
    if (st_fs_exists(path))
        return ST_OK;
    st_secret *k = st_secret_new(ST_KR_KEY_LEN, err);
    if (!k)
        return err ? err->code : ST_E_IO;
    st_code rc = st_random(st_secret_bytes(k), ST_KR_KEY_LEN, err);
    if (!rc)
        rc = st_fs_write_atomic(path, st_secret_bytes(k), ST_KR_KEY_LEN, 0600,
                                err);
    st_secret_free(k);
    if (!rc)
        st_info("keyring.keyfile", "created root key file %s", path);
    return rc;
}

static ST_MUST_CHECK st_code derive_keys(st_keyring *kr, const st_secret *root,
                                         st_err *err)
{
    kr->wrap_key = st_secret_new(32, err);
    kr->mac_key = st_secret_new(32, err);
    if (!kr->wrap_key || !kr->mac_key)
        return err ? err->code : ST_E_IO;
    st_code rc = st_hkdf_sha256(st_secret_cbytes(root), ST_KR_KEY_LEN, NULL, 0,
                                "sealtrain kek wrap v1", 21,
                                st_secret_bytes(kr->wrap_key), 32, err);
    if (!rc)
        rc = st_hkdf_sha256(st_secret_cbytes(root), ST_KR_KEY_LEN, NULL, 0,
                            "sealtrain keyring mac v1", 24,
                            st_secret_bytes(kr->mac_key), 32, err);
    return rc;
}

/* --- the keyring file ------------------------------------------------- */

/* The authenticator of the catalog's rollback record: HMAC-SHA256 under
 * the MAC key (derived from the root key) of its generation and MAC. */
static ST_MUST_CHECK st_code state_auth(st_keyring *kr, uint64_t gen,
                                        const char *mac_hex, char out[65],
                                        st_err *err)
{
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "sealtrain keyring state v1\n%llu\n%s",
                     (unsigned long long)gen, mac_hex);
    uint8_t tag[32];
    st_code rc = st_hmac_sha256(st_secret_cbytes(kr->mac_key), 32, msg,
                                (size_t)n, tag, err);
    if (rc == ST_OK)
        st_hex_encode(tag, sizeof(tag), out);
    return rc;
}

static ST_MUST_CHECK st_code record_state(st_keyring *kr, const st_kr_data *d,
                                          st_err *err)
{
    char hex[65], auth[65];
    st_hex_encode(d->mac, sizeof(d->mac), hex);
    st_code rc = state_auth(kr, d->generation, hex, auth, err);
    return rc ? rc
              : st_keys_db_state_put(kr->ws, d->generation, hex, auth, err);
}

/* The catalog's record of the last committed generation: *have 0 when
 * there is none; its authenticator checked (a record from before `auth`
 * existed has *authed 0 and is accepted once, then rewritten). */
static ST_MUST_CHECK st_code recorded_state(st_keyring *kr, int *have,
                                            uint64_t *gen, char mac[65],
                                            int *authed, st_err *err)
{
    char auth[65], want[65];
    *authed = 0;
    st_code rc = st_keys_db_state_get(kr->ws, have, gen, mac, auth, err);
    if (rc || !*have || !auth[0])
        return rc;
    *authed = 1;
    if ((rc = state_auth(kr, *gen, mac, want, err)))
        return rc;
    if (strlen(auth) != 64 || !st_ct_equal(auth, want, 64))
        return st_err_set(err, ST_E_DENIED,
                          "keyring %s: the catalog's record of its "
                          "generation was tampered with (its "
                          "authenticator does not verify under the root "
                          "key)",
                          kr->path);
    return ST_OK;
}

/* Reads and authenticates the keyring document at `path`. ST_E_NOTFOUND
 * when there is none; out of memory and I/O errors are ST_E_IO, never
 * tampering. */
static ST_MUST_CHECK st_code read_doc(st_keyring *kr, const char *path,
                                      st_kr_data **out, st_err *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    *out = NULL;
    st_code rc = st_fs_read_all(path, KEYRING_MAX, &text, &len, err);
    if (rc)
        return rc;
    st_kr_data *d = NULL;
    rc = st_kr_data_parse((const char *)text, len, path, &d, err);
    free(text);
    if (rc == ST_E_IO) /* out of memory is not tampering */
        return st_err_prefix(err, "reading keyring %s", path);
    if (rc)
        return st_err_prefix(err, "keyring is damaged or was tampered with");
    uint8_t mac[32];
    if ((rc = st_kr_data_mac(d, st_secret_cbytes(kr->mac_key), mac, err))) {
        st_kr_data_free(d);
        return rc;
    }
    if (!st_ct_equal(mac, d->mac, sizeof(mac))) {
        st_kr_data_free(d);
        return st_err_set(err, ST_E_DENIED,
                          "keyring %s was tampered with or corrupted: its "
                          "MAC does not verify under the root key",
                          path);
    }
    *out = d;
    return ST_OK;
}

/* Takes the keyring lock if nobody holds it: -1 when someone does (or
 * it cannot be taken). */
static int try_lock_keyring(st_keyring *kr);
static void unlock_keyring(int fd);

/* Resolves keyring.json.next, the document a change wrote before its
 * catalog commit (see save()): when the catalog recorded its generation
 * and MAC it is the keyring in force (`*in_force` is set to it, and it
 * replaces keyring.json); otherwise its commit never landed and it is
 * removed. Only under the keyring lock (`locked`, or taken here without
 * waiting), and never by a process whose own commit is unknown: that
 * waits for the next open's recovery of the catalog. */
static void resolve_next(st_keyring *kr, int locked, int committed)
{
    if (kr->unknown)
        return;
    int fd = locked ? -2 : try_lock_keyring(kr);
    if (fd == -1)
        return; /* a change is under way: it renames or removes its own */
    if (committed) {
        if (rename(kr->next, kr->path) != 0 && errno != ENOENT)
            st_warn("keyring.load",
                    "could not move the committed keyring %s into place "
                    "(%s): it stays in force from there",
                    kr->next, strerror(errno));
    } else if (unlink(kr->next) != 0 && errno != ENOENT) {
        st_warn("keyring.load",
                "could not remove %s, a change that never "
                "committed: %s",
                kr->next, strerror(errno));
    }
    if (fd >= 0)
        unlock_keyring(fd);
}

/* Loads keyring.json (or the committed keyring.json.next) and checks it
 * against the catalog's record. `locked`: the caller holds the keyring
 * lock. */
static ST_MUST_CHECK st_code load(st_keyring *kr, int locked, st_err *err)
{
    st_kr_data *d = NULL, *n = NULL;
    st_code rc = read_doc(kr, kr->path, &d, err);
    if (rc == ST_E_NOTFOUND)
        return st_err_set(err, ST_E_NOTFOUND,
                          "keyring %s is missing: the workspace is "
                          "incomplete or was tampered with",
                          kr->path);
    if (rc)
        return rc;
    struct stat st;
    int have_stat = stat(kr->path, &st) == 0;
    int have = 0, authed = 0, next_exists = st_fs_exists(kr->next);
    uint64_t gen = 0;
    char mac[65], hex[65];
    if ((rc = recorded_state(kr, &have, &gen, mac, &authed, err)))
        goto out;
    if (have && d->generation < gen && next_exists) {
        /* committed, not yet moved into place: .next is the keyring */
        st_err e2;
        if (read_doc(kr, kr->next, &n, &e2) == ST_OK && n->generation == gen) {
            st_hex_encode(n->mac, sizeof(n->mac), hex);
            if (!strcmp(hex, mac)) {
                st_kr_data_free(d);
                d = n;
                n = NULL;
                resolve_next(kr, locked, 1);
                have_stat = stat(kr->path, &st) == 0;
                next_exists = 0;
            }
        }
    }
    st_hex_encode(d->mac, sizeof(d->mac), hex);
    if (have && d->generation < gen)
        rc = st_err_set(err, ST_E_DENIED,
                        "keyring %s was tampered with: it was rolled back "
                        "to generation %llu, but the catalog recorded "
                        "generation %llu",
                        kr->path, (unsigned long long)d->generation,
                        (unsigned long long)gen);
    else if (have && d->generation == gen && strcmp(mac, hex) != 0)
        rc = st_err_set(err, ST_E_DENIED,
                        "keyring %s was tampered with: generation %llu "
                        "differs from the one the catalog recorded",
                        kr->path, (unsigned long long)gen);
    else if (!have || d->generation > gen || !authed)
        /* a keyring ahead of the catalog comes only from a version that
         * wrote the file before the catalog: accepted, and recorded */
        rc = record_state(kr, d, err);
    if (rc)
        goto out;
    if (next_exists)
        resolve_next(kr, locked, 0); /* its commit never landed */
    st_kr_data_free(kr->data);
    kr->data = d;
    d = NULL;
    if (have_stat)
        kr->seen = st;
out:
    st_kr_data_free(d);
    st_kr_data_free(n);
    return rc;
}

/* Reloads when another process changed the keyring (a revocation there
 * must take effect here): keyring.json replaced, or a committed change
 * not yet moved into place. */
static ST_MUST_CHECK st_code refresh(st_keyring *kr, st_err *err)
{
    struct stat st;
    if (stat(kr->path, &st) != 0)
        return st_err_errno(err, ST_E_IO, errno, "keyring %s", kr->path);
    if (st.st_ino == kr->seen.st_ino && st.st_size == kr->seen.st_size &&
        st.st_mtim.tv_sec == kr->seen.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == kr->seen.st_mtim.tv_nsec &&
        !st_fs_exists(kr->next))
        return ST_OK;
    return load(kr, 0, err);
}

/* The success entry of a keyring change (NULL action: none, the change
 * is part of another command's). */
typedef struct key_change {
    const char *actor, *action, *name;
    const uint32_t *version; /* read after the change: rotate's is new */
} key_change;

/* Writes generation d->generation + 1 as one transaction with the
 * catalog (and the change's audit entry):
 *
 *   keyring.json.next     written and flushed (file and directory)
 *   BEGIN; keyring_state = (generation, MAC); the entry; COMMIT
 *   rename .next -> keyring.json; deliver the entry
 *
 * The COMMIT decides: before it nothing is in force (.next is removed),
 * after it load() takes .next for the keyring even before the rename.
 * When COMMIT fails the outcome is unknown until the catalog's recovery
 * at the next open, so .next stays for that open to resolve. */
static ST_MUST_CHECK st_code save(st_keyring *kr, st_kr_data *d,
                                  const key_change *chg, st_err *err)
{
    d->generation++;
    size_t len = 0;
    char *text =
        st_kr_data_serialize(d, st_secret_cbytes(kr->mac_key), &len, err);
    if (!text)
        return err ? err->code : ST_E_INTERNAL;
    json_t *details = NULL;
    char resource[ST_KEK_NAME_MAX + 8];
    st_audit_event ev;
    memset(&ev, 0, sizeof(ev));
    st_code rc = ST_OK;
    if (chg && chg->action) {
        snprintf(resource, sizeof(resource), "key:%s", chg->name);
        if (chg->version && *chg->version &&
            !(details =
                  json_pack("{s:I}", "version", (json_int_t)*chg->version)))
            rc = st_err_errno(err, ST_E_IO, ENOMEM, "audit entry");
        ev.category = "operation";
        ev.actor = chg->actor && *chg->actor ? chg->actor : "system";
        ev.action = chg->action;
        ev.resource = resource;
        ev.outcome = "success";
        ev.details = details;
    }
    if (!rc)
        rc = st_fs_write_atomic(kr->next, text, len, 0600, err);
    free(text);
    int64_t entry = 0;
    int unknown = 0;
    if (!rc && !(rc = st_audit_txn_begin(kr->ws, err))) {
        if ((rc = record_state(kr, d, err)) ||
            (ev.action && (rc = st_audit_txn_event(kr->ws, &ev, &entry, err))))
            st_audit_txn_rollback(kr->ws);
        else
            rc = st_audit_txn_commit(kr->ws, &unknown, err);
    }
    json_decref(details);
    if (unknown) {
        kr->unknown = 1; /* .next is the next open's to resolve */
        return rc;
    }
    if (rc) {
        if (unlink(kr->next) != 0 && errno != ENOENT)
            st_warn("keyring.save", "could not remove %s: %s", kr->next,
                    strerror(errno));
        return rc;
    }
    /* committed: in force from .next until it is in place */
    if (rename(kr->next, kr->path) != 0)
        st_warn("keyring.save",
                "the change is committed, but moving %s into place "
                "failed (%s): the next load does it",
                kr->next, strerror(errno));
    struct stat st;
    if (stat(kr->path, &st) == 0)
        kr->seen = st;
    /* deliver releases the outbox hold even without an entry (id 0) */
    st_audit_txn_deliver(kr->ws, entry);
    return ST_OK;
}

static int lock_keyring(st_keyring *kr, st_err *err)
{
    char p[PATH_MAX];
    if (st_workspace_path(kr->ws, "keys", "keyring.lock", p, sizeof(p), err))
        return -1;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        st_err_errno(err, ST_E_IO, errno, "open %s", p);
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            st_err_errno(err, ST_E_IO, errno, "lock %s", p);
            close(fd);
            return -1;
        }
    }
    return fd;
}

static int try_lock_keyring(st_keyring *kr)
{
    char p[PATH_MAX];
    if (st_workspace_path(kr->ws, "keys", "keyring.lock", p, sizeof(p), NULL))
        return -1;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void unlock_keyring(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

static ST_MUST_CHECK st_code keyring_new(st_workspace *ws, st_keyring **out,
                                         st_err *err)
{
    st_keyring *kr = calloc(1, sizeof(*kr));
    if (!kr)
        return st_err_set(err, ST_E_IO, "out of memory");
    kr->ws = ws;
    st_code rc = st_workspace_path(ws, "keys", "keyring.json", kr->path,
                                   sizeof(kr->path), err);
    if (!rc)
        rc = st_workspace_path(ws, "keys", "keyring.json.next", kr->next,
                               sizeof(kr->next), err);
    if (!rc)
        rc = st_keys_db_migrate(ws, err);
    if (rc) {
        st_keyring_close(kr);
        return rc;
    }
    *out = kr;
    return ST_OK;
}

void st_keyring_stamp_get(st_keyring *kr, st_keyring_stamp *out)
{
    memset(out, 0, sizeof(*out));
    struct stat st;
    if (stat(kr->path, &st) != 0)
        return;
    out->dev = (uint64_t)st.st_dev;
    out->ino = (uint64_t)st.st_ino;
    out->size = (uint64_t)st.st_size;
    out->sec = (uint64_t)st.st_mtim.tv_sec;
    out->nsec = (uint64_t)st.st_mtim.tv_nsec;
    out->next = st_fs_exists(kr->next);
    out->ok = 1;
}

int st_keyring_stamp_equal(const st_keyring_stamp *a, const st_keyring_stamp *b)
{
    return a->ok && b->ok && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size && a->sec == b->sec && a->nsec == b->nsec &&
           a->next == b->next;
}

void st_keyring_close(st_keyring *kr)
{
    if (!kr)
        return;
    st_secret_free(kr->wrap_key);
    st_secret_free(kr->mac_key);
    st_kr_data_free(kr->data);
    free(kr);
}

/* --- create / open ---------------------------------------------------- */

st_code st_keyring_create(st_workspace *ws, st_keyring **out, st_err *err)
{
    *out = NULL;
    const st_protect *prot = st_workspace_protect(ws);
    st_keyring *kr = NULL;
    st_secret *root = NULL, *wk = NULL;
    st_root_file rf;
    memset(&rf, 0, sizeof(rf));
    st_buf_init(&rf.tpm_public);
    st_buf_init(&rf.tpm_private);
    rf.kind = prot->kind;
    char *text = NULL;
    size_t len = 0;
    char p[PATH_MAX];
    st_code rc = keyring_new(ws, &kr, err);
    if (rc)
        goto done;
    root = st_secret_new(ST_KR_KEY_LEN, err);
    if (!root) {
        rc = err ? err->code : ST_E_IO;
        goto done;
    }
    if ((rc = st_random(st_secret_bytes(root), ST_KR_KEY_LEN, err)))
        goto done;
    if (prot->kind == ST_PROTECT_TPM) {
        if ((rc = st_tpm_seal(st_secret_bytes(root), ST_KR_KEY_LEN,
                              &rf.tpm_public, &rf.tpm_private, err)))
            goto done;
    } else {
        rf.kdf_scrypt = prot->kind == ST_PROTECT_PASSPHRASE;
        rf.log2n = ST_SCRYPT_LOG2N;
        rf.r = ST_SCRYPT_R;
        rf.p = ST_SCRYPT_P;
        if (prot->kind == ST_PROTECT_FILE &&
            (rc = ensure_key_file(prot->path, err)))
            goto done;
        char aad[64];
        root_aad(rf.kind, aad, sizeof(aad));
        if ((rc = st_random(rf.salt, sizeof(rf.salt), err)) ||
            (rc = st_random(rf.nonce, sizeof(rf.nonce), err)) ||
            (rc = root_wrapping_key(ws, &rf, 1, &wk, err)) ||
            (rc = st_aead_seal(st_secret_bytes(wk), rf.nonce, aad, strlen(aad),
                               st_secret_bytes(root), ST_KR_KEY_LEN, rf.wrapped,
                               err)))
            goto done;
    }
    if ((rc = st_workspace_path(ws, "keys", "root.json", p, sizeof(p), err)) ||
        !(text = st_root_file_serialize(&rf, &len, err)) ||
        (rc = st_fs_write_atomic(p, text, len, 0600, err)))
        goto done_rc;
    if ((rc = derive_keys(kr, root, err)))
        goto done;
    kr->data = calloc(1, sizeof(*kr->data));
    if (!kr->data) {
        rc = st_err_set(err, ST_E_IO, "out of memory");
        goto done;
    }
    if ((rc = save(kr, kr->data, NULL, err)))
        goto done;
    *out = kr;
    kr = NULL;
    goto done;
done_rc:
    if (!rc)
        rc = err ? err->code : ST_E_INTERNAL;
done:
    if (rc)
        st_err_prefix(err, "cannot create the keyring");
    free(text);
    st_root_file_clear(&rf);
    st_secret_free(wk);
    st_secret_free(root);
    st_keyring_close(kr);
    return rc;
}

st_code st_keyring_open(st_workspace *ws, st_keyring **out, st_err *err)
{
    *out = NULL;
    const st_protect *prot = st_workspace_protect(ws);
    st_keyring *kr = NULL;
    st_secret *root = NULL, *wk = NULL;
    st_root_file rf;
    memset(&rf, 0, sizeof(rf));
    char p[PATH_MAX];
    unsigned char *text = NULL;
    size_t len = 0;
    st_code rc = keyring_new(ws, &kr, err);
    if (rc)
        return rc;
    if ((rc = st_workspace_path(ws, "keys", "root.json", p, sizeof(p), err)) ||
        (rc = st_fs_read_all(p, ROOT_MAX, &text, &len, err)) ||
        (rc = st_root_file_parse((const char *)text, len, p, &rf, err)))
        goto done;
    if (rf.kind != prot->kind) {
        rc = st_err_set(err, ST_E_INPUT,
                        "%s says the root key is protected by %s, the "
                        "workspace config says %s",
                        p, st_protect_kind_name(rf.kind),
                        st_protect_kind_name(prot->kind));
        goto done;
    }
    if (rf.kind == ST_PROTECT_TPM) {
        if ((rc = st_tpm_unseal(rf.tpm_public.data, rf.tpm_public.len,
                                rf.tpm_private.data, rf.tpm_private.len, &root,
                                err)))
            goto done;
        if (st_secret_len(root) != ST_KR_KEY_LEN) {
            rc = st_err_set(err, ST_E_DENIED,
                            "the TPM returned a root key of the wrong size");
            goto done;
        }
    } else {
        char aad[64];
        root_aad(rf.kind, aad, sizeof(aad));
        root = st_secret_new(ST_KR_KEY_LEN, err);
        if (!root) {
            rc = err ? err->code : ST_E_IO;
            goto done;
        }
        if ((rc = root_wrapping_key(ws, &rf, 0, &wk, err)))
            goto done;
        /* only a tag that does not match blames the key: OpenSSL failing
         * (out of memory) said "wrong root key file", exit 4 */
        st_err ae;
        st_code open_rc = st_aead_open(
            st_secret_bytes(wk), rf.nonce, aad, strlen(aad), rf.wrapped,
            sizeof(rf.wrapped), st_secret_bytes(root), &ae);
        if (open_rc != ST_OK && open_rc != ST_E_DENIED) {
            if (err)
                *err = ae;
            rc = st_err_prefix(err, "unwrapping the root key");
            goto done;
        }
        if (open_rc != ST_OK) {
            rc = rf.kind == ST_PROTECT_PASSPHRASE
                     ? st_err_set(err, ST_E_DENIED,
                                  "wrong passphrase: it does not unlock the "
                                  "root key of workspace %s",
                                  st_workspace_dir(ws))
                     : st_err_set(err, ST_E_DENIED,
                                  "wrong root key file %s: it does not "
                                  "unlock the root key of workspace %s",
                                  prot->path, st_workspace_dir(ws));
            goto done;
        }
    }
    if ((rc = derive_keys(kr, root, err)) || (rc = load(kr, 0, err)))
        goto done;
    *out = kr;
    kr = NULL;
done:
    free(text);
    st_root_file_clear(&rf);
    st_secret_free(wk);
    st_secret_free(root);
    st_keyring_close(kr);
    return rc;
}

/* --- KEKs ----------------------------------------------------------- */

static st_kr_key *find_key(st_kr_data *d, const char *name)
{
    for (size_t i = 0; i < d->nkeys; i++)
        if (strcmp(d->keys[i].name, name) == 0)
            return &d->keys[i];
    return NULL;
}

static ST_MUST_CHECK st_code get_key(st_keyring *kr, st_kr_data *d,
                                     const char *name, st_kr_key **out,
                                     st_err *err)
{
    (void)kr;
    *out = find_key(d, name);
    if (!*out)
        return st_err_set(err, ST_E_NOTFOUND,
                          "no key \"%.64s\" in the "
                          "keyring",
                          name);
    return ST_OK;
}

static void kek_aad(const char *name, uint32_t version, uint8_t *aad,
                    size_t *len)
{
    /* "sealtrain-kek" NUL name NUL version: unambiguous, as names hold
     * no NUL */
    size_t n = 0;
    memcpy(aad, "sealtrain-kek", 13);
    n = 13;
    aad[n++] = 0;
    size_t nl = strlen(name);
    memcpy(aad + n, name, nl);
    n += nl;
    aad[n++] = 0;
    n += (size_t)snprintf((char *)aad + n, 12, "%u", version);
    *len = n;
}

/* Decrypts KEK `name` version `v` into a new secret. */
static ST_MUST_CHECK st_code kek_material(st_keyring *kr, const st_kr_key *k,
                                          const st_kr_version *v,
                                          st_secret **out, st_err *err)
{
    uint8_t aad[13 + 2 + ST_KEK_NAME_MAX + 12];
    size_t aadlen;
    kek_aad(k->name, v->version, aad, &aadlen);
    st_secret *s = st_secret_new(ST_KR_KEY_LEN, err);
    if (!s)
        return err ? err->code : ST_E_IO;
    if (st_aead_open(st_secret_cbytes(kr->wrap_key), v->nonce, aad, aadlen,
                     v->wrapped, sizeof(v->wrapped), st_secret_bytes(s),
                     NULL) != ST_OK) {
        st_secret_free(s);
        return st_err_set(err, ST_E_DENIED,
                          "keyring %s was tampered with: key %s version %u "
                          "does not unwrap under the root key",
                          kr->path, k->name, v->version);
    }
    *out = s;
    return ST_OK;
}

/* A new KEK version: random key, wrapped under the root-derived key. */
static ST_MUST_CHECK st_code new_version(st_keyring *kr, st_kr_key *k,
                                         time_t now, st_err *err)
{
    st_kr_version *vs = realloc(k->versions, (k->nversions + 1) * sizeof(*vs));
    if (!vs)
        return st_err_set(err, ST_E_IO, "out of memory");
    k->versions = vs;
    st_kr_version *v = &vs[k->nversions];
    memset(v, 0, sizeof(*v));
    v->version = (uint32_t)k->nversions + 1;
    v->state = ST_KEK_ACTIVE;
    st_time_format(now, v->created);
    uint8_t aad[13 + 2 + ST_KEK_NAME_MAX + 12];
    size_t aadlen;
    kek_aad(k->name, v->version, aad, &aadlen);
    st_secret *kek = st_secret_new(ST_KR_KEY_LEN, err);
    if (!kek)
        return err ? err->code : ST_E_IO;
    st_code rc = st_random(st_secret_bytes(kek), ST_KR_KEY_LEN, err);
    if (!rc)
        rc = st_random(v->nonce, sizeof(v->nonce), err);
    if (!rc)
        rc = st_aead_seal(st_secret_cbytes(kr->wrap_key), v->nonce, aad, aadlen,
                          st_secret_bytes(kek), ST_KR_KEY_LEN, v->wrapped, err);
    st_secret_free(kek);
    if (rc)
        return rc;
    k->nversions++;
    k->current = v->version;
    return ST_OK;
}

static ST_MUST_CHECK st_code find_version(st_kr_key *k, uint32_t version,
                                          st_kr_version **out, st_err *err)
{
    if (version == 0 || version > k->nversions)
        return st_err_set(err, ST_E_NOTFOUND,
                          "key %s has no version %u (versions 1 to %zu)",
                          k->name, version, k->nversions);
    *out = &k->versions[version - 1];
    return ST_OK;
}

typedef st_code (*mutation)(st_keyring *kr, st_kr_data *d, void *arg,
                            st_err *err);

/* Read-modify-write under the keyring lock, committed with the entry of
 * `chg` (save()). */
static ST_MUST_CHECK st_code mutate(st_keyring *kr, mutation fn, void *arg,
                                    const key_change *chg, st_err *err)
{
    int fd = lock_keyring(kr, err);
    if (fd < 0)
        return err ? err->code : ST_E_IO;
    st_code rc = load(kr, 1, err);
    if (!rc)
        rc = fn(kr, kr->data, arg, err);
    if (!rc)
        rc = save(kr, kr->data, chg, err);
    if (rc) {
        /* the in-memory state may be half-changed: reload what is in
         * force (if that fails too the keyring refuses further use) */
        st_err tmp;
        if (load(kr, 1, &tmp) != ST_OK) {
            st_kr_data_free(kr->data);
            kr->data = NULL;
        }
    }
    unlock_keyring(fd);
    return rc;
}

struct create_arg {
    const char *name;
    uint32_t days;
};

static ST_MUST_CHECK st_code do_create(st_keyring *kr, st_kr_data *d,
                                       void *varg, st_err *err)
{
    struct create_arg *a = varg;
    if (find_key(d, a->name))
        return st_err_set(err, ST_E_EXISTS, "key \"%s\" already exists",
                          a->name);
    st_kr_key *ks = realloc(d->keys, (d->nkeys + 1) * sizeof(*ks));
    if (!ks)
        return st_err_set(err, ST_E_IO, "out of memory");
    d->keys = ks;
    size_t at = 0;
    while (at < d->nkeys && strcmp(ks[at].name, a->name) < 0)
        at++;
    memmove(&ks[at + 1], &ks[at], (d->nkeys - at) * sizeof(*ks));
    st_kr_key *k = &ks[at];
    memset(k, 0, sizeof(*k));
    d->nkeys++;
    snprintf(k->name, sizeof(k->name), "%s", a->name);
    k->rotation_days = a->days;
    time_t now = time(NULL);
    st_time_format(now, k->created);
    return new_version(kr, k, now, err);
}

static ST_MUST_CHECK st_code create(st_keyring *kr, const char *name,
                                    uint32_t rotation_days,
                                    const key_change *chg, st_err *err)
{
    if (!st_kr_name_valid(name))
        return st_err_set(err, ST_E_USAGE,
                          "invalid key name \"%.80s\": use 1-64 of a-z 0-9 . "
                          "_ -, starting with a letter or digit",
                          name);
    if (rotation_days > 36500)
        return st_err_set(err, ST_E_USAGE,
                          "rotation period %u days is out of range (1 to "
                          "36500)",
                          rotation_days);
    struct create_arg a = {name, rotation_days ? rotation_days
                                               : ST_KEK_DEFAULT_ROTATION_DAYS};
    st_code rc = mutate(kr, do_create, &a, chg, err);
    if (!rc)
        st_info("keyring.create", "created key %s", name);
    return rc;
}

st_code st_kek_create(st_keyring *kr, const char *name, uint32_t rotation_days,
                      st_err *err)
{
    return create(kr, name, rotation_days, NULL, err);
}

st_code st_kek_create_as(st_keyring *kr, const char *actor, const char *name,
                         uint32_t rotation_days, st_err *err)
{
    int owns = 0;
    st_code rc = st_kek_create_check(kr->ws, actor, name, &owns, err);
    uint32_t first = 1;
    key_change chg = {actor, "key.create", name, &first};
    if (rc == ST_OK)
        rc = create(kr, name, rotation_days, &chg, err);
    if (rc == ST_OK && owns) {
        char resource[ST_KEK_NAME_MAX + 8];
        snprintf(resource, sizeof(resource), "key:%s", name);
        if ((rc = st_access_set_owner(kr->ws, resource, actor, err)))
            st_err_prefix(err,
                          "key %s was created, but recording its owner "
                          "%s failed",
                          name, actor);
    }
    return rc;
}

struct version_arg {
    const char *name;
    uint32_t version;
};

static ST_MUST_CHECK st_code do_rotate(st_keyring *kr, st_kr_data *d,
                                       void *varg, st_err *err)
{
    struct version_arg *a = varg;
    st_kr_key *k = NULL;
    st_code rc = get_key(kr, d, a->name, &k, err);
    if (!rc)
        rc = new_version(kr, k, time(NULL), err);
    if (!rc)
        a->version = k->current;
    return rc;
}

st_code st_kek_rotate(st_keyring *kr, const char *actor, const char *name,
                      uint32_t *new_version, st_err *err)
{
    struct version_arg a = {name, 0};
    st_code rc = st_kek_authorize(kr->ws, actor, "key.rotate", name, err);
    if (!rc) {
        key_change chg = {actor, "key.rotate", name, &a.version};
        rc = mutate(kr, do_rotate, &a, &chg, err);
    }
    if (!rc) {
        st_info("keyring.rotate", "key %s is now at version %u", name,
                a.version);
        if (new_version)
            *new_version = a.version;
    }
    return rc;
}

static ST_MUST_CHECK st_code do_retire(st_keyring *kr, st_kr_data *d,
                                       void *varg, st_err *err)
{
    struct version_arg *a = varg;
    st_kr_key *k = NULL;
    st_kr_version *v = NULL;
    st_code rc = get_key(kr, d, a->name, &k, err);
    if (!rc)
        rc = find_version(k, a->version, &v, err);
    if (rc)
        return rc;
    if (v->state == ST_KEK_REVOKED)
        return st_err_set(err, ST_E_USAGE,
                          "key %s version %u is revoked already", k->name,
                          v->version);
    if (v->state == ST_KEK_RETIRED)
        return st_err_set(err, ST_E_USAGE,
                          "key %s version %u is retired already", k->name,
                          v->version);
    if (v->version == k->current)
        return st_err_set(err, ST_E_USAGE,
                          "key %s version %u is the current version: rotate "
                          "the key before retiring it",
                          k->name, v->version);
    v->state = ST_KEK_RETIRED;
    st_time_format(time(NULL), v->changed);
    return ST_OK;
}

st_code st_kek_retire(st_keyring *kr, const char *actor, const char *name,
                      uint32_t version, st_err *err)
{
    struct version_arg a = {name, version};
    st_code rc = st_kek_authorize(kr->ws, actor, "key.retire", name, err);
    if (!rc) {
        key_change chg = {actor, "key.retire", name, &a.version};
        rc = mutate(kr, do_retire, &a, &chg, err);
    }
    if (!rc)
        st_info("keyring.retire", "retired key %s version %u", name, version);
    return rc;
}

static ST_MUST_CHECK st_code do_revoke(st_keyring *kr, st_kr_data *d,
                                       void *varg, st_err *err)
{
    struct version_arg *a = varg;
    st_kr_key *k = NULL;
    st_kr_version *v = NULL;
    st_code rc = get_key(kr, d, a->name, &k, err);
    if (!rc)
        rc = find_version(k, a->version, &v, err);
    if (rc)
        return rc;
    if (v->state == ST_KEK_REVOKED)
        return st_err_set(err, ST_E_USAGE,
                          "key %s version %u is revoked already", k->name,
                          v->version);
    v->state = ST_KEK_REVOKED;
    st_time_format(time(NULL), v->changed);
    /* destroy the material: the file no longer holds it at all */
    st_wipe(v->nonce, sizeof(v->nonce));
    st_wipe(v->wrapped, sizeof(v->wrapped));
    if (v->version == k->current)
        k->current = 0;
    return ST_OK;
}

st_code st_kek_revoke(st_keyring *kr, const char *actor, const char *name,
                      uint32_t version, st_err *err)
{
    struct version_arg a = {name, version};
    st_code rc = st_kek_authorize(kr->ws, actor, "key.revoke", name, err);
    if (!rc) {
        key_change chg = {actor, "key.revoke", name, &a.version};
        rc = mutate(kr, do_revoke, &a, &chg, err);
    }
    if (!rc)
        st_info("keyring.revoke", "revoked key %s version %u", name, version);
    return rc;
}

static ST_MUST_CHECK st_code usable(st_keyring *kr, const char *name,
                                    uint32_t version, st_kr_key **k,
                                    st_kr_version **v, st_err *err)
{
    st_code rc = refresh(kr, err);
    if (rc)
        return rc;
    if (!kr->data)
        return st_err_set(err, ST_E_DENIED, "keyring %s is not usable",
                          kr->path);
    if ((rc = get_key(kr, kr->data, name, k, err)))
        return rc;
    if (version == 0) {
        version = (*k)->current;
        if (version == 0)
            return st_err_set(err, ST_E_DENIED,
                              "key %s has no usable version: its current "
                              "version was revoked; rotate it",
                              name);
    }
    if ((rc = find_version(*k, version, v, err)))
        return rc;
    if ((*v)->state == ST_KEK_REVOKED)
        return st_err_set(err, ST_E_DENIED,
                          "key %s version %u is revoked: it never unwraps "
                          "or wraps again",
                          name, version);
    return ST_OK;
}

st_code st_kek_current(st_keyring *kr, const char *name, uint32_t *version,
                       st_err *err)
{
    st_kr_key *k = NULL;
    st_kr_version *v = NULL;
    st_code rc = usable(kr, name, 0, &k, &v, err);
    if (!rc)
        *version = v->version;
    return rc;
}

st_code st_kek_wrap(st_keyring *kr, const char *name, uint32_t version,
                    const uint8_t *secret, size_t len, const uint8_t *aad,
                    size_t aadlen, st_buf *out, uint32_t *used, st_err *err)
{
    st_kr_key *k = NULL;
    st_kr_version *v = NULL;
    st_code rc = usable(kr, name, version, &k, &v, err);
    if (rc)
        return rc;
    if (v->state != ST_KEK_ACTIVE)
        return st_err_set(err, ST_E_DENIED,
                          "key %s version %u is retired: it no longer wraps",
                          name, v->version);
    if (len == 0 || len > (1u << 20))
        return st_err_set(err, ST_E_USAGE, "wrap: secret of %zu bytes", len);
    st_secret *kek = NULL;
    if ((rc = kek_material(kr, k, v, &kek, err)))
        return rc;
    uint8_t nonce[ST_AEAD_NONCE_LEN];
    size_t start = out->len;
    if (!(rc = st_random(nonce, sizeof(nonce), err)) &&
        !(rc = st_buf_reserve(out, len + ST_KEK_WRAP_OVERHEAD, err))) {
        memcpy(out->data + start, nonce, sizeof(nonce));
        rc = st_aead_seal(st_secret_cbytes(kek), nonce, aad, aadlen, secret,
                          len, out->data + start + sizeof(nonce), err);
        if (!rc)
            out->len = start + len + ST_KEK_WRAP_OVERHEAD;
    }
    st_secret_free(kek);
    if (!rc && used)
        *used = v->version;
    return rc;
}

st_code st_kek_unwrap(st_keyring *kr, const char *name, uint32_t version,
                      const uint8_t *wrapped, size_t len, const uint8_t *aad,
                      size_t aadlen, st_secret **out, st_err *err)
{
    *out = NULL;
    st_kr_key *k = NULL;
    st_kr_version *v = NULL;
    st_code rc = usable(kr, name, version, &k, &v, err);
    if (rc)
        return rc;
    if (len <= ST_KEK_WRAP_OVERHEAD)
        return st_err_set(err, ST_E_INPUT,
                          "wrapped key of %zu bytes is too short", len);
    if (v->state == ST_KEK_RETIRED)
        st_warn("keyring.retired",
                "unwrapping with retired key %s version "
                "%u: rewrap this data",
                name, v->version);
    st_secret *kek = NULL;
    if ((rc = kek_material(kr, k, v, &kek, err)))
        return rc;
    st_secret *s = st_secret_new(len - ST_KEK_WRAP_OVERHEAD, err);
    if (!s) {
        st_secret_free(kek);
        return err ? err->code : ST_E_IO;
    }
    rc = st_aead_open(st_secret_cbytes(kek), wrapped, aad, aadlen,
                      wrapped + ST_AEAD_NONCE_LEN, len - ST_AEAD_NONCE_LEN,
                      st_secret_bytes(s), NULL);
    st_secret_free(kek);
    if (rc) {
        st_secret_free(s);
        return st_err_set(err, ST_E_DENIED,
                          "unwrapping with key %s version %u failed: wrong "
                          "key version, wrong context, or altered data",
                          name, v->version);
    }
    *out = s;
    return ST_OK;
}

/* --- listing -------------------------------------------------------- */

static ST_MUST_CHECK st_code fill_info(const st_kr_key *k, time_t now,
                                       st_kek_info *info, st_err *err)
{
    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", k->name);
    info->current = k->current;
    info->rotation_days = k->rotation_days;
    snprintf(info->created, sizeof(info->created), "%s", k->created);
    const st_kr_version *newest = &k->versions[k->nversions - 1];
    snprintf(info->rotated, sizeof(info->rotated), "%s", newest->created);
    time_t t = 0;
    /* an unreadable time makes the rotation due (t = 0): fail safe */
    if (st_time_parse(newest->created, &t, NULL) != ST_OK)
        t = 0;
    info->rotation_due = t + (time_t)k->rotation_days * 86400;
    info->overdue = k->current == 0 || now >= info->rotation_due;
    info->versions = calloc(k->nversions, sizeof(*info->versions));
    if (!info->versions)
        return st_err_set(err, ST_E_IO, "out of memory");
    info->nversions = k->nversions;
    for (size_t i = 0; i < k->nversions; i++) {
        info->versions[i].version = k->versions[i].version;
        info->versions[i].state = k->versions[i].state;
        memcpy(info->versions[i].created, k->versions[i].created, ST_TIME_LEN);
        memcpy(info->versions[i].changed, k->versions[i].changed, ST_TIME_LEN);
    }
    return ST_OK;
}

void st_kek_info_free(st_kek_info *infos, size_t n)
{
    if (!infos)
        return;
    for (size_t i = 0; i < n; i++)
        free(infos[i].versions);
    free(infos);
}

st_code st_kek_list(st_keyring *kr, time_t now, st_kek_info **out, size_t *n,
                    st_err *err)
{
    *out = NULL;
    *n = 0;
    st_code rc = refresh(kr, err);
    if (rc)
        return rc;
    if (!kr->data)
        return st_err_set(err, ST_E_DENIED, "keyring %s is not usable",
                          kr->path);
    st_kek_info *infos =
        calloc(kr->data->nkeys ? kr->data->nkeys : 1, sizeof(*infos));
    if (!infos)
        return st_err_set(err, ST_E_IO, "out of memory");
    for (size_t i = 0; i < kr->data->nkeys; i++) {
        if ((rc = fill_info(&kr->data->keys[i], now, &infos[i], err))) {
            st_kek_info_free(infos, i + 1);
            return rc;
        }
    }
    *out = infos;
    *n = kr->data->nkeys;
    return ST_OK;
}

st_code st_kek_show(st_keyring *kr, const char *name, time_t now,
                    st_kek_info **out, st_err *err)
{
    *out = NULL;
    st_code rc = refresh(kr, err);
    st_kr_key *k = NULL;
    if (rc)
        return rc;
    if (!kr->data)
        return st_err_set(err, ST_E_DENIED, "keyring %s is not usable",
                          kr->path);
    if ((rc = get_key(kr, kr->data, name, &k, err)))
        return rc;
    st_kek_info *info = calloc(1, sizeof(*info));
    if (!info)
        return st_err_set(err, ST_E_IO, "out of memory");
    if ((rc = fill_info(k, now, info, err))) {
        st_kek_info_free(info, 1);
        return rc;
    }
    *out = info;
    return ST_OK;
}

json_t *st_kek_info_json(const st_kek_info *info)
{
    char due[ST_TIME_LEN];
    st_time_format(info->rotation_due, due);
    json_t *vs = json_array();
    for (size_t i = 0; i < info->nversions; i++) {
        const st_kek_version_info *v = &info->versions[i];
        json_t *jv = json_pack(
            "{s:I,s:s,s:s}", "version", (json_int_t)v->version, "state",
            st_kek_state_name(v->state), "created", v->created);
        if (v->changed[0])
            json_object_set_new(jv, "changed", json_string(v->changed));
        json_array_append_new(vs, jv);
    }
    return json_pack("{s:s,s:I,s:I,s:s,s:s,s:s,s:b,s:o}", "name", info->name,
                     "current", (json_int_t)info->current, "rotation_days",
                     (json_int_t)info->rotation_days, "created", info->created,
                     "rotated", info->rotated, "rotation_due", due, "overdue",
                     info->overdue, "versions", vs);
}
