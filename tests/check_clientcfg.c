/* check_clientcfg.c: unit tests of the client settings generator
 * (src/lib/clientcfg.c): the exact autoconfig and autodiscover documents
 * and the client-settings table for a few listener layouts, XML escaping,
 * address checks, and the autodiscover request reader fed good, odd,
 * malformed, oversized and truncated requests. To add a request case, add
 * a row to reqs[]. */
#include "lib/clientcfg.h"
#include "lib/config.h"
#include "lib/limits.h"
#include "lib/util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE \
	"hostname = mail.example.org\n" \
	"domains = example.org example.net\n" \
	"[tls]\ncert = /c.pem\nkey = /k.pem\n"

static struct config *
cfg_from(const char *text)
{
	struct config_errors errs;
	config_errors_init(&errs);
	struct config *cfg = config_parse("t.conf", text, strlen(text), &errs);
	ck_assert_msg(cfg != NULL, "config: %s",
	    errs.errors.n ? errs.errors.v[0] : "?");
	config_errors_clear(&errs);
	return cfg;
}

/* ---- autoconfig ---- */

#define AC_HEAD(d) \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<clientConfig version=\"1.1\">\n" \
	"  <emailProvider id=\"" d "\">\n" \
	"    <domain>" d "</domain>\n" \
	"    <displayName>" d "</displayName>\n" \
	"    <displayShortName>" d "</displayShortName>\n"
#define AC_SERVER(elem, type, port, sock) \
	"    <" elem " type=\"" type "\">\n" \
	"      <hostname>mail.example.org</hostname>\n" \
	"      <port>" port "</port>\n" \
	"      <socketType>" sock "</socketType>\n" \
	"      <username>%EMAILADDRESS%</username>\n" \
	"      <authentication>password-cleartext</authentication>\n" \
	"    </" elem ">\n"
#define AC_IMAP(port) AC_SERVER("incomingServer", "imap", port, "SSL")
#define AC_POP3(port) AC_SERVER("incomingServer", "pop3", port, "SSL")
#define AC_SMTPS(port) AC_SERVER("outgoingServer", "smtp", port, "SSL")
#define AC_SUBM(port) AC_SERVER("outgoingServer", "smtp", port, "STARTTLS")
#define AC_TAIL "  </emailProvider>\n</clientConfig>\n"

struct ac_case {
	const char *conf;           /* appended to BASE */
	const char *domain;
	const char *want;           /* NULL: not a local domain */
};

static const struct ac_case acs[] = {
	/* 0: the defaults: 993, 995, 465, 587; never 143, 110 or 25 */
	{ "", "example.org",
	  AC_HEAD("example.org") AC_IMAP("993") AC_POP3("995") AC_SMTPS("465")
	  AC_SUBM("587") AC_TAIL },
	/* 1: the other domain, asked in upper case */
	{ "", "EXAMPLE.Net",
	  AC_HEAD("example.net") AC_IMAP("993") AC_POP3("995") AC_SMTPS("465")
	  AC_SUBM("587") AC_TAIL },
	/* 2: a listener set to off disappears */
	{ "[listen]\npop3s = off\nsubmission = off\n", "example.org",
	  AC_HEAD("example.org") AC_IMAP("993") AC_SMTPS("465") AC_TAIL },
	{ "[listen]\nimaps = off\nsubmissions = off\n", "example.org",
	  AC_HEAD("example.org") AC_POP3("995") AC_SUBM("587") AC_TAIL },
	/* 4: the port of the first address */
	{ "[listen]\nimaps = 127.0.0.1:1993 [::1]:2993\npop3s = [::1]:1995\n"
	  "submissions = 2465\nsubmission = 10.0.0.1:2587 2588\n", "example.org",
	  AC_HEAD("example.org") AC_IMAP("1993") AC_POP3("1995")
	  AC_SMTPS("2465") AC_SUBM("2587") AC_TAIL },
	/* 5: only the plain ports listen: nothing is offered */
	{ "[listen]\nimaps = off\npop3s = off\nsubmissions = off\n"
	  "submission = off\n", "example.org",
	  AC_HEAD("example.org") AC_TAIL },
	/* ManageSieve on: after the incoming servers, STARTTLS; off (the
	 * default, cases above): absent */
	{ "[listen]\nmanagesieve = 127.0.0.1:4190\n", "example.org",
	  AC_HEAD("example.org") AC_IMAP("993") AC_POP3("995")
	  AC_SERVER("incomingServer", "managesieve", "4190", "STARTTLS")
	  AC_SMTPS("465") AC_SUBM("587") AC_TAIL },
	{ "[listen]\nmanagesieve = 14190\nsubmissions = off\nsubmission = off\n",
	  "example.org",
	  AC_HEAD("example.org") AC_IMAP("993") AC_POP3("995")
	  AC_SERVER("incomingServer", "managesieve", "14190", "STARTTLS") AC_TAIL },
	/* 6: not local */
	{ "", "example.com", NULL },
	{ "", "org", NULL },
	{ "", "", NULL },
	{ "", "mail.example.org", NULL },
};

