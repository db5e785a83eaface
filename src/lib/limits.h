/* limits.h: every bound minimaild puts on its input, in one place, with the
 * unit in the name and the RFC it comes from. */
#ifndef MM_LIMITS_H
#define MM_LIMITS_H

/* General */
#define CONFIG_LINE_MAX_BYTES        8192
#define CONFIG_FILE_MAX_BYTES        (1024 * 1024)
#define ADDRESS_MAX_BYTES            320   /* RFC 5321 4.5.3.1: 64 + 1 + 255 */
#define WORKER_THREADS_DEFAULT       4
#define WORKER_SLOW_SHARE_PERCENT    50   /* of the non-commit threads, for slow work (worker.h) */
#define WORKER_COMMIT_THREADS        16   /* more threads for commit-lane jobs only: bigger group commits (net/worker.c) */
#define IMAP_SEARCH_SLOW_MSGS        1000 /* a SEARCH reading bodies of this many messages runs on the slow lane */
/* Search records kept in memory beside the shared views, all mailboxes
 * together (imap/imap-searchmem.c); with [limits] max_memory set, at most
 * a quarter of it. What does not fit is read from the store. */
#define IMAP_SEARCHMEM_MAX_BYTES     (256ULL * 1024 * 1024)
#define CONN_OUTPUT_HIGH_BYTES       (256 * 1024)  /* stop producing output above this */
#define CONN_OUTPUT_LOW_BYTES        (64 * 1024)   /* resume producing below this */
#define CONN_INPUT_MAX_BYTES         (160 * 1024)  /* read watermark per connection: above every line limit */
#define CONN_SHUTDOWN_GRACE_SECS     3
#define CONN_NOFILE_RESERVE          256  /* descriptors kept beside max_connections: store, listeners, spool, relay */
#define AUTH_FAIL_DELAY_BASE_MS      500
#define AUTH_FAIL_DELAY_MAX_MS       10000
#define AUTH_FAILS_BEFORE_CLOSE      5
/* The authentication cache (store/store-authcache.c): successful password
 * checks remembered, at most this many, for at most [auth] cache_ttl. */
#define AUTH_CACHE_ENTRIES           16384
#define AUTH_CACHE_TTL_MAX_SECS      86400
#define AUTH_CACHE_TTL_DEFAULT_SECS  300
/* The RCPT cache (store/store-rcptcache.c): resolved recipients without a
 * quota, invalidated by any user/alias change; the TTL only bounds what a
 * process that died in the middle of such a change can leave behind. */
#define RCPT_CACHE_ENTRIES           1024
#define RCPT_CACHE_TTL_MSECS         5000
#define SESSION_MAX_BAD_COMMANDS     20    /* client mistakes per session, every protocol (net/session.c) */

/* SMTP */
#define SMTP_LINE_MAX_BYTES          1000  /* RFC 5321 4.5.3.1.6 (command line incl. CRLF) */
#define SMTP_CMD_LINE_MAX_BYTES      2048  /* with ESMTP parameters, RFC 5321 4.5.3.1.4 + extensions */
#define SMTP_TEXT_LINE_MAX_BYTES     1000  /* RFC 5321 4.5.3.1.6 (text line incl. CRLF) */
#define SMTP_DATA_LINE_MAX_BYTES     8192  /* we are lenient up to here, refuse above */
#define SMTP_GREETING_TIMEOUT_SECS   300   /* RFC 5321 4.5.3.2 */
#define SMTP_CMD_TIMEOUT_SECS        300   /* RFC 5321 4.5.3.2.7 */
#define SMTP_DATA_TIMEOUT_SECS       600   /* RFC 5321 4.5.3.2.6 */
#define SMTP_MAX_BAD_COMMANDS        SESSION_MAX_BAD_COMMANDS
#define SMTP_RCPT_BATCH_MAX          16    /* pipelined RCPTs looked up in one worker job */
#define SMTP_RCPT_PEEK_BYTES         8192  /* buffered input scanned for them */

