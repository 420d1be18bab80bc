/*
 * influxql.c - InfluxQL lexer and recursive-descent parser.
 *
 * The grammar follows InfluxDB 1.x. Operator precedence, lowest first:
 * OR, AND, comparisons (= != <> < <= > >= =~ !~), + - | ^, * / % &.
 * A '/' starts a regex only where the grammar expects one (after =~ or !~,
 * in FROM, GROUP BY and WITH clauses); elsewhere it divides.
 *
 * Every node and string is allocated from the query's arena, so a failed
 * parse frees everything at once and the AST has no per-node ownership.
 * Errors are reported with InfluxDB's wording:
 * "found X, expected Y at line L, char C".
 */
#include "store/query/influxql.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ports/err.h"
#include "ports/platform.h"

/* ---- arena ------------------------------------------------------------- */

struct iql_arena {
    struct iql_arena *next;
    size_t cap, used;
    _Alignas(16) char data[];
};

static void *arena_alloc(struct iql_arena **ap, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct iql_arena *a = *ap;
    if (!a || a->cap - a->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        struct iql_arena *na = ne_malloc(sizeof *na + cap);
        if (!na)
            return NULL;
        na->next = a;
        na->cap = cap;
        na->used = 0;
        *ap = na;
        a = na;
    }
    void *p = a->data + a->used;
    a->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(struct iql_arena *a)
{
    while (a) {
        struct iql_arena *n = a->next;
        ne_free(a);
        a = n;
    }
}

/* ---- lexer --------------------------------------------------------------- */

enum tok {
    T_EOF = 0,
    T_ILLEGAL,
    T_IDENT,    /* bare identifier or keyword */
    T_QIDENT,   /* "quoted identifier" */
    T_STRING,   /* 'string' */
    T_NUMBER,   /* 1.5 */
    T_INTEGER,  /* 15 */
    T_DURATION, /* 15m */
    T_REGEX,    /* /re/ */
    T_LPAREN, T_RPAREN, T_COMMA, T_SEMI, T_DOT, T_DCOLON,
    T_MUL, T_ADD, T_SUB, T_DIV, T_MOD, T_BITAND, T_BITOR, T_BITXOR,
    T_EQ, T_NEQ, T_LT, T_LTE, T_GT, T_GTE, T_EQREGEX, T_NEQREGEX,
};

struct token {
    enum tok t;
    const char *p; /* raw text */
    size_t n;
    char *val; /* unescaped value (identifiers, strings, regexes), arena */
    int line, col;
};

struct parser {
    const char *s, *end, *p;
    int line;
    const char *line_start;
    struct token tok; /* current token */
    bool have;
    struct iql_arena *arena;
    char *err;
    size_t errn;
    int rc;
    int depth; /* expression nesting, bounded so input cannot exhaust the stack */
};

#define MAX_DEPTH 200

static char *pdup(struct parser *ps, const char *s, size_t n)
{
    char *d = arena_alloc(&ps->arena, n + 1);
    if (!d) {
        ps->rc = NE_ENOMEM;
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static void fail(struct parser *ps, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct parser *ps, int rc, const char *fmt, ...)
{
    if (ps->rc)
        return;
    ps->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, ps->errn, fmt, ap);
    va_end(ap);
}

static void skip_space(struct parser *ps)
{
    for (;;) {
        while (ps->p < ps->end && isspace((unsigned char)*ps->p)) {
            if (*ps->p == '\n') {
                ps->line++;
                ps->line_start = ps->p + 1;
            }
            ps->p++;
        }
        if (ps->end - ps->p >= 2 && ps->p[0] == '-' && ps->p[1] == '-') {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
            continue;
        }
        if (ps->end - ps->p >= 2 && ps->p[0] == '/' && ps->p[1] == '*') {
            ps->p += 2;
            while (ps->end - ps->p >= 2 && !(ps->p[0] == '*' && ps->p[1] == '/'))
                ps->p++;
            ps->p = ps->end - ps->p >= 2 ? ps->p + 2 : ps->end;
            continue;
        }
        return;
    }
}

static bool ident_start(int c)
{
    return isalpha(c) || c == '_';
}

static bool ident_char(int c)
{
    return isalnum(c) || c == '_';
}

/* Scans a quoted string or identifier body; handles \\ \" \' \n escapes. */
static void lex_quoted(struct parser *ps, struct token *tk, char q)
{
    const char *start = ++ps->p;
    char *buf = arena_alloc(&ps->arena, (size_t)(ps->end - start) + 1);
    if (!buf) {
        ps->rc = NE_ENOMEM;
        tk->t = T_ILLEGAL;
        return;
    }
    size_t n = 0;
    while (ps->p < ps->end && *ps->p != q) {
        char c = *ps->p++;
        if (c == '\\' && ps->p < ps->end) {
            char e = *ps->p++;
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
        } else if (c == '\n') {
            ps->line++;
            ps->line_start = ps->p;
        }
        buf[n++] = c;
    }
    if (ps->p >= ps->end) {
        tk->t = T_ILLEGAL;
        fail(ps, NE_EPARSE, "unterminated %s at line %d, char %d",
             q == '\'' ? "string" : "quoted identifier", tk->line, tk->col);
        return;
    }
    ps->p++;
    buf[n] = 0;
    tk->val = buf;
    tk->t = q == '\'' ? T_STRING : T_QIDENT;
}

static bool unit_char(int c)
{
    return c == 'n' || c == 'u' || c == 'm' || c == 's' || c == 'h' || c == 'd' || c == 'w';
}

static void lex_number(struct parser *ps, struct token *tk)
{
    const char *q = ps->p;
    bool dot = false;
    while (q < ps->end && (isdigit((unsigned char)*q) || (*q == '.' && !dot))) {
        if (*q == '.')
            dot = true;
        q++;
    }
    /* exponent: 1e9, 1.5E-3 */
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        const char *r = q + 1;
        if (r < ps->end && (*r == '+' || *r == '-'))
            r++;
        if (r < ps->end && isdigit((unsigned char)*r)) {
            while (r < ps->end && isdigit((unsigned char)*r))
                r++;
            q = r;
            dot = true;
        }
    }
    tk->t = dot ? T_NUMBER : T_INTEGER;
    /* A duration: an integer followed by a unit (and maybe more parts). */
    if (!dot && q < ps->end && (unit_char((unsigned char)*q) || (unsigned char)*q == 0xC2)) {
        const char *r = q;
        while (r < ps->end && (isalnum((unsigned char)*r) || (unsigned char)*r >= 0x80))
            r++;
        int64_t ns;
        if (ne_iql_parse_duration(ps->p, (size_t)(r - ps->p), &ns) == 0) {
            tk->t = T_DURATION;
            q = r;
        }
    }
    tk->n = (size_t)(q - ps->p);
    ps->p = q;
}

static struct token *peek(struct parser *ps);

static void lex(struct parser *ps, struct token *tk)
{
    skip_space(ps);
    memset(tk, 0, sizeof *tk);
    tk->p = ps->p;
    tk->line = ps->line;
    tk->col = (int)(ps->p - ps->line_start) + 1;
    if (ps->p >= ps->end) {
        tk->t = T_EOF;
        return;
    }
    char c = *ps->p;
    char d = ps->p + 1 < ps->end ? ps->p[1] : 0;
    if (ident_start((unsigned char)c)) {
        const char *q = ps->p;
        while (q < ps->end && ident_char((unsigned char)*q))
            q++;
        tk->t = T_IDENT;
        tk->n = (size_t)(q - ps->p);
        tk->val = pdup(ps, ps->p, tk->n);
        ps->p = q;
        return;
    }
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)d))) {
        lex_number(ps, tk);
        tk->val = pdup(ps, tk->p, tk->n);
        return;
    }
    if (c == '"' || c == '\'') {
        lex_quoted(ps, tk, c);
        tk->n = (size_t)(ps->p - tk->p);
        return;
    }
    static const struct {
        const char *s;
        enum tok t;
    } ops[] = {
        {"::", T_DCOLON}, {"!=", T_NEQ}, {"<>", T_NEQ}, {"<=", T_LTE}, {">=", T_GTE},
        {"=~", T_EQREGEX}, {"!~", T_NEQREGEX}, {"(", T_LPAREN}, {")", T_RPAREN},
        {",", T_COMMA}, {";", T_SEMI}, {".", T_DOT}, {"*", T_MUL}, {"+", T_ADD},
        {"-", T_SUB}, {"/", T_DIV}, {"%", T_MOD}, {"&", T_BITAND}, {"|", T_BITOR},
        {"^", T_BITXOR}, {"=", T_EQ}, {"<", T_LT}, {">", T_GT},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].s);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, ops[i].s, n) == 0) {
            tk->t = ops[i].t;
            tk->n = n;
            ps->p += n;
            return;
        }
    }
    tk->t = T_ILLEGAL;
    tk->n = 1;
    ps->p++;
}

