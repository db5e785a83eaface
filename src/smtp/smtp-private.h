/* smtp-private.h: the SMTP session shared by smtp-session.c (states,
 * command dispatch, EHLO/MAIL/RCPT), smtp-data.c (DATA, BDAT, delivery)
 * and smtp-auth.c (AUTH PLAIN/LOGIN). Nothing here leaves src/smtp. */
#ifndef MM_SMTP_PRIVATE_H
#define MM_SMTP_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "lib/limits.h"
#include "lib/sasl-session.h"
#include "lib/util.h"
#include "smtp/smtp-parse.h"

struct conn;
struct dkim_verify;
struct inbound_check;
struct dnsbl_check;
struct milter_run;
struct mm_server;
struct config;

/* Changed only by smtp_enter_state(). */
enum smtp_state {
	SMTP_STATE_NEW = 0,
	SMTP_STATE_CONNECTED,      /* greeting sent, no HELO/EHLO yet */
	SMTP_STATE_TLS,            /* STARTTLS accepted, handshake running */
	SMTP_STATE_HELO,           /* ready for commands */
	SMTP_STATE_AUTH_INIT,      /* AUTH PLAIN: waiting for the response */
	SMTP_STATE_AUTH_USERNAME,  /* AUTH LOGIN: waiting for the user name */
	SMTP_STATE_AUTH_PASSWORD,  /* AUTH LOGIN: waiting for the password */
	SMTP_STATE_BODY,           /* reading DATA up to CRLF.CRLF */
	SMTP_STATE_BDAT,           /* reading the bytes of a BDAT chunk */
	SMTP_STATE_QUIT,           /* closing */
	SMTP_STATE_COUNT
};

/* Why a message is refused at its end; the first problem wins. */
enum smtp_data_err {
	SMTP_DATA_OK = 0,
	SMTP_DATA_BARE_LF,
	SMTP_DATA_BARE_CR,
	SMTP_DATA_LONG_LINE,
	SMTP_DATA_TOO_BIG,
	SMTP_DATA_SPOOL,              /* the spool could not be written */
};

/* One mail transaction: MAIL FROM up to the end of its data. */
struct smtp_rcpt_check;

struct smtp_tx {
	char id[24];                  /* queue id, in Received: and the reply */
	char from[ADDRESS_MAX_BYTES + 1];
	bool null_sender;
	struct smtp_mail_params params;
	uint64_t max_size;            /* max_message_size when MAIL came */
	struct mm_strlist rcpts;      /* accepted recipients, as given */
	struct mm_strlist users;      /* distinct local users they resolve to */
	struct mm_strlist remote;     /* distinct remote addresses, for the queue */
	unsigned rejected;            /* RCPTs refused */

	/* the message */
	bool started;                 /* headers added, data being received */
	bool bdat;                    /* BDAT used (DATA then refused) */
	struct mm_buf msg;            /* added headers + the data */
	uint64_t datalen;             /* client octets (after unstuffing) */
	enum smtp_data_err data_err;
	bool prev_crlf;               /* DATA: the previous line ended in CRLF */
	bool last_cr;                 /* BDAT: previous octet was CR */
	size_t linelen;               /* BDAT: octets since the last LF */

	/* port 25, [inbound] dkim: the signatures are verified while the
	 * message streams in (the body hashes see each byte once) */
	struct dkim_verify *dkim;
	size_t dkim_client_off;       /* where the client's data starts in msg */
	size_t dkim_fed;              /* bytes of msg the verifier has seen */
	bool dkim_header_done;
	bool limit_counted;           /* [limits] per hour: this message counted */

	/* streamed (issue 18): over MSG_SPOOL_THRESHOLD_BYTES the data goes
	 * to a spool file (lib/spool.h) in chunks written on a worker; msg
	 * keeps the head (our lines and the client's header block), spill
	 * the bytes not written yet. The file holds the tail from
	 * MSG_SPOOL_GAP_BYTES on; the delivery job writes the head before it. */
	bool spooling;
	int spool_fd;                 /* -1: none yet, or a write job holds it */
	struct mm_buf spill;
	uint64_t spool_len;           /* tail bytes written */
	size_t hdr_scan;              /* msg scanned for the header's end up to here */
	bool hdr_done;
	uint64_t mem_held;            /* of [limits] max_memory (lib/membudget.h) */
};

