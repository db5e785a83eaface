/* util.h: allocation wrappers that never return NULL, and small string
 * helpers shared by every layer. Pure: no libevent, OpenSSL or db.h. */
#ifndef MM_UTIL_H
#define MM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdatomic.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* strlcpy semantics: always terminates, returns strlen(src). */
size_t mm_strlcpy(char *dst, const char *src, size_t size);
/* ASCII case-insensitive compare of n bytes / whole strings. */
bool mm_strcaseeq(const char *a, const char *b);
bool mm_strncaseeq(const char *a, const char *b, size_t n);
/* Lower-case ASCII in place; returns s. */
char *mm_strlower(char *s);

/* A growable byte buffer. */
struct mm_buf {
	char *data;
	size_t len;
	size_t cap;
};
void mm_buf_init(struct mm_buf *b);
void mm_buf_free(struct mm_buf *b);
void mm_buf_reserve(struct mm_buf *b, size_t extra);
void mm_buf_append(struct mm_buf *b, const void *p, size_t n);
/* One byte; inline, since decoding and folding append byte by byte. */
static inline void
mm_buf_appendc(struct mm_buf *b, char c)
{
	if (b->len + 2 > b->cap)
		mm_buf_reserve(b, 1);
	b->data[b->len++] = c;
}
void mm_buf_printf(struct mm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A C string; a number in decimal (no printf: FETCH lines by thousands). */
void mm_buf_append_str(struct mm_buf *b, const char *str);
void mm_buf_append_u64(struct mm_buf *b, uint64_t v);
/* v in decimal at p, which has MM_U64_DIGITS_MAX bytes of room; returns
 * the end (no NUL): for lines formatted straight into reserved room. */
#define MM_U64_DIGITS_MAX 20
char *mm_put_u64(char *p, uint64_t v);
/* Ensures data is NUL-terminated (not counted in len) and returns it. */
char *mm_buf_cstr(struct mm_buf *b);

/* UTF-8 (RFC 3629). One sequence at s (n > 0 bytes left): its length, 1
 * to 4, and the code point in *cp_r; 0 when the bytes are not the
 * shortest form of a scalar value (overlong, surrogate, above U+10FFFF,
 * cut short). */
size_t mm_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp_r);
/* Appends cp (a scalar value) as UTF-8. */
void mm_buf_append_utf8(struct mm_buf *b, uint32_t cp);

/* Switches for tests and comparisons, read from the environment once,
 * from any thread, into *cache (a static that starts at -1).
 * mm_env_flag: whether name is set (to anything, even empty).
 * mm_env_uint: its number, 0 when unset or not one, at most max. */
bool mm_env_flag(_Atomic int *cache, const char *name);
unsigned mm_env_uint(_Atomic int *cache, const char *name, unsigned max);

/* A list of strings. */
struct mm_strlist {
	char **v;
	size_t n;
	size_t cap;
};
void mm_strlist_init(struct mm_strlist *l);
void mm_strlist_add(struct mm_strlist *l, const char *s);
void mm_strlist_addn(struct mm_strlist *l, const char *s, size_t n);
bool mm_strlist_contains(const struct mm_strlist *l, const char *s);
bool mm_strlist_contains_case(const struct mm_strlist *l, const char *s);
void mm_strlist_clear(struct mm_strlist *l);

/* Monotonic clock in milliseconds. */
uint64_t mm_now_ms(void);
/* Removes dir and everything under it, symbolic links not followed;
 * 0, or -1 with errno (what is left stays). */
int mm_rmtree(const char *dir);
/* FNV-1a of the string s, going on from h (MM_FNV_BASIS to start): the
 * hash of the daemon's small in-memory tables. */
#define MM_FNV_BASIS 2166136261u
uint32_t mm_fnv1a(uint32_t h, const char *s);

/* Raises the soft RLIMIT_NOFILE to the hard limit (an unlimited hard
 * limit: to fs.nr_open's usual 1048576) and returns the soft limit now in
 * force (what it was if it could not be raised; 0 if unknown). */
uint64_t mm_nofile_raise(void);

/* The first index of the ascending v[0..n) whose value is >= x (n if
 * none). */
size_t mm_u32_lower(const uint32_t *v, size_t n, uint32_t x);

#endif
