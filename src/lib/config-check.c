/* config-check.c: the checks that involve several keys, run once after
 * the whole file is read (cert without key, listeners on one port,
 * smarthost credentials, trust-ad on loopback, ...). */
#include "lib/config-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- whole-file checks ---- */

static void
check_listeners(struct parser *p)
{
	struct config *cfg = p->cfg;

	for (int j = 0; j < LISTEN_SLOTS; j++) {
		const struct config_listen *lj = listen_slot(cfg, j);
		unsigned linej = key_line(p, listen_name(j));
		for (int i = 0; i < j; i++) {
			const struct config_listen *li = listen_slot(cfg, i);
			unsigned linei = key_line(p, listen_name(i));
			for (size_t b = 0; b < lj->naddrs; b++) {
				for (size_t a = 0; a < li->naddrs; a++) {
					if (!addr_conflict(&li->addrs[a], &lj->addrs[b]))
						continue;
					/* report it on the later line, naming the earlier */
					int x = j, y = i;
					const struct config_addr *ax = &lj->addrs[b], *ay = &li->addrs[a];
					unsigned lx = linej, ly = linei;
					if (linei > linej) {
						x = i, y = j, ax = &li->addrs[a], ay = &lj->addrs[b];
						lx = linei, ly = linej;
					}
					char sx[128], sy[128], where[32];
					addr_format(ax, sx, sizeof(sx));
					addr_format(ay, sy, sizeof(sy));
					if (ly > 0)
						snprintf(where, sizeof(where), "on line %u", ly);
					else
						snprintf(where, sizeof(where), "(default)");
					perr(p, lx, "%s: %s conflicts with %s %s %s",
					    listen_name(x), sx, listen_name(y), sy, where);
				}
			}
		}
	}
}

void
check_file(struct parser *p)
{
	struct config *cfg = p->cfg;
	unsigned lc = key_line(p, "cert"), lk = key_line(p, "key");

	if (key_line(p, "domains") == 0)
		perr(p, 1, "missing required key 'domains' (set it at the top, "
		    "before any [section])");
	if (lc > 0 && lk == 0)
		perr(p, lc, "cert without key (set both cert and key, or neither)");
	if (lk > 0 && lc == 0)
		perr(p, lk, "key without cert (set both cert and key, or neither)");
	if (lc == 0 && lk == 0)
		pwarn(p, 0, "[tls] sets no cert and key; minimaild will create a "
		    "self-signed certificate in %s", cfg->data_dir);
	check_listeners(p);

	unsigned lu = key_line(p, "smarthost_user");
	unsigned lpw = key_line(p, "smarthost_password");
	unsigned lsh = key_line(p, "smarthost");
	if (lu > 0 && lpw == 0)
		perr(p, lu, "smarthost_user without smarthost_password");
	if (lpw > 0 && lu == 0)
		perr(p, lpw, "smarthost_password without smarthost_user");
	if ((lu > 0 || lpw > 0) && lsh == 0)
		perr(p, lu > lpw ? lu : lpw, "smarthost_user and smarthost_password "
		    "need a smarthost");
	if (lu > 0 && lsh > 0 && cfg->smarthost_tls == CONFIG_RELAY_TLS_NONE)
		pwarn(p, key_line(p, "smarthost_tls"), "smarthost_tls = none sends "
		    "the smarthost password in clear text");
	if (cfg->has_smarthost && cfg->smarthost.port == 0)
		cfg->smarthost.port = cfg->smarthost_tls == CONFIG_RELAY_TLS_IMPLICIT ?
		    465 : cfg->smarthost_tls == CONFIG_RELAY_TLS_STARTTLS ? 587 : 25;
	if (cfg->retry_interval > cfg->retry_max_interval) {
		unsigned lr = key_line(p, "retry_interval"), lm = key_line(p, "retry_max_interval");
		perr(p, lr > lm ? lr : lm, "retry_interval is longer than "
		    "retry_max_interval");
	}
	if (cfg->dns_dnssec == CONFIG_DNSSEC_TRUST_AD) {
		/* The AD bit is only as good as the path it came over. */
		unsigned ld = key_line(p, "dnssec");
		if (cfg->dns_nameservers.n == 0)
			perr(p, ld, "dnssec = trust-ad needs [dns] nameservers on "
			    "loopback (a validating resolver on this machine)");
		for (size_t i = 0; i < cfg->dns_nameservers.n; i++) {
			const char *ns = cfg->dns_nameservers.v[i];
			if (strncmp(ns, "127.", 4) != 0 && strncmp(ns, "::1@", 4) != 0) {
				perr(p, ld, "dnssec = trust-ad: name server %s is not on "
				    "loopback (its AD bit could be forged on the way)", ns);
				break;
			}
		}
	}

	unsigned lpi = key_line(p, "max_connections_per_ip");
	unsigned lmc = key_line(p, "max_connections");
	if (cfg->max_connections_per_ip > cfg->max_connections)
		pwarn(p, lpi > lmc ? lpi : lmc, "max_connections_per_ip (%u) is "
		    "larger than max_connections (%u)", cfg->max_connections_per_ip,
		    cfg->max_connections);
}
