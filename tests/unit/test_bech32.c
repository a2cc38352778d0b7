/*
 * test_bech32.c: Bech32 against the BIP 173 test vectors and an age
 * identity from the C2SP CCTV age suite.
 */
#include "crypto/primitives.h"
#include "st_test.h"

#include "crypto/bech32.h"
#include <sealtrain/crypto.h>

static void test_bip173_valid_strings_decode_and_reencode(void **state)
{
    (void)state;
    const char *valid[] = {
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcl"
        "udedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        char hrp[100], back[ST_BECH32_MAX + 1];
        uint8_t data[200];
        size_t n;
        st_err e;
        st_code rc = st_bech32_decode(valid[i], hrp, sizeof(hrp), data,
                                      sizeof(data), &n, &e);
        /* vectors whose 5-bit data is not a whole number of bytes are
         * valid checksums but not valid byte strings; only those with
         * clean padding must round trip */
        if (rc != ST_OK) {
            assert_int_equal(rc, ST_E_INPUT);
            if (!strstr(e.msg, "padding"))
                fail_msg("#%zu: %s", i, e.msg);
            continue;
        }
        int upper = valid[i][0] >= 'A' && valid[i][0] <= 'Z';
        assert_st_ok(
            st_bech32_encode(hrp, data, n, upper, back, sizeof(back), &e), &e);
        assert_string_equal(back, valid[i]);
    }
}

static void test_bip173_invalid_strings_are_rejected(void **state)
{
    (void)state;
    const char *invalid[] = {
        "\x20"
        "1nwldj5", /* hrp character out of range */
        "\x7f"
        "1axkwrx",
        "pzry9x0s0muk",  /* no separator */
        "1pzry9x0s0muk", /* empty hrp */
        "x1b4n0q5v",     /* invalid data character */
        "li1dgmt3",      /* too short checksum */
        "A1G7SGD8",      /* checksum computed with uppercase hrp */
        "10a06t8",       /* empty hrp */
        "1qzzfhee",      /* empty hrp */
        "a12UEL5L",      /* mixed case */
        "a12uel5m",      /* wrong checksum */
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        char hrp[100];
        uint8_t data[200];
        size_t n;
        st_err e;
        if (st_bech32_decode(invalid[i], hrp, sizeof(hrp), data, sizeof(data),
                             &n, &e) != ST_E_INPUT)
            fail_msg("accepted invalid bech32 #%zu", i);
    }
}

static void test_age_identity_round_trips_and_detects_typos(void **state)
{
    (void)state;
    /* identity from the CCTV age vector "x25519" */
    const char *id = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKW"
                     "YKLMGR48UAWX40Q2P2LM0";
    char hrp[64], back[200];
    uint8_t key[32];
    size_t n;
    st_err e;
    assert_st_ok(
        st_bech32_decode(id, hrp, sizeof(hrp), key, sizeof(key), &n, &e), &e);
    assert_int_equal(n, 32);
    assert_string_equal(hrp, "age-secret-key-");
    assert_st_ok(
        st_bech32_encode("age-secret-key-", key, 32, 1, back, sizeof(back), &e),
        &e);
    assert_string_equal(back, id);
    /* a 31-byte buffer is too small: rejected, not truncated */
    uint8_t small[31];
    assert_int_equal(
        st_bech32_decode(id, hrp, sizeof(hrp), small, sizeof(small), &n, &e),
        ST_E_INPUT);
    char typo[200];
    snprintf(typo, sizeof(typo), "%s", id);
    typo[20] = typo[20] == 'Q' ? 'P' : 'Q';
    assert_int_equal(
        st_bech32_decode(typo, hrp, sizeof(hrp), key, sizeof(key), &n, &e),
        ST_E_INPUT);
    assert_non_null(strstr(e.msg, "checksum"));
    /* the recipient encodes the X25519 public key under "age" */
    uint8_t pub[32];
    assert_st_ok(
        st_bech32_decode(id, hrp, sizeof(hrp), key, sizeof(key), &n, &e), &e);
    assert_st_ok(st_x25519_public(key, pub, &e), &e);
    assert_st_ok(st_bech32_encode("age", pub, 32, 0, back, sizeof(back), &e),
                 &e);
    assert_int_equal(strlen(back), 62);
    assert_memory_equal(back, "age1", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bip173_valid_strings_decode_and_reencode),
        cmocka_unit_test(test_bip173_invalid_strings_are_rejected),
        cmocka_unit_test(test_age_identity_round_trips_and_detects_typos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