/* IMAP */
#define IMAP_LINE_MAX_BYTES          (64 * 1024)   /* RFC 7162 3: at least 8192 */
#define IMAP_LITERAL_PREAUTH_MAX     1024
#define IMAP_ARGS_MAX                1000
#define IMAP_NESTING_MAX             16
#define IMAP_AUTOLOGOUT_SECS         1800  /* RFC 3501 5.4: at least 30 minutes */
#define IMAP_PREAUTH_TIMEOUT_SECS    60
#define IMAP_IDLE_TIMEOUT_SECS       1800  /* RFC 3501 5.4 */
#define IMAP_MAX_BAD_COMMANDS        SESSION_MAX_BAD_COMMANDS
#define IMAP_URL_MAX_BYTES           2048  /* an IMAP URL (RFC 5092) in CATENATE */
#define IMAP_URLFETCH_MAX_BYTES      (64 * 1024 * 1024)  /* data one URLFETCH returns (RFC 4467 has no limit) */
#define IMAP_CATENATE_PARTS_MAX      100   /* TEXT/URL parts of one message (RFC 4469) */
#define IMAP_SORT_CRITERIA_MAX       16    /* SORT keys in one command (RFC 5256 has no limit) */
#define IMAP_SORT_KEY_MAX_BYTES      256   /* of a subject/address compared by SORT and THREAD */
#define IMAP_THREAD_REFS_MAX         64    /* References ids used per message (the last ones) */
#define IMAP_THREAD_DEPTH_MAX        256   /* ancestors walked per THREAD link: deeper is a loop */
#define IMAP_MSGID_MAX_BYTES         998   /* RFC 5322 2.1.1: a line */
#define IMAP_SEARCH_UPDATES_MAX      8     /* RFC 5267 4.3 UPDATE contexts per session (more: NOUPDATE) */
#define IMAP_SORT_UPDATES_MAX        2     /* of them SORT contexts (each keeps its sort keys) */
#define IMAP_SORT_HEADER_READ_BYTES  (16 * 1024) /* first read of a header for SORT/THREAD */
#define IMAP_SORT_RECORD_MAX_BYTES   4096  /* a cache blob's sort keys (bigger: SORT/THREAD read the header) */
#define IMAP_BODY_CACHE_BYTES        (32 * 1024 * 1024) /* bodies FETCH keeps in memory (imap-bodycache.c) */
#define IMAP_BODY_CACHE_MSG_BYTES    (64 * 1024) /* a bigger body is not kept */
#define IMAP_NOTIFY_PENDING_MAX      256   /* NOTIFY (RFC 5465): changed mailboxes waiting per session (more: NOTIFICATIONOVERFLOW) */
#define IMAP_NOTIFY_NAME_EVENTS_MAX  64    /* NOTIFY: mailbox name/subscription changes waiting per session */

/* POP3 */
#define POP3_LINE_MAX_BYTES          255   /* RFC 2449 4: 255 octets incl. CRLF */
#define POP3_AUTOLOGOUT_SECS         600   /* RFC 1939 3: at least 10 minutes */
#define POP3_MAX_BAD_COMMANDS        SESSION_MAX_BAD_COMMANDS

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

/* DNS: the resolver (net/dns.c) and its answers */
#define DNS_TIMEOUT_MAX_SECS         60    /* [dns] timeout at most this */
#define DNS_ATTEMPTS                 2     /* DESIGN [dns]: timeout per query, attempts = 2 */
#define DNS_QUERIES_INFLIGHT_MAX     256   /* queries running at once */
#define DNS_QUERIES_WAITING_MAX      4096  /* beyond the running ones; more: DNS_ERROR */
#define DNS_RECORDS_MAX              64    /* records kept from one answer */
#define DNS_TXT_MAX_BYTES            4096  /* one TXT record, strings joined (SPF, DKIM keys) */
#define DNS_ANSWER_MAX_BYTES         65535 /* RFC 1035 4.2.2: TCP length field */
#define DNS_UDP_PAYLOAD_BYTES        1232  /* EDNS0 size we advertise (DNS flag day 2020) */
#define DNS_CNAME_DEPTH_MAX          8     /* CNAMEs followed inside one answer */