struct smtp_session {
	struct conn *c;
	struct mm_server *srv;
	unsigned long long id;        /* conn_id, for logs */
	int listener;                 /* enum listener_id */
	enum smtp_state state;
	uint64_t cmd_start_us;        /* metrics: command (or data end) to reply */

	bool esmtp;                   /* EHLO (not HELO) */
	char helo[SMTP_DOMAIN_MAX_BYTES + 1];
	char user[ADDRESS_MAX_BYTES + 1];   /* authenticated user, "" if none */
	struct sasl_session sasl;     /* AUTH: the shared step machine */
	unsigned bad_cmds;
	unsigned auth_fails;
	unsigned ntx;                 /* transactions so far */

	struct smtp_tx *tx;
	/* port 25: the SPF/DMARC checks of the message that just ended
	 * (src/inbound); input waits meanwhile; cancelled by smtp_free */
	struct inbound_check *inbound;
	struct milter_run *milter;    /* then the [inbound] milters */
	bool milter_junk;             /* the checks said Junk before the milters ran */
	/* port 25 with [inbound] dnsbl: the greeting waits for the lists */
	struct dnsbl_check *dnsbl, *dnswl;
	char dnsbl_zone[256];         /* the first list that has the address, or "" */
	char dnsbl_text[256];
	bool dnswl_listed;

	/* the BDAT chunk being read (also without a transaction: the bytes
	 * must be swallowed, RFC 3030 2) */
	uint64_t bdat_left;
	bool bdat_last;
	const char *bdat_fail;        /* reply instead of accepting the chunk */

	/* pipelined RCPTs looked up ahead, in the job of the MAIL or RCPT
	 * before them (smtp-session.c): used in order by the RCPTs that come,
	 * dropped at the first that does not match, and at the end of the
	 * transaction */
	struct smtp_rcpt_check *ahead;
	size_t nahead, iahead;
};

/* smtp-session.c */
void smtp_enter_state(struct smtp_session *s, enum smtp_state st);
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same, for the reply that ends a transaction (the message is
 * stored): to the socket at once unless input waits (conn_write_now), not
 * after whatever else the loop has to do in this turn (a fan-out of the
 * delivery to 2,000 IDLE sessions). */
void smtp_reply_now(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A client error: counts it, closes after SMTP_MAX_BAD_COMMANDS.
 * Returns true when the session is now closing. */
bool smtp_bad_command(struct smtp_session *s);
/* The store's disk failed (store_failed): answers 421, closes, true. */
bool smtp_store_failing(struct smtp_session *s);
/* Ends the transaction (logging it with result when it had a MAIL). */
void smtp_tx_end(struct smtp_session *s, const char *result);
/* The state to return to after a command: HELO if greeted. */
void smtp_enter_ready(struct smtp_session *s);
const struct config *smtp_cfg(const struct smtp_session *s);
const char *smtp_hostname(const struct smtp_session *s);

/* smtp-data.c */
void smtp_cmd_data(struct smtp_session *s, const struct smtp_cmdline *cmd);
void smtp_cmd_bdat(struct smtp_session *s, const struct smtp_cmdline *cmd);
/* Consume input in SMTP_STATE_BODY / SMTP_STATE_BDAT; false: need more. */
bool smtp_data_input(struct smtp_session *s);
bool smtp_bdat_input(struct smtp_session *s);
/* Feeds the DKIM verifier what msg gained (smtp-data.c). */
void smtp_dkim_tap(struct smtp_tx *tx, bool end);
/* RFC 5322 date of t in local time, e.g. "Tue, 1 Jul 2003 10:52:37 +0200". */
void smtp_date(time_t t, char *buf, size_t len);

/* smtp-auth.c */
bool smtp_auth_offered(const struct smtp_session *s);
void smtp_cmd_auth(struct smtp_session *s, const struct smtp_cmdline *cmd);
/* A response line in an AUTH_* state; line NULL: it was too long. */
void smtp_auth_line(struct smtp_session *s, const char *line, size_t len);

/* smtp-limits.c: an authenticated user's recipient in another domain
 * (mail that leaves through the queue) is counted against [limits]
 * max_sent_per_hour and max_rcpts_per_hour; false after answering
 * 451 4.7.1 (logged with the user) when a limit is reached. */
bool smtp_limits_allow(struct smtp_session *s, const char *rcpt);

#endif