static struct token *peek(struct parser *ps)
{
    if (!ps->have) {
        lex(ps, &ps->tok);
        ps->have = true;
    }
    return &ps->tok;
}

static struct token next(struct parser *ps)
{
    struct token t = *peek(ps);
    ps->have = false;
    return t;
}

/* Scans /regex/ at the current position (the grammar expects one). */
static bool lex_regex(struct parser *ps, struct token *tk)
{
    if (ps->have) {
        /* rewind the peeked token: regexes are lexed on demand */
        ps->p = ps->tok.p;
        ps->have = false;
    }
    skip_space(ps);
    memset(tk, 0, sizeof *tk);
    tk->line = ps->line;
    tk->col = (int)(ps->p - ps->line_start) + 1;
    if (ps->p >= ps->end || *ps->p != '/')
        return false;
    const char *start = ++ps->p;
    char *buf = arena_alloc(&ps->arena, (size_t)(ps->end - start) + 1);
    if (!buf) {
        ps->rc = NE_ENOMEM;
        return false;
    }
    size_t n = 0;
    while (ps->p < ps->end && *ps->p != '/') {
        if (*ps->p == '\\' && ps->p + 1 < ps->end && ps->p[1] == '/') {
            buf[n++] = '/';
            ps->p += 2;
            continue;
        }
        buf[n++] = *ps->p++;
    }
    if (ps->p >= ps->end) {
        fail(ps, NE_EPARSE, "unterminated regex at line %d, char %d", tk->line, tk->col);
        return false;
    }
    ps->p++;
    buf[n] = 0;
    tk->t = T_REGEX;
    tk->val = buf;
    return true;
}

static bool is_kw(const struct token *t, const char *kw)
{
    return t->t == T_IDENT && strcasecmp(t->val, kw) == 0;
}

static bool accept_kw(struct parser *ps, const char *kw)
{
    if (is_kw(peek(ps), kw)) {
        next(ps);
        return true;
    }
    return false;
}