START_TEST(test_autoconfig)
{
	const struct ac_case *c = &acs[_i];
	char *conf = xasprintf("%s%s", BASE, c->conf);
	struct config *cfg = cfg_from(conf);
	char *got = clientcfg_autoconfig(cfg, c->domain);

	if (c->want == NULL) {
		ck_assert_ptr_null(got);
	} else {
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, c->want);
	}
	free(got);
	config_free(&cfg);
	free(conf);
}
END_TEST

START_TEST(test_servers)
{
	struct clientcfg_server sv[CLIENTCFG_SERVERS_MAX];
	struct config *cfg = cfg_from(BASE "[listen]\npop3s = off\n"
	    "submission = 127.0.0.1:5870\n");

	ck_assert_uint_eq(clientcfg_servers(cfg, sv), 3);
	ck_assert_int_eq(sv[0].proto, CLIENTCFG_IMAP);
	ck_assert_int_eq(sv[0].security, CLIENTCFG_SSL);
	ck_assert_int_eq(sv[0].lsn, LSN_IMAPS);
	ck_assert_uint_eq(sv[0].port, 993);
	ck_assert_int_eq(sv[1].proto, CLIENTCFG_SMTP);
	ck_assert_int_eq(sv[1].security, CLIENTCFG_SSL);
	ck_assert_int_eq(sv[1].lsn, LSN_SUBMISSIONS);
	ck_assert_uint_eq(sv[1].port, 465);
	ck_assert_int_eq(sv[2].proto, CLIENTCFG_SMTP);
	ck_assert_int_eq(sv[2].security, CLIENTCFG_STARTTLS);
	ck_assert_int_eq(sv[2].lsn, LSN_SUBMISSION);
	ck_assert_uint_eq(sv[2].port, 5870);
	config_free(&cfg);
}
END_TEST

/* ---- autodiscover ---- */

#define AD_HEAD \
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" \
	"<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/" \
	"autodiscover/responseschema/2006\">\n" \
	"  <Response xmlns=\"http://schemas.microsoft.com/exchange/" \
	"autodiscover/outlook/responseschema/2006a\">\n" \
	"    <Account>\n" \
	"      <AccountType>email</AccountType>\n" \
	"      <Action>settings</Action>\n"
#define AD_PROTO(type, port, login, enc) \
	"      <Protocol>\n" \
	"        <Type>" type "</Type>\n" \
	"        <Server>mail.example.org</Server>\n" \
	"        <Port>" port "</Port>\n" \
	"        <DomainRequired>off</DomainRequired>\n" \
	"        <LoginName>" login "</LoginName>\n" \
	"        <SPA>off</SPA>\n" \
	"        <SSL>on</SSL>\n" \
	"        <Encryption>" enc "</Encryption>\n" \
	"        <AuthRequired>on</AuthRequired>\n" \
	"      </Protocol>\n"
#define AD_TAIL "    </Account>\n  </Response>\n</Autodiscover>\n"

struct ad_case {
	const char *conf;
	const char *addr;
	const char *want;
};

static const struct ad_case ads[] = {
	{ "", "alice@example.org",
	  AD_HEAD
	  AD_PROTO("IMAP", "993", "alice@example.org", "SSL")
	  AD_PROTO("POP3", "995", "alice@example.org", "SSL")
	  AD_PROTO("SMTP", "465", "alice@example.org", "SSL")
	  AD_PROTO("SMTP", "587", "alice@example.org", "TLS")
	  AD_TAIL },
	/* a disabled listener disappears; the login name is escaped */
	{ "[listen]\npop3s = off\nsubmissions = off\nimaps = [::1]:1993\n",
	  "o'neil&co@example.net",
	  AD_HEAD
	  AD_PROTO("IMAP", "1993", "o&apos;neil&amp;co@example.net", "SSL")
	  AD_PROTO("SMTP", "587", "o&apos;neil&amp;co@example.net", "TLS")
	  AD_TAIL },
	{ "", "bob@example.com", NULL },
	{ "", "bob", NULL },
	{ "", "<bob>@example.org", NULL },
};

