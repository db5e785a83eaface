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

/* Sieve (src/sieve, RFC 5228) and ManageSieve (RFC 5804) */
#define SIEVE_SCRIPT_MAX_BYTES       (64 * 1024)  /* [sieve] max_script_size default */
#define SIEVE_ACTIONS_MAX            32    /* [sieve] max_actions default */
#define SIEVE_REDIRECTS_MAX          4     /* [sieve] max_redirects default */
#define SIEVE_VACATION_MIN_DAYS      1     /* [sieve] vacation_min_days default, RFC 5230 4.1 */
#define SIEVE_VACATION_DEFAULT_DAYS  7     /* RFC 5230 4.1: default :days */
#define SIEVE_VACATION_MAX_DAYS      60    /* Pigeonhole's sieve_vacation_max_period */
#define SIEVE_NESTING_MAX            32    /* blocks and tests inside each other */
#define SIEVE_NODES_MAX              20000 /* commands and tests in one script */
#define SIEVE_LIST_MAX               1024  /* strings in one string list */
#define SIEVE_STEPS_MAX              200000 /* CPU: tests, comparisons, match steps per run */
#define SIEVE_TEST_HEADER_MAX_BYTES  (64 * 1024)  /* header bytes one test looks at */
#define SIEVE_TEST_BODY_MAX_BYTES    (256 * 1024) /* body bytes the body test looks at */
#define SIEVE_VARIABLES_MAX          256   /* RFC 5229 6: at least 128 */
#define SIEVE_VARIABLE_MAX_BYTES     4096  /* RFC 5229 6: at least 4000 */
#define SIEVE_VAR_NAME_MAX_BYTES     64    /* RFC 5229 6: at least 32 */
#define SIEVE_INCLUDE_DEPTH_MAX      10    /* RFC 6609 3.2: implementations limit it */
#define SIEVE_REGEX_MAX_BYTES        1024  /* one :regex key */
#define SIEVE_ERROR_MAX_BYTES        256   /* one compile or run-time error */

#endif
