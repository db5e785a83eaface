/* date.c: date parsing and formatting without the C library's time zone
 * state (timegm-style arithmetic by hand), so it is thread-safe and gives
 * the same answers whatever TZ is. The one idea: everything becomes
 * (y, m, d, H, M, S, zone) first, then one days_from_civil(). */
#include "mail/date.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};
static const char wdays[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

/* Howard Hinnant's days_from_civil */
static long
days_from_civil(long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

static void
civil_from_days(long z, long *y_r, unsigned *m_r, unsigned *d_r)
{
	z += 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long y = (long)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	*y_r = y + (m <= 2);
	*m_r = m;
	*d_r = d;
}

static int
month_index(const char *s, size_t n)
{
	if (n < 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (mm_strncaseeq(s, months[i], 3))
			return i;
	return -1;
}

static bool
leap_year(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* RFC 5322 3.3: a day that its month has in that year (29 Feb in leap
 * years only), and a time from 00:00:00 to 23:59:60 (60: a leap second). */
static bool
valid(long y, int mon, int d, int H, int M, int S)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 1900 || y > 9999 || mon < 0 || mon >= 12)
		return false;
	int last = mdays[mon] + (mon == 1 && leap_year(y));
	return d >= 1 && d <= last && H >= 0 && H < 24 && M >= 0 && M < 60 &&
	    S >= 0 && S <= 60;
}

static time_t
make_time(long y, int mon, int d, int H, int M, int S, int tz_min)
{
	/* time_t has no leap seconds: :60 is read as :59, which keeps the
	 * minute and the date as written (23:59:60 is not the next day) */
	if (S == 60)
		S = 59;
	long days = days_from_civil(y, (unsigned)mon + 1, (unsigned)d);
	return (time_t)(days * 86400L + H * 3600L + M * 60L + S - tz_min * 60L);
}

struct lex {
	const char *p, *e;
};

static void
skip_junk(struct lex *l)
{
	while (l->p < l->e) {
		if (isspace((unsigned char)*l->p) || *l->p == ',')
			l->p++;
		else if (*l->p == '(') {
			int depth = 0;
			while (l->p < l->e) {
				if (*l->p == '(')
					depth++;
				else if (*l->p == ')' && --depth == 0) {
					l->p++;
					break;
				}
				l->p++;
			}
		} else
			break;
	}
}

static bool
number(struct lex *l, int maxdigits, long *v_r, int *ndig_r)
{
	long v = 0;
	int n = 0;
	while (l->p < l->e && isdigit((unsigned char)*l->p) && n < maxdigits) {
		v = v * 10 + (*l->p++ - '0');
		n++;
	}
	*v_r = v;
	if (ndig_r)
		*ndig_r = n;
	return n > 0;
}

static size_t
word(struct lex *l, const char **w_r)
{
	*w_r = l->p;
	while (l->p < l->e && isalpha((unsigned char)*l->p))
		l->p++;
	return (size_t)(l->p - *w_r);
}

static bool
zone(struct lex *l, int *tz_r)
{
	static const struct { const char *n; int h; } names[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -5 }, { "EDT", -4 }, { "CST", -6 }, { "CDT", -5 },
		{ "MST", -7 }, { "MDT", -6 }, { "PST", -8 }, { "PDT", -7 },
	};
	skip_junk(l);
	*tz_r = 0;
	if (l->p >= l->e)
		return true;
	if (*l->p == '+' || *l->p == '-') {
		int sign = *l->p == '-' ? -1 : 1;
		long v;
		int nd;
		l->p++;
		if (!number(l, 4, &v, &nd) || nd != 4)
			return true;	/* junk zone: +0000 */
		if (v / 100 > 23 || v % 100 > 59)
			return true;
		*tz_r = sign * (int)(v / 100 * 60 + v % 100);
		return true;
	}
	const char *w;
	size_t n = word(l, &w);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].n) == n && mm_strncaseeq(w, names[i].n, n))
			*tz_r = names[i].h * 60;
	return true;	/* RFC 5322 4.3: unknown zones are -0000 */
}

bool
mail_date_parse_rfc5322(const char *s, size_t len, time_t *t_r, int *tz_min_r)
{
	struct lex l = { s, s + len };
	const char *w;
	long d, y, H, M, S = 0;
	int mon, ndig, tz;

	skip_junk(&l);
	/* optional day of week */
	if (l.p < l.e && isalpha((unsigned char)*l.p)) {
		word(&l, &w);
		skip_junk(&l);
	}
	if (!number(&l, 2, &d, NULL))
		return false;
	skip_junk(&l);
	if (l.p < l.e && *l.p == '-')
		l.p++;	/* "1-Feb-1994" style */
	size_t n = word(&l, &w);
	if ((mon = month_index(w, n)) < 0)
		return false;
	skip_junk(&l);
	if (l.p < l.e && *l.p == '-')
		l.p++;
	if (!number(&l, 4, &y, &ndig))
		return false;
	if (ndig == 2)
		y += y < 50 ? 2000 : 1900;	/* RFC 5322 4.3 */
	else if (ndig == 3)
		y += 1900;
	skip_junk(&l);
	if (!number(&l, 2, &H, NULL) || l.p >= l.e || *l.p != ':')
		return false;
	l.p++;
	if (!number(&l, 2, &M, NULL))
		return false;
	if (l.p < l.e && *l.p == ':') {
		l.p++;
		if (!number(&l, 2, &S, NULL))
			return false;
	}
	zone(&l, &tz);
	if (!valid(y, mon, (int)d, (int)H, (int)M, (int)S))
		return false;
	*t_r = make_time(y, mon, (int)d, (int)H, (int)M, (int)S, tz);
	*tz_min_r = tz;
	return true;
}

