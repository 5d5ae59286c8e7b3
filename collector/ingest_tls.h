/*
 * ingest_tls.h - TLS for the ingest's tls:// listeners: OpenSSL driven over memory BIOs, so the
 * sockets stay libuv streams and no OpenSSL call ever blocks or touches a file descriptor.
 *
 *   socket bytes --ingest_tls_feed--> [read BIO] --SSL_read--> ingest_tls_read --> the framer
 *   acks/notices --ingest_tls_write--> SSL_write --> [write BIO] --ingest_tls_take--> uv_write
 *
 * A context (one per listener) owns the SSL_CTX built from the listener's cert_file, key_file,
 * client_ca and ciphers: TLS 1.2 or newer only, no renegotiation. ingest_tls_ctx_reload() builds a
 * new SSL_CTX from the same files (SIGHUP) and swaps it in only when it loaded whole; connections
 * already open keep the SSL_CTX they started with (OpenSSL reference-counts it), new ones use the
 * new one.
 *
 * mTLS: with client_ca set, a client must present a certificate that chains to it (no certificate,
 * a wrong CA or an expired certificate fail the handshake); with allow_identities set as well, the
 * leaf's subject CN or one of its SAN names (DNS, email, URI) must be in that list. A refusal
 * fails the handshake inside OpenSSL's verify callback (the client gets an alert) and
 * ingest_tls_read() returns INGEST_TLS_ERROR with the reason for the log.
 *
 * allow_types_by_identity: when the handshake completes, the verified certificate's names are
 * matched (the same way as allow_identities) against its keys, once; ingest_tls_type_allowed()
 * then answers per event from that result. Both lists are read from the listener's settings at
 * ingest_tls_ctx_new(); a SIGHUP replaces them with ingest_tls_ctx_set_identities(), after which
 * the caller passes every open connection of the listener to ingest_tls_conn_recheck(): one whose
 * certificate allow_identities no longer admits is to be closed, the others are bound by the new
 * allow_types_by_identity from their next line on. Handshakes still under way check the new lists.
 *
 * Ownership: a connection's state is owned by the ingest conn_t and freed with
 * ingest_tls_conn_free(). Memory per connection: OpenSSL's own buffers plus the ciphertext of one
 * read chunk (the caller drains ingest_tls_read() after every feed) and of the replies not yet
 * taken. Threads: the loop thread only.
 */
#ifndef OCSF_INGEST_TLS_H
#define OCSF_INGEST_TLS_H

#include "cfg.h"

#include <stddef.h>

typedef struct ingest_tls_ctx ingest_tls_ctx_t;
typedef struct ingest_tls_conn ingest_tls_conn_t;

enum { INGEST_TLS_WANT = 0, INGEST_TLS_EOF = -1, INGEST_TLS_ERROR = -2 };

/* Builds the context of listener l (borrowed; must outlive the context: paths are re-read on
 * reload). 0, or -1 with err naming the listener and the file. */
int ingest_tls_ctx_new(const cfg_listener_t *l, ingest_tls_ctx_t **out, char *err, size_t errlen);
/* Re-reads the certificate, key and CA files. On failure the old SSL_CTX keeps serving. */
int ingest_tls_ctx_reload(ingest_tls_ctx_t *t, char *err, size_t errlen);
void ingest_tls_ctx_free(ingest_tls_ctx_t *t); /* NULL is fine */
/* SIGHUP: replaces allow_identities and allow_types_by_identity with fresh's (a configuration cfg
 * already checked; the files and ciphers stay t's). 0, or -1 with err and the old lists kept. */
int ingest_tls_ctx_set_identities(ingest_tls_ctx_t *t, const cfg_listener_t *fresh, char *err,
                                  size_t errlen);
/* After ingest_tls_ctx_set_identities: 1 when the connection may stay (its type binding now comes
 * from the new allow_types_by_identity), 0 with reason when its client certificate is not in the
 * new allow_identities (close it). */
int ingest_tls_conn_recheck(ingest_tls_conn_t *tc, char *reason, size_t reasonlen);

/* A server-side TLS session on the context's current SSL_CTX. NULL on out of memory. */
ingest_tls_conn_t *ingest_tls_conn_new(ingest_tls_ctx_t *t);
void ingest_tls_conn_free(ingest_tls_conn_t *tc); /* NULL is fine */

/* Ciphertext read from the socket. 0, or -1 on out of memory. */
int ingest_tls_feed(ingest_tls_conn_t *tc, const char *data, size_t len);
/* Runs the handshake and decrypts into buf (cap > 0). Returns the number of plaintext bytes
 * (> 0), INGEST_TLS_WANT (needs more ciphertext), INGEST_TLS_EOF (the client sent close_notify: a
 * clean end of its input; replies can still be written) or INGEST_TLS_ERROR with reason filled
 * (handshake refused, bad record). Call it until it returns something <= 0 after every feed. */
int ingest_tls_read(ingest_tls_conn_t *tc, char *buf, size_t cap, char *reason, size_t reasonlen);
/* 1 once the handshake completed and the client passed every check. */
int ingest_tls_is_established(const ingest_tls_conn_t *tc);
/* The verified client certificate's subject CN ("" without one) and its whole subject in RFC 2253
 * form ("" without one). Valid while tc lives. */
const char *ingest_tls_client_cn(const ingest_tls_conn_t *tc);
const char *ingest_tls_client_subject(const ingest_tls_conn_t *tc);
/* allow_types_by_identity, resolved at the handshake: 1 when the client certificate matched no key
 * (the listener's allow_types alone decide) or when type matches a pattern of a key it matched;
 * 0 otherwise (type NULL: the event has none). Cheap when no key matched. */
int ingest_tls_type_allowed(const ingest_tls_conn_t *tc, const char *type);
/* The negotiated protocol version ("TLSv1.3"). */
const char *ingest_tls_version(const ingest_tls_conn_t *tc);

/* Encrypts plaintext for the client (only once established). 0, or -1 on failure. */
int ingest_tls_write(ingest_tls_conn_t *tc, const char *data, size_t len);
/* Queues the close_notify alert (SSL_shutdown, once) for ingest_tls_take, on a normal close:
 * nothing can be written after it. 0, or -1 when not sent: not established, after a fatal error
 * (OpenSSL forbids SSL_shutdown then), already sent, or SSL_shutdown failed. */
int ingest_tls_shutdown(ingest_tls_conn_t *tc);
/* Ciphertext waiting to be sent (handshake messages, alerts, records). */
size_t ingest_tls_pending(const ingest_tls_conn_t *tc);
/* Moves up to cap bytes of it into buf; returns how many. */
size_t ingest_tls_take(ingest_tls_conn_t *tc, char *buf, size_t cap);

#endif
