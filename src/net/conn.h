/* conn.h: one client connection: a bufferevent (plain, or TLS through
 * OpenSSL), a bounded line reader, output with backpressure, timeouts,
 * STARTTLS, and a lifetime that outlives callbacks and worker jobs.
 *
 * A protocol session owns a conn. The conn calls the session's module
 * (struct proto_module) when input is there, when output has drained,
 * and when the connection is gone. A session reads with conn_getline()
 * and conn_read_bytes() from inside its on_input callback and must
 * consume what it can; input that stays buffered is offered again after
 * conn_resume().
 *
 * Lifetime: conn_close() never frees at once; the conn is freed on the
 * loop after the current callback returns and after every conn_hold() has
 * been matched by conn_release(). A session with a worker job in flight
 * holds its conn; when the job's done function runs it checks
 * conn_is_closed() and, if so, only releases. */
#ifndef MM_CONN_H
#define MM_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/worker.h"

struct conn;
struct evbuffer;
struct proto_module;

enum conn_line {
	CONN_LINE_OK = 0,        /* line_r, len_r: the line without its ending */
	CONN_LINE_NEED_MORE,     /* no complete line buffered yet */
	CONN_LINE_TOO_LONG,      /* a line over maxlen was swallowed up to its LF
	                            (or is still being swallowed); reported once */
};

/* Flags describing how a line ended (set by conn_getline). */
#define CONN_LINE_CRLF     0x1   /* ended with CRLF */
#define CONN_LINE_BARE_LF  0x2   /* ended with LF alone */

/* Gets one line of at most maxlen bytes (excluding its ending). The line
 * stays valid until the next conn_* read call. A line containing NUL bytes
 * is returned as is: len is authoritative. */
enum conn_line conn_getline(struct conn *c, size_t maxlen, char **line_r,
    size_t *len_r, unsigned *ending_r);
/* Is conn_getline swallowing the rest of an overlong line? Then a
 * session that reads the input in place (conn_input) must leave it to
 * conn_getline until it returns again. */
bool conn_line_discarding(const struct conn *c);
/* Bytes buffered and not yet consumed. */
size_t conn_input_len(struct conn *c);
/* Moves up to n buffered bytes into dst (NULL: discard); returns count. */
size_t conn_read_bytes(struct conn *c, void *dst, size_t n);
/* The input buffer, for protocols that want to search it themselves. */
struct evbuffer *conn_input(struct conn *c);

/* Output. Never blocks; data is buffered in the bufferevent. */
void conn_write(struct conn *c, const void *data, size_t len);
/* All the session has to say for now (an IDLE push, the reply that ends
 * an SMTP transaction): straight to the socket when nothing is queued
 * before it and no input waits, else as conn_write. */
void conn_write_now(struct conn *c, const void *data, size_t len);
void conn_puts(struct conn *c, const char *s);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conn_vprintf(struct conn *c, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Bytes waiting to be sent. A session producing bulk output stops above
 * CONN_OUTPUT_HIGH_BYTES and continues in on_drained. Output past the hard
 * cap (CONN_OUTPUT_PREAUTH_MAX_BYTES before authentication, else
 * CONN_OUTPUT_MAX_BYTES plus twice max_message_size) is dropped and the
 * connection closed (logged once). */
size_t conn_output_len(struct conn *c);
/* Ask for on_drained when output falls to CONN_OUTPUT_LOW_BYTES or below. */
void conn_want_drained(struct conn *c);

/* Stop/restart delivering input to the session (a job is in flight). On
 * resume, buffered input is offered again from the loop (never from
 * inside conn_resume itself). */
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);

/* Seconds of inactivity before on_timeout (0: none). Input arriving and
 * output the client takes both count as activity, so a long answer to a
 * slow client is not cut off. Setting it restarts the clock. A timeout
 * that comes while a job runs waits for the job's done. */
void conn_set_timeout(struct conn *c, unsigned secs);

/* May the session take input now? False while closed, paused, a job
 * runs, or (backpressure) the output not yet sent is above the high
 * watermark; buffered input is offered again when that changes. A
 * session that reads its input itself (conn_input) checks this before
 * each command; conn_getline checks it by itself. */
bool conn_can_input(struct conn *c);

/* A user logged in: the connection gets the authenticated limits
 * (CONN_INPUT_MAX_BYTES, CONN_OUTPUT_HIGH_BYTES, a larger hard cap
 * instead of the *_PREAUTH_* ones) and counts for the user's
 * max_connections_per_user. False (nothing changed, logged) when the user
 * has that many already. server_auth calls it. */
