/* hostname.c: the default of 'hostname' (the machine's FQDN), by a
 * blocking getaddrinfo(AI_CANONNAME): run at start, in "minimaild -t",
 * in minimailctl, and on a worker for a reload, never in the loop. */
#include "net/hostname.h"

#include "lib/config.h"
#include "lib/util.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOSTNAME_MAX_BYTES       253    /* RFC 1035 2.3.4, without final dot */

char *
hostname_default(void)
{
	char name[HOSTNAME_MAX_BYTES + 2];
	struct addrinfo hints, *res = NULL;

	if (gethostname(name, sizeof(name)) != 0)
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(name, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL && config_hostname_valid(res->ai_canonname)) {
		char *fqdn = mm_strlower(xstrdup(res->ai_canonname));
		freeaddrinfo(res);
		return fqdn;
	}
	if (res != NULL)
		freeaddrinfo(res);
	if (config_hostname_valid(name))
		return mm_strlower(xstrdup(name));
	return xstrdup("localhost");
}

void
hostname_config(struct config *cfg)
{
	if (cfg == NULL || !cfg->hostname_default)
		return;
	free(cfg->hostname);
	cfg->hostname = hostname_default();
}