START_TEST(test_autodiscover)
{
	const struct ad_case *c = &ads[_i];
	char *conf = xasprintf("%s%s", BASE, c->conf);
	struct config *cfg = cfg_from(conf);
	char *got = clientcfg_autodiscover(cfg, c->addr);

	if (c->want == NULL) {
		ck_assert_ptr_null(got);
	} else {
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, c->want);
	}
	free(got);
	config_free(&cfg);
	free(conf);
}
END_TEST

START_TEST(test_autodiscover_error)
{
	char *got = clientcfg_autodiscover_error(600, "Invalid <Request> & more");
	ck_assert_str_eq(got,
	    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/"
	    "autodiscover/responseschema/2006\">\n"
	    "  <Response>\n"
	    "    <Error>\n"
	    "      <ErrorCode>600</ErrorCode>\n"
	    "      <Message>Invalid &lt;Request&gt; &amp; more</Message>\n"
	    "      <DebugData />\n"
	    "    </Error>\n"
	    "  </Response>\n"
	    "</Autodiscover>\n");
	free(got);
}
END_TEST

START_TEST(test_xml_escape)
{
	struct mm_buf b;
	mm_buf_init(&b);
	clientcfg_xml_escape(&b, "a&b<c>d\"e'f\x01g\x7fh\ti\xc3\xa9");
	ck_assert_str_eq(mm_buf_cstr(&b),
	    "a&amp;b&lt;c&gt;d&quot;e&apos;f?g?h\ti\xc3\xa9");
	mm_buf_free(&b);
	mm_buf_init(&b);
	clientcfg_xml_escape(&b, "");
	ck_assert_str_eq(mm_buf_cstr(&b), "");
	mm_buf_free(&b);
}
END_TEST

/* ---- addresses ---- */

struct addr_case {
	const char *in;
	const char *addr;           /* NULL: refused */
	const char *domain;
};

static const struct addr_case addrs[] = {
	{ "alice@example.org", "alice@example.org", "example.org" },
	{ "Alice.B+tag@Example.ORG", "alice.b+tag@example.org", "example.org" },
	{ "o'neil&co@a.b", "o'neil&co@a.b", "a.b" },
	{ "x@localhost", "x@localhost", "localhost" },
	{ "", NULL, NULL },
	{ "alice", NULL, NULL },
	{ "@example.org", NULL, NULL },
	{ "alice@", NULL, NULL },
	{ "a@b@example.org", NULL, NULL },
	{ "a b@example.org", NULL, NULL },
	{ "a\tb@example.org", NULL, NULL },
	{ "\"a\"@example.org", NULL, NULL },
	{ "<a>@example.org", NULL, NULL },
	{ "a@exa_mple.org", NULL, NULL },
	{ "a@-example.org", NULL, NULL },
	{ "a@example-.org", NULL, NULL },
	{ "a@example..org", NULL, NULL },
	{ "a@.example.org", NULL, NULL },
	{ "a@example.org.", NULL, NULL },
	{ "a@[127.0.0.1]", NULL, NULL },
	{ "a@example.org\n", NULL, NULL },
	/* 65-byte local part */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "@example.org", NULL, NULL },
	/* 64-byte local part */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "@example.org",
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "@example.org", "example.org" },
	/* a 64-byte label */
	{ "a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org",
	  NULL, NULL },
};

START_TEST(test_address)
{
	const struct addr_case *c = &addrs[_i];
	char a[ADDRESS_MAX_BYTES + 1] = "untouched", d[ADDRESS_MAX_BYTES + 1] = "";
	bool ok = clientcfg_address(c->in, strlen(c->in), a, d);

	if (c->addr == NULL) {
		ck_assert_msg(!ok, "'%s' accepted", c->in);
		return;
	}
	ck_assert_msg(ok, "'%s' refused", c->in);
	ck_assert_str_eq(a, c->addr);
	ck_assert_str_eq(d, c->domain);
	/* both outputs are optional */
	ck_assert(clientcfg_address(c->in, strlen(c->in), NULL, NULL));
}
END_TEST

