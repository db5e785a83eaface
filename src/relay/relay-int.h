/* relay-int.h: what the relay's .c files share, and nothing outside
 * src/relay includes. The one idea: a struct relay_delivery is one
 * attempt at one destination: some queue entries (at most
 * RELAY_MSGS_PER_CONN), the addresses to try, and one SMTP client
 * connection at a time that carries the entries one after the other.
 * The client writes each recipient's result into the entry; the engine
 * saves the entries when the delivery ends. */
#ifndef MM_RELAY_INT_H
#define MM_RELAY_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/limits.h"
#include "lib/util.h"
#include "relay/relay.h"
#include "store/store.h"

struct conn_client;
struct config;
struct config_relay_host;
struct dkim_keyset;
typedef struct ssl_ctx_st SSL_CTX;
struct ssl_st;

/* ---- relay-mx.c ---- */

struct relay_addr {
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[256];          /* the name it came from (for TLS and logs) */
	char ip[64];
	uint16_t port;
	bool mx;                 /* host came from an MX record (not fixed, not implicit) */
	bool dnssec;             /* MX (or implicit MX) and address records were secure */
};

enum relay_res {
	RELAY_RES_OK = 0,
	RELAY_RES_TEMP,          /* try again later */
	RELAY_RES_PERM,          /* bounce (NXDOMAIN, null MX) */
};

/* ---- relay-resolve.c: where d goes, asked on the loop ---- */

struct relay_resolving;
struct relay_delivery;
/* Fills d->addrs/naddrs (best first), d->res and, when not OK, d->error
 * (an SMTP-style reply, "556 5.1.10 ..."), from [relay] smarthost/routes
 * or MX then A/AAAA through the daemon's resolver; then calls
 * relay_engine_resolved(d), always later on the loop. */
void relay_resolve_start(struct relay_delivery *d);
/* Drops a resolution in progress (no callback). */
void relay_resolve_cancel(struct relay_delivery *d);

/* ---- relay-policy.c: MTA-STS (RFC 8461) and DANE (RFC 7672) ---- */

/* What the connection to one address must be. */
enum relay_tls_policy {
	RELAY_TLS_OPPORTUNISTIC = 0,  /* STARTTLS if offered, unverified (RFC 7435) */
	RELAY_TLS_MTA_STS,            /* enforce: TLS, PKIX-valid for the MX name */
	RELAY_TLS_DANE,               /* TLS, matching a TLSA record (DANE-EE/TA) */
	RELAY_TLS_DANE_NOAUTH,        /* TLSA but none usable: TLS, unverified */
};

struct relay_tlsa {              /* one usable TLSA record (RFC 6698 2.1) */
	uint8_t usage, selector, mtype;
	unsigned char *data;
	size_t len;
};

struct relay_policy;
/* After resolving to MX hosts: looks up the destination's MTA-STS policy
 * and the hosts' TLSA records (on the loop), drops the addresses policy
 * forbids (d->error says why), sets each address's policy, then
 * relay_client_start(d). Fixed hosts (smarthost, routes) skip it. */
void relay_policy_start(struct relay_delivery *d);
void relay_policy_free(struct relay_delivery *d);
/* The policy of d's current address, and a name for it in errors. */
enum relay_tls_policy relay_policy_of(const struct relay_delivery *d);
const char *relay_policy_name(enum relay_tls_policy p);
/* The TLS context and SSL settings (verification, SNI, TLSA) for a
 * policy connection; false with a reason in err. */
SSL_CTX *relay_policy_ssl_ctx(char *err, size_t errlen, const struct config *cfg);
bool relay_policy_setup_ssl(struct relay_delivery *d, struct ssl_st *ssl, char *err,
    size_t errlen);
/* Frees the cached policies and the context (engine shutdown). */
void relay_policy_shutdown(void);

/* ---- relay-engine.c / relay-client.c ---- */

struct relay_msg {
	struct store_qentry *e;
	int *state0;             /* each recipient's state when loaded */
	char *body;              /* loaded just before its transaction */
	size_t len;
	bool tried;              /* the connection reached a result for it */
	bool downgraded;         /* body made 7-bit for this server (relay-dkim.c) */
	/* streamed (issue 18): body is a chunk buffer of RELAY_STREAM_BYTES
	 * and then the slen bytes of DKIM-Signature fields sent first; len
	 * is the whole length, those included */
	bool streamed;
	size_t slen;
	size_t chunk_len;        /* bytes of body read by the last chunk job */
	uint64_t soff;           /* the next body byte to read */
	bool sbol;               /* the bytes sent so far end a line */
	char last[2];            /* the last two bytes sent */
};

/* A message whose bytes to send are over this, that needs neither a
 * 7-bit downgrade nor a DKIM signature, is sent from the store a chunk
 * of this size at a time instead of loaded whole. */
#define RELAY_STREAM_BYTES (256 * 1024)

enum relay_cstate {
	RC_NONE = 0,
	RC_RESOLVING,            /* the resolver: relay-resolve.c */
	RC_CONNECTING,
	RC_TLS_IMPLICIT,         /* handshake before the greeting */
	RC_GREETING,
	RC_EHLO,
	RC_HELO,
	RC_STARTTLS,
	RC_TLS,                  /* STARTTLS handshake */
	RC_AUTH,                 /* AUTH PLAIN, or AUTH LOGIN user name */
	RC_AUTH_LOGIN_PASS,
	RC_AUTH_LOGIN_DONE,
	RC_LOADING,              /* worker: the next message's body */
	RC_TX,                   /* MAIL, RCPTs, DATA replies */
	RC_DATA_END,             /* the reply to the end of data */
	RC_DATA_STREAM,          /* a streamed body going out (no reply yet) */
	RC_RSET,
	RC_QUIT,
	RC_SAVING,               /* worker: results into the store */
};

