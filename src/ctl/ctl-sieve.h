/* ctl-sieve.h: the "minimailctl sieve ..." commands (DESIGN.md, Sieve and
 * ManageSieve). */
#ifndef MM_CTL_SIEVE_H
#define MM_CTL_SIEVE_H

/* minimailctl sieve test SCRIPT MESSAGE [--from ADDR] [--to ADDR]: argv[0]
 * is "test". Prints the actions, one a line, and returns the exit code:
 * 0, or 1 with "error LINE: message" when the script does not compile.
 * Needs no configuration and no store. */
int ctl_sieve_test(int argc, char **argv);

struct store;
struct sieve_limits;
/* minimailctl sieve list|get|put|del|activate ADDRESS [NAME] [FILE] on an
 * open store: argv[0] is the verb. put compiles the script first and
 * refuses one that does not compile ("error LINE: message" on stdout).
 * Errors are one "minimailctl: ..." line on stderr; returns the exit code. */
int ctl_sieve_cmd(struct store *st, const struct sieve_limits *lim, int argc, char **argv);

#endif
