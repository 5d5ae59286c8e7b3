/*
 * ingest_tls.c - OpenSSL over memory BIOs for tls:// listeners; contract in ingest_tls.h.
 *
 * Why memory BIOs: libuv owns the sockets and their readiness; OpenSSL here is a pure transform
 * (ciphertext in, plaintext out and back), so the TLS path shares the plain path's reading,
 * framing, backpressure and ack machinery unchanged and nothing blocks the loop.
 *
 * Why the identity check sits in the verify callback: a refused client then fails the handshake
 * with an alert (it never gets to send a byte of data), whatever the protocol version.
 *
 * One matcher (tls_cert_match) compares a certificate's names with configured ones, for
 * allow_identities in the verify callback and for allow_types_by_identity once the handshake is
 * done: the keys a connection's certificate matched are kept as a bit mask, so the per-event check
 * (ingest_tls_type_allowed) is a test of that mask and, only when it is set, fnmatch over the
 * patterns of those keys. Both tables are parsed from the listener's settings into one owned
 * struct (tls_ids); a SIGHUP that changes the settings builds a new one and swaps it in whole, then
 * the ingest re-checks every open connection against it (ingest_tls_conn_recheck), which recomputes
 * the connection's mask, so a mask never refers to keys of another table.
 */
#include "ingest_tls.h"
#include "util.h"

#include <fnmatch.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_MAX_IDENTITIES 64
#define TLS_VERIFY_DEPTH   8

/* matches are bit masks: a uint64_t for allow_identities, a uint32_t per connection for
 * allow_types_by_identity */
_Static_assert(TLS_MAX_IDENTITIES <= 64, "allow_identities matches are a uint64_t mask");
_Static_assert(CFG_MAX_IDENTITY_TYPES <= 32, "allow_types_by_identity keys are a uint32_t mask");

/* allow_identities and allow_types_by_identity, parsed; every string is its own copy. */
struct tls_ids {
    char ids_buf[sizeof(((cfg_listener_t *)0)->allow_identities)];
    const char *ids[TLS_MAX_IDENTITIES];
    int n_ids;
    /* allow_types_by_identity: key k's name and its patterns */
    char type_names[CFG_MAX_IDENTITY_TYPES][sizeof(((cfg_identity_types_t *)0)->identity)];
    const char *type_ids[CFG_MAX_IDENTITY_TYPES];
    char type_bufs[CFG_MAX_IDENTITY_TYPES][sizeof(((cfg_identity_types_t *)0)->types)];
    const char *types[CFG_MAX_IDENTITY_TYPES][CFG_MAX_IDENTITY_PATTERNS];
    int n_types[CFG_MAX_IDENTITY_TYPES];
    int n_type_ids;
};

struct ingest_tls_ctx {
    const cfg_listener_t *l; /* borrowed: paths and ciphers */
    SSL_CTX *ctx;            /* the current one; sessions hold their own reference */
    struct tls_ids *ids;     /* owned; replaced whole by ingest_tls_ctx_set_identities */
};

struct ingest_tls_conn {
    ingest_tls_ctx_t *t;
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    int is_established;
    int is_failed;
    int is_shut_down;  /* close_notify queued: SSL_shutdown is called at most once */
    char refusal[512]; /* set by the verify callback */
    char cn[256];
    char subject[512];
    uint32_t type_keys; /* allow_types_by_identity keys the certificate matched (bit k: key k) */
};

/* The reason of the last OpenSSL failure, or fallback. */
static void tls_error_text(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        snprintf(buf, len, "%s", fallback);
        return;
    }
    char tmp[256];
    ERR_error_string_n(e, tmp, sizeof tmp);
    snprintf(buf, len, "%s", tmp);
    ERR_clear_error();
}

/* Which of names[0..n-1] (n <= 64) the certificate carries as its subject CN or a SAN name (DNS,
 * email, URI), exactly: bit k of the result for names[k]. Fills out (when outlen > 0) with the
 * leaf's names ("CN=x, DNS:y, ...") for a log line. */
