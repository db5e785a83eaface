/* clientcfg.h: what a mail client needs to connect, generated from the
 * running config: the Thunderbird autoconfig file (clientConfig 1.1), the
 * Outlook POX autodiscover response (response schema 2006a) and the table
 * "minimailctl client-settings ADDRESS" prints.
 *
 * Only the secure choices are offered, and only while they listen: IMAP
 * 993 and POP3 995 over implicit TLS, SMTP submission 465 over implicit
 * TLS and 587 with STARTTLS; the server is cfg->hostname, the port that of
 * the listener's first address. Pure: no libevent, OpenSSL or db.h. */
#ifndef MM_CLIENTCFG_H
#define MM_CLIENTCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"

enum clientcfg_proto {
	CLIENTCFG_IMAP = 0,
	CLIENTCFG_POP3,
	CLIENTCFG_SMTP,
};

enum clientcfg_security {
	CLIENTCFG_SSL = 0,         /* implicit TLS from the first byte */
	CLIENTCFG_STARTTLS,        /* plain greeting, STARTTLS required */
};

/* One server a client may be told about. */
struct clientcfg_server {
	enum clientcfg_proto proto;
	enum clientcfg_security security;
	enum listener_id lsn;
	uint16_t port;
};

#define CLIENTCFG_SERVERS_MAX 4

/* The secure servers that listen, in the order clients should prefer them
 * (IMAP, POP3, SMTP 465, SMTP 587). Returns how many were put in out. */
size_t clientcfg_servers(const struct config *cfg,
    struct clientcfg_server out[CLIENTCFG_SERVERS_MAX]);

/* Checks the syntax of "local@domain" (at most ADDRESS_MAX_BYTES, no
 * space, control or special characters in the local part, a host name
 * after the '@') and copies the lower-cased address to addr_r and its
 * domain to domain_r (each at least ADDRESS_MAX_BYTES + 1 bytes; either may
 * be NULL). Returns false for anything else. */
bool clientcfg_address(const char *addr, size_t len, char *addr_r,
    char *domain_r);

/* The Thunderbird autoconfig XML for domain (malloc'd), or NULL when
 * domain is not one of cfg->domains (the caller answers 404). */
char *clientcfg_autoconfig(const struct config *cfg, const char *domain);

/* What the Outlook autodiscover request said, or why it was refused. */
enum clientcfg_req {
	CLIENTCFG_REQ_OK = 0,
	CLIENTCFG_REQ_TOO_LARGE,        /* more than CLIENTCFG_REQUEST_MAX_BYTES */
	CLIENTCFG_REQ_MALFORMED,        /* not XML we can read */
	CLIENTCFG_REQ_NOT_AUTODISCOVER, /* the root is not <Autodiscover> */
	CLIENTCFG_REQ_NO_ADDRESS,       /* no Request/EMailAddress */
	CLIENTCFG_REQ_BAD_ADDRESS,      /* EMailAddress is not an address */
	CLIENTCFG_REQ_SCHEMA,           /* asks for a response schema other
	                                   than outlook 2006a (e.g. mobilesync) */
};

/* Reads the EMailAddress (and AcceptableResponseSchema) of an
 * autodiscover request body of len bytes: the request schema 2006
 * document, <Autodiscover><Request><EMailAddress>. A small bounded
 * reader, not a full XML parser: comments and <?...?> are skipped,
 * DOCTYPE and CDATA are refused, the five predefined entities and
 * character references to printable ASCII are decoded. On OK the
 * lower-cased address is in addr_r (ADDRESS_MAX_BYTES + 1 bytes). */
enum clientcfg_req clientcfg_autodiscover_parse(const char *body, size_t len,
    char *addr_r);
const char *clientcfg_req_str(enum clientcfg_req r);

/* The autodiscover response (response schema 2006a) for a checked,
 * lower-cased address (malloc'd), or NULL when its domain is not local. */
char *clientcfg_autodiscover(const struct config *cfg, const char *addr);

/* An autodiscover error response: code 600 "Invalid Request", 601
 * "Provider is not available" (malloc'd). */
char *clientcfg_autodiscover_error(int code, const char *message);

/* The table of "minimailctl client-settings ADDRESS" (malloc'd), or NULL
 * with a one-line reason in err (a bad address, a domain that is not
 * local). */
char *clientcfg_table(const struct config *cfg, const char *addr, char *err,
    size_t errlen);

/* XML-escape s (&, <, >, ", '; control characters that XML 1.0 forbids
 * become '?') onto b. */
struct mm_buf;
void clientcfg_xml_escape(struct mm_buf *b, const char *s);

/* Outlook's Autodiscover v2 (new Outlook, Outlook for Mac): GET
 * /autodiscover/autodiscover.json?Email=ADDRESS&Protocol=AutodiscoverV1
 * is answered with JSON naming the POX endpoint,
 * {"Protocol":"AutodiscoverV1","Url":"https://autodiscover.DOMAIN/
 * autodiscover/autodiscover.xml"}. Any other protocol (ActiveSync, EWS,
 * REST: not served here) gets *status_r 400 and an InvalidProtocol JSON
 * error. NULL (404) for an address that is not local. malloc'd. */
char *clientcfg_autodiscover_json(const struct config *cfg, const char *addr,
    const char *protocol, int *status_r);

/* An Apple configuration profile (.mobileconfig, a property list) for iOS,
 * iPadOS and macOS Mail with the account's secure IMAP (else POP3) and
 * SMTP server; NULL when the address is not local or neither an incoming
 * nor an outgoing secure listener is on. Its UUIDs are derived from the
 * address and hostname, so that a profile fetched again replaces the old
 * one. malloc'd. */
char *clientcfg_mobileconfig(const struct config *cfg, const char *addr);

/* The automatic-setup URLs for addr, for "minimailctl client-settings"
 * (the http listener's documents, as clients fetch them through the
 * HTTPS proxy), or a line saying that [listen] http is off. malloc'd;
 * NULL for a bad or non-local address (clientcfg_table says why). */
char *clientcfg_urls(const struct config *cfg, const char *addr);

#endif