static bool accept(struct parser *ps, enum tok t)
{
    if (peek(ps)->t == t) {
        next(ps);
        return true;
    }
    return false;
}

static bool is_reserved(const char *s);

static void found_expected(struct parser *ps, const char *expected)
{
    struct token *t = peek(ps);
    char found[64];
    if (t->t == T_EOF)
        snprintf(found, sizeof found, "EOF");
    else
        snprintf(found, sizeof found, "%.*s", (int)(t->n > 40 ? 40 : t->n), t->p);
    if (t->t == T_IDENT && t->val && is_reserved(t->val)) /* keywords print upper case */
        for (char *c = found; *c; c++)
            *c = (char)toupper((unsigned char)*c);
    fail(ps, NE_EPARSE, "found %s, expected %s at line %d, char %d", found, expected, t->line,
         t->col);
}

static bool expect_kw(struct parser *ps, const char *kw)
{
    if (accept_kw(ps, kw))
        return true;
    found_expected(ps, kw);
    return false;
}

static bool expect(struct parser *ps, enum tok t, const char *what)
{
    if (accept(ps, t))
        return true;
    found_expected(ps, what);
    return false;
}

/* Reserved words that cannot be bare identifiers. */
static const char *const reserved[] = {
    "ALL", "ALTER", "ANY", "AS", "ASC", "BEGIN", "BY", "CREATE", "CONTINUOUS", "DATABASE",
    "DATABASES", "DEFAULT", "DELETE", "DESC", "DESTINATIONS", "DIAGNOSTICS", "DISTINCT",
    "DROP", "DURATION", "END", "EVERY", "EXPLAIN", "FIELD", "FOR", "FROM", "GRANT", "GRANTS",
    "GROUP", "GROUPS", "IN", "INF", "INSERT", "INTO", "KEY", "KEYS", "KILL", "LIMIT",
    "MEASUREMENT", "MEASUREMENTS", "NAME", "OFFSET", "ON", "ORDER", "PASSWORD", "POLICY",
    "POLICIES", "PRIVILEGES", "QUERIES", "QUERY", "READ", "REPLICATION", "RESAMPLE",
    "RETENTION", "REVOKE", "SELECT", "SERIES", "SET", "SHARD", "SHARDS", "SLIMIT", "SOFFSET",
    "STATS", "SUBSCRIPTION", "SUBSCRIPTIONS", "TAG", "TO", "USER", "USERS", "VALUES", "WHERE",
    "WITH", "WRITE",
};

static bool is_reserved(const char *s)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcasecmp(s, reserved[i]) == 0)
            return true;
    return false;
}

/* An identifier: bare (not reserved) or "quoted". */
static const char *parse_ident(struct parser *ps, const char *what)
{
    struct token *t = peek(ps);
    if (t->t == T_QIDENT || (t->t == T_IDENT && !is_reserved(t->val))) {
        return next(ps).val;
    }
    found_expected(ps, what);
    return NULL;
}

/* ---- expressions -------------------------------------------------------------- */

static struct ne_iql_expr *new_expr(struct parser *ps, enum ne_iql_expr_kind k)
{
    struct ne_iql_expr *e = arena_alloc(&ps->arena, sizeof *e);
    if (!e) {
        ps->rc = NE_ENOMEM;
        return NULL;
    }
    e->kind = k;
    return e;
}

static struct ne_iql_expr *parse_expr(struct parser *ps);

static int parse_cast(struct parser *ps)
{
    if (!accept(ps, T_DCOLON))
        return 0;
    struct token t = next(ps);
    if (t.t == T_IDENT) {
        if (strcasecmp(t.val, "field") == 0)
            return 1;
        if (strcasecmp(t.val, "tag") == 0)
            return 2;
        if (!strcasecmp(t.val, "float") || !strcasecmp(t.val, "integer") ||
            !strcasecmp(t.val, "string") || !strcasecmp(t.val, "boolean") ||
            !strcasecmp(t.val, "unsigned"))
            return 1;
    }
    fail(ps, NE_EPARSE, "found %.*s, expected field, tag, float, integer, string, boolean at "
                        "line %d, char %d",
         (int)t.n, t.p, t.line, t.col);
    return 0;
}

static struct ne_iql_expr *parse_call(struct parser *ps, const char *name)
{
    struct ne_iql_expr *e = new_expr(ps, NE_IQL_CALL);
    if (!e)
        return NULL;
    size_t nl = strlen(name);
    char *lname = pdup(ps, name, nl);
    if (!lname)
        return NULL;
    for (size_t i = 0; i < nl; i++)
        lname[i] = (char)tolower((unsigned char)lname[i]);
    e->str = lname;
    if (strcmp(lname, "now") == 0) {
        if (!expect(ps, T_RPAREN, ")"))
            return NULL;
        e->kind = NE_IQL_NOW;
        return e;
    }
    struct ne_iql_expr *args[16];
    size_t n = 0;
    if (!accept(ps, T_RPAREN)) {
        do {
            if (n == 16) {
                fail(ps, NE_EPARSE, "too many arguments to %s()", lname);
                return NULL;
            }
            struct ne_iql_expr *a;
            if (peek(ps)->t == T_DIV) {
                struct token rt;
                if (!lex_regex(ps, &rt))
                    return NULL;
                a = new_expr(ps, NE_IQL_REGEX);
                if (a)
                    a->str = rt.val;
            } else {
                a = parse_expr(ps);
            }
            if (!a)
                return NULL;
            args[n++] = a;
        } while (accept(ps, T_COMMA));
        if (!expect(ps, T_RPAREN, ")"))
            return NULL;
    }
    e->args = arena_alloc(&ps->arena, (n ? n : 1) * sizeof *e->args);
    if (!e->args) {
        ps->rc = NE_ENOMEM;
        return NULL;
    }
    memcpy(e->args, args, n * sizeof *args);
    e->nargs = n;
    return e;
}