struct relay_engine;

struct relay_delivery {
	struct relay_engine *eng;
	struct relay_delivery *next;       /* the engine's list */
	const struct config *cfg;          /* as at the start (kept alive until exit) */
	const struct dkim_keyset *dkim;    /* signing keys, likewise (relay-dkim.c) */
	char dest[STORE_QUEUE_DOMAIN_MAX + 16];  /* domain, or "[smarthost]" */
	bool smarthost;
	bool job_running;                  /* a worker job holds it */
	struct relay_resolving *rs;        /* DNS queries in flight */
	struct relay_policy *pol;          /* MTA-STS/DANE lookups and results */
	enum relay_tls_policy tls_policy[RELAY_ADDRS_MAX];   /* per addrs[] */
	struct relay_tlsa *tlsa[RELAY_ADDRS_MAX];            /* per addrs[], DANE */
	size_t ntlsa[RELAY_ADDRS_MAX];
	bool dead;                         /* freed when its job returns */
	unsigned seed;                     /* orders MX hosts of equal preference */

	struct relay_msg *msgs;
	size_t nmsgs;
	size_t cur;                        /* message being sent */

	struct relay_addr addrs[RELAY_ADDRS_MAX];
	size_t naddrs;
	size_t addr;                       /* address being tried */
	int res;                           /* enum relay_res */
	char error[STORE_QUEUE_REPLY_MAX]; /* the last connection-level error */

	/* the connection */
	struct conn_client *conn;          /* net/conn-client */
	enum relay_cstate state;
	bool tls;
	bool no_starttls;                  /* the TLS handshake failed here: plain */
	bool ext_starttls, ext_pipelining, ext_8bitmime, ext_smtputf8;
	bool ext_auth_plain, ext_auth_login, ext_size;
	uint64_t max_size;
	struct mm_buf reply;               /* the reply being read (bounded) */
	int code;
	bool in_session;                   /* greeted: QUIT before closing */
	unsigned conn_gen;                 /* bumped when a connection closes */
	bool conn_lost;                    /* failed while a worker job ran */
	bool stream_wait;                  /* a streamed body waits for on_drained */

	/* the transaction of msgs[cur] */
	size_t *rcpt_idx;                  /* pending recipients sent */
	size_t nrcpt;
	bool *accepted;
	size_t naccepted;
	size_t step;                       /* reply expected: 0 MAIL, 1..n RCPT, n+1 DATA */
	int mail_code;
	char mail_reply[STORE_QUEUE_REPLY_MAX];
	bool need_rset;
};

/* relay-client.c: the SMTP conversation. relay_client_start connects to
 * addrs[addr]; when the delivery is over (all messages tried or no
 * address left) it calls relay_engine_finish(). */
void relay_client_start(struct relay_delivery *d);
void relay_client_close(struct relay_delivery *d);
/* The body of msgs[cur] is loaded (or failed to load: body NULL). */
void relay_client_body_loaded(struct relay_delivery *d, int err);
/* The next chunk of a streamed msgs[cur] is in its body (or err). */
void relay_client_chunk_loaded(struct relay_delivery *d, int err);

/* relay-engine.c */
struct event_base *relay_engine_base(struct relay_engine *eng);
struct mm_server *relay_engine_server(struct relay_engine *eng);
/* The end of relay_resolve_start(). */
void relay_engine_resolved(struct relay_delivery *d);
/* The client TLS context for d (opportunistic, or verifying for a
 * smarthost); NULL with a reason in err if it cannot be built. */
SSL_CTX *relay_engine_ssl_ctx(struct relay_engine *eng, struct relay_delivery *d,
    char *err, size_t errlen);
/* Loads msgs[cur]'s body on a worker, then relay_client_body_loaded(). */
void relay_engine_load_body(struct relay_delivery *d);
/* A streamed message: its next chunk at msgs[cur].soff on a worker,
 * then relay_client_chunk_loaded(). */
void relay_engine_read_chunk(struct relay_delivery *d);
/* The conversation is over: save the results (worker), then free d. */
void relay_engine_finish(struct relay_delivery *d);

/* relay-dkim.c: on the worker that loaded m's body, for this
 * destination. relay_downgrade: an 8-bit MIME message made 7-bit for a
 * server without 8BITMIME (m->downgraded; else it bounces as before).
 * relay_dkim_sign: the DKIM-Signature fields put before its header when
 * its sender is local and has keys. Both replace m->body and m->len. */
void relay_downgrade(struct relay_delivery *d, struct relay_msg *m);
void relay_dkim_sign(struct relay_delivery *d, struct relay_msg *m);
/* Would relay_dkim_sign sign for d (signing on, keys loaded)? Then the
 * body is read whole, not streamed. */
bool relay_dkim_may_sign(const struct relay_delivery *d);
/* A streamed m (its body the chunk buffer): its DKIM-Signature fields
 * computed over the body read from st a chunk at a time (the header block
 * at most MIME_HEADER_MAX_BYTES, else sent unsigned). STORE_OK also when
 * it is not signed; else the body could not be read. */
int relay_dkim_sign_streamed(struct relay_delivery *d, struct relay_msg *m, struct store *st);

/* Sets recipient i of m from an SMTP reply code and text. */
void relay_rcpt_result(struct relay_delivery *d, struct relay_msg *m, size_t i,
    int code, const char *reply);

#endif
