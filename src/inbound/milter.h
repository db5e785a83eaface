/* milter.h: a client of the Sendmail milter protocol, version 6, as
 * Postfix speaks it, so that the filters people already run (rspamd,
 * SpamAssassin through spamass-milter, clamav-milter, opendkim) judge the
 * mail port 25 accepts ([inbound] milters).
 *
 * The whole conversation with each milter happens at the end of DATA,
 * after the SPF/DMARC checks: connect, helo, envfrom, envrcpt for every
 * recipient, data, the headers, eoh, the body in chunks, eom; the
 * milters run one after the other, each seeing the message as the one
 * before left it. What a milter may do: accept, reject (550, or its own
 * reply), tempfail, discard, quarantine (into Junk), add, insert and
 * change headers, replace the body, refuse single recipients. */
#ifndef MM_INBOUND_MILTER_H
#define MM_INBOUND_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

struct event_base;
struct config_milter;

#define MILTER_MAX 8                     /* = CONFIG_MILTERS_MAX */
#define MILTER_RCPTS_MAX 1000            /* = the SMTP recipient bound */
#define MILTER_PACKET_MAX_BYTES (1024 * 1024)  /* a reply; body chunks are 64 KiB */
#define MILTER_BODY_CHUNK_BYTES 65535    /* MILTER_CHUNK_SIZE of libmilter */
#define MILTER_MODS_MAX 1000             /* header changes per message */


enum milter_action {
	MILTER_ACCEPT = 0,
	MILTER_REJECT,       /* reply: 5xx */
	MILTER_TEMPFAIL,     /* reply: 4xx */
	MILTER_DISCARD,      /* 250, but stored nowhere */
};

struct milter_req {
	const char *ip;
	uint16_t port;
	const char *client_name;         /* reverse name, or "[IP]" */
	const char *helo;
	const char *mail_from;           /* without <> */
	const char *const *rcpts;
	size_t nrcpts;
	const char *queue_id;
	const char *hostname;            /* macro j */
	const char *msg;                 /* header block and body, CRLF */
	size_t len;
	const struct config_milter *milters;
	size_t nmilters;
	unsigned timeout_secs;           /* each milter, each wait */
	bool default_accept;             /* a milter that fails: skip it (else 451) */
};

struct milter_verdict {
	enum milter_action action;
	char reply[512];                 /* REJECT/TEMPFAIL: the whole reply line */
	bool quarantine;
	char reason[256];                /* quarantine reason, or the failing milter */
	bool modified;                   /* msg differs from the request's */
	struct mm_buf msg;               /* the message after the milters */
	bool *rcpt_refused;              /* nrcpts flags: a milter refused it */
	size_t nrcpts;
};

typedef void milter_cb(void *arg, struct milter_verdict *v);
struct milter_run;

/* Talks to every milter in turn; cb runs once, later, on the loop
 * (verdict valid during the call) unless milter_cancel() came first. */
struct milter_run *milter_start(struct event_base *base, const struct milter_req *req,
    milter_cb *cb, void *arg);
void milter_cancel(struct milter_run **r);

#endif