static struct ne_iql_expr *parse_unary(struct parser *ps)
{
    struct token *t = peek(ps);
    if (t->t == T_SUB || t->t == T_ADD) {
        bool neg = next(ps).t == T_SUB;
        if (++ps->depth > MAX_DEPTH) {
            fail(ps, NE_EPARSE, "expression nested more than %d levels", MAX_DEPTH);
            return NULL;
        }
        struct ne_iql_expr *e = parse_unary(ps);
        ps->depth--;
        if (!e || !neg)
            return e;
        if (e->kind == NE_IQL_NUMBER) {
            e->num = -e->num;
            return e;
        }
        if (e->kind == NE_IQL_INTEGER || e->kind == NE_IQL_DURATION) {
            e->ival = -e->ival;
            return e;
        }
        /* -expr == 0 - expr... InfluxQL writes it as -1 * expr */
        struct ne_iql_expr *m = new_expr(ps, NE_IQL_BINARY);
        struct ne_iql_expr *one = new_expr(ps, NE_IQL_INTEGER);
        if (!m || !one)
            return NULL;
        one->ival = -1;
        m->op = NE_OP_MUL;
        m->lhs = one;
        m->rhs = e;
        return m;
    }
    struct token tk = next(ps);
    struct ne_iql_expr *e = NULL;
    switch (tk.t) {
    case T_INTEGER:
        e = new_expr(ps, NE_IQL_INTEGER);
        if (e) {
            errno = 0;
            unsigned long long v = strtoull(tk.val, NULL, 10);
            if (errno || v > (unsigned long long)INT64_MAX) {
                e->kind = NE_IQL_NUMBER;
                e->num = strtod(tk.val, NULL);
            } else {
                e->ival = (int64_t)v;
                e->num = (double)v;
            }
        }
        return e;
    case T_NUMBER:
        e = new_expr(ps, NE_IQL_NUMBER);
        if (e)
            e->num = strtod(tk.val, NULL);
        return e;
    case T_DURATION:
        e = new_expr(ps, NE_IQL_DURATION);
        if (e && ne_iql_parse_duration(tk.p, tk.n, &e->ival) != 0)
            fail(ps, NE_EPARSE, "invalid duration %.*s", (int)tk.n, tk.p);
        return e;
    case T_STRING:
        e = new_expr(ps, NE_IQL_STRING);
        if (e)
            e->str = tk.val;
        return e;
    case T_MUL:
        e = new_expr(ps, NE_IQL_WILDCARD);
        if (e)
            e->ref_type = parse_cast(ps);
        return e;
    case T_LPAREN:
        e = new_expr(ps, NE_IQL_PAREN);
        if (!e)
            return NULL;
        e->lhs = parse_expr(ps);
        if (!e->lhs || !expect(ps, T_RPAREN, ")"))
            return NULL;
        return e;
    case T_IDENT:
        if (strcasecmp(tk.val, "true") == 0 || strcasecmp(tk.val, "false") == 0) {
            e = new_expr(ps, NE_IQL_BOOL);
            if (e)
                e->ival = tolower((unsigned char)tk.val[0]) == 't';
            return e;
        }
        if (accept(ps, T_LPAREN))
            return parse_call(ps, tk.val);
        if (is_reserved(tk.val))
            break;
        /* fallthrough */
    case T_QIDENT: {
        /* a.b.c qualified names: keep the last part as the reference */
        const char *name = tk.val;
        while (peek(ps)->t == T_DOT) {
            next(ps);
            struct token p2 = next(ps);
            if (p2.t != T_IDENT && p2.t != T_QIDENT) {
                fail(ps, NE_EPARSE, "found %.*s, expected identifier at line %d, char %d",
                     (int)p2.n, p2.p, p2.line, p2.col);
                return NULL;
            }
            name = p2.val;
        }
        e = new_expr(ps, NE_IQL_REF);
        if (e) {
            e->str = name;
            e->ref_type = parse_cast(ps);
        }
        return e;
    }
    default:
        break;
    }
    ps->tok = tk;
    ps->have = true;
    found_expected(ps, "identifier, string, number, bool");
    return NULL;
}

