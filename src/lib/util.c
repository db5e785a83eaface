/* util.c: the allocation wrappers (out of memory is fatal: a mail server
 * that limps on after a failed malloc loses mail) and small helpers. */
#include "lib/util.h"
#include "lib/log.h"

#include <ctype.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		fatal("out of memory (%zu bytes)", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (p == NULL)
		fatal("out of memory (%zu x %zu bytes)", nmemb, size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		fatal("out of memory (%zu bytes)", n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	va_start(ap, fmt);
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("out of memory (asprintf)");
	return p;
}

size_t
mm_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);
	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

bool
mm_strcaseeq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
	return *a == *b;
}

bool
mm_strncaseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return false;
		if (a[i] == '\0')
			return true;
	}
	return true;
}

char *
mm_strlower(char *s)
{
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

void
mm_buf_init(struct mm_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void
mm_buf_free(struct mm_buf *b)
{
	free(b->data);
	mm_buf_init(b);
}

void
mm_buf_reserve(struct mm_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
mm_buf_append(struct mm_buf *b, const void *p, size_t n)
{
	mm_buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* One vsnprintf into the spare room when it fits (the usual case: short
 * lines into a buffer that has grown already), a second only when not. */
void
mm_buf_printf(struct mm_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	va_list ap2;
	va_copy(ap2, ap);
	mm_buf_reserve(b, 64);
	size_t room = b->cap - b->len;
	int n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		va_end(ap2);
		return;
	}
	if ((size_t)n >= room) {
		mm_buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	}
	va_end(ap2);
	b->len += (size_t)n;
}

void
mm_buf_append_str(struct mm_buf *b, const char *str)
{
	mm_buf_append(b, str, strlen(str));
}

/* The length first (no division), then two digits a step from the end */
char *
mm_put_u64(char *p, uint64_t v)
{
	static const char pairs[] =
	    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	    "8081828384858687888990919293949596979899";
	size_t n = 1;
	for (uint64_t pow = 10; n < MM_U64_DIGITS_MAX && v >= pow; pow *= 10)
		n++;
	char *end = p + n;
	char *q = end;
	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;
		v /= 100;
		*--q = pairs[d + 1];
		*--q = pairs[d];
	}
	if (v >= 10) {
		*--q = pairs[v * 2 + 1];
		*--q = pairs[v * 2];
	} else {
		*--q = (char)('0' + v);
	}
	return end;
}

void
mm_buf_append_u64(struct mm_buf *b, uint64_t v)
{
	mm_buf_reserve(b, MM_U64_DIGITS_MAX);
	b->len = (size_t)(mm_put_u64(b->data + b->len, v) - b->data);
}

char *
mm_buf_cstr(struct mm_buf *b)
{
	mm_buf_reserve(b, 0);
	b->data[b->len] = '\0';
	return b->data;
}

size_t
mm_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp_r)
{
	uint32_t cp, min;
	size_t len;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2; cp = s[0] & 0x1f; min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3; cp = s[0] & 0x0f; min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4; cp = s[0] & 0x07; min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

void
mm_buf_append_utf8(struct mm_buf *b, uint32_t cp)
{
	char u[4];

	if (cp < 0x80) {
		mm_buf_appendc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		mm_buf_append(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		mm_buf_append(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		mm_buf_append(b, u, 4);
	}
}

/* flag: any value counts as 1; else the number, clamped to 0..max */
static int
env_once(_Atomic int *cache, const char *name, bool flag, unsigned max)
{
	int x = atomic_load_explicit(cache, memory_order_relaxed);
	if (x >= 0)
		return x;
	const char *e = getenv(name);
	if (flag) {
		x = e != NULL;
	} else {
		long n = e != NULL ? atol(e) : 0;
		x = n < 0 ? 0 : (unsigned long)n > max ? (int)max : (int)n;
	}
	atomic_store_explicit(cache, x, memory_order_relaxed);
	return x;
}

bool
mm_env_flag(_Atomic int *cache, const char *name)
{
	return env_once(cache, name, true, 1) != 0;
}

unsigned
mm_env_uint(_Atomic int *cache, const char *name, unsigned max)
{
	if (max > INT32_MAX)
		max = INT32_MAX;
	return (unsigned)env_once(cache, name, false, max);
}

void
mm_strlist_init(struct mm_strlist *l)
{
	l->v = NULL;
	l->n = l->cap = 0;
}

void
mm_strlist_addn(struct mm_strlist *l, const char *s, size_t n)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrndup(s, n);
}

void
mm_strlist_add(struct mm_strlist *l, const char *s)
{
	mm_strlist_addn(l, s, strlen(s));
}

bool
mm_strlist_contains(const struct mm_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

bool
mm_strlist_contains_case(const struct mm_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (mm_strcaseeq(l->v[i], s))
			return true;
	return false;
}

void
mm_strlist_clear(struct mm_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	mm_strlist_init(l);
}

uint64_t
mm_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint32_t
mm_fnv1a(uint32_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

uint64_t
mm_nofile_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	rlim_t want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1048576 : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit nr = { want, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &nr) == 0)
			rl.rlim_cur = want;
	}
	return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

size_t
mm_u32_lower(const uint32_t *v, size_t n, uint32_t x)
{
	size_t l = 0, h = n;
	while (l < h) {
		size_t mid = l + (h - l) / 2;
		if (v[mid] < x)
			l = mid + 1;
		else
			h = mid;
	}
	return l;
}

static int
rmtree_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

int
mm_rmtree(const char *dir)
{
	return nftw(dir, rmtree_one, 16, FTW_DEPTH | FTW_PHYS);
}