/* Outbound TLS policy: MTA-STS (RFC 8461) and DANE (RFC 7672) */
#define MTA_STS_POLICY_MAX_BYTES     (64 * 1024)  /* RFC 8461 3.3: senders may limit; we do */
#define MTA_STS_FETCH_TIMEOUT_SECS   60    /* default [relay] mta_sts_timeout, RFC 8461 3.3 */
#define MTA_STS_FETCH_TIMEOUT_MAX_SECS 300
#define RELAY_TLSA_MAX               8     /* TLSA records used per MX host */
#define RELAY_TLSA_DATA_MAX_BYTES    4096  /* one TLSA record's data (a whole certificate) */
#define MTA_STS_MAX_AGE_MAX_SECS     31557600 /* RFC 8461 3.2: max_age up to a year */
#define MTA_STS_CACHE_MAX            1024  /* destinations' policies kept */
#define MTA_STS_MX_MAX               32    /* mx: lines per policy */
#define MTA_STS_MAX_AGE_SECS         604800 /* the max_age of the policy we publish (1 week) */
/* DKIM (RFC 6376, RFC 8463): src/mail/dkim.c, src/dkim/ */
#define DKIM_SIGS_MAX                8     /* signatures verified per message */
#define DKIM_TAGS_MAX                32    /* tags in one tag-list (RFC 6376 3.2) */
#define DKIM_SIG_FIELD_MAX_BYTES     8192  /* one DKIM-Signature field */
#define DKIM_KEY_RECORD_MAX_BYTES    4096  /* one key record's TXT strings together */
#define DKIM_SIGNED_FIELDS_MAX       64    /* names in h= */
#define DKIM_FIELD_NAME_MAX_BYTES    128   /* one name in h= */
#define DKIM_DOMAIN_MAX_BYTES        253   /* d= and s= (RFC 1035 2.3.4) */
#define DKIM_AUID_MAX_BYTES          320   /* i= (RFC 5321 4.5.3.1) */
#define DKIM_SELECTOR_MAX_BYTES      55    /* [dkim] selector: S-ed25519 is one 63-byte label */
#define DKIM_SIG_MAX_BYTES           1024  /* b=: an 8192-bit RSA signature */
#define DKIM_HASH_MAX_BYTES          32    /* bh=: SHA-256 */
#define DKIM_PUBKEY_MAX_BYTES        1300  /* p=: an 8192-bit RSA SubjectPublicKeyInfo */
#define DKIM_RSA_MIN_BITS            1024  /* RFC 8301 3.2: shorter keys are not verified */
#define DKIM_RSA_MAX_BITS            8192
#define DKIM_RSA_SIGN_BITS           2048  /* keys minimailctl dkim keygen makes */
#define DKIM_KEY_FILE_MAX_BYTES      16384 /* a PEM private key file */
#define DKIM_TXT_STRING_MAX_BYTES    255   /* one character-string (RFC 1035 3.3.14) */
/* Operations: metrics and per-user submission limits (issue 17) */
#define SUBMIT_PER_HOUR_MAX          1000000 /* [limits] max_sent/rcpts_per_hour */
#define SUBMIT_USERS_TRACKED_MAX     10000 /* users with an hourly count kept in memory */
#define METRICS_REQUEST_MAX_BYTES    8192  /* request line + headers of GET /metrics */
#define METRICS_TIMEOUT_SECS         10    /* read/write per metrics request */
/* Connections: backpressure and limits before authentication (net/conn.c).
 * Redis-style: a client that has not logged in gets less of everything. */