static int binary_prec(enum tok t, enum ne_iql_op *op, struct parser *ps)
{
    switch (t) {
    case T_MUL: *op = NE_OP_MUL; return 5;
    case T_DIV: *op = NE_OP_DIV; return 5;
    case T_MOD: *op = NE_OP_MOD; return 5;
    case T_BITAND: *op = NE_OP_BITAND; return 5;
    case T_ADD: *op = NE_OP_ADD; return 4;
    case T_SUB: *op = NE_OP_SUB; return 4;
    case T_BITOR: *op = NE_OP_BITOR; return 4;
    case T_BITXOR: *op = NE_OP_BITXOR; return 4;
    case T_EQ: *op = NE_OP_EQ; return 3;
    case T_NEQ: *op = NE_OP_NEQ; return 3;
    case T_LT: *op = NE_OP_LT; return 3;
    case T_LTE: *op = NE_OP_LTE; return 3;
    case T_GT: *op = NE_OP_GT; return 3;
    case T_GTE: *op = NE_OP_GTE; return 3;
    case T_EQREGEX: *op = NE_OP_EQREGEX; return 3;
    case T_NEQREGEX: *op = NE_OP_NEQREGEX; return 3;
    case T_IDENT:
        if (is_kw(&ps->tok, "AND")) {
            *op = NE_OP_AND;
            return 2;
        }
        if (is_kw(&ps->tok, "OR")) {
            *op = NE_OP_OR;
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

static struct ne_iql_expr *parse_binary(struct parser *ps, int min_prec)
{
    struct ne_iql_expr *lhs = parse_unary(ps);
    while (lhs && !ps->rc) {
        enum ne_iql_op op;
        int prec = binary_prec(peek(ps)->t, &op, ps);
        if (prec == 0 || prec < min_prec)
            break;
        next(ps);
        struct ne_iql_expr *rhs;
        if (op == NE_OP_EQREGEX || op == NE_OP_NEQREGEX) {
            struct token rt;
            if (!lex_regex(ps, &rt)) {
                found_expected(ps, "regex");
                return NULL;
            }
            rhs = new_expr(ps, NE_IQL_REGEX);
            if (rhs)
                rhs->str = rt.val;
        } else {
            rhs = parse_binary(ps, prec + 1);
        }
        if (!rhs)
            return NULL;
        struct ne_iql_expr *b = new_expr(ps, NE_IQL_BINARY);
        if (!b)
            return NULL;
        b->op = op;
        b->lhs = lhs;
        b->rhs = rhs;
        lhs = b;
    }
    return ps->rc ? NULL : lhs;
}

static struct ne_iql_expr *parse_expr(struct parser *ps)
{
    if (++ps->depth > MAX_DEPTH) {
        fail(ps, NE_EPARSE, "expression nested more than %d levels", MAX_DEPTH);
        return NULL;
    }
    struct ne_iql_expr *e = parse_binary(ps, 1);
    ps->depth--;
    return e;
}

/* ---- clauses ------------------------------------------------------------------- */

static bool parse_source(struct parser *ps, struct ne_iql_source *src)
{
    if (peek(ps)->t == T_DIV) {
        struct token rt;
        if (!lex_regex(ps, &rt))
            return false;
        src->regex = rt.val;
        return true;
    }
    const char *parts[3];
    int n = 0;
    for (;;) {
        if (n > 0 && peek(ps)->t == T_DOT) {
            /* db..m : empty retention policy */
            parts[n++] = NULL;
        } else {
            if (n > 0 && peek(ps)->t == T_DIV) {
                struct token rt;
                if (!lex_regex(ps, &rt))
                    return false;
                src->regex = rt.val;
                parts[n++] = NULL;
                break;
            }
            struct token *t = peek(ps);
            if (t->t != T_QIDENT && (t->t != T_IDENT || is_reserved(t->val))) {
                found_expected(ps, "identifier");
                return false;
            }
            parts[n++] = next(ps).val;
        }
        if (n == 3 || !accept(ps, T_DOT))
            break;
    }
    if (n == 1) {
        src->name = parts[0];
    } else if (n == 2) {
        src->rp = parts[0];
        src->name = parts[1];
    } else {
        src->db = parts[0];
        src->rp = parts[1];
        src->name = parts[2];
    }
    return true;
}

static bool parse_sources(struct parser *ps, struct ne_iql_stmt *st)
{
    struct ne_iql_source tmp[32];
    size_t n = 0;
    do {
        if (n == 32) {
            fail(ps, NE_EPARSE, "too many sources in FROM");
            return false;
        }
        memset(&tmp[n], 0, sizeof tmp[n]);
        if (!parse_source(ps, &tmp[n]))
            return false;
        n++;
    } while (accept(ps, T_COMMA));
    st->sources = arena_alloc(&ps->arena, n * sizeof *st->sources);
    if (!st->sources) {
        ps->rc = NE_ENOMEM;
        return false;
    }
    memcpy(st->sources, tmp, n * sizeof *tmp);
    st->nsources = n;
    return true;
}

static bool parse_int_after(struct parser *ps, const char *kw, int64_t *out)
{
    struct token t = next(ps);
    if (t.t != T_INTEGER) {
        ps->tok = t;
        ps->have = true;
        found_expected(ps, "integer");
        return false;
    }
    *out = strtoll(t.val, NULL, 10);
    (void)kw;
    return true;
}

static bool push_str(struct parser *ps, const char ***arr, size_t *n, const char *s)
{
    const char **na = arena_alloc(&ps->arena, (*n + 1) * sizeof *na);
    if (!na) {
        ps->rc = NE_ENOMEM;
        return false;
    }
    if (*n)
        memcpy(na, *arr, *n * sizeof *na);
    na[(*n)++] = s;
    *arr = na;
    return true;
}

static bool parse_group_by(struct parser *ps, struct ne_iql_stmt *st)
{
    do {
        struct token *t = peek(ps);
        if (t->t == T_MUL) {
            next(ps);
            st->group_all_tags = true;
            continue;
        }
        if (t->t == T_DIV) {
            struct token rt;
            if (!lex_regex(ps, &rt))
                return false;
            if (!push_str(ps, &st->group_tag_regexes, &st->ngroup_tag_regexes, rt.val))
                return false;
            continue;
        }
        if (is_kw(t, "time")) {
            struct token tt = next(ps);
            if (accept(ps, T_LPAREN)) {
                struct ne_iql_expr *iv = parse_expr(ps);
                if (!iv)
                    return false;
                if (iv->kind != NE_IQL_DURATION || iv->ival <= 0) {
                    fail(ps, NE_EPARSE, "time dimension must have a positive duration "
                                        "argument");
                    return false;
                }
                st->group_interval_ns = iv->ival;
                if (accept(ps, T_COMMA)) {
                    struct ne_iql_expr *off = parse_expr(ps);
                    if (!off)
                        return false;
                    if (off->kind == NE_IQL_DURATION || off->kind == NE_IQL_INTEGER)
                        st->group_offset_ns = off->ival;
                    else if (off->kind == NE_IQL_NOW)
                        st->group_offset_ns = 0;
                    else {
                        fail(ps, NE_EPARSE, "time dimension offset must be a duration");
                        return false;
                    }
                }
                if (!expect(ps, T_RPAREN, ")"))
                    return false;
                continue;
            }
            /* a tag literally named time */
            if (!push_str(ps, &st->group_tags, &st->ngroup_tags, tt.val))
                return false;
            continue;
        }
        const char *name = parse_ident(ps, "identifier");
        if (!name)
            return false;
        parse_cast(ps);
        if (!push_str(ps, &st->group_tags, &st->ngroup_tags, name))
            return false;
    } while (!ps->rc && accept(ps, T_COMMA));
    return ps->rc == 0;
}

static bool parse_fill(struct parser *ps, struct ne_iql_stmt *st)
{
    if (!expect(ps, T_LPAREN, "("))
        return false;
    struct token t = next(ps);
    bool neg = false;
    if (t.t == T_SUB) {
        neg = true;
        t = next(ps);
    }
    if (t.t == T_IDENT && !neg) {
        if (!strcasecmp(t.val, "null"))
            st->fill = NE_FILL_NULL;
        else if (!strcasecmp(t.val, "none"))
            st->fill = NE_FILL_NONE;
        else if (!strcasecmp(t.val, "previous"))
            st->fill = NE_FILL_PREVIOUS;
        else if (!strcasecmp(t.val, "linear"))
            st->fill = NE_FILL_LINEAR;
        else
            goto bad;
    } else if (t.t == T_INTEGER || t.t == T_NUMBER) {
        st->fill = NE_FILL_VALUE;
        st->fill_value = strtod(t.val, NULL) * (neg ? -1 : 1);
        st->fill_value_is_int = t.t == T_INTEGER;
    } else {
        goto bad;
    }
    return expect(ps, T_RPAREN, ")");
bad:
    fail(ps, NE_EPARSE, "fill() only supports null, none, previous, linear or a number, "
                        "found %.*s at line %d, char %d",
         (int)t.n, t.p, t.line, t.col);
    return false;
}

static bool parse_order_by(struct parser *ps, struct ne_iql_stmt *st)
{
    if (!expect_kw(ps, "BY"))
        return false;
    struct token t = next(ps);
    if (!(t.t == T_IDENT && strcasecmp(t.val, "time") == 0)) {
        fail(ps, NE_EUNSUPPORTED, "only ORDER BY time supported at this time");
        return false;
    }
    if (accept_kw(ps, "DESC"))
        st->order_desc = true;
    else
        accept_kw(ps, "ASC");
    return true;
}

/* LIMIT, OFFSET, SLIMIT, SOFFSET, tz(), each optional, in this order (as
 * InfluxQL's grammar has them). */
static bool parse_tail(struct parser *ps, struct ne_iql_stmt *st)
{
    if (accept_kw(ps, "LIMIT") && !parse_int_after(ps, "LIMIT", &st->limit))
        return false;
    if (accept_kw(ps, "OFFSET") && !parse_int_after(ps, "OFFSET", &st->offset))
        return false;
    if (accept_kw(ps, "SLIMIT") && !parse_int_after(ps, "SLIMIT", &st->slimit))
        return false;
    if (accept_kw(ps, "SOFFSET") && !parse_int_after(ps, "SOFFSET", &st->soffset))
        return false;
    if (is_kw(peek(ps), "tz")) {
        next(ps);
        if (!expect(ps, T_LPAREN, "("))
            return false;
        struct token t = next(ps);
        if (t.t != T_STRING) {
            found_expected(ps, "string");
            return false;
        }
        st->tz = t.val;
        if (!expect(ps, T_RPAREN, ")"))
            return false;
    }
    return true;
}

static bool parse_select(struct parser *ps, struct ne_iql_stmt *st)
{
    st->kind = NE_IQL_SELECT;
    struct ne_iql_field tmp[64];
    size_t n = 0;
    do {
        if (n == 64) {
            fail(ps, NE_EPARSE, "too many fields in SELECT");
            return false;
        }
        tmp[n].expr = parse_expr(ps);
        tmp[n].alias = NULL;
        if (!tmp[n].expr)
            return false;
        if (accept_kw(ps, "AS")) {
            tmp[n].alias = parse_ident(ps, "identifier");
            if (!tmp[n].alias)
                return false;
        }
        n++;
    } while (accept(ps, T_COMMA));
    st->fields = arena_alloc(&ps->arena, n * sizeof *st->fields);
    if (!st->fields) {
        ps->rc = NE_ENOMEM;
        return false;
    }
    memcpy(st->fields, tmp, n * sizeof *tmp);
    st->nfields = n;
    if (accept_kw(ps, "INTO")) {
        struct ne_iql_source into = {0};
        if (!parse_source(ps, &into))
            return false;
        st->into = into.name ? into.name : "";
    }
    if (!expect_kw(ps, "FROM"))
        return false;
    if (peek(ps)->t == T_LPAREN) {
        fail(ps, NE_EUNSUPPORTED, "subqueries are not supported");
        return false;
    }
    if (!parse_sources(ps, st))
        return false;
    if (accept_kw(ps, "WHERE") && !(st->where = parse_expr(ps)))
        return false;
    if (accept_kw(ps, "GROUP")) {
        if (!expect_kw(ps, "BY") || !parse_group_by(ps, st))
            return false;
    }
    if (is_kw(peek(ps), "fill")) {
        next(ps);
        if (!parse_fill(ps, st))
            return false;
    }
    if (accept_kw(ps, "ORDER") && !parse_order_by(ps, st))
        return false;
    return parse_tail(ps, st);
}

static bool parse_on(struct parser *ps, struct ne_iql_stmt *st)
{
    if (accept_kw(ps, "ON")) {
        st->on_db = parse_ident(ps, "identifier");
        return st->on_db != NULL;
    }
    return true;
}

static bool parse_from_where(struct parser *ps, struct ne_iql_stmt *st)
{
    if (accept_kw(ps, "FROM") && !parse_sources(ps, st))
        return false;
    if (accept_kw(ps, "WHERE") && !(st->where = parse_expr(ps)))
        return false;
    return true;
}

static bool parse_with_key(struct parser *ps, struct ne_iql_stmt *st)
{
    if (!expect_kw(ps, "WITH") || !expect_kw(ps, "KEY"))
        return false;
    if (accept_kw(ps, "IN")) {
        st->with_key_op = 0;
        if (!expect(ps, T_LPAREN, "("))
            return false;
        do {
            const char *k = parse_ident(ps, "identifier");
            if (!k || !push_str(ps, &st->with_keys, &st->nwith_keys, k))
                return false;
        } while (accept(ps, T_COMMA));
        return expect(ps, T_RPAREN, ")");
    }
    struct token op = next(ps);
    if (op.t == T_EQ || op.t == T_NEQ) {
        st->with_key_op = op.t == T_EQ ? NE_OP_EQ : NE_OP_NEQ;
        const char *k = parse_ident(ps, "identifier");
        return k && push_str(ps, &st->with_keys, &st->nwith_keys, k);
    }
    if (op.t == T_EQREGEX || op.t == T_NEQREGEX) {
        st->with_key_op = op.t == T_EQREGEX ? NE_OP_EQREGEX : NE_OP_NEQREGEX;
        struct token rt;
        if (!lex_regex(ps, &rt)) {
            found_expected(ps, "regex");
            return false;
        }
        st->with_key_regex = rt.val;
        return true;
    }
    ps->tok = op;
    ps->have = true;
    found_expected(ps, "=, !=, =~, !~, IN");
    return false;
}

static bool parse_show(struct parser *ps, struct ne_iql_stmt *st)
{
    if (accept_kw(ps, "DATABASES")) {
        st->kind = NE_IQL_SHOW_DATABASES;
        return true;
    }
    if (accept_kw(ps, "MEASUREMENTS")) {
        st->kind = NE_IQL_SHOW_MEASUREMENTS;
        if (!parse_on(ps, st))
            return false;
        if (accept_kw(ps, "WITH")) {
            if (!expect_kw(ps, "MEASUREMENT"))
                return false;
            struct token op = next(ps);
            if (op.t == T_EQ || op.t == T_NEQ) {
                st->with_meas_op = op.t == T_EQ ? NE_OP_EQ : NE_OP_NEQ;
                struct ne_iql_source s = {0};
                if (!parse_source(ps, &s))
                    return false;
                if (s.regex) {
                    st->with_meas_op = op.t == T_EQ ? NE_OP_EQREGEX : NE_OP_NEQREGEX;
                    st->with_meas = s.regex;
                } else {
                    st->with_meas = s.name;
                }
            } else if (op.t == T_EQREGEX || op.t == T_NEQREGEX) {
                st->with_meas_op = op.t == T_EQREGEX ? NE_OP_EQREGEX : NE_OP_NEQREGEX;
                struct token rt;
                if (!lex_regex(ps, &rt)) {
                    found_expected(ps, "regex");
                    return false;
                }
                st->with_meas = rt.val;
            } else {
                ps->tok = op;
                ps->have = true;
                found_expected(ps, "=, !=, =~, !~");
                return false;
            }
        }
        if (accept_kw(ps, "WHERE") && !(st->where = parse_expr(ps)))
            return false;
        return parse_tail(ps, st);
    }
    if (accept_kw(ps, "TAG")) {
        if (accept_kw(ps, "KEYS")) {
            st->kind = NE_IQL_SHOW_TAG_KEYS;
            return parse_on(ps, st) && parse_from_where(ps, st) && parse_tail(ps, st);
        }
        if (accept_kw(ps, "VALUES")) {
            st->kind = NE_IQL_SHOW_TAG_VALUES;
            if (!parse_on(ps, st))
                return false;
            if (accept_kw(ps, "FROM") && !parse_sources(ps, st))
                return false;
            if (!parse_with_key(ps, st))
                return false;
            if (accept_kw(ps, "WHERE") && !(st->where = parse_expr(ps)))
                return false;
            return parse_tail(ps, st);
        }
        found_expected(ps, "KEYS, VALUES");
        return false;
    }
    if (accept_kw(ps, "FIELD")) {
        if (!expect_kw(ps, "KEYS"))
            return false;
        st->kind = NE_IQL_SHOW_FIELD_KEYS;
        return parse_on(ps, st) && parse_from_where(ps, st) && parse_tail(ps, st);
    }
    if (accept_kw(ps, "SERIES")) {
        st->kind = NE_IQL_SHOW_SERIES;
        return parse_on(ps, st) && parse_from_where(ps, st) && parse_tail(ps, st);
    }
    if (accept_kw(ps, "RETENTION")) {
        if (!expect_kw(ps, "POLICIES"))
            return false;
        st->kind = NE_IQL_SHOW_RETENTION_POLICIES;
        return parse_on(ps, st);
    }
    struct token *t = peek(ps);
    if (t->t == T_IDENT) {
        fail(ps, NE_EUNSUPPORTED, "SHOW %s is not supported", t->val);
        return false;
    }
    found_expected(ps, "DATABASES, MEASUREMENTS, TAG, FIELD, SERIES, RETENTION");
    return false;
}

static bool parse_statement(struct parser *ps, struct ne_iql_stmt *st)
{
    struct token *t = peek(ps);
    if (accept_kw(ps, "SELECT"))
        return parse_select(ps, st);
    if (accept_kw(ps, "SHOW"))
        return parse_show(ps, st);
    if (accept_kw(ps, "CREATE")) {
        if (!expect_kw(ps, "DATABASE"))
            return false;
        st->kind = NE_IQL_CREATE_DATABASE;
        st->on_db = parse_ident(ps, "identifier");
        if (st->on_db && accept_kw(ps, "WITH")) {
            fail(ps, NE_EUNSUPPORTED, "CREATE DATABASE ... WITH is not supported: neoedge "
                                      "has one retention policy per database, set in config");
            return false;
        }
        return st->on_db != NULL;
    }
    if (accept_kw(ps, "DROP")) {
        if (accept_kw(ps, "DATABASE")) {
            st->kind = NE_IQL_DROP_DATABASE;
            st->on_db = parse_ident(ps, "identifier");
            return st->on_db != NULL;
        }
        if (accept_kw(ps, "MEASUREMENT")) {
            st->kind = NE_IQL_DROP_MEASUREMENT;
            st->on_db = parse_ident(ps, "identifier");
            return st->on_db != NULL;
        }
        t = peek(ps);
        if (t->t == T_IDENT) {
            fail(ps, NE_EUNSUPPORTED, "DROP %s is not supported", t->val);
            return false;
        }
        found_expected(ps, "DATABASE, MEASUREMENT");
        return false;
    }
    if (accept_kw(ps, "DELETE")) {
        st->kind = NE_IQL_DELETE;
        if (!parse_from_where(ps, st))
            return false;
        if (!st->nsources && !st->where) {
            found_expected(ps, "FROM, WHERE");
            return false;
        }
        return true;
    }
    if (t->t == T_IDENT && (is_kw(t, "ALTER") || is_kw(t, "GRANT") || is_kw(t, "REVOKE") ||
                            is_kw(t, "EXPLAIN") || is_kw(t, "KILL") || is_kw(t, "SET"))) {
        fail(ps, NE_EUNSUPPORTED, "%s statements are not supported", t->val);
        return false;
    }
    found_expected(ps, "SELECT, DELETE, SHOW, CREATE, DROP");
    return false;
}

int ne_iql_parse(const char *text, size_t len, struct ne_iql_query **out, char *err, size_t errn)
{
    char dummy[8];
    struct parser ps = {.s = text, .end = text + len, .p = text, .line = 1, .line_start = text,
                        .err = err ? err : dummy, .errn = err ? errn : sizeof dummy};
    if (ps.errn)
        ps.err[0] = 0;
    struct ne_iql_stmt tmp[64];
    size_t n = 0;
    while (!ps.rc) {
        while (accept(&ps, T_SEMI))
            ;
        if (peek(&ps)->t == T_EOF)
            break;
        if (n == 64) {
            fail(&ps, NE_EPARSE, "too many statements in one query (max 64)");
            break;
        }
        memset(&tmp[n], 0, sizeof tmp[n]);
        if (!parse_statement(&ps, &tmp[n]))
            break;
        n++;
        struct token *t = peek(&ps);
        if (t->t != T_SEMI && t->t != T_EOF)
            found_expected(&ps, ";");
    }
    if (!ps.rc && n == 0)
        fail(&ps, NE_EPARSE, "found EOF, expected SELECT, DELETE, SHOW, CREATE, DROP at line "
                             "%d, char %d",
             ps.line, (int)(ps.p - ps.line_start) + 1);
    if (ps.rc) {
        if (ps.rc == NE_ENOMEM && err && errn)
            snprintf(err, errn, "out of memory");
        arena_free(ps.arena);
        return ps.rc;
    }
    struct ne_iql_query *q = arena_alloc(&ps.arena, sizeof *q);
    struct ne_iql_stmt *stmts = q ? arena_alloc(&ps.arena, n * sizeof *stmts) : NULL;
    if (!stmts) {
        arena_free(ps.arena);
        return NE_ENOMEM;
    }
    memcpy(stmts, tmp, n * sizeof *tmp);
    q->stmts = stmts;
    q->nstmts = n;
    q->arena = ps.arena;
    *out = q;
    return 0;
}

void ne_iql_free(struct ne_iql_query **qp)
{
    if (!qp || !*qp)
        return;
    arena_free((*qp)->arena);
    *qp = NULL;
}
