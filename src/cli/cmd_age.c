/*
 * cmd_age.c: `sealtrain age`: an age-compatible tool (keygen, encrypt,
 * decrypt, inspect) on the age module, so that data owners can create keys
 * and recover files with or without the stock `age` CLI.
 *
 * Output files are written atomically: on any failure nothing appears at
 * -o. To stdout, decryption writes only authenticated chunks, in order; a
 * failure stops it and is reported on stderr saying which part of the
 * file failed (armor, header, no matching recipient, header MAC, payload).
 * Secrets (identities, passphrases) stay in secure memory and are never
 * printed, except the new identity that `keygen` is asked to produce.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sealtrain/sealtrain.h>

#include "cli.h"

#define PASS_MAX 1024

static void age_usage(FILE *out)
{
    fprintf(out,
            "usage: sealtrain age keygen [-o FILE]\n"
            "       sealtrain age encrypt (-r RECIPIENT | -R FILE)... [-a] "
            "[-o OUT] [IN]\n"
            "       sealtrain age encrypt -p [--passphrase-file FILE] [-a] "
            "[-o OUT] [IN]\n"
            "       sealtrain age decrypt (-i IDENTITY_FILE)... "
            "[--passphrase-file FILE]\n"
            "                             [-j THREADS] [-o OUT] [IN]\n"
            "       sealtrain age inspect FILE\n\n"
            "age v1 files (age-encryption.org/v1), interoperable with age "
            "and age-keygen.\nIN and OUT default to stdin and stdout. OUT "
            "is written atomically: it\nappears only when everything "
            "succeeded.\n"
            "  -r, --recipient age1...   encrypt to this X25519 recipient\n"
            "  -R, --recipients-file F   recipients, one per line\n"
            "  -p, --passphrase          encrypt with a passphrase (scrypt)\n"
            "  --passphrase-file F       read the passphrase from F (first "
            "line) instead\n"
            "                            of prompting on the terminal\n"
            "  -a, --armor               PEM-like ASCII output\n"
            "  -i, --identity F          identity file (age-keygen output)\n"
            "  -j, --threads N           decryption threads (default: all "
            "cores)\n"
            "Decryption errors name the failing part: armor, header, no "
            "matching\nrecipient, header MAC or payload (chunk number).\n");
}

/* --- passphrases ---------------------------------------------------------- */

static ST_MUST_CHECK st_code read_passphrase_file(const char *path, char *buf,
                                                  size_t *len, st_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_errno(err, ST_E_IO, errno, "cannot open %s", path);
    ssize_t n = read(fd, buf, PASS_MAX);
    close(fd);
    if (n < 0)
        return st_err_errno(err, ST_E_IO, errno, "reading %s", path);
    size_t l = 0;
    while (l < (size_t)n && buf[l] != '\n' && buf[l] != '\r')
        l++;
    if (l == 0)
        return st_err_set(err, ST_E_INPUT, "%s: empty passphrase", path);
    *len = l;
    return ST_OK;
}

static ST_MUST_CHECK st_code prompt(int tty, const char *text, char *buf,
                                    size_t *len, st_err *err)
{
    struct termios old, quiet;
    if (tcgetattr(tty, &old) != 0)
        return st_err_errno(err, ST_E_IO, errno, "terminal");
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    if (write(tty, text, strlen(text)) < 0 ||
        tcsetattr(tty, TCSAFLUSH, &quiet) != 0)
        return st_err_errno(err, ST_E_IO, errno, "terminal");
    size_t n = 0;
    char c;
    while (n < PASS_MAX && read(tty, &c, 1) == 1 && c != '\n')
        buf[n++] = c;
    tcsetattr(tty, TCSAFLUSH, &old);
    if (write(tty, "\n", 1) < 0)
        return st_err_errno(err, ST_E_IO, errno, "terminal");
    *len = n;
    return n ? ST_OK : st_err_set(err, ST_E_INPUT, "empty passphrase");
}

