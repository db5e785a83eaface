#!/bin/sh
# Installs what building and testing minimaild needs on Debian 12 (as root).
# "deps.sh build": only what building and running it needs (contrib/demo.sh);
# no argument: that and everything the test suite drives (.ci/run).
# Safe to run again: apt-get skips what is already there.
set -e
PKGS="autoconf automake make gcc pkg-config libc6-dev
libevent-dev libssl-dev libdb5.3-dev libcrypt-dev zlib1g-dev openssl
libunbound-dev dns-root-data
libpsl-dev publicsuffix"
if [ "${1:-}" != build ]; then
	PKGS="$PKGS check libsubunit-dev python3 ca-certificates curl swaks isync
fetchmail groff-base clang libclang-rt-14-dev systemd dovecot-imapd
python3-dnslib python3-dnspython
python3-yaml python3-milter opendkim
python3-dkim python3-nacl
dovecot-dev libtool build-essential
dovecot-sieve dovecot-managesieved sieve-connect"
fi
# promtool (test_metrics: the /metrics output and contrib's alert rules)
# and fail2ban-regex (test_fail2ban: contrib's filter against our log lines)
if [ "${1:-}" != build ]; then
	PKGS="$PKGS prometheus fail2ban"
fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: missing packages:$missing (run as root)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# Packages with a daemon (dovecot-imapd: the IMAP differential test
	# runs its own imap process) must not start a system service on
	# 143/993 while they install: forbid it for the time of this install.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' > "$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi
