/* fuzz_sieve.c: libFuzzer harness for the Sieve compiler and interpreter
 * (src/sieve). Input: byte 0 picks one of the messages below and the
 * step bound (bit 4: a small one); the rest is the script. Properties: a
 * script either compiles or fails with a message and a line inside the
 * script; a compiled script runs to a result with at least one action
 * (a failing run is exactly one keep); no formatted action spans lines;
 * the steps counted stay within the bound (plus one step's worth); every
 * include resolves to the input itself, so include loops and depth are
 * fuzzed too. */
#include "fuzz/fuzz.h"

#include "sieve/sieve.h"

static const char *const msgs[] = {
	"From: Bob <bob@example.com>\r\nTo: alice+x@example.org\r\nSubject: hello\r\n"
	"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\nbody text\r\n",
	"From: list@example.com\r\nList-Id: <l.example.com>\r\nSubject: =?utf-8?b?w6k=?=\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
	"part one\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	"PGI+eDwvYj4=\r\n--b--\r\n",
	"Subject: x\r\nX-A: 1\r\nX-A: 2\r\nX-A: 3\r\n\r\n",
	"",
};

static const char *fuzz_text;
static size_t fuzz_len;

static bool
lookup(void *ctx, bool global, const char *name, char **text_r, size_t *len_r)
{
	(void)ctx;
	(void)global;
	if (name[0] == 'x')
		return false;
	*text_r = fuzz_dup(fuzz_text, fuzz_len);
	*len_r = fuzz_len;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *msg = msgs[data[0] % 4];
	struct sieve_limits lim;
	sieve_limits_default(&lim);
	if (data[0] & 0x10)
		lim.max_steps = 500;
	char *text = fuzz_dup(data + 1, size - 1);
	fuzz_text = text;
	fuzz_len = size - 1;
	unsigned lines = 1;
	for (size_t i = 0; i < fuzz_len; i++)
		lines += text[i] == '\n';

	struct sieve_include_if inc = { NULL, lookup, NULL };
	struct sieve_script *s = NULL;
	struct sieve_error err;
	if (!sieve_compile(text, fuzz_len, &lim, &inc, &s, &err)) {
		FUZZ_CHECK(s == NULL);
		FUZZ_CHECK(err.msg[0] != '\0');
		FUZZ_CHECK(err.line <= lines);
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		free(text);
		return 0;
	}
	struct sieve_msg *m = sieve_msg_new(msg, strlen(msg), "bob@example.com", "alice+x@example.org");
	struct sieve_result r;
	sieve_run(s, sieve_msg_if(m), &lim, &r);
	FUZZ_CHECK(r.n >= 1);
	if (r.error)
		FUZZ_CHECK(r.n == 1 && r.a[0].kind == SIEVE_ACT_KEEP);
	FUZZ_CHECK(r.steps <= lim.max_steps + 4096);
	struct mm_buf out;
	mm_buf_init(&out);
	for (size_t i = 0; i < r.n; i++) {
		out.len = 0;
		sieve_action_format(&r.a[i], &out);
		FUZZ_CHECK(out.len > 0 && memchr(out.data, '\n', out.len) == NULL);
		if (r.a[i].kind == SIEVE_ACT_VACATION) {
			const char *why;
			(void)sieve_vacation_allowed(sieve_msg_if(m), r.a[i].reply_to, &r.a[i].addresses, &why);
		}
	}
	mm_buf_free(&out);
	sieve_result_free(&r);
	sieve_msg_free(&m);
	sieve_script_free(&s);
	free(text);
	return 0;
}