static uint64_t tls_cert_match(X509 *cert, const char *const *names, int n, char *out,
                               size_t outlen)
{
    char cn[256] = "";
    size_t off = 0;
    uint64_t matched = 0;

    if (outlen > 0)
        out[0] = '\0';
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0 &&
        strlen(cn) < sizeof cn - 1) {
        if (outlen > 0)
            off += (size_t)snprintf(out, outlen, "CN=%s", cn);
        for (int i = 0; i < n; i++)
            if (strcmp(cn, names[i]) == 0)
                matched |= UINT64_C(1) << i;
    }
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        const char *kind = g->type == GEN_DNS ? "DNS" : g->type == GEN_EMAIL ? "email" : "URI";
        if (g->type != GEN_DNS && g->type != GEN_EMAIL && g->type != GEN_URI)
            continue;
        const ASN1_IA5STRING *s = g->d.ia5;
        const char *v = (const char *)ASN1_STRING_get0_data(s);
        int len = ASN1_STRING_length(s);
        /* an embedded NUL never matches */
        if (len <= 0 || len > 255 || memchr(v, '\0', (size_t)len))
            continue;
        if (off < outlen)
            off += (size_t)snprintf(out + off, outlen - off, "%s%s:%.*s", off ? ", " : "", kind,
                                    len, v);
        for (int k = 0; k < n; k++)
            if ((size_t)len == strlen(names[k]) && memcmp(v, names[k], (size_t)len) == 0)
                matched |= UINT64_C(1) << k;
    }
    GENERAL_NAMES_free(sans);
    if (outlen > 0 && !out[0])
        snprintf(out, outlen, "(no CN or SAN name)");
    return matched;
}

/* 1 when allow_identities is set and cert carries none of its names, with reason saying so
 * (`when`: "" at the handshake, " any more" after a reload); 0 when it is admitted. */
static int tls_identity_refused(X509 *cert, const struct tls_ids *ids, const char *when,
                                char *reason, size_t reasonlen)
{
    char names[300], subject[256];
    if (ids->n_ids == 0 || tls_cert_match(cert, ids->ids, ids->n_ids, names, sizeof names) != 0)
        return 0;
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    snprintf(reason, reasonlen,
             "client certificate %.200s is not in allow_identities%s (its names: %.250s)", subject,
             when, names);
    return 1;
}

/* The allow_types_by_identity keys cert matches (bit k: key k). */
static uint32_t tls_type_keys(X509 *cert, const struct tls_ids *ids)
{
    return (uint32_t)tls_cert_match(cert, ids->type_ids, ids->n_type_ids, NULL, 0);
}

static int tls_verify_cb(int is_ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    ingest_tls_conn_t *tc = ssl ? SSL_get_app_data(ssl) : NULL;
    X509 *cert = X509_STORE_CTX_get_current_cert(x);
    int depth = X509_STORE_CTX_get_error_depth(x);
    char subject[256] = "?";

    if (!tc)
        return 0;
    if (cert)
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    if (!is_ok) {
        int e = X509_STORE_CTX_get_error(x);
        if (!tc->refusal[0])
            snprintf(tc->refusal, sizeof tc->refusal,
                     "client certificate %.200s (chain depth %d) failed verification: %s", subject,
                     depth, X509_verify_cert_error_string(e));
        return 0;
    }
    if (depth == 0 && cert &&
        tls_identity_refused(cert, tc->t->ids, "", tc->refusal, sizeof tc->refusal)) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

/* Builds a new SSL_CTX from the listener's files; NULL with err. */
static SSL_CTX *tls_ctx_build(const cfg_listener_t *l, char *err, size_t errlen)
{
    char why[256];
    const char *what = "TLS setup";
    const char *file = "";
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    ERR_clear_error();
    if (!ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"ocsf-collector", 14);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    what = "ciphers";
    file = l->ciphers;
    if (l->ciphers[0] && SSL_CTX_set_cipher_list(ctx, l->ciphers) != 1)
        goto fail;
    what = "cert_file";
    file = l->cert_file;
    if (SSL_CTX_use_certificate_chain_file(ctx, l->cert_file) != 1)
        goto fail;
    what = "key_file";
    file = l->key_file;
    if (SSL_CTX_use_PrivateKey_file(ctx, l->key_file, SSL_FILETYPE_PEM) != 1)
        goto fail;
    if (SSL_CTX_check_private_key(ctx) != 1) {
        what = "key_file (does not match cert_file)";
        goto fail;
    }
    if (l->client_ca[0]) {
        what = "client_ca";
        file = l->client_ca;
        if (SSL_CTX_load_verify_locations(ctx, l->client_ca, NULL) != 1)
            goto fail;
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(l->client_ca);
        if (!names)
            goto fail;
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, tls_verify_cb);
        SSL_CTX_set_verify_depth(ctx, TLS_VERIFY_DEPTH);
    }
    return ctx;
fail:
    tls_error_text(why, sizeof why, "failed");
    snprintf(err, errlen,
             "listener %.300s: %s %.400s: %s (check the file exists, is PEM and "
             "readable by the collector's user)",
             l->url_str, what, file, why);
    SSL_CTX_free(ctx);
    return NULL;
}

