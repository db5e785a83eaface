/* fuzz_mailsort.c: libFuzzer harness for SORT and THREAD's pure code
 * (src/mail/sort.c, src/mail/thread.c): base subjects, the comparison
 * form, address keys, msg-id lists, and both THREAD algorithms over
 * messages made from the input.
 * Input: header blocks separated by NUL bytes, one message each (at most
 * 64). Properties: the base subject is never longer than the decoded
 * subject and is a fixed point for subjects that are not replies (and
 * hold no "=?" to decode again); the
 * comparison form is valid UTF-8 within its bound; the sort is ordered;
 * every message appears exactly once in each THREAD answer, whose
 * parentheses balance. */
#include "fuzz/fuzz.h"

#include "mail/decode.h"
#include "mail/header.h"
#include "mail/sort.h"
#include "mail/thread.h"

#define MAX_MSGS 64

static void
check_answer(const struct mm_buf *b, size_t n)
{
	unsigned char seen[MAX_MSGS + 1] = { 0 };
	long depth = 0;
	for (size_t i = 0; i < b->len; i++) {
		char c = b->data[i];
		if (c == '(') {
			depth++;
		} else if (c == ')') {
			FUZZ_CHECK(--depth >= 0);
		} else if (c >= '1' && c <= '9') {
			unsigned long v = 0;
			while (i < b->len && b->data[i] >= '0' && b->data[i] <= '9')
				v = v * 10 + (unsigned long)(b->data[i++] - '0');
			i--;
			FUZZ_CHECK(v >= 1 && v <= n && !seen[v]);
			seen[v] = 1;
		} else {
			FUZZ_CHECK(c == ' ');
		}
	}
	FUZZ_CHECK(depth == 0);
	for (size_t v = 1; v <= n; v++)
		FUZZ_CHECK(seen[v]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_dup(data, size);
	struct mail_thread_msg msgs[MAX_MSGS];
	struct mail_sort_rec recs[MAX_MSGS], *v[MAX_MSGS];
	static const struct mail_sort_crit crit[] = {
		{ MAIL_SORT_SUBJECT, false }, { MAIL_SORT_DISPLAYFROM, true },
		{ MAIL_SORT_DATE, false }, { MAIL_SORT_CC, false },
	};
	size_t n = 0, pos = 0;

	memset(msgs, 0, sizeof(msgs));
	memset(recs, 0, sizeof(recs));
	while (pos <= size && n < MAX_MSGS) {
		const char *e = memchr(in + pos, '\0', size - pos);
		size_t len = e ? (size_t)(e - (in + pos)) : size - pos;
		const char *s = in + pos;
		struct mail_header h;
		bool reply;

		char *b = mail_base_subject(s, len, &reply);
		char *d = mail_decode_header(s, len);
		FUZZ_CHECK(strlen(b) <= strlen(d));
		if (!reply && strstr(b, "=?") == NULL) {
			bool again;
			char *b2 = mail_base_subject(b, strlen(b), &again);
			FUZZ_CHECK(!again);
			free(b2);
		}
		char *t = mail_sort_text(b, strlen(b), 40);
		FUZZ_CHECK(strlen(t) <= 40);
		FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)t, strlen(t)));
		free(t);
		free(b);
		free(d);
		free(mail_sort_addr_display(s, len, 64));

		mail_header_parse(s, 0, len, &h);
		msgs[n].num = (uint32_t)(n + 1);
		msgs[n].date = (time_t)(len % 7);
		mail_thread_msg_fill(&msgs[n], &h, 8, 64, 64);
		recs[n].seq = (uint32_t)n;
		recs[n].arrival = (time_t)(len % 5);
		recs[n].size = len;
		mail_sort_rec_fill(&recs[n], &h, crit, 4, 64);
		v[n] = &recs[n];
		mail_header_free(&h);
		n++;
		if (e == NULL)
			break;
		pos += len + 1;
	}
	mail_sort(v, n, crit, 4);
	for (size_t i = 1; i < n; i++)
		FUZZ_CHECK(mail_sort_cmp(v[i - 1], v[i], crit, 4) < 0);
	struct mm_buf out;
	mm_buf_init(&out);
	mail_thread_references(msgs, n, 3, &out);
	check_answer(&out, n);
	out.len = 0;
	mail_thread_orderedsubject(msgs, n, &out);
	check_answer(&out, n);
	mm_buf_free(&out);
	for (size_t i = 0; i < n; i++) {
		mail_thread_msg_free(&msgs[i]);
		mail_sort_rec_free(&recs[i]);
	}
	free(in);
	return 0;
}