#define CONN_INPUT_PREAUTH_MAX_BYTES   (32 * 1024)   /* read watermark: above SMTP_AUTH_LINE_MAX_BYTES */
#define CONN_OUTPUT_PREAUTH_HIGH_BYTES (128 * 1024)  /* stop taking input above this */
#define CONN_OUTPUT_PREAUTH_MAX_BYTES  (1024 * 1024) /* hard cap: close above this */
#define CONN_OUTPUT_MAX_BYTES          (16 * 1024 * 1024) /* hard cap, plus 2 x max_message_size */
#define CONN_TURN_OUTPUT_BYTES         (32 * 1024)   /* output one session's input makes per turn */
#define CONN_NOTSENT_LOWAT_BYTES       (128 * 1024)  /* TCP_NOTSENT_LOWAT: unsent bytes in the kernel */
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
#define SIEVE_REGEX_COST_MAX         4096  /* nodes regcomp builds for one key (repetitions copy) */
#define SIEVE_REGEX_DEPTH_MAX        32    /* nested groups in one key */
#define SIEVE_ERROR_MAX_BYTES        256   /* one compile or run-time error */
#define SIEVE_CACHE_ENTRIES          256   /* compiled scripts kept, one a user (sieve-cache.c) */
#define SIEVE_CACHE_BYTES            (4 * 1024 * 1024) /* their texts, in all */
/* A compiled script that includes others is kept while the includes'
 * stamp (the store's sieve generation) holds, and at most this long: the
 * TTL, as the active-script cache's, only bounds what a process that died
 * during a change can leave behind. */
#define SIEVE_CACHE_INCLUDE_TTL_MSECS 5000
/* The active-script cache (store/store-sieve.c): each user's active script
 * (or that there is none) as the store has it, invalidated by any change
 * of any user's scripts in any process; the TTL, as the RCPT cache's, only
 * bounds what a process that died during a change can leave behind. */
#define SIEVE_ACTIVE_CACHE_ENTRIES   1024
#define SIEVE_ACTIVE_CACHE_BYTES     (4 * 1024 * 1024) /* texts and names, in all */
#define SIEVE_ACTIVE_CACHE_TTL_MSECS 5000

/* Messages streamed, not held (issue 18): SMTP data is kept in RAM up to
 * MSG_SPOOL_THRESHOLD_BYTES (its header block up to
 * MSG_SPOOL_HEAD_MAX_BYTES), then written to data_dir/spool in chunks of
 * MSG_SPOOL_CHUNK_BYTES on a worker; the store reads it back in chunks. */
#define MSG_SPOOL_THRESHOLD_BYTES    (256 * 1024)
#define MSG_SPOOL_CHUNK_BYTES        (256 * 1024)
#define MSG_SPOOL_HEAD_MAX_BYTES     (1024 * 1024)
/* the spooled tail starts here; the (rewritten) head goes just before it */
#define MSG_SPOOL_GAP_BYTES          (4 * 1024 * 1024)
/* what one SMTP transfer reserves of [limits] max_memory at DATA/BDAT:
 * the head, a chunk, and a read or a line over each */
#define SMTP_TX_MEMORY_BYTES         (MSG_SPOOL_THRESHOLD_BYTES + MSG_SPOOL_CHUNK_BYTES + \
    128 * 1024)
/* spooled messages mapped at once by the delivery jobs (MIME cache,
 * Sieve); a bigger one maps alone */
#define MSG_SPOOL_MAP_MAX_BYTES      (32 * 1024 * 1024)
#define MAX_MEMORY_DEFAULT_BYTES     (512ULL * 1024 * 1024)
#define MAX_MEMORY_MIN_BYTES         (1024ULL * 1024)
#define MAX_MEMORY_MAX_BYTES         (1024ULL * 1024 * 1024 * 1024)

#endif
