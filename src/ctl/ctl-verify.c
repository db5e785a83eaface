/* ctl-verify.c: minimailctl verify [--repair] [--tmpdir DIR] over
 * store_verify() (src/store/store-verify.c: it checks a snapshot, so it
 * is safe while the daemon runs). The one idea: every problem is one
 * line on standard output, the summary the last line, and any problem
 * left makes the exit status 1. */
#include "ctl/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
print_problem(void *arg, const char *text)
{
	(void)arg;
	ctl_progress_end();
	printf("%s\n", text);
	fflush(stdout);
}

int
ctl_verify(struct config *cfg, int argc, char **argv)
{
	const char *tmpdir = getenv("TMPDIR");
	bool repair = false;
	char err[768];

	if (tmpdir == NULL || tmpdir[0] == '\0')
		tmpdir = "/var/tmp";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--repair") == 0)
			repair = true;
		else if (strcmp(argv[i], "--tmpdir") == 0 && i + 1 < argc)
			tmpdir = argv[++i];
		else
			ctl_die("usage: minimailctl verify [--repair] [--tmpdir DIR]");
	}
	struct store *st = ctl_open_store(cfg, false);
	struct store_verify_stats s;
	int r = store_verify(st, tmpdir, repair, print_problem, NULL, ctl_progress,
	    NULL, &s, err, sizeof(err));
	ctl_progress_end();
	ctl_close_store();
	if (r != STORE_OK)
		ctl_die("verify failed: %s", err);
	printf("verify: %llu databases, %llu users, %llu mailboxes, %llu messages, "
	    "%llu bodies checked in %.1f s: ", (unsigned long long)s.files,
	    (unsigned long long)s.users, (unsigned long long)s.mailboxes,
	    (unsigned long long)s.messages, (unsigned long long)s.bodies,
	    s.msecs / 1000.0);
	if (s.repaired > 0)
		printf("%llu repaired, ", (unsigned long long)s.repaired);
	if (s.problems == 0)
		printf("no problems\n");
	else
		printf("%llu problem%s\n", (unsigned long long)s.problems,
		    s.problems == 1 ? "" : "s");
	ctl_flush();
	return s.problems == 0 ? 0 : 1;
}