START_TEST(test_address_long)
{
	char in[ADDRESS_MAX_BYTES + 2], out[ADDRESS_MAX_BYTES + 1];
	/* 64-byte local part, '@', a 255-byte domain (four 63-byte labels):
	 * exactly ADDRESS_MAX_BYTES, accepted */
	memset(in, 'l', 64);
	in[64] = '@';
	for (int k = 0; k < 4; k++) {
		memset(in + 65 + k * 64, 'c', 63);
		if (k < 3)
			in[65 + k * 64 + 63] = '.';
	}
	in[ADDRESS_MAX_BYTES] = '\0';
	ck_assert_uint_eq(strlen(in), ADDRESS_MAX_BYTES);
	ck_assert(clientcfg_address(in, ADDRESS_MAX_BYTES, out, NULL));
	ck_assert_str_eq(out, in);
	/* a 256-byte domain is refused */
	in[ADDRESS_MAX_BYTES] = 'c';
	in[ADDRESS_MAX_BYTES + 1] = '\0';
	ck_assert(!clientcfg_address(in, ADDRESS_MAX_BYTES + 1, out, NULL));
	/* len counts: the rest of the string is not read */
	ck_assert(clientcfg_address("a@b.orgXXX", 7, out, NULL));
	ck_assert_str_eq(out, "a@b.org");
}
END_TEST

/* ---- the table ---- */

START_TEST(test_table)
{
	char err[256];
	struct config *cfg = cfg_from(BASE);
	char *got = clientcfg_table(cfg, "Alice@Example.org", err, sizeof(err));
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got,
	    "Protocol  Server            Port   Security  Username           Authentication\n"
	    "IMAP      mail.example.org  993    SSL/TLS   alice@example.org  normal password\n"
	    "POP3      mail.example.org  995    SSL/TLS   alice@example.org  normal password\n"
	    "SMTP      mail.example.org  465    SSL/TLS   alice@example.org  normal password\n"
	    "SMTP      mail.example.org  587    STARTTLS  alice@example.org  normal password\n");
	free(got);

	ck_assert_ptr_null(clientcfg_table(cfg, "alice@example.com", err, sizeof(err)));
	ck_assert_str_eq(err, "example.com is not one of the domains of t.conf");
	ck_assert_ptr_null(clientcfg_table(cfg, "alice", err, sizeof(err)));
	ck_assert_str_eq(err, "'alice' is not a mail address (expected user@domain)");
	config_free(&cfg);

	cfg = cfg_from(BASE "[listen]\nimaps = off\npop3s = 1995\nsubmissions = off\n"
	    "submission = off\n");
	got = clientcfg_table(cfg, "b@example.net", err, sizeof(err));
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got,
	    "Protocol  Server            Port   Security  Username       Authentication\n"
	    "IMAP      not offered (imaps is off)\n"
	    "POP3      mail.example.org  1995   SSL/TLS   b@example.net  normal password\n"
	    "SMTP      not offered (submissions and submission are off)\n");
	free(got);
	config_free(&cfg);

	/* a long bad address is cut in the message */
	char longaddr[400];
	memset(longaddr, 'x', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	cfg = cfg_from(BASE);
	ck_assert_ptr_null(clientcfg_table(cfg, longaddr, err, sizeof(err)));
	ck_assert_uint_lt(strlen(err), 160);
	config_free(&cfg);
}
END_TEST

/* ---- the autodiscover request ---- */

#define REQ_NS "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
#define RESP_NS "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
#define OUTLOOK_REQ(addr) \
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n" \
	"<Autodiscover xmlns=\"" REQ_NS "\">\r\n" \
	"  <Request>\r\n" \
	"    <EMailAddress>" addr "</EMailAddress>\r\n" \
	"    <AcceptableResponseSchema>" RESP_NS "</AcceptableResponseSchema>\r\n" \
	"  </Request>\r\n" \
	"</Autodiscover>\r\n"
#define REQ(inner) "<Autodiscover xmlns=\"" REQ_NS "\"><Request>" inner \
	"</Request></Autodiscover>"

struct req_case {
	const char *body;
	enum clientcfg_req want;
	const char *addr;           /* on OK */
};

