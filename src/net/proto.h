/* proto.h: what a protocol module (SMTP, IMAP, POP3) gives the network
 * layer. The listener table maps each listener to a module and a TLS mode;
 * the conn calls the module's functions on the loop thread. */
#ifndef MM_PROTO_H
#define MM_PROTO_H

#include <stdbool.h>

struct conn;

enum tls_mode { TLS_MODE_NONE = 0, TLS_MODE_STARTTLS, TLS_MODE_IMPLICIT };

struct proto_module {
	const char *name;    /* "smtp", "imap", "pop3" */
	/* A new connection (after the TLS handshake for implicit TLS): create
	 * the session, send the greeting, return the session. */
	void *(*start)(struct conn *c);
	/* Input is buffered: consume it with conn_getline/conn_read_bytes. */
	void (*on_input)(void *sess);
	/* Output fell below the low watermark after conn_want_drained. */
	void (*on_drained)(void *sess);
	/* STARTTLS handshake done. */
	void (*on_tls)(void *sess);
	/* No input for the timeout set with conn_set_timeout: say goodbye
	 * (the conn is closed after this returns). */
	void (*on_timeout)(void *sess);
	/* The connection limit refused this client: the one line to send
	 * before closing (the session was never started). */
	const char *(*busy_reply)(bool per_ip);
	/* The connection is gone (or is going away): free the session. Called
	 * once, when no hold remains, so jobs have finished. */
	void (*free)(void *sess);
	/* Optional: the daemon shuts down; say goodbye ("421", "* BYE"). */
	void (*on_shutdown)(void *sess);
};

extern const struct proto_module smtp_module;
extern const struct proto_module imap_module;
extern const struct proto_module pop3_module;
extern const struct proto_module managesieve_module;

#endif