/* The passphrase into secure memory `buf` (PASS_MAX bytes). */
static ST_MUST_CHECK st_code get_passphrase(const char *file, int confirm,
                                            char *buf, size_t *len, st_err *err)
{
    if (file)
        return read_passphrase_file(file, buf, len, err);
    int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (tty < 0)
        return st_err_set(err, ST_E_USAGE,
                          "no terminal to ask for the passphrase: use "
                          "--passphrase-file");
    st_code rc = prompt(tty, "Enter passphrase: ", buf, len, err);
    if (rc == ST_OK && confirm) {
        char *again = st_secmem_alloc(PASS_MAX, err);
        size_t alen = 0;
        rc = again ? prompt(tty, "Confirm passphrase: ", again, &alen, err)
                   : ST_E_IO;
        if (rc == ST_OK && (alen != *len || memcmp(again, buf, alen) != 0))
            rc = st_err_set(err, ST_E_INPUT, "passphrases do not match");
        st_secmem_free(again);
    }
    close(tty);
    return rc;
}

/* --- in and out
 * ---------------------------------------------------------------- */

static int open_input(const char *path, st_err *err)
{
    if (!path || !strcmp(path, "-"))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        st_err_errno(err, errno == ENOENT ? ST_E_NOTFOUND : ST_E_IO, errno,
                     "cannot open %s", path);
    return fd;
}

/* Output: an atomic file for -o, else stdout. */
typedef struct out_target {
    st_atomic_file *af;
    int fd;
} out_target;

static ST_MUST_CHECK st_code out_open(const char *path, out_target *o,
                                      st_err *err)
{
    o->af = NULL;
    o->fd = 1;
    if (!path || !strcmp(path, "-"))
        return ST_OK;
    if (!(o->af = st_atomic_open(path, 0600, err)))
        return err->code;
    o->fd = st_atomic_fd(o->af);
    return ST_OK;
}

static ST_MUST_CHECK st_code out_close(out_target *o, st_code rc, st_err *err)
{
    if (!o->af)
        return rc;
    if (rc != ST_OK) {
        st_atomic_abort(o->af);
        return rc;
    }
    return st_atomic_commit(o->af, err);
}

/* --- keygen
 * ------------------------------------------------------------------- */

static int cmd_keygen(st_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': age_usage(stdout); return 0;
        default: return st_cli_usage("age", "unknown option");
        }
    }
    if (optind < argc)
        return st_cli_usage("age", "unexpected argument \"%s\"", argv[optind]);
    st_err err;
    st_err_clear(&err);
    if (out && st_fs_exists(out)) {
        st_err_set(&err, ST_E_EXISTS,
                   "%s exists: refusing to overwrite a key file", out);
        return st_cli_fail(&err);
    }
    st_secret *secret = NULL;
    char rcpt[ST_AGE_RECIPIENT_STRLEN], now[ST_TIME_LEN];
    st_time_format(time(NULL), now);
    if (st_age_keygen(&secret, rcpt, &err) != ST_OK)
        return st_cli_fail(&err);
    /* the key file, assembled in secure memory */
    size_t cap = 256 + ST_AGE_IDENTITY_STRLEN;
    char *text = st_secmem_alloc(cap, &err);
    st_code rc = text ? ST_OK : err.code;
    if (rc == ST_OK) {
        int n = snprintf(text, cap, "# created: %s\n# public key: %s\n%s\n",
                         now, rcpt, (const char *)st_secret_bytes(secret));
        rc = out ? st_fs_write_atomic(out, text, (size_t)n, 0600, &err)
                 : st_fs_write_fd(1, text, (size_t)n, "stdout", &err);
    }
    st_secmem_free(text);
    st_secret_free(secret);
    if (rc != ST_OK)
        return st_cli_fail(&err);
    if (out && !cli->quiet)
        fprintf(stderr, "Public key: %s\n", rcpt);
    return 0;
}

/* --- encrypt
 * ---------------------------------------------------------------------- */

