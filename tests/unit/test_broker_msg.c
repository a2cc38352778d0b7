/*
 * test_broker_msg.c: the frames and payloads of the key release protocol,
 * the report-data binding and the wrapping of released keys.
 */
#include "broker/msg.h"
#include "crypto/primitives.h"
#include "st_test.h"

#include <sys/socket.h>

#include <sealtrain/sealtrain.h>

static void test_frames_cross_a_socketpair_intact(void **state)
{
    (void)state;
    st_err e;
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    st_broker_hello h;
    memset(h.x25519, 1, 32);
    memset(h.ed25519, 2, 32);
    uint8_t buf[65];
    st_discard(st_broker_hello_encode(&h, buf)); /* cannot fail */
    assert_st_ok(st_broker_send(sp[0], ST_MSG_HELLO, buf, 65, &e), &e);
    json_t *p = json_pack("{s:i,s:f}", "epoch", 3, "loss", 0.25);
    assert_st_ok(st_broker_send_json(sp[0], ST_MSG_PROGRESS, p, &e), &e);
    json_decref(p);
    assert_st_ok(st_broker_send(sp[0], ST_MSG_CANCEL, NULL, 0, &e), &e);

    st_broker_msg m;
    assert_st_ok(st_broker_recv(sp[1], 1000, &m, &e), &e);
    st_broker_hello got;
    assert_st_ok(st_broker_hello_parse(&m, &got, &e), &e);
    assert_memory_equal(got.x25519, h.x25519, 32);
    assert_memory_equal(got.ed25519, h.ed25519, 32);
    st_broker_msg_free(&m);
    assert_st_ok(st_broker_recv(sp[1], 1000, &m, &e), &e);
    json_t *j;
    assert_st_ok(st_broker_json_parse(&m, &j, &e), &e);
    assert_int_equal(json_integer_value(json_object_get(j, "epoch")), 3);
    json_decref(j);
    st_broker_msg_free(&m);
    assert_st_ok(st_broker_recv(sp[1], 1000, &m, &e), &e);
    assert_int_equal(m.type, ST_MSG_CANCEL);
    st_broker_msg_free(&m);
    /* nothing more: a timeout, then the peer's close */
    assert_int_equal(st_broker_recv(sp[1], 50, &m, &e), ST_E_IO);
    assert_non_null(strstr(e.msg, "no message within"));
    close(sp[0]);
    assert_int_equal(st_broker_recv(sp[1], 1000, &m, &e), ST_E_IO);
    assert_non_null(strstr(e.msg, "closed"));
    close(sp[1]);
}

static void test_oversized_or_unknown_frames_are_refused_unread(void **state)
{
    (void)state;
    st_err e;
    st_broker_msg m;
    size_t used;
    /* PROGRESS claiming 16 MiB: refused from the header alone */
    uint8_t big[5] = {ST_MSG_PROGRESS, 0x01, 0, 0, 0};
    assert_int_equal(st_broker_frame_parse(big, 5, &m, &used, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "exceeds its bound"));
    uint8_t unknown[5] = {99, 0, 0, 0, 0};
    assert_int_equal(st_broker_frame_parse(unknown, 5, &m, &used, &e),
                     ST_E_INPUT);
    assert_non_null(strstr(e.msg, "unknown type 99"));
    /* a sender cannot exceed a bound either */
    char payload[70] = {0};
    assert_int_equal(st_broker_send(-1, ST_MSG_HELLO, payload, 70, &e),
                     ST_E_USAGE);
    /* a HELLO of the wrong version */
    uint8_t hello[5 + 65] = {ST_MSG_HELLO, 0, 0, 0, 65, 2};
    assert_st_ok(st_broker_frame_parse(hello, sizeof(hello), &m, &used, &e),
                 &e);
    st_broker_hello h;
    assert_int_equal(st_broker_hello_parse(&m, &h, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "protocol version 2"));
    st_broker_msg_free(&m);
}

static void make_runtime_key(unsigned char **priv, uint8_t pub[32])
{
    st_err e;
    *priv = st_secmem_alloc(32, &e);
    assert_non_null(*priv);
    assert_st_ok(st_random(*priv, 32, &e), &e);
    assert_st_ok(st_x25519_public(*priv, pub, &e), &e);
}

