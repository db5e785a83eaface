/* sieve-int.h: what the Sieve compiler (sieve-parse.c), the matcher
 * (sieve-match.c) and the interpreter (sieve-run.c) share: the lexer's
 * tokens, the script tree and the run state. A node is one command or
 * test; the parser fills the generic part (name, arguments, tests, block)
 * and the checker fills the compiled part (op, tags, positional strings),
 * so the interpreter never looks at a tag by name. */
#ifndef MM_SIEVE_INT_H
#define MM_SIEVE_INT_H

#include "sieve/sieve.h"
#include "lib/limits.h"

#include <regex.h>

/* Extensions, as bits of the script's require set. */
enum {
	SV_EXT_FILEINTO = 1u << 0, SV_EXT_COPY = 1u << 1, SV_EXT_REJECT = 1u << 2,
	SV_EXT_EREJECT = 1u << 3, SV_EXT_ENVELOPE = 1u << 4,
	SV_EXT_IMAP4FLAGS = 1u << 5, SV_EXT_VARIABLES = 1u << 6,
	SV_EXT_RELATIONAL = 1u << 7, SV_EXT_SUBADDRESS = 1u << 8,
	SV_EXT_BODY = 1u << 9, SV_EXT_DATE = 1u << 10, SV_EXT_INDEX = 1u << 11,
	SV_EXT_MAILBOX = 1u << 12, SV_EXT_VACATION = 1u << 13,
	SV_EXT_ENCODED = 1u << 14, SV_EXT_INCLUDE = 1u << 15,
	SV_EXT_REGEX = 1u << 16, SV_EXT_NUMERIC = 1u << 17,
	SV_EXT_CASEMAP = 1u << 18, SV_EXT_OCTET = 1u << 19,
};

/* Tokens */
enum sv_tok {
	SV_T_EOF = 0, SV_T_IDENT, SV_T_TAG, SV_T_NUM, SV_T_STR,
	SV_T_LBRACKET, SV_T_RBRACKET, SV_T_LPAREN, SV_T_RPAREN,
	SV_T_LBRACE, SV_T_RBRACE, SV_T_COMMA, SV_T_SEMI, SV_T_ERROR,
};

struct sv_lexer {
	const char *p, *end;
	unsigned line;
	/* the current token */
	enum sv_tok tok;
	unsigned tok_line;
	struct mm_buf text;	/* identifier, tag (without ':'), string */
	uint64_t num;
	char err[160];
};
void sv_lex_init(struct sv_lexer *lx, const char *text, size_t len);
void sv_lex_free(struct sv_lexer *lx);
/* Reads the next token into lx; SV_T_ERROR sets lx->err. */
enum sv_tok sv_lex_next(struct sv_lexer *lx);

/* Strings of the tree. vars: expand ${...} at run time. */
struct sv_str {
	char *s;
	size_t len;
	bool vars;
	regex_t *re;		/* a constant :regex key, compiled */
	int re_cost;		/* ... and its sv_regex_check() cost */
};
struct sv_slist {
	struct sv_str *v;
	size_t n;
};

enum sv_argk { SV_ARG_TAG, SV_ARG_NUM, SV_ARG_LIST };
struct sv_arg {
	enum sv_argk k;
	unsigned line;
	bool bracketed;		/* a list written with [ ] */
	char *tag;
	uint64_t num;
	struct sv_slist l;
};

enum sv_op {
	SV_OP_NONE = 0,
	/* control and actions */
	SV_OP_REQUIRE, SV_OP_IF, SV_OP_ELSIF, SV_OP_ELSE, SV_OP_STOP,
	SV_OP_KEEP, SV_OP_DISCARD, SV_OP_REDIRECT, SV_OP_FILEINTO,
	SV_OP_REJECT, SV_OP_EREJECT, SV_OP_VACATION, SV_OP_SETFLAG,
	SV_OP_ADDFLAG, SV_OP_REMOVEFLAG, SV_OP_SET, SV_OP_INCLUDE,
	SV_OP_RETURN, SV_OP_GLOBAL,
	/* tests */
	SV_OP_ADDRESS, SV_OP_ALLOF, SV_OP_ANYOF, SV_OP_ENVELOPE, SV_OP_EXISTS,
	SV_OP_FALSE, SV_OP_TRUE, SV_OP_HEADER, SV_OP_NOT, SV_OP_SIZE,
	SV_OP_BODY, SV_OP_DATE, SV_OP_CURRENTDATE, SV_OP_HASFLAG,
	SV_OP_STRING, SV_OP_MAILBOXEXISTS,
};

