/* conn-int.h: what conn.c shares with the rest of the connection layer
 * (conn-client.c), not for protocol code. */
#ifndef MM_CONN_INT_H
#define MM_CONN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "net/conn.h"

struct evbuffer;

/* conn_getline's reader on any input buffer: *discarding, *buf and *cap
 * are the caller's state (an overlong line being swallowed, the line
 * buffer, its size). The line stays valid until the next call. */
enum conn_line conn_evbuffer_getline(struct evbuffer *in, size_t maxlen, bool *discarding,
    char **buf, size_t *cap, char **line_r, size_t *len_r, unsigned *ending_r);

#endif