static void
test_released_key_opens_only_for_its_runtime_job_and_name(void **state)
{
    (void)state;
    st_err e;
    unsigned char *priv, *other;
    uint8_t pub[32], opub[32];
    make_runtime_key(&priv, pub);
    make_runtime_key(&other, opub);
    const unsigned char file_key[16] = "0123456789abcdef";
    st_broker_key k;
    assert_st_ok(st_broker_wrap_key(pub, "job-1", "dataset:digits", file_key,
                                    16, &k, &e),
                 &e);
    st_secret *s;
    assert_st_ok(st_broker_unwrap_key(priv, "job-1", &k, &s, &e), &e);
    assert_int_equal(st_secret_len(s), 16);
    assert_memory_equal(st_secret_bytes(s), file_key, 16);
    st_secret_free(s);
    /* another runtime's key, another job, a renamed key: all refused */
    assert_int_equal(st_broker_unwrap_key(other, "job-1", &k, &s, &e),
                     ST_E_DENIED);
    assert_int_equal(st_broker_unwrap_key(priv, "job-2", &k, &s, &e),
                     ST_E_DENIED);
    st_broker_key renamed = k;
    strcpy(renamed.name, "dataset:other");
    assert_int_equal(st_broker_unwrap_key(priv, "job-1", &renamed, &s, &e),
                     ST_E_DENIED);
    st_broker_key flipped = k;
    flipped.ct[0] ^= 1;
    assert_int_equal(st_broker_unwrap_key(priv, "job-1", &flipped, &s, &e),
                     ST_E_DENIED);
    st_secmem_free(priv);
    st_secmem_free(other);
}

static void test_keys_message_round_trips_and_rejects_junk(void **state)
{
    (void)state;
    st_err e;
    unsigned char *priv;
    uint8_t pub[32];
    make_runtime_key(&priv, pub);
    st_broker_keys ks;
    memset(&ks, 0, sizeof(ks));
    const unsigned char key[32] = {1, 2, 3};
    assert_st_ok(
        st_broker_wrap_key(pub, "j", "dataset:a", key, 16, &ks.k[0], &e), &e);
    assert_st_ok(
        st_broker_wrap_key(pub, "j", "job:checkpoint", key, 32, &ks.k[1], &e),
        &e);
    ks.n = 2;
    st_buf b;
    st_buf_init(&b);
    assert_st_ok(st_broker_keys_encode(&ks, &b, &e), &e);
    st_broker_msg m = {ST_MSG_KEYS, b.data, b.len};
    st_broker_keys got;
    assert_st_ok(st_broker_keys_parse(&m, &got, &e), &e);
    assert_int_equal(got.n, 2);
    assert_non_null(st_broker_keys_find(&got, "job:checkpoint"));
    assert_null(st_broker_keys_find(&got, "dataset:b"));
    /* a trailing byte */
    assert_st_ok(st_buf_append(&b, "x", 1, &e), &e);
    m.data = b.data;
    m.len = b.len;
    assert_int_equal(st_broker_keys_parse(&m, &got, &e), ST_E_INPUT);
    /* the same key name twice */
    ks.k[1] = ks.k[0];
    st_buf_free(&b);
    st_buf_init(&b);
    assert_st_ok(st_broker_keys_encode(&ks, &b, &e), &e);
    m.data = b.data;
    m.len = b.len;
    assert_int_equal(st_broker_keys_parse(&m, &got, &e), ST_E_INPUT);
    assert_non_null(strstr(e.msg, "twice"));
    st_buf_free(&b);
    st_secmem_free(priv);
}

static void test_report_data_binds_keys_nonce_and_spec(void **state)
{
    (void)state;
    uint8_t x[32] = {1}, ed[32] = {2}, nonce[32] = {3}, spec[32] = {4};
    uint8_t a[64], b[64];
    st_broker_report_data(x, ed, nonce, spec, a);
    uint8_t *inputs[] = {x, ed, nonce, spec};
    for (size_t i = 0; i < 4; i++) {
        inputs[i][5] ^= 1;
        st_broker_report_data(x, ed, nonce, spec, b);
        assert_memory_not_equal(a, b, 32);
        inputs[i][5] ^= 1;
    }
    st_broker_report_data(x, ed, nonce, spec, b);
    assert_memory_equal(a, b, 64);
    uint8_t zero[32] = {0};
    assert_memory_equal(a + 32, zero, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_cross_a_socketpair_intact),
        cmocka_unit_test(test_oversized_or_unknown_frames_are_refused_unread),
        cmocka_unit_test(
            test_released_key_opens_only_for_its_runtime_job_and_name),
        cmocka_unit_test(test_keys_message_round_trips_and_rejects_junk),
        cmocka_unit_test(test_report_data_binds_keys_nonce_and_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