bool conn_set_authenticated(struct conn *c, const char *user);
bool conn_is_authenticated(const struct conn *c);

/* Runs fn(session) now, or, while a job runs, after its done returned
 * (several calls during one job: fn once, the last one given). For
 * events from elsewhere on the loop (the notify hub) that would change
 * session memory a job may be reading. */
void conn_notify(struct conn *c, void (*fn)(void *sess));

/* STARTTLS: call after writing the plaintext "go ahead" reply. Discards
 * any input already buffered (no injection across the TLS boundary), then
 * wraps the connection. on_tls is called when the handshake completed; a
 * failed handshake closes the connection. Returns false if TLS is not
 * configured or already active. */
bool conn_starttls(struct conn *c);
bool conn_is_tls(const struct conn *c);

/* COMPRESS=DEFLATE (RFC 4978): call after writing the uncompressed OK.
 * From then on both directions are raw deflate (zlib); output is flushed
 * (Z_SYNC_FLUSH) at the end of each batch the loop writes, never left
 * sitting in the compressor. Input the client sent after the command is
 * taken as compressed. False if already active or the conn is closing. */
bool conn_compress_start(struct conn *c);
bool conn_is_compressed(const struct conn *c);
/* "TLSv1.3", cipher name: only when conn_is_tls; else "". */
const char *conn_tls_version(const struct conn *c);
const char *conn_tls_cipher(const struct conn *c);

/* Closes after pending output is flushed (bounded by a short timer).
 * Safe to call more than once and from any callback. */
void conn_close(struct conn *c);
bool conn_is_closed(const struct conn *c);

void conn_hold(struct conn *c);
void conn_release(struct conn *c);

/* Run work(arg) on a worker thread while this session's input is paused
 * and its conn held; then done(arg, alive) on the loop thread. alive is
 * false when the connection closed meanwhile: done must then only free arg
 * (the session is still allocated, but must not write). Input resumes after
 * done returns unless done started another job or paused the conn.
 * One job per session at a time. */
typedef void conn_job_done_fn(void *arg, bool alive);
void conn_run_job(struct conn *c, enum worker_lane lane, void (*work)(void *arg),
    conn_job_done_fn *done, void *arg);
bool conn_job_running(const struct conn *c);
/* While a job runs and pipelined input is already buffered, hold the
 * output written so far, so that it leaves with the job's reply in one
 * write (SMTP PIPELINING). Output is never held with the input empty. */
void conn_coalesce_output(struct conn *c);
/* Copies up to max bytes of the buffered input, not consuming it. */
size_t conn_input_peek(struct conn *c, void *dst, size_t max);

/* Identity */
uint64_t conn_id(const struct conn *c);                 /* session id for logs */
const char *conn_peer_addr(const struct conn *c);       /* "192.0.2.1" / "2001:db8::1" */
/* What the per-address limits count it under: the address, or for IPv6
 * its [limits] ipv6_prefix network ("2001:db8:1:2::/64"). */
const char *conn_limit_key(const struct conn *c);
uint16_t conn_peer_port(const struct conn *c);
/* The socket's local address and port ("" and 0 if unknown), asked of
 * the kernel on the first call. */
const char *conn_local_addr(struct conn *c);
uint16_t conn_local_port(struct conn *c);
int conn_listener(const struct conn *c);                /* enum listener_id */
struct event_base *conn_base(const struct conn *c);
/* The daemon context (config, store, worker pool, notify hub). */
struct mm_server *conn_server(const struct conn *c);

/* The session object for this connection (set by the module's start). */
void *conn_session(const struct conn *c);

/* ---- for the network layer itself (listener.c, minimaild.c) ---- */

/* A connection accepted on listener lsn (enum listener_id). */
void conn_accept(struct mm_server *srv, int fd, const struct sockaddr *sa,
    socklen_t salen, int lsn);
/* Shutdown: tell every session goodbye and close it. */
void conn_shutdown_all(void);
/* Drop every connection at once (end of the shutdown grace period). */
void conn_abort_all(void);
/* Live connections (accepted and not yet freed). */
size_t conn_live_count(void);
/* Connections refused by max_connections / max_connections_per_ip since
 * start (closed before any TLS or session). */
uint64_t conn_refused_total(void);

#endif