static const struct req_case reqs[] = {
	/* 0: what Outlook sends */
	{ OUTLOOK_REQ("alice@example.org"), CLIENTCFG_REQ_OK, "alice@example.org" },
	{ OUTLOOK_REQ("  Alice@Example.ORG\n"), CLIENTCFG_REQ_OK, "alice@example.org" },
	{ REQ("<EMailAddress>bob@example.net</EMailAddress>"), CLIENTCFG_REQ_OK,
	  "bob@example.net" },
	/* 3: tolerated: BOM, comments, PIs, prefixes, attributes, entities */
	{ "\xef\xbb\xbf<?xml version='1.0'?><!-- hi --><a:Autodiscover "
	  "xmlns:a='" REQ_NS "' x = \"1>2\"><a:Request><!-- <EMailAddress>x@y.z"
	  "</EMailAddress> --><a:EMailAddress>o&apos;neil&amp;co&#64;example"
	  "&#x2E;org</a:EMailAddress></a:Request></a:Autodiscover>\n\n",
	  CLIENTCFG_REQ_OK, "o'neil&co@example.org" },
	{ REQ("<Other><EMailAddress>no@example.org</EMailAddress></Other>"
	  "<EMailAddress>yes@example.org</EMailAddress>"
	  "<EMailAddress>second@example.org</EMailAddress>"),
	  CLIENTCFG_REQ_OK, "yes@example.org" },
	{ REQ("<EMailAddress>a@b.org</EMailAddress><AcceptableResponseSchema>"
	  "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/"
	  "responseschema/2006</AcceptableResponseSchema>"),
	  CLIENTCFG_REQ_SCHEMA, NULL },
	/* 6: missing or empty address */
	{ REQ(""), CLIENTCFG_REQ_NO_ADDRESS, NULL },
	{ REQ("<EMailAddress/>"), CLIENTCFG_REQ_NO_ADDRESS, NULL },
	{ REQ("<EMailAddress> \r\n </EMailAddress>"), CLIENTCFG_REQ_NO_ADDRESS, NULL },
	{ "<Autodiscover><EMailAddress>a@b.org</EMailAddress></Autodiscover>",
	  CLIENTCFG_REQ_NO_ADDRESS, NULL },
	{ "<Autodiscover/>", CLIENTCFG_REQ_NO_ADDRESS, NULL },
	{ REQ("<EMailAddress>a@<b/>b.org</EMailAddress>"),
	  CLIENTCFG_REQ_NO_ADDRESS, NULL },
	/* 12: bad addresses */
	{ REQ("<EMailAddress>alice</EMailAddress>"), CLIENTCFG_REQ_BAD_ADDRESS, NULL },
	{ REQ("<EMailAddress>a b@example.org</EMailAddress>"),
	  CLIENTCFG_REQ_BAD_ADDRESS, NULL },
	{ REQ("<EMailAddress>&lt;a&gt;@example.org</EMailAddress>"),
	  CLIENTCFG_REQ_BAD_ADDRESS, NULL },
	{ REQ("<EMailAddress>a&#10;b@example.org</EMailAddress>"),
	  CLIENTCFG_REQ_BAD_ADDRESS, NULL },
	{ REQ("<EMailAddress>a&#xe9;@example.org</EMailAddress>"),
	  CLIENTCFG_REQ_BAD_ADDRESS, NULL },
	/* 17: not an autodiscover request */
	{ "<html><body>hi</body></html>", CLIENTCFG_REQ_NOT_AUTODISCOVER, NULL },
	{ "<foo/>", CLIENTCFG_REQ_NOT_AUTODISCOVER, NULL },
	/* 19: malformed */
	{ "", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "   \n", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "alice@example.org", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "emailaddress=alice@example.org", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<Autodiscover><Request><EMailAddress>a@b.org</EMailAddress>",
	  CLIENTCFG_REQ_MALFORMED, NULL },
	{ REQ("<EMailAddress>a@b.org</EmailAddress>"), CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<Autodiscover></Request>", CLIENTCFG_REQ_MALFORMED, NULL },
	{ REQ("<EMailAddress>a@b.org</EMailAddress>") "<Autodiscover/>",
	  CLIENTCFG_REQ_MALFORMED, NULL },
	{ REQ("<EMailAddress>a@b.org</EMailAddress>") "trailing",
	  CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<!DOCTYPE x [<!ENTITY e \"a@b.org\">]>" REQ("<EMailAddress>&e;"
	  "</EMailAddress>"), CLIENTCFG_REQ_MALFORMED, NULL },
	{ REQ("<EMailAddress><![CDATA[a@b.org]]></EMailAddress>"),
	  CLIENTCFG_REQ_MALFORMED, NULL },
	{ REQ("<EMailAddress>a&nbsp;@b.org</EMailAddress>"),
	  CLIENTCFG_REQ_MALFORMED, NULL },
	{ REQ("<EMailAddress>a&amp @b.org</EMailAddress>"),
	  CLIENTCFG_REQ_MALFORMED, NULL },
	{ REQ("<EMailAddress>a&#0;@b.org</EMailAddress>"),
	  CLIENTCFG_REQ_MALFORMED, NULL },
	{ REQ("<EMailAddress>a&#x110000;@b.org</EMailAddress>"),
	  CLIENTCFG_REQ_MALFORMED, NULL },
	{ REQ("<EMailAddress>a&#;@b.org</EMailAddress>"),
	  CLIENTCFG_REQ_MALFORMED, NULL },
	{ REQ("<EMailAddress>a&;@b.org</EMailAddress>"),
	  CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<Autodiscover xmlns=unquoted/>", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<Autodiscover a='1'b='2'/>", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<Autodiscover a='<'/>", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<Autodiscover a/>", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<Autodiscover /", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "< Autodiscover/>", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<1Autodiscover/>", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<Autodiscover><!-- open", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<?xml version='1.0'", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "</Autodiscover>", CLIENTCFG_REQ_MALFORMED, NULL },
	{ "<Autodiscover></Autodiscover x>", CLIENTCFG_REQ_MALFORMED, NULL },
};

START_TEST(test_request)
{
	const struct req_case *c = &reqs[_i];
	char addr[ADDRESS_MAX_BYTES + 1];
	enum clientcfg_req r = clientcfg_autodiscover_parse(c->body,
	    strlen(c->body), addr);

	ck_assert_msg(r == c->want, "case %d: got %s, want %s", _i,
	    clientcfg_req_str(r), clientcfg_req_str(c->want));
	if (c->want == CLIENTCFG_REQ_OK)
		ck_assert_str_eq(addr, c->addr);
	else
		ck_assert_str_eq(addr, "");
}
END_TEST

/* Every proper prefix of a request that ends before its root closes is
 * refused, never read as a (shorter) address; no prefix crashes. */
START_TEST(test_request_prefixes)
{
	const char *body = OUTLOOK_REQ("alice@example.org");
	const char *end = strstr(body, "</Autodiscover>") + strlen("</Autodiscover>");
	size_t full = strlen(body), close_at = (size_t)(end - body);
	char addr[ADDRESS_MAX_BYTES + 1];

	for (size_t n = 0; n <= full; n++) {
		char *copy = xstrndup(body, n);     /* exact size for ASan */
		enum clientcfg_req r = clientcfg_autodiscover_parse(copy, n, addr);
		if (n < close_at)
			ck_assert_msg(r != CLIENTCFG_REQ_OK, "prefix %zu read", n);
		else
			ck_assert_msg(r == CLIENTCFG_REQ_OK && strcmp(addr,
			    "alice@example.org") == 0, "prefix %zu: %s", n,
			    clientcfg_req_str(r));
		free(copy);
	}
}
END_TEST

START_TEST(test_request_limits)
{
	char addr[ADDRESS_MAX_BYTES + 1];
	struct mm_buf b;

	/* NUL byte */
	const char nul[] = "<Autodiscover>\0</Autodiscover>";
	ck_assert_int_eq(clientcfg_autodiscover_parse(nul, sizeof(nul) - 1, addr),
	    CLIENTCFG_REQ_MALFORMED);

	/* exactly the limit is read; one byte more is refused unread */
	mm_buf_init(&b);
	mm_buf_printf(&b, "%s<!--", REQ("<EMailAddress>a@b.org</EMailAddress>"));
	while (b.len < CLIENTCFG_REQUEST_MAX_BYTES - 3)
		mm_buf_appendc(&b, 'x');
	mm_buf_printf(&b, "-->");
	ck_assert_uint_eq(b.len, CLIENTCFG_REQUEST_MAX_BYTES);
	ck_assert_int_eq(clientcfg_autodiscover_parse(b.data, b.len, addr),
	    CLIENTCFG_REQ_OK);
	ck_assert_str_eq(addr, "a@b.org");
	mm_buf_appendc(&b, '\n');
	ck_assert_int_eq(clientcfg_autodiscover_parse(b.data, b.len, addr),
	    CLIENTCFG_REQ_TOO_LARGE);
	mm_buf_free(&b);

	/* nesting: the root and 15 more levels are read, 17 are not */
	for (int depth = 16; depth <= 17; depth++) {
		mm_buf_init(&b);
		mm_buf_printf(&b, "<Autodiscover>");
		for (int i = 1; i < depth; i++)
			mm_buf_printf(&b, "<e%d>", i);
		for (int i = depth - 1; i >= 1; i--)
			mm_buf_printf(&b, "</e%d>", i);
		mm_buf_printf(&b, "</Autodiscover>");
		ck_assert_int_eq(clientcfg_autodiscover_parse(b.data, b.len, addr),
		    depth == 16 ? CLIENTCFG_REQ_NO_ADDRESS : CLIENTCFG_REQ_MALFORMED);
		mm_buf_free(&b);
	}

	/* a name of 128 bytes is read, 129 is not */
	for (int n = 128; n <= 129; n++) {
		mm_buf_init(&b);
		mm_buf_printf(&b, "<Autodiscover><");
		for (int i = 0; i < n; i++)
			mm_buf_appendc(&b, 'n');
		mm_buf_printf(&b, "/></Autodiscover>");
		ck_assert_int_eq(clientcfg_autodiscover_parse(b.data, b.len, addr),
		    n == 128 ? CLIENTCFG_REQ_NO_ADDRESS : CLIENTCFG_REQ_MALFORMED);
		mm_buf_free(&b);
	}

	/* long addresses: just over the address limit, and far over it */
	for (int n = ADDRESS_MAX_BYTES - 10; n <= 8000; n += 8000 - ADDRESS_MAX_BYTES) {
		mm_buf_init(&b);
		mm_buf_printf(&b, "<Autodiscover><Request><EMailAddress>");
		for (int i = 0; i < n; i++)
			mm_buf_appendc(&b, 'a');
		mm_buf_printf(&b, "@b.org</EMailAddress></Request></Autodiscover>");
		ck_assert_int_eq(clientcfg_autodiscover_parse(b.data, b.len, addr),
		    CLIENTCFG_REQ_BAD_ADDRESS);
		ck_assert_str_eq(addr, "");
		mm_buf_free(&b);
	}
}
END_TEST

START_TEST(test_req_str)
{
	ck_assert_str_eq(clientcfg_req_str(CLIENTCFG_REQ_OK), "ok");
	ck_assert_str_eq(clientcfg_req_str(CLIENTCFG_REQ_MALFORMED), "malformed XML");
	ck_assert_str_eq(clientcfg_req_str(CLIENTCFG_REQ_SCHEMA),
	    "unsupported AcceptableResponseSchema");
}
END_TEST

/* ---- Autodiscover v2, the Apple profile, the URLs (issue 17) ---- */

static const struct {
	const char *addr, *protocol;
	int status;                 /* 0: NULL (404) */
	const char *body;
} jsons[] = {
	{ "alice@example.org", "AutodiscoverV1", 200, "{\"Protocol\":\"AutodiscoverV1\","
	    "\"Url\":\"https://autodiscover.example.org/autodiscover/autodiscover.xml\"}\n" },
	{ "Bob@Example.NET", "autodiscoverv1", 200, "{\"Protocol\":\"AutodiscoverV1\","
	    "\"Url\":\"https://autodiscover.example.net/autodiscover/autodiscover.xml\"}\n" },
	{ "alice@example.org", "ActiveSync", 400, NULL },
	{ "alice@example.org", NULL, 400, NULL },
	{ "alice@example.org", "", 400, NULL },
	{ "alice@example.com", "AutodiscoverV1", 0, NULL },
	{ "alice", "AutodiscoverV1", 0, NULL },
	{ "", "AutodiscoverV1", 0, NULL },
};

START_TEST(test_autodiscover_json)
{
	struct config *cfg = cfg_from(BASE);
	int status = -1;
	char *got = clientcfg_autodiscover_json(cfg, jsons[_i].addr, jsons[_i].protocol, &status);
	if (jsons[_i].status == 0) {
		ck_assert_ptr_null(got);
	} else {
		ck_assert_ptr_nonnull(got);
		ck_assert_int_eq(status, jsons[_i].status);
		if (jsons[_i].body)
			ck_assert_str_eq(got, jsons[_i].body);
		else
			ck_assert_ptr_nonnull(strstr(got, "\"ErrorCode\":\"InvalidProtocol\""));
	}
	free(got);
	config_free(&cfg);
}
END_TEST

START_TEST(test_mobileconfig)
{
	struct config *cfg = cfg_from(BASE);
	char *a = clientcfg_mobileconfig(cfg, "Alice@Example.org");
	char *b = clientcfg_mobileconfig(cfg, "alice@example.org");
	char *c = clientcfg_mobileconfig(cfg, "bob@example.org");
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a, b);     /* stable: the same profile again */
	ck_assert_str_ne(a, c);
	ck_assert_ptr_nonnull(strstr(a, "<key>IncomingMailServerPortNumber</key>\n"
	    "      <integer>993</integer>"));
	ck_assert_ptr_nonnull(strstr(a, "<key>OutgoingMailServerPortNumber</key>\n"
	    "      <integer>465</integer>"));
	ck_assert_ptr_nonnull(strstr(a, "<string>EmailTypeIMAP</string>"));
	ck_assert_ptr_nonnull(strstr(a, "<string>alice@example.org</string>"));
	ck_assert_ptr_null(strstr(a, "<integer>143</integer>"));
	ck_assert_ptr_null(strstr(a, "<integer>25</integer>"));
	ck_assert_ptr_null(clientcfg_mobileconfig(cfg, "alice@example.com"));
	ck_assert_ptr_null(clientcfg_mobileconfig(cfg, "not an address"));
	free(a);
	free(b);
	free(c);
	config_free(&cfg);
	/* no secure outgoing listener: no profile (it would be half an account) */
	cfg = cfg_from(BASE "[listen]\nsubmissions = off\nsubmission = off\n");
	ck_assert_ptr_null(clientcfg_mobileconfig(cfg, "alice@example.org"));
	config_free(&cfg);
	/* POP3 only, 587 */
	cfg = cfg_from(BASE "[listen]\nimaps = off\nsubmissions = off\n");
	a = clientcfg_mobileconfig(cfg, "alice@example.org");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(strstr(a, "<string>EmailTypePOP</string>"));
	ck_assert_ptr_nonnull(strstr(a, "<integer>995</integer>"));
	ck_assert_ptr_nonnull(strstr(a, "<integer>587</integer>"));
	free(a);
	config_free(&cfg);
}
END_TEST

START_TEST(test_urls)
{
	struct config *cfg = cfg_from(BASE);
	char *got = clientcfg_urls(cfg, "a+b@example.org");
	ck_assert_ptr_nonnull(got);
	ck_assert_ptr_nonnull(strstr(got, "Automatic setup: off"));
	free(got);
	config_free(&cfg);
	cfg = cfg_from(BASE "[listen]\nhttp = 127.0.0.1:8080\n");
	got = clientcfg_urls(cfg, "a+b@example.org");
	ck_assert_ptr_nonnull(strstr(got, "autodiscover.json?Email=a%2Bb%40example.org&"));
	ck_assert_ptr_nonnull(strstr(got, "/apple/mobileconfig?emailaddress=a%2Bb%40example.org\n"));
	free(got);
	ck_assert_ptr_null(clientcfg_urls(cfg, "a@example.com"));
	config_free(&cfg);
}
END_TEST

/* ManageSieve on: a line of the table; autodiscover, the Apple profile
 * and the JSON answer stay as they are (no client of theirs reads it) */
START_TEST(test_managesieve)
{
	char err[256];
	struct config *off = cfg_from(BASE);
	struct config *on = cfg_from(BASE "[listen]\nmanagesieve = 127.0.0.1:4190\n");
	char *t = clientcfg_table(on, "alice@example.org", err, sizeof(err));
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(strstr(t,
	    "\nSieve     mail.example.org  4190   STARTTLS  alice@example.org  normal password\n"));
	free(t);
	t = clientcfg_table(off, "alice@example.org", err, sizeof(err));
	ck_assert_ptr_null(strstr(t, "Sieve"));
	free(t);
	char *a = clientcfg_autodiscover(off, "alice@example.org");
	char *b = clientcfg_autodiscover(on, "alice@example.org");
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	a = clientcfg_autoconfig(off, "example.org");
	ck_assert_ptr_null(strstr(a, "managesieve"));
	free(a);
	config_free(&off);
	config_free(&on);
}
END_TEST

static Suite *
clientcfg_suite(void)
{
	Suite *s = suite_create("clientcfg");
	TCase *tc;

	tc = tcase_create("clientcfg_autoconfig");
	tcase_add_loop_test(tc, test_autoconfig, 0, sizeof(acs) / sizeof(acs[0]));
	tcase_add_test(tc, test_servers);
	suite_add_tcase(s, tc);

	tc = tcase_create("clientcfg_autodiscover");
	tcase_add_loop_test(tc, test_autodiscover, 0, sizeof(ads) / sizeof(ads[0]));
	tcase_add_test(tc, test_autodiscover_error);
	tcase_add_test(tc, test_xml_escape);
	suite_add_tcase(s, tc);

	tc = tcase_create("clientcfg_address");
	tcase_add_loop_test(tc, test_address, 0, sizeof(addrs) / sizeof(addrs[0]));
	tcase_add_test(tc, test_address_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("clientcfg_table");
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_managesieve);
	suite_add_tcase(s, tc);

	tc = tcase_create("clientcfg_autodiscover_parse");
	tcase_add_loop_test(tc, test_request, 0, sizeof(reqs) / sizeof(reqs[0]));
	tcase_add_test(tc, test_request_prefixes);
	tcase_add_test(tc, test_request_limits);
	tcase_add_test(tc, test_req_str);
	suite_add_tcase(s, tc);

	tc = tcase_create("clientcfg_autodiscover_json");
	tcase_add_loop_test(tc, test_autodiscover_json, 0, sizeof(jsons) / sizeof(jsons[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("clientcfg_mobileconfig");
	tcase_add_test(tc, test_mobileconfig);
	tcase_add_test(tc, test_urls);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(clientcfg_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
