/* limits.h: every bound minimaild puts on its input, in one place, with the
 * unit in the name and the RFC it comes from. */
#ifndef MM_LIMITS_H
#define MM_LIMITS_H

/* General */
#define CONFIG_LINE_MAX_BYTES        8192
#define CONFIG_FILE_MAX_BYTES        (1024 * 1024)
#define ADDRESS_MAX_BYTES            320   /* RFC 5321 4.5.3.1: 64 + 1 + 255 */
#define WORKER_THREADS_DEFAULT       4
#define CONN_OUTPUT_HIGH_BYTES       (256 * 1024)  /* stop producing output above this */
#define CONN_OUTPUT_LOW_BYTES        (64 * 1024)   /* resume producing below this */
#define CONN_INPUT_MAX_BYTES         (160 * 1024)  /* read watermark per connection: above every line limit */
#define CONN_SHUTDOWN_GRACE_SECS     3
#define AUTH_FAIL_DELAY_BASE_MS      500
#define AUTH_FAIL_DELAY_MAX_MS       10000
#define AUTH_FAILS_BEFORE_CLOSE      5

/* SMTP */
#define SMTP_LINE_MAX_BYTES          1000  /* RFC 5321 4.5.3.1.6 (command line incl. CRLF) */
#define SMTP_CMD_LINE_MAX_BYTES      2048  /* with ESMTP parameters, RFC 5321 4.5.3.1.4 + extensions */
#define SMTP_TEXT_LINE_MAX_BYTES     1000  /* RFC 5321 4.5.3.1.6 (text line incl. CRLF) */
#define SMTP_DATA_LINE_MAX_BYTES     8192  /* we are lenient up to here, refuse above */
#define SMTP_GREETING_TIMEOUT_SECS   300   /* RFC 5321 4.5.3.2 */
#define SMTP_CMD_TIMEOUT_SECS        300   /* RFC 5321 4.5.3.2.7 */
#define SMTP_DATA_TIMEOUT_SECS       600   /* RFC 5321 4.5.3.2.6 */
#define SMTP_MAX_BAD_COMMANDS        20

/* IMAP */
#define IMAP_LINE_MAX_BYTES          (64 * 1024)   /* RFC 7162 3: at least 8192 */
#define IMAP_LITERAL_PREAUTH_MAX     1024
#define IMAP_ARGS_MAX                1000
#define IMAP_NESTING_MAX             16
#define IMAP_AUTOLOGOUT_SECS         1800  /* RFC 3501 5.4: at least 30 minutes */
#define IMAP_PREAUTH_TIMEOUT_SECS    60
#define IMAP_IDLE_TIMEOUT_SECS       1800  /* RFC 3501 5.4 */
#define IMAP_MAX_BAD_COMMANDS        20
#define IMAP_SORT_CRITERIA_MAX       16    /* SORT keys in one command (RFC 5256 has no limit) */
#define IMAP_SORT_KEY_MAX_BYTES      256   /* of a subject/address compared by SORT and THREAD */
#define IMAP_THREAD_REFS_MAX         64    /* References ids used per message (the last ones) */
#define IMAP_THREAD_DEPTH_MAX        256   /* ancestors walked per THREAD link: deeper is a loop */
#define IMAP_MSGID_MAX_BYTES         998   /* RFC 5322 2.1.1: a line */
#define IMAP_SEARCH_UPDATES_MAX      8     /* RFC 5267 4.3 UPDATE contexts per session (more: NOUPDATE) */
#define IMAP_SORT_UPDATES_MAX        2     /* of them SORT contexts (each keeps its sort keys) */
#define IMAP_SORT_HEADER_READ_BYTES  (16 * 1024) /* first read of a header for SORT/THREAD */

/* POP3 */
#define POP3_LINE_MAX_BYTES          255   /* RFC 2449 4: 255 octets incl. CRLF */
#define POP3_AUTOLOGOUT_SECS         600   /* RFC 1939 3: at least 10 minutes */
#define POP3_MAX_BAD_COMMANDS        20

/* MIME */
#define MIME_NESTING_MAX             32
#define MIME_PARTS_MAX               2000
#define MIME_HEADER_MAX_BYTES        (256 * 1024)

/* SMTP (added by the SMTP module) */
#define SMTP_AUTH_LINE_MAX_BYTES     12288 /* RFC 4954 4: AUTH lines up to 12288 octets */
#define SMTP_RCPT_USERS_MAX          64    /* local users one recipient (alias) may expand to */
#define SMTP_BDAT_READ_BYTES         (64 * 1024) /* BDAT bytes taken from the input per step */

/* Client onboarding: autoconfig/autodiscover over HTTP (net/http.c,
 * lib/clientcfg.c) */
#define CLIENTCFG_REQUEST_MAX_BYTES  (16 * 1024)  /* an Outlook request is < 1 KB */
#define CLIENTCFG_XML_DEPTH_MAX      16    /* element nesting read in a request */
#define CLIENTCFG_XML_NAME_MAX_BYTES 128   /* element and attribute names */
#define HTTP_HEADERS_MAX_BYTES       8192  /* request line + headers */
#define HTTP_BODY_MAX_BYTES          CLIENTCFG_REQUEST_MAX_BYTES
#define HTTP_TIMEOUT_SECS            10    /* read/write per request */

/* Relay: outbound SMTP client and queue (src/relay) */
#define RELAY_ADDRS_MAX              16    /* addresses tried per destination */
#define RELAY_MSGS_PER_CONN          20    /* queue entries one connection carries */
#define RELAY_POLL_INTERVAL_MS       1000  /* the engine looks at the queue this often */
#define RELAY_POLL_BATCH             200   /* due entries taken per poll */
#define RELAY_REPLY_LINE_MAX_BYTES   2048  /* RFC 5321 4.5.3.1.5 says 512; we are lenient */
#define RELAY_CONNECT_TIMEOUT_SECS   30
#define RELAY_GREETING_TIMEOUT_SECS  300   /* RFC 5321 4.5.3.2.1 */
#define RELAY_CMD_TIMEOUT_SECS       300   /* RFC 5321 4.5.3.2.2-3: MAIL, RCPT */
#define RELAY_DATA_TIMEOUT_SECS      120   /* RFC 5321 4.5.3.2.4: DATA initiation */
#define RELAY_BLOCK_TIMEOUT_SECS     180   /* RFC 5321 4.5.3.2.5: data block (write) */
#define RELAY_DATA_END_TIMEOUT_SECS  600   /* RFC 5321 4.5.3.2.6: DATA termination */
#define RELAY_DSN_HEADERS_MAX_BYTES  (64 * 1024)  /* original headers in a bounce */

#endif
