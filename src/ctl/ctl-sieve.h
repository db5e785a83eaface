/* ctl-sieve.h: the "minimailctl sieve ..." commands (DESIGN.md, Sieve and
 * ManageSieve). */
#ifndef MM_CTL_SIEVE_H
#define MM_CTL_SIEVE_H

/* minimailctl sieve test SCRIPT MESSAGE [--from ADDR] [--to ADDR]: argv[0]
 * is "test". Prints the actions, one a line, and returns the exit code:
 * 0, or 1 with "error LINE: message" when the script does not compile.
 * Needs no configuration and no store. */
int ctl_sieve_test(int argc, char **argv);

#endif
