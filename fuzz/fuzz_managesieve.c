/* fuzz_managesieve.c: libFuzzer harness for the ManageSieve command
 * parser (src/managesieve/ms-parse.c). Input: one command as the session
 * collects it (lines and literal bytes). Properties: a parsed command has
 * an upper-case name and at most MS_ARGS_MAX arguments; every string
 * argument written back with ms_append_string() parses to the same bytes
 * (quoted or literal); the literal marker reader agrees with a literal
 * the parser accepted. */
#include "fuzz/fuzz.h"

#include "lib/util.h"
#include "managesieve/ms-parse.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_dup(data, size);
	struct ms_cmd cmd;
	char err[128];
	uint64_t n;
	bool sync;
	(void)ms_literal_marker(s, size, &n, &sync);
	if (ms_parse(s, size, &cmd, err, sizeof(err))) {
		FUZZ_CHECK(cmd.verb[0] != '\0' && cmd.nargs <= MS_ARGS_MAX);
		for (const char *v = cmd.verb; *v; v++)
			FUZZ_CHECK(*v >= 'A' && *v <= 'Z');
		for (size_t i = 0; i < cmd.nargs; i++) {
			if (cmd.args[i].k != MS_ARG_STRING)
				continue;
			struct mm_buf b;
			mm_buf_init(&b);
			mm_buf_printf(&b, "X ");
			ms_append_string(&b, cmd.args[i].s, cmd.args[i].len);
			mm_buf_append(&b, "\r\n", 2);
			struct ms_cmd c2;
			FUZZ_CHECK(ms_parse(b.data, b.len, &c2, err, sizeof(err)));
			FUZZ_CHECK(c2.nargs == 1 && c2.args[0].k == MS_ARG_STRING);
			FUZZ_CHECK(fuzz_memeq(c2.args[0].s, c2.args[0].len, cmd.args[i].s, cmd.args[i].len));
			ms_cmd_free(&c2);
			mm_buf_free(&b);
		}
		ms_cmd_free(&cmd);
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	free(s);
	return 0;
}
