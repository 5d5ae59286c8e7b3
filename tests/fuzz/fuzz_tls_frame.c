/* fuzz_tls_frame.c - libFuzzer target for the TLS record boundary (ingest_tls.c + frame.c): an
 * in-process OpenSSL client completes a real handshake with the collector's server side over
 * memory, then sends the input as the plaintext stream in TLS records whose sizes come from the
 * input, and the ciphertext reaches the server in reads whose sizes (1 byte .. several records)
 * come from the input too, so records and lines are split at every possible place. The server side
 * runs exactly as ingest.c does: feed, drain ingest_tls_read() into the framer's reserved space,
 * frame_next(). Invariants checked: the framed lines are the input's lines byte for byte (over-long
 * ones reported with their true length), the tail comes out at frame_finish(), the client's
 * close_notify reads as INGEST_TLS_EOF, the server's reply after it (an ack through
 * ingest_tls_write/take) and then its close_notify (ingest_tls_shutdown, once) reach the client
 * cleanly, and nothing is left buffered. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "frame.h"
#include "fuzz_common.h"
#include "ingest_tls.h"

#define FUZZ_MAX_LINE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ingest_tls_ctx_t *g_server;
static SSL_CTX *g_client;
static cfg_listener_t g_listener;

/* A self-signed P-256 certificate and key in temp files for the server context. */
static void fuzz_setup(void)
{
    char cert_path[] = "/tmp/fuzz-tls-cert-XXXXXX", key_path[] = "/tmp/fuzz-tls-key-XXXXXX";
    char err[512];
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    FUZZ_CHECK(pkey && x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"fuzz", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    FUZZ_CHECK(X509_sign(x, pkey, EVP_sha256()) > 0);
    int cfd = mkstemp(cert_path), kfd = mkstemp(key_path);
    FUZZ_CHECK(cfd >= 0 && kfd >= 0);
    FILE *cf = fdopen(cfd, "w"), *kf = fdopen(kfd, "w");
    FUZZ_CHECK(cf && kf);
    FUZZ_CHECK(PEM_write_X509(cf, x) == 1);
    FUZZ_CHECK(PEM_write_PrivateKey(kf, pkey, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(cf);
    fclose(kf);
    snprintf(g_listener.url_str, sizeof g_listener.url_str, "tls://127.0.0.1:0");
    snprintf(g_listener.cert_file, sizeof g_listener.cert_file, "%s", cert_path);
    snprintf(g_listener.key_file, sizeof g_listener.key_file, "%s", key_path);
    FUZZ_CHECK(ingest_tls_ctx_new(&g_listener, &g_server, err, sizeof err) == 0);
    unlink(cert_path); /* loaded: the files are no longer needed */
    unlink(key_path);
    g_client = SSL_CTX_new(TLS_client_method());
    FUZZ_CHECK(g_client);
    SSL_CTX_set_verify(g_client, SSL_VERIFY_NONE, NULL);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

/* Moves everything the client wrote to the server (in one feed). */
static void to_server(BIO *client_out, ingest_tls_conn_t *tc)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(client_out, buf, sizeof buf)) > 0)
        FUZZ_CHECK(ingest_tls_feed(tc, buf, (size_t)n) == 0);
}

static void to_client(ingest_tls_conn_t *tc, BIO *client_in)
{
    char buf[16384];
    size_t n;
    while ((n = ingest_tls_take(tc, buf, sizeof buf)) > 0)
        FUZZ_CHECK(BIO_write(client_in, buf, (int)n) == (int)n);
}

/* Checks one framed item against the input at *pos (as fuzz_frame.c does). */
static void check_item(int kind, const frame_item_t *it, const uint8_t *data, size_t size,
                       size_t *pos)
{
    size_t at = *pos;
    if (kind == FRAME_LINE) {
        FUZZ_CHECK(it->len <= FUZZ_MAX_LINE && at + it->len <= size);
        FUZZ_CHECK(memcmp(it->data, data + at, it->len) == 0);
        at += it->len;
        if (at < size && data[at] == '\r' && at + 1 < size && data[at + 1] == '\n')
            at++;
        FUZZ_CHECK(at < size && data[at] == '\n');
        *pos = at + 1;
    } else if (kind == FRAME_TOO_LONG) {
        FUZZ_CHECK(it->total_len > FUZZ_MAX_LINE && it->len <= FRAME_SAMPLE_BYTES);
        FUZZ_CHECK(at + it->total_len < size && data[at + it->total_len] == '\n');
        FUZZ_CHECK(memcmp(it->data, data + at, it->len) == 0);
        *pos = at + it->total_len + 1;
    } else {
        FUZZ_CHECK(kind == FRAME_TRUNCATED && at + it->total_len == size);
        FUZZ_CHECK(memcmp(it->data, data + at, it->len) == 0);
        *pos = size;
    }
}

/* The server side of ingest.c's conn_read_tls: decrypt everything into the framer. */
static void server_drain(ingest_tls_conn_t *tc, frame_t *f, const uint8_t *data, size_t size,
                         size_t *pos)
{
    char reason[600];
    frame_item_t it;
    int kind;
    for (;;) {
        char *p;
        size_t avail;
        FUZZ_CHECK(frame_reserve(f, FRAME_READ_CHUNK, &p, &avail) == 0);
        int n = ingest_tls_read(tc, p, avail, reason, sizeof reason);
        if (n == INGEST_TLS_WANT)
            return;
        FUZZ_CHECK(n > 0); /* the client is well-behaved: no error, no close_notify yet */
        frame_commit(f, (size_t)n);
        while ((kind = frame_next(f, &it)) != FRAME_NONE)
            check_item(kind, &it, data, size, pos);
        FUZZ_CHECK(frame_buffered(f) <= FUZZ_MAX_LINE + FRAME_READ_CHUNK * 2);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char reason[600], cipher[65536];
    frame_t f;
    frame_item_t it;
    size_t pos = 0, sent = 0, k = 0;

    if (!g_server)
        fuzz_setup();
    ingest_tls_conn_t *tc = ingest_tls_conn_new(g_server);
    SSL *cl = SSL_new(g_client);
    BIO *cin = BIO_new(BIO_s_mem()), *cout = BIO_new(BIO_s_mem());
    FUZZ_CHECK(tc && cl && cin && cout);
    BIO_set_mem_eof_return(cin, -1);
    SSL_set_bio(cl, cin, cout);
    SSL_set_connect_state(cl);
    frame_init(&f, FUZZ_MAX_LINE);

    /* handshake, pumping both ways */
    for (int round = 0; round < 16 && !(SSL_is_init_finished(cl) && ingest_tls_is_established(tc));
         round++) {
        SSL_do_handshake(cl);
        to_server(cout, tc);
        FUZZ_CHECK(ingest_tls_read(tc, cipher, 1, reason, sizeof reason) == INGEST_TLS_WANT);
        to_client(tc, cin);
    }
    FUZZ_CHECK(SSL_is_init_finished(cl) && ingest_tls_is_established(tc));

    /* the input as records of input-chosen sizes, delivered in input-chosen reads */
    while (sent < size) {
        size_t rec = (size_t)data[k++ % size] * 67 % 16384 + 1;
        if (rec > size - sent)
            rec = size - sent;
        size_t done = 0;
        FUZZ_CHECK(SSL_write_ex(cl, data + sent, rec, &done) == 1 && done == rec);
        sent += rec;
        int n;
        while ((n = BIO_read(cout, cipher, (int)sizeof cipher)) > 0) {
            for (size_t off = 0; off < (size_t)n;) {
                size_t piece = data[k++ % size];
                piece = piece & 0x80 ? (piece & 0x7f) * 131 + 1 : piece % 7 + 1;
                if (piece > (size_t)n - off)
                    piece = (size_t)n - off;
                FUZZ_CHECK(ingest_tls_feed(tc, cipher + off, piece) == 0);
                off += piece;
                server_drain(tc, &f, data, size, &pos);
            }
        }
    }
    /* end of stream: the tail; then a reply travels back and decrypts */
    int r = frame_finish(&f, &it);
    if (r != FRAME_NONE)
        check_item(r, &it, data, size, &pos);
    FUZZ_CHECK(pos == size);
    /* the client's close_notify is a clean end of input; the final ack and the server's
     * close_notify still go back, as in ingest.c's conn_maybe_finish */
    FUZZ_CHECK(SSL_shutdown(cl) == 0);
    to_server(cout, tc);
    FUZZ_CHECK(ingest_tls_read(tc, cipher, sizeof cipher, reason, sizeof reason) == INGEST_TLS_EOF);
    FUZZ_CHECK(ingest_tls_write(tc, "{\"ack\":1}\n", 10) == 0);
    FUZZ_CHECK(ingest_tls_shutdown(tc) == 0);
    FUZZ_CHECK(ingest_tls_shutdown(tc) == -1); /* never twice */
    to_client(tc, cin);
    FUZZ_CHECK(ingest_tls_pending(tc) == 0);
    char reply[32];
    FUZZ_CHECK(SSL_read(cl, reply, sizeof reply) == 10 && memcmp(reply, "{\"ack\":1}\n", 10) == 0);
    FUZZ_CHECK(SSL_read(cl, reply, sizeof reply) == 0 &&
               SSL_get_error(cl, 0) == SSL_ERROR_ZERO_RETURN);
    FUZZ_CHECK(SSL_shutdown(cl) == 1);

    frame_free(&f);
    SSL_free(cl);
    ingest_tls_conn_free(tc);
    return 0;
}