/* Parses l's allow_identities and allow_types_by_identity into a new table; NULL with err. */
static struct tls_ids *tls_ids_build(const cfg_listener_t *l, char *err, size_t errlen)
{
    struct tls_ids *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    util_strlcpy(t->ids_buf, l->allow_identities, sizeof t->ids_buf);
    for (char *save = NULL, *p = strtok_r(t->ids_buf, ",", &save); p;
         p = strtok_r(NULL, ",", &save)) {
        if (t->n_ids == TLS_MAX_IDENTITIES) {
            snprintf(err, errlen, "listener %s: more than %d allow_identities", l->url_str,
                     TLS_MAX_IDENTITIES);
            goto fail;
        }
        t->ids[t->n_ids++] = p;
    }
    for (int k = 0; k < l->n_types_by_identity && k < CFG_MAX_IDENTITY_TYPES; k++) {
        const cfg_identity_types_t *e = &l->types_by_identity[k];
        util_strlcpy(t->type_names[k], e->identity, sizeof t->type_names[k]);
        t->type_ids[k] = t->type_names[k];
        util_strlcpy(t->type_bufs[k], e->types, sizeof t->type_bufs[k]);
        for (char *save = NULL, *p = strtok_r(t->type_bufs[k], ",", &save); p;
             p = strtok_r(NULL, ",", &save)) {
            if (t->n_types[k] == CFG_MAX_IDENTITY_PATTERNS) { /* cfg checked it; kept bounded */
                snprintf(err, errlen,
                         "listener %s: allow_types_by_identity \"%s\": more than %d patterns",
                         l->url_str, e->identity, CFG_MAX_IDENTITY_PATTERNS);
                goto fail;
            }
            t->types[k][t->n_types[k]++] = p;
        }
        t->n_type_ids++;
    }
    return t;
fail:
    free(t);
    return NULL;
}

int ingest_tls_ctx_new(const cfg_listener_t *l, ingest_tls_ctx_t **out, char *err, size_t errlen)
{
    ingest_tls_ctx_t *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->l = l;
    t->ids = tls_ids_build(l, err, errlen);
    if (!t->ids)
        goto fail;
    t->ctx = tls_ctx_build(l, err, errlen);
    if (!t->ctx)
        goto fail;
    *out = t;
    return 0;
fail:
    free(t->ids);
    free(t);
    return -1;
}

int ingest_tls_ctx_set_identities(ingest_tls_ctx_t *t, const cfg_listener_t *fresh, char *err,
                                  size_t errlen)
{
    struct tls_ids *ids = tls_ids_build(fresh, err, errlen);
    if (!ids)
        return -1;
    free(t->ids);
    t->ids = ids;
    return 0;
}

int ingest_tls_ctx_reload(ingest_tls_ctx_t *t, char *err, size_t errlen)
{
    SSL_CTX *ctx = tls_ctx_build(t->l, err, errlen);
    if (!ctx)
        return -1;
    SSL_CTX_free(t->ctx); /* open sessions keep their reference */
    t->ctx = ctx;
    return 0;
}

void ingest_tls_ctx_free(ingest_tls_ctx_t *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t->ids);
    free(t);
}

ingest_tls_conn_t *ingest_tls_conn_new(ingest_tls_ctx_t *t)
{
    ingest_tls_conn_t *tc = calloc(1, sizeof *tc);
    if (!tc)
        return NULL;
    tc->t = t;
    tc->ssl = SSL_new(t->ctx);
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(BIO_s_mem());
    if (!tc->ssl || !tc->rbio || !tc->wbio) {
        BIO_free(tc->rbio);
        BIO_free(tc->wbio);
        SSL_free(tc->ssl);
        free(tc);
        return NULL;
    }
    BIO_set_mem_eof_return(tc->rbio, -1); /* empty means "wait for more", not end of stream */
    BIO_set_mem_eof_return(tc->wbio, -1);
    SSL_set_bio(tc->ssl, tc->rbio, tc->wbio); /* ssl owns both now */
    SSL_set_app_data(tc->ssl, tc);
    SSL_set_accept_state(tc->ssl);
    return tc;
}

void ingest_tls_conn_free(ingest_tls_conn_t *tc)
{
    if (!tc)
        return;
    SSL_free(tc->ssl);
    free(tc);
}