enum sv_cmp { SV_CMP_CASEMAP = 0, SV_CMP_OCTET, SV_CMP_NUMERIC };
enum sv_match { SV_M_IS = 0, SV_M_CONTAINS, SV_M_MATCHES, SV_M_REGEX, SV_M_COUNT, SV_M_VALUE };
enum sv_rel { SV_REL_GT = 0, SV_REL_GE, SV_REL_LT, SV_REL_LE, SV_REL_EQ, SV_REL_NE };
enum sv_apart { SV_AP_ALL = 0, SV_AP_LOCAL, SV_AP_DOMAIN, SV_AP_USER, SV_AP_DETAIL };
enum sv_zone { SV_Z_LOCAL = 0, SV_Z_GIVEN, SV_Z_ORIGINAL };

/* set modifiers, RFC 5229 4.1 (applied from the highest precedence down) */
enum {
	SV_MOD_LOWER = 1u << 0, SV_MOD_UPPER = 1u << 1, SV_MOD_LOWERFIRST = 1u << 2,
	SV_MOD_UPPERFIRST = 1u << 3, SV_MOD_QUOTEWILDCARD = 1u << 4,
	SV_MOD_LENGTH = 1u << 5,
};

struct sv_node {
	char *name;
	unsigned line;
	struct sv_arg *args;
	size_t nargs;
	struct sv_node **tests;	/* one test, or a test list */
	size_t ntests;
	bool test_list;		/* written as ( ... ) */
	struct sv_node **block;
	size_t nblock;
	bool has_block;

	/* compiled */
	enum sv_op op;
	enum sv_cmp cmp;
	enum sv_match match;
	enum sv_rel rel;
	enum sv_apart apart;
	unsigned index;		/* :index, 0 = none */
	bool last;
	enum sv_zone zone;
	struct sv_str zone_s;
	enum sieve_body_transform transform;
	struct sv_slist ctypes;	/* body :content */
	bool copy, create, once, optional, global, mime, over, has_flags;
	struct sv_slist flags;	/* :flags */
	bool has_days;
	unsigned long seconds;
	struct sv_str subject, from, handle;
	struct sv_slist addresses;
	unsigned mods;
	uint64_t num;
	struct sv_slist *pos[3];	/* positional string (list) arguments */
	size_t npos;
	struct sieve_script *inc;	/* include: the compiled script */
	struct sv_node *next_branch;	/* if/elsif: the elsif/else after it */
};

struct sieve_script {
	struct sv_node **cmds;
	size_t ncmds;
	unsigned exts;
	char *name;		/* for include :once and loops */
	bool global_src;
	struct mm_strlist globals;	/* names declared global */
	unsigned refs;		/* sieve-cache.c: holders, under its mutex */
};

/* Run state */
#define SV_MATCH_VARS 10	/* ${0}..${9}, RFC 5229 3.2 */
struct sv_var {
	char *name;
	struct mm_buf val;
};
struct sv_vars {
	struct sv_var *v;
	size_t n, cap;
};

struct sv_run {
	const struct sieve_msg_if *m;
	const struct sieve_limits *lim;
	struct sieve_result *r;
	uint64_t steps;
	struct sv_vars globals;
	struct sv_vars *locals;	/* the running script's */
	const struct sieve_script *script;
	struct mm_buf mvar[SV_MATCH_VARS];
	bool mvar_set;
	size_t nmvar;
	struct mm_strlist iflags;	/* imap4flags internal variable */
	bool implicit_keep;
	bool stopped;		/* stop */
	bool returned;		/* return (include) */
	bool failed;
	unsigned nredirects, nactions;
	bool vacation_done;
	unsigned depth;		/* include nesting */
	struct mm_strlist once;	/* scripts included :once */
};

/* Raises a run-time error (the first one wins); returns false. */
bool sv_fail(struct sv_run *rt, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Counts steps; false (and an error) past max_steps. */
bool sv_step(struct sv_run *rt, uint64_t n);

/* Matching (sieve-match.c). key is the expansion of ks; ks->re, when
 * set, is that key compiled (a constant :regex key). Sets the match
 * variables on success for :matches / :regex when capture is set. */
bool sv_match_one(struct sv_run *rt, const struct sv_node *n, const char *val,
    size_t vlen, const char *key, size_t klen, const struct sv_str *ks, bool capture);
/* The relational comparison of a and b under the comparator. */
int sv_compare(enum sv_cmp cmp, const char *a, size_t alen, const char *b, size_t blen);
bool sv_rel_holds(enum sv_rel rel, int c);
/* regcomp flags for a key under a comparator */
int sv_regex_flags(enum sv_cmp cmp);
/* The nodes regcomp would build for the ERE s[0..n), or -1 with *why set
 * when it is over SIEVE_REGEX_COST_MAX, nests deeper than
 * SIEVE_REGEX_DEPTH_MAX or uses a back-reference. Call before regcomp. */
int sv_regex_check(const char *s, size_t n, const char **why);

/* Variables (sieve-run.c): expand ${...} in s into out. */
void sv_expand(struct sv_run *rt, const struct sv_str *s, struct mm_buf *out);
/* Is s a valid variable name (identifier or digits) ? */
bool sv_var_name_ok(const char *s, size_t len, bool allow_num);

#endif