static int cmd_encrypt(st_cli *cli, int argc, char **argv)
{
    (void)cli;
    static const struct option opts[] = {
        {"recipient", required_argument, NULL, 'r'},
        {"recipients-file", required_argument, NULL, 'R'},
        {"passphrase", no_argument, NULL, 'p'},
        {"passphrase-file", required_argument, NULL, 'P'},
        {"armor", no_argument, NULL, 'a'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    st_err err;
    st_err_clear(&err);
    st_age_recipient *rcpts = NULL;
    size_t n = 0;
    int pass = 0, armor = 0, c, status = 0;
    const char *out = NULL, *pass_file = NULL;
    while ((c = getopt_long(argc, argv, "r:R:pao:h", opts, NULL)) != -1) {
        st_age_recipient *more = NULL;
        size_t nmore = 0;
        switch (c) {
        case 'r':
            more = calloc(1, sizeof(*more));
            nmore = 1;
            if (!more || st_age_x25519_recipient(optarg, more, &err)) {
                free(more);
                status = more ? st_cli_fail(&err) : 5;
                goto done;
            }
            break;
        case 'R':
            if (st_age_recipients_load(optarg, &more, &nmore, &err)) {
                status = st_cli_fail(&err);
                goto done;
            }
            break;
        case 'p': pass = 1; break;
        case 'P':
            pass_file = optarg;
            pass = 1;
            break;
        case 'a': armor = 1; break;
        case 'o': out = optarg; break;
        case 'h': age_usage(stdout); goto done;
        default: status = st_cli_usage("age", "unknown option"); goto done;
        }
        if (nmore) {
            st_age_recipient *g = realloc(rcpts, (n + nmore) * sizeof(*g));
            if (!g) {
                st_age_recipients_free(more, nmore);
                status = 5;
                goto done;
            }
            rcpts = g;
            memcpy(rcpts + n, more, nmore * sizeof(*more));
            n += nmore;
            free(more);
        }
    }
    if (argc - optind > 1) {
        status = st_cli_usage("age", "at most one input file");
        goto done;
    }
    if (pass && n) {
        status = st_cli_usage("age", "-p cannot be combined with recipients");
        goto done;
    }
    if (!pass && !n) {
        status = st_cli_usage("age", "give -r, -R or -p");
        goto done;
    }
    if (!armor && !out && isatty(1)) {
        status = st_cli_usage("age", "refusing to write binary output to a "
                                     "terminal: use -a or -o");
        goto done;
    }
    if (pass) {
        char *pw = st_secmem_alloc(PASS_MAX, &err);
        size_t plen = 0;
        rcpts = calloc(1, sizeof(*rcpts));
        if (!pw || !rcpts ||
            get_passphrase(pass_file, 1, pw, &plen, &err) != ST_OK ||
            st_age_scrypt_recipient(pw, plen, 0, rcpts, &err) != ST_OK) {
            st_secmem_free(pw);
            status = st_cli_fail(&err);
            goto done;
        }
        st_secmem_free(pw);
        n = 1;
    }
    int in = open_input(optind < argc ? argv[optind] : NULL, &err);
    out_target o;
    if (in < 0 || out_open(out, &o, &err) != ST_OK) {
        if (in > 0)
            close(in);
        status = st_cli_fail(&err);
        goto done;
    }
    st_code rc = st_age_encrypt_fd(
        in, o.fd, rcpts, n, armor ? ST_AGE_ARMOR_YES : ST_AGE_ARMOR_NO, &err);
    rc = out_close(&o, rc, &err);
    if (in > 0)
        close(in);
    if (rc != ST_OK)
        status = st_cli_fail(&err);
done:
    st_age_recipients_free(rcpts, n);
    return status;
}

/* --- decrypt
 * ------------------------------------------------------------------------ */

static int cmd_decrypt(st_cli *cli, int argc, char **argv)
{
    (void)cli;
    static const struct option opts[] = {
        {"identity", required_argument, NULL, 'i'},
        {"passphrase-file", required_argument, NULL, 'P'},
        {"threads", required_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    st_err err;
    st_err_clear(&err);
    st_age_identity *ids = NULL;
    size_t n = 0;
    int c, status = 0;
    unsigned threads = 0;
    const char *out = NULL, *pass_file = NULL;
    while ((c = getopt_long(argc, argv, "i:j:o:h", opts, NULL)) != -1) {
        st_age_identity *more = NULL;
        size_t nmore = 0;
        char *end;
        switch (c) {
        case 'i':
            if (st_age_identities_load(optarg, &more, &nmore, &err)) {
                status = st_cli_fail(&err);
                goto done;
            }
            break;
        case 'P': pass_file = optarg; break;
        case 'j':
            errno = 0;
            threads = (unsigned)strtoul(optarg, &end, 10);
            if (errno || *end || !*optarg || threads > 1024) {
                status = st_cli_usage("age", "--threads needs a number");
                goto done;
            }
            break;
        case 'o': out = optarg; break;
        case 'h': age_usage(stdout); goto done;
        default: status = st_cli_usage("age", "unknown option"); goto done;
        }
        if (nmore) {
            st_age_identity *g = realloc(ids, (n + nmore + 1) * sizeof(*g));
            if (!g) {
                st_age_identities_free(more, nmore);
                status = 5;
                goto done;
            }
            ids = g;
            memcpy(ids + n, more, nmore * sizeof(*more));
            n += nmore;
            free(more);
        }
    }
    if (argc - optind > 1) {
        status = st_cli_usage("age", "at most one input file");
        goto done;
    }
    if (pass_file) {
        char *pw = st_secmem_alloc(PASS_MAX, &err);
        size_t plen = 0;
        st_age_identity *g = realloc(ids, (n + 1) * sizeof(*g));
        if (g)
            ids = g;
        if (!pw || !g ||
            get_passphrase(pass_file, 0, pw, &plen, &err) != ST_OK ||
            st_age_scrypt_identity(pw, plen, 0, &ids[n], &err) != ST_OK) {
            st_secmem_free(pw);
            status = st_cli_fail(&err);
            goto done;
        }
        st_secmem_free(pw);
        n++;
    }
    if (n == 0) {
        status = st_cli_usage("age", "give -i IDENTITY_FILE or "
                                     "--passphrase-file");
        goto done;
    }
    const char *in_path = optind < argc ? argv[optind] : NULL;
    int in = open_input(in_path, &err);
    out_target o;
    if (in < 0 || out_open(out, &o, &err) != ST_OK) {
        if (in > 0)
            close(in);
        status = st_cli_fail(&err);
        goto done;
    }
    st_age_decrypt_opts opt = {.identities = ids,
                               .nidentities = n,
                               .armor = ST_AGE_ARMOR_AUTO,
                               .threads = threads,
                               .name = in_path ? in_path : "stdin"};
    st_age_result res;
    st_code rc = st_age_decrypt_fd(in, o.fd, &opt, &res, &err);
    rc = out_close(&o, rc, &err);
    if (in > 0)
        close(in);
    if (rc != ST_OK)
        status = st_cli_fail(&err);
done:
    st_age_identities_free(ids, n);
    return status;
}

/* --- inspect
 * ------------------------------------------------------------------------ */

static int cmd_inspect(st_cli *cli, int argc, char **argv)
{
    (void)cli;
    if (argc != 2 || argv[1][0] == '-')
        return st_cli_usage("age", "inspect takes one FILE");
    st_err err;
    st_age_header h;
    if (st_age_inspect_file(argv[1], &h, &err) != ST_OK)
        return st_cli_fail(&err);
    printf("age-encryption.org/v1 header, %zu bytes, %zu stanza%s\n", h.len,
           h.nstanzas, h.nstanzas == 1 ? "" : "s");
    for (size_t i = 0; i < h.nstanzas; i++) {
        printf("  %s", h.stanzas[i].args[0]);
        for (size_t a = 1; a < h.stanzas[i].nargs; a++)
            printf(" %s", h.stanzas[i].args[a]);
        printf("  (body %zu bytes)\n", h.stanzas[i].body_len);
    }
    st_age_header_clear(&h);
    return 0;
}

int st_cli_age(st_cli *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        age_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    argc--;
    argv++;
    optind = 0;
    if (!strcmp(sub, "keygen"))
        return cmd_keygen(cli, argc, argv);
    if (!strcmp(sub, "encrypt"))
        return cmd_encrypt(cli, argc, argv);
    if (!strcmp(sub, "decrypt"))
        return cmd_decrypt(cli, argc, argv);
    if (!strcmp(sub, "inspect"))
        return cmd_inspect(cli, argc, argv);
    return st_cli_usage("age", "unknown subcommand \"%s\"", sub);
}