int ingest_tls_feed(ingest_tls_conn_t *tc, const char *data, size_t len)
{
    while (len > 0) {
        int n = BIO_write(tc->rbio, data, len > INT_MAX ? INT_MAX : (int)len);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void tls_establish(ingest_tls_conn_t *tc)
{
    X509 *peer = SSL_get0_peer_certificate(tc->ssl);
    tc->is_established = 1;
    if (!peer)
        return;
    /* once per connection: the certificate is verified and cannot change (no renegotiation) */
    tc->type_keys = tls_type_keys(peer, tc->t->ids);
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, tc->cn,
                                  sizeof tc->cn) < 0)
        tc->cn[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (b) {
        X509_NAME_print_ex(b, X509_get_subject_name(peer), 0,
                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
        int n = BIO_read(b, tc->subject, (int)sizeof tc->subject - 1);
        tc->subject[n > 0 ? n : 0] = '\0';
        BIO_free(b);
    }
}

int ingest_tls_read(ingest_tls_conn_t *tc, char *buf, size_t cap, char *reason, size_t reasonlen)
{
    if (tc->is_failed) {
        snprintf(reason, reasonlen, "%s", tc->refusal[0] ? tc->refusal : "TLS session failed");
        return INGEST_TLS_ERROR;
    }
    ERR_clear_error();
    int n = SSL_read(tc->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (n > 0) {
        if (!tc->is_established)
            tls_establish(tc);
        return n;
    }
    int e = SSL_get_error(tc->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (!tc->is_established && SSL_is_init_finished(tc->ssl))
            tls_establish(tc);
        return INGEST_TLS_WANT;
    }
    if (e == SSL_ERROR_ZERO_RETURN)
        return INGEST_TLS_EOF;
    tc->is_failed = 1;
    if (tc->refusal[0])
        snprintf(reason, reasonlen, "%s", tc->refusal);
    else
        tls_error_text(reason, reasonlen, "TLS protocol error");
    ERR_clear_error();
    return INGEST_TLS_ERROR;
}

int ingest_tls_conn_recheck(ingest_tls_conn_t *tc, char *reason, size_t reasonlen)
{
    /* NULL: no client certificate yet (the verify callback will check it against the new table)
     * or none asked for */
    X509 *peer = SSL_get0_peer_certificate(tc->ssl);
    if (!peer || tc->is_failed)
        return 1;
    if (tls_identity_refused(peer, tc->t->ids, " any more", reason, reasonlen))
        return 0;
    if (tc->is_established)
        tc->type_keys = tls_type_keys(peer, tc->t->ids);
    return 1;
}

int ingest_tls_is_established(const ingest_tls_conn_t *tc)
{
    return tc->is_established && !tc->is_failed;
}

const char *ingest_tls_client_cn(const ingest_tls_conn_t *tc)
{
    return tc->cn;
}

const char *ingest_tls_client_subject(const ingest_tls_conn_t *tc)
{
    return tc->subject;
}

int ingest_tls_type_allowed(const ingest_tls_conn_t *tc, const char *type)
{
    uint32_t keys = tc->type_keys;
    if (keys == 0)
        return 1;
    for (int k = 0; type && keys; k++, keys >>= 1)
        for (int i = 0; (keys & 1) && i < tc->t->ids->n_types[k]; i++)
            if (fnmatch(tc->t->ids->types[k][i], type, 0) == 0)
                return 1;
    return 0;
}

const char *ingest_tls_version(const ingest_tls_conn_t *tc)
{
    return SSL_get_version(tc->ssl);
}

int ingest_tls_write(ingest_tls_conn_t *tc, const char *data, size_t len)
{
    if (!ingest_tls_is_established(tc))
        return -1;
    while (len > 0) {
        size_t done = 0;
        ERR_clear_error();
        if (SSL_write_ex(tc->ssl, data, len, &done) != 1) {
            tc->is_failed = 1;
            ERR_clear_error();
            return -1;
        }
        data += done;
        len -= done;
    }
    return 0;
}

int ingest_tls_shutdown(ingest_tls_conn_t *tc)
{
    if (!ingest_tls_is_established(tc) || tc->is_shut_down)
        return -1;
    tc->is_shut_down = 1;
    ERR_clear_error();
    /* over a memory BIO the alert is written at once: 0 (sent, the client's not seen yet) or 1 */
    if (SSL_shutdown(tc->ssl) < 0) {
        tc->is_failed = 1;
        ERR_clear_error();
        return -1;
    }
    return 0;
}

size_t ingest_tls_pending(const ingest_tls_conn_t *tc)
{
    return BIO_ctrl_pending(tc->wbio);
}

size_t ingest_tls_take(ingest_tls_conn_t *tc, char *buf, size_t cap)
{
    int n = BIO_read(tc->wbio, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    return n > 0 ? (size_t)n : 0;
}
