/* ctl-verify.c: minimailctl verify (placeholder until store-verify.c). */
#include "ctl/ctl.h"

int
ctl_verify(struct config *cfg, int argc, char **argv)
{
	(void)cfg; (void)argc; (void)argv;
	ctl_die("verify: not yet");
}