bool
mail_date_parse_imap(const char *s, size_t len, time_t *t_r)
{
	struct lex l = { s, s + len };
	const char *w;
	long d, y;
	int nd, mon;

	if (!number(&l, 2, &d, NULL) || l.p >= l.e || *l.p != '-')
		return false;
	l.p++;
	if (word(&l, &w) != 3 || (mon = month_index(w, 3)) < 0 || l.p >= l.e || *l.p != '-')
		return false;
	l.p++;
	if (!number(&l, 4, &y, &nd) || nd != 4 || l.p != l.e)
		return false;
	if (!valid(y, mon, (int)d, 0, 0, 0))
		return false;
	*t_r = make_time(y, mon, (int)d, 0, 0, 0, 0);
	return true;
}

bool
mail_date_parse_imap_datetime(const char *s, size_t len, time_t *t_r, int *tz_min_r)
{
	struct lex l = { s, s + len };
	const char *w;
	long d, y, H, M, S, z;
	int nd, mon, sign;

	if (l.p < l.e && *l.p == ' ')
		l.p++;
	if (!number(&l, 2, &d, NULL) || l.p >= l.e || *l.p++ != '-')
		return false;
	if (word(&l, &w) != 3 || (mon = month_index(w, 3)) < 0 || l.p >= l.e || *l.p++ != '-')
		return false;
	if (!number(&l, 4, &y, &nd) || nd != 4 || l.p >= l.e || *l.p++ != ' ')
		return false;
	if (!number(&l, 2, &H, &nd) || nd != 2 || l.p >= l.e || *l.p++ != ':')
		return false;
	if (!number(&l, 2, &M, &nd) || nd != 2 || l.p >= l.e || *l.p++ != ':')
		return false;
	if (!number(&l, 2, &S, &nd) || nd != 2 || l.p >= l.e || *l.p++ != ' ')
		return false;
	if (l.p >= l.e || (*l.p != '+' && *l.p != '-'))
		return false;
	sign = *l.p++ == '-' ? -1 : 1;
	if (!number(&l, 4, &z, &nd) || nd != 4 || l.p != l.e || z % 100 > 59)
		return false;
	if (!valid(y, mon, (int)d, (int)H, (int)M, (int)S))
		return false;
	*tz_min_r = sign * (int)(z / 100 * 60 + z % 100);
	*t_r = make_time(y, mon, (int)d, (int)H, (int)M, (int)S, *tz_min_r);
	return true;
}

struct tmx {
	long y;
	unsigned mon, d, H, M, S, wday;
};

static void
split(time_t t, int tz_min, struct tmx *x)
{
	long long lt = (long long)t + tz_min * 60LL;
	long long days = lt >= 0 ? lt / 86400 : -((-lt + 86399) / 86400);
	long long secs = lt - days * 86400;
	civil_from_days((long)days, &x->y, &x->mon, &x->d);
	x->H = (unsigned)(secs / 3600);
	x->M = (unsigned)(secs / 60 % 60);
	x->S = (unsigned)(secs % 60);
	x->wday = (unsigned)(((days % 7) + 11) % 7);	/* 1970-01-01 was a Thursday */
}

/* Two digits of v < 100 */
static char *
put2(char *p, unsigned v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

void
mail_date_format_imap(time_t t, int tz_min, char *buf, size_t size)
{
	struct tmx x;
	int a = tz_min < 0 ? -tz_min : tz_min;
	split(t, tz_min, &x);
	if (size > MAIL_DATE_IMAP_LEN && x.y >= 0 && x.y <= 9999 && a < 100 * 60) {
		/* by hand (FETCH 1:* INTERNALDATE writes thousands): what the
		 * snprintf below writes for these */
		char *p = put2(buf, x.d);
		*p++ = '-';
		memcpy(p, months[x.mon - 1], 3);
		p[3] = '-';
		p = put2(p + 4, (unsigned)(x.y / 100));
		p = put2(p, (unsigned)(x.y % 100));
		*p++ = ' ';
		p = put2(p, x.H);
		*p++ = ':';
		p = put2(p, x.M);
		*p++ = ':';
		p = put2(p, x.S);
		*p++ = ' ';
		*p++ = tz_min < 0 ? '-' : '+';
		p = put2(p, (unsigned)(a / 60));
		p = put2(p, (unsigned)(a % 60));
		*p = '\0';
		return;
	}
	snprintf(buf, size, "%02u-%s-%04ld %02u:%02u:%02u %c%02d%02d", x.d,
	    months[x.mon - 1], x.y, x.H, x.M, x.S, tz_min < 0 ? '-' : '+', a / 60, a % 60);
}

void
mail_date_format_rfc5322(time_t t, int tz_min, char *buf, size_t size)
{
	struct tmx x;
	int a = tz_min < 0 ? -tz_min : tz_min;
	split(t, tz_min, &x);
	snprintf(buf, size, "%s, %u %s %04ld %02u:%02u:%02u %c%02d%02d", wdays[x.wday], x.d,
	    months[x.mon - 1], x.y, x.H, x.M, x.S, tz_min < 0 ? '-' : '+', a / 60, a % 60);
}

long
mail_date_day(time_t t, int tz_min)
{
	long long lt = (long long)t + tz_min * 60LL;
	return (long)(lt >= 0 ? lt / 86400 : -((-lt + 86399) / 86400));
}
