/*
 * spec.c - loads slipway.yml into struct sw_spec (see spec.h).
 *
 * Three passes over one input:
 *  1. libyaml events -> a small tree of nodes in a scratch arena. Refused
 *     here: aliases and anchors (so no YAML bomb can expand), tags other
 *     than the standard !!str/!!int/..., several documents, nesting deeper
 *     than SW_SPEC_MAX_DEPTH, keys that are not strings, duplicate keys.
 *  2. The tree is walked with one table of allowed keys per mapping level
 *     (struct field): the tables give types, required keys, unknown-key
 *     errors and their "did you mean" from one place. Values are copied
 *     into spec->arena.
 *  3. Names are resolved (needs, secrets, after, analysis references) in
 *     file order, then matrices are expanded and jobs ordered
 *     topologically.
 * Analysis conditions are compiled (never run), and the names they read
 * are checked against what their provider measures (sw_spec_provider_fields).
 * The first error stops the load; every error carries file:line:col.
 * sw_spec_version_resolve() reads `version: {file: ...}` (the only file
 * read besides slipway.yml) when a caller needs the version.
 *
 * Owns: the returned struct sw_spec and its arena (sw_spec_free).
 * Calls: libyaml, liblua (compile-only check of analysis conditions), base/.
 */
#include "spec/spec.h"
#include "base/buf.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/num.h"
#include "base/suggest.h"

#include <lauxlib.h>
#include <lua.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_EDGES 1000000   /* job dependencies after matrix expansion */
#define MAX_EXPR 4096       /* bytes of one Lua condition */
#define MAX_NAME 63
#define DEFAULT_JOB_TIMEOUT_MS (30 * 60 * 1000ull)

/* ---- pass 1: the node tree ------------------------------------------- */

enum node_kind { NODE_SCALAR, NODE_SEQ, NODE_MAP };

struct node {
	enum node_kind kind;
	bool null;             /* plain "", ~, null or !!null */
	const char *str;       /* scalar text, NUL-free; "" otherwise */
	struct sw_spec_loc loc;
	struct node *key;      /* a mapping value's key (a scalar) */
	struct node *parent;
	struct node *first, *last, *next; /* sequence items or mapping values */
	size_t n, index;       /* number of children; position among siblings */
};

/* ---- pass 2 and 3 state ---------------------------------------------- */

struct axis {
	const char *name;
	const char *env;           /* MATRIX_<NAME in upper case> */
	const struct node **vals;  /* its values, in order */
	size_t n;
};

/* A job as written in build.jobs, before matrix expansion. */
struct bjob {
	struct sw_spec_job j; /* first: field handlers receive &bjob->j */
	const struct node *matrix;
	const struct node *needs;  /* the sequence, for locations */
	struct axis *axes;
	size_t naxes;
	size_t nexp;          /* jobs it expands to */
	size_t *needs_idx;    /* resolved needs: indices into ctx->bjobs */
	size_t first_exp;     /* index of its first expansion in spec->jobs */
};

enum ref_kind { REF_JOB, REF_SECRET, REF_ENV, REF_ANALYSIS };

/* A name used before the thing it names may have been read. */
struct ref {
	enum ref_kind kind;
	const struct node *at; /* the scalar naming it */
	size_t *index;         /* where the resolved index goes, or NULL */
	bool finite;           /* ANALYSIS: must have a finite count (a canary step) */
	struct ref *next;
};

struct ctx {
	struct sw_spec *spec;
	struct sw_arena *a;   /* spec->arena: the model */
	struct sw_arena tmp;  /* nodes and scratch, released at the end */
	const char *file;
	const char *data;
	size_t len;
	struct sw_err *err;
	bool failed;
	struct sw_spec_loc err_loc;
	struct bjob *bjobs;
	size_t nbjobs;
	struct ref *refs, **refs_tail;
};

static bool loc_before(struct sw_spec_loc a, struct sw_spec_loc b)
{
	return a.line < b.line || (a.line == b.line && a.col < b.col);
}

/* Record an error at loc unless an earlier one is already recorded. */
static int fail(struct ctx *c, struct sw_spec_loc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, struct sw_spec_loc loc, const char *fmt, ...)
{
	char msg[SW_ERR_MSG_MAX];
	va_list ap;

	if (c->failed && !loc_before(loc, c->err_loc))
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->failed = true;
	c->err_loc = loc;
	sw_err_setloc(c->err, SW_EINPUT, c->file, loc.line, loc.col, "%s", msg);
	return -1;
}

/* Input text made safe to quote in a message: bounded, no control bytes. */
static const char *q(struct ctx *c, const char *s)
{
	size_t n = strlen(s), i, max = 64;
	char *out = sw_arena_alloc(&c->tmp, max + 4);

	for (i = 0; i < n && i < max; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (n > max)
		memcpy(out + i, "...", 4);
	return out;
}

static struct sw_spec_loc mark_loc(yaml_mark_t m)
{
	struct sw_spec_loc l = { (unsigned)m.line + 1, (unsigned)m.column + 1 };
	return l;
}

static const char *kind_name(const struct node *n)
{
	if (n->kind == NODE_MAP)
		return "a mapping";
	if (n->kind == NODE_SEQ)
		return "a sequence";
	return n->null ? "null" : "a string";
}

/* Where a node sits, for messages: " in 'build.jobs.test.steps[0]'" or "". */
static const char *where(struct ctx *c, const struct node *n)
{
	const struct node *chain[SW_SPEC_MAX_DEPTH + 2];
	struct sw_buf b = SW_BUF_INIT(160);
	size_t k = 0;
	const char *out;

	for (; n && n->parent && k < SW_ARRAY_LEN(chain); n = n->parent)
		chain[k++] = n;
	if (k == 0)
		return "";
	sw_buf_puts(&b, " in '");
	while (k--) {
		if (chain[k]->key)
			sw_buf_printf(&b, "%s%s", b.len > 5 ? "." : "", q(c, chain[k]->key->str));
		else
			sw_buf_printf(&b, "[%zu]", chain[k]->index);
	}
	sw_buf_putc(&b, '\'');
	out = sw_arena_strdup(&c->tmp, sw_buf_failed(&b) ? " in a deeply nested key" : b.data);
	sw_buf_release(&b);
	return out;
}

static int cmp_nodes(const void *pa, const void *pb)
{
	const struct node *a = *(const struct node *const *)pa, *b = *(const struct node *const *)pb;
	int r = strcmp(a->str, b->str);

	return r ? r : (a->index > b->index) - (a->index < b->index);
}

/*
 * The earliest child that repeats an earlier sibling's text (the key's, for
 * a mapping), or NULL; *orig gets the earlier one. Sorting keeps this
 * O(n log n) for long lists.
 */
static const struct node *first_dup(const struct node *p, const struct node **orig)
{
	const struct node *v, *w, *best = NULL, **all;
	bool keys = p->kind == NODE_MAP;
	size_t i = 0;

#define TXT(x) (keys ? (x)->key : (x))
	if (p->n <= 16) {
		for (v = p->first; v && !best; v = v->next)
			for (w = p->first; w != v; w = w->next)
				if (!strcmp(TXT(v)->str, TXT(w)->str)) {
					best = TXT(v), *orig = TXT(w);
					break;
				}
		return best;
	}
	all = sw_xmallocarray(p->n, sizeof(*all));
	for (v = p->first; v; v = v->next)
		all[i++] = TXT(v);
#undef TXT
	qsort(all, p->n, sizeof(*all), cmp_nodes);
	for (i = 1; i < p->n; i++) {
		size_t j = i;

		if (strcmp(all[i]->str, all[i - 1]->str))
			continue;
		while (j > 0 && !strcmp(all[j - 1]->str, all[i]->str))
			j--; /* all[j] is the first of this run */
		if (!best || all[i]->index < best->index)
			best = all[i], *orig = all[j];
	}
	free(all);
	return best;
}

struct builder {
	struct node *stack[SW_SPEC_MAX_DEPTH];
	struct node *key[SW_SPEC_MAX_DEPTH]; /* a mapping's key awaiting its value */
	size_t depth;
	struct node *root;
	unsigned docs;
};

static void attach(struct builder *b, struct node *n)
{
	struct node *p;
	size_t d = b->depth;

	if (d == 0) {
		b->root = n;
		return;
	}
	p = b->stack[d - 1];
	if (p->kind == NODE_MAP && !b->key[d - 1]) {
		n->index = p->n; /* a key shares its value's position */
		b->key[d - 1] = n;
		return;
	}
	if (p->kind == NODE_MAP) {
		n->key = b->key[d - 1];
		b->key[d - 1] = NULL;
	}
	n->parent = p;
	n->index = p->n++;
	if (p->last)
		p->last->next = n;
	else
		p->first = n;
	p->last = n;
}

static bool std_tag(const char *tag, const char *const *ok)
{
	static const char prefix[] = "tag:yaml.org,2002:";

	if (!tag)
		return true;
	if (strncmp(tag, prefix, sizeof(prefix) - 1))
		return false;
	for (; *ok; ok++)
		if (!strcmp(tag + sizeof(prefix) - 1, *ok))
			return true;
	return false;
}

/* Checks shared by every node-starting event; returns a new node or NULL. */
static struct node *start_node(struct ctx *c, struct builder *b, const yaml_event_t *ev)
{
	static const char *const scalar_tags[] = { "str", "int", "float", "bool", "null", NULL };
	static const char *const seq_tags[] = { "seq", NULL };
	static const char *const map_tags[] = { "map", NULL };
	struct sw_spec_loc loc = mark_loc(ev->start_mark);
	const yaml_char_t *anchor, *tag;
	const char *const *ok;
	struct node *n;

	if (ev->type == YAML_SCALAR_EVENT)
		anchor = ev->data.scalar.anchor, tag = ev->data.scalar.tag, ok = scalar_tags;
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		anchor = ev->data.sequence_start.anchor, tag = ev->data.sequence_start.tag, ok = seq_tags;
	else
		anchor = ev->data.mapping_start.anchor, tag = ev->data.mapping_start.tag, ok = map_tags;
	if (anchor) {
		fail(c, loc, "aliases and anchors are not supported in slipway.yml");
		return NULL;
	}
	if (!std_tag((const char *)tag, ok)) {
		fail(c, loc, "tag '%s' is not supported in slipway.yml", q(c, (const char *)tag));
		return NULL;
	}
	if (ev->type != YAML_SCALAR_EVENT) {
		if (b->depth && b->stack[b->depth - 1]->kind == NODE_MAP && !b->key[b->depth - 1]) {
			fail(c, loc, "mapping keys must be strings");
			return NULL;
		}
		if (b->depth == SW_SPEC_MAX_DEPTH) {
			fail(c, loc, "nesting deeper than %d levels", SW_SPEC_MAX_DEPTH);
			return NULL;
		}
	}
	n = sw_arena_alloc(&c->tmp, sizeof(*n));
	n->loc = loc;
	n->str = "";
	if (ev->type == YAML_SCALAR_EVENT) {
		const char *v = (const char *)ev->data.scalar.value;
		size_t len = ev->data.scalar.length;

		if (memchr(v, '\0', len)) {
			fail(c, loc, "NUL bytes are not allowed in slipway.yml strings");
			return NULL;
		}
		n->kind = NODE_SCALAR;
		n->str = sw_arena_strndup(&c->tmp, v, len);
		n->null = tag ? !strcmp((const char *)tag, "tag:yaml.org,2002:null")
			      : ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
				       (!len || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
					!strcmp(n->str, "Null") || !strcmp(n->str, "NULL"));
	} else {
		n->kind = ev->type == YAML_SEQUENCE_START_EVENT ? NODE_SEQ : NODE_MAP;
	}
	return n;
}

static int yaml_fail(struct ctx *c, const yaml_parser_t *p)
{
	struct sw_spec_loc loc = mark_loc(p->problem_mark);
	const char *problem = p->problem ? p->problem : "cannot parse";

	if (p->error == YAML_READER_ERROR) {
		size_t i, off = p->problem_offset < c->len ? p->problem_offset : c->len;

		loc.line = 1, loc.col = 1;
		for (i = 0; i < off; i++)
			c->data[i] == '\n' ? (loc.line++, loc.col = 1) : loc.col++;
		return fail(c, loc, "bad YAML: %s", problem);
	}
	if (p->error == YAML_MEMORY_ERROR)
		sw_die("libyaml: out of memory");
	if (p->context)
		return fail(c, loc, "bad YAML: %s (%s at %zu:%zu)", problem, p->context,
			    p->context_mark.line + 1, p->context_mark.column + 1);
	return fail(c, loc, "bad YAML: %s", problem);
}

static struct node *build_tree(struct ctx *c)
{
	struct builder *b = sw_arena_alloc(&c->tmp, sizeof(*b));
	yaml_parser_t p;
	yaml_event_t ev;
	bool done = false, fatal = false;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)c->data, c->len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	while (!done && !fatal) {
		struct node *n;
		const struct node *dup, *orig = NULL;

		if (!yaml_parser_parse(&p, &ev)) {
			yaml_fail(c, &p);
			/* mappings left open may hold an earlier duplicate key */
			while (b->depth--)
				if (b->stack[b->depth]->kind == NODE_MAP && (dup = first_dup(b->stack[b->depth], &orig)))
					fail(c, dup->loc, "duplicate key '%s' (first at %u:%u)", q(c, dup->str),
					     orig->loc.line, orig->loc.col);
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++b->docs > 1)
				fatal = fail(c, mark_loc(ev.start_mark), "slipway.yml must hold one YAML document") < 0;
			break;
		case YAML_ALIAS_EVENT:
			fatal = fail(c, mark_loc(ev.start_mark), "aliases and anchors are not supported in slipway.yml") < 0;
			break;
		case YAML_SCALAR_EVENT:
			if (!(n = start_node(c, b, &ev)))
				fatal = true;
			else
				attach(b, n);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (!(n = start_node(c, b, &ev))) {
				fatal = true;
				break;
			}
			b->key[b->depth] = NULL;
			b->stack[b->depth++] = n;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			n = b->stack[--b->depth];
			/* A duplicate key is recorded but parsing goes on: a YAML error
			 * earlier in the file must still win. */
			if (n->kind == NODE_MAP && (dup = first_dup(n, &orig)))
				fail(c, dup->loc, "duplicate key '%s' (first at %u:%u)", q(c, dup->str),
				     orig->loc.line, orig->loc.col);
			attach(b, n);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (!done || c->failed)
		return NULL;
	if (!b->root) { /* an empty file or only comments: an empty mapping */
		b->root = sw_arena_alloc(&c->tmp, sizeof(*b->root));
		b->root->null = true;
		b->root->str = "";
		b->root->loc.line = b->root->loc.col = 1;
	}
	return b->root;
}

/* ---- did you mean ------------------------------------------------------ */

/* Optimal string alignment distance (base/suggest.h), 3 for anything farther than 2. */
static unsigned distance(const char *a, const char *b)
{
	return sw_suggest_distance(a, b, 2);
}

struct suggest {
	const char *best;
	unsigned dist;
};

static void suggest_add(struct suggest *s, const char *word, const char *cand)
{
	unsigned d = distance(word, cand);

	if (d <= 2 && d < strlen(word) && (!s->best || d < s->dist))
		s->best = cand, s->dist = d;
}

/* " (did you mean 'x'?)" or "". */
static const char *suggest_str(struct ctx *c, const struct suggest *s)
{
	return s->best ? sw_arena_printf(&c->tmp, " (did you mean '%s'?)", s->best) : "";
}

/* ---- scalar values --------------------------------------------------- */

static int expect(struct ctx *c, const struct node *n, enum node_kind kind)
{
	static const char *const names[] = { "a string", "a sequence", "a mapping" };

	/* null stands for an empty mapping or sequence ("haproxy:", "pause: {}") */
	if (n->kind == kind ? !(kind == NODE_SCALAR && n->null) : (n->null && kind != NODE_SCALAR))
		return 0;
	return fail(c, n->loc, "expected %s, got %s", names[kind], kind_name(n));
}

static int get_str(struct ctx *c, const struct node *n, const char **out)
{
	if (expect(c, n, NODE_SCALAR) < 0)
		return -1;
	if (!n->str[0])
		return fail(c, n->loc, "expected a non-empty string");
	*out = sw_arena_strdup(c->a, n->str);
	return 0;
}

static int get_u64(struct ctx *c, const struct node *n, uint64_t min, uint64_t max, uint64_t *out)
{
	if (expect(c, n, NODE_SCALAR) < 0)
		return -1;
	if (sw_parse_u64(n->str, strlen(n->str), min, max, out) < 0)
		return fail(c, n->loc, "expected an integer from %llu to %llu, got '%s'", (unsigned long long)min,
			    (unsigned long long)max, q(c, n->str));
	return 0;
}

static int get_duration(struct ctx *c, const struct node *n, uint64_t min, uint64_t *ms)
{
	char buf[32];

	if (expect(c, n, NODE_SCALAR) < 0)
		return -1;
	if (sw_parse_duration_ms(n->str, strlen(n->str), ms) < 0)
		return fail(c, n->loc, "bad duration '%s' (use e.g. 250ms, 10s, 2m, 1h)", q(c, n->str));
	if (*ms < min)
		return fail(c, n->loc, "duration '%s' is too short (at least %s)", q(c, n->str),
			    sw_format_duration_ms(min, buf, sizeof(buf)));
	return 0;
}

static int get_size(struct ctx *c, const struct node *n, uint64_t min, uint64_t max, uint64_t *out)
{
	if (expect(c, n, NODE_SCALAR) < 0)
		return -1;
	if (sw_parse_size(n->str, strlen(n->str), out) < 0)
		return fail(c, n->loc, "bad size '%s' (use e.g. 512, 64KB, 10MB, 2GB)", q(c, n->str));
	if (*out < min || (max && *out > max))
		return fail(c, n->loc, "size '%s' is out of range (%llu to %llu bytes)", q(c, n->str),
			    (unsigned long long)min, (unsigned long long)(max ? max : UINT64_MAX));
	return 0;
}

static int get_bool(struct ctx *c, const struct node *n, bool *out)
{
	if (expect(c, n, NODE_SCALAR) < 0)
		return -1;
	if (!strcmp(n->str, "true") || !strcmp(n->str, "True") || !strcmp(n->str, "TRUE"))
		*out = true;
	else if (!strcmp(n->str, "false") || !strcmp(n->str, "False") || !strcmp(n->str, "FALSE"))
		*out = false;
	else
		return fail(c, n->loc, "expected true or false, got '%s'", q(c, n->str));
	return 0;
}

/* A count (min..max) or a percentage ("25%", at least min %). */
static int get_amount(struct ctx *c, const struct node *n, uint64_t min, uint64_t max, struct sw_spec_amount *out)
{
	size_t len = strlen(n->str);
	uint64_t v;

	if (expect(c, n, NODE_SCALAR) < 0)
		return -1;
	if (len && n->str[len - 1] == '%') {
		if (sw_parse_percent(n->str, len, &out->value) < 0 || out->value < min)
			return fail(c, n->loc, "expected a percentage from %llu%% to 100%%, got '%s'",
				    (unsigned long long)min, q(c, n->str));
		out->percent = true;
		return 0;
	}
	if (sw_parse_u64(n->str, len, min, max, &v) < 0)
		return fail(c, n->loc, "expected a count from %llu to %llu or a percentage like 25%%, got '%s'",
			    (unsigned long long)min, (unsigned long long)max, q(c, n->str));
	out->value = (unsigned)v;
	out->percent = false;
	return 0;
}

/* [A-Za-z0-9][A-Za-z0-9_.-]*: jobs, environments, analyses, host labels. */
static bool name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > MAX_NAME)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');

		if (!alnum && (i == 0 || (ch != '-' && ch != '_' && ch != '.')))
			return false;
	}
	return true;
}

/* [A-Za-z_][A-Za-z0-9_]*: environment variables, secrets, matrix axes. */
static bool env_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 255 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

bool sw_spec_service_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > MAX_NAME)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || (i > 0 && s[i] == '-')))
			return false;
	return true;
}

static int check_name(struct ctx *c, const struct node *k, const char *what)
{
	if (!name_ok(k->str))
		return fail(c, k->loc, "bad %s name '%s' (use letters, digits, '-', '_' and '.', at most %d)",
			    what, q(c, k->str), MAX_NAME);
	return 0;
}

static int check_env_name(struct ctx *c, const struct node *k, const char *what)
{
	if (!env_name_ok(k->str))
		return fail(c, k->loc, "bad %s name '%s' (use letters, digits and '_', not starting with a digit)",
			    what, q(c, k->str));
	return 0;
}

/* A path relative to the spec's directory that stays inside it. */
static int check_relpath(struct ctx *c, const struct node *n, const char *p)
{
	long depth = 0;
	const char *s = p;

	if (p[0] == '/')
		return fail(c, n->loc, "path '%s' must be relative", q(c, p));
	while (*s) {
		size_t len = strcspn(s, "/");

		if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (--depth < 0)
				return fail(c, n->loc, "path '%s' leaves the repository", q(c, p));
		} else if (len && !(len == 1 && s[0] == '.')) {
			depth++;
		}
		s += len;
		s += *s == '/';
	}
	return 0;
}

/* ---- the key tables ---------------------------------------------------- */

enum ftype {
	F_STR,      /* const char *: a non-empty string */
	F_PATH,     /* const char *: a relative path inside the repository */
	F_DURATION, /* uint64_t ms, at least min */
	F_UINT,     /* unsigned, min..max */
	F_SIZE,     /* uint64_t bytes ("512", "10MB"), min..max (max 0: no upper bound) */
	F_BOOL,     /* bool */
	F_AMOUNT,   /* struct sw_spec_amount: count min..max or percentage >= min */
	F_STRS,     /* const char ** at off, size_t count at noff; unique; at least min */
	F_PATHS,    /* the same, each a relative path */
	F_ENV,      /* struct sw_spec_kv * at off, size_t at noff: NAME -> text */
	F_LABELS,   /* the same with label names; at least min pairs */
	F_FN,       /* fn(ctx, value, obj) */
};

struct field {
	const char *key;
	enum ftype type;
	size_t off, noff;
	uint64_t min, max;
	int (*fn)(struct ctx *c, const struct node *v, void *obj);
	bool required;
};

#define AT(T, m) .off = offsetof(struct T, m)
#define LIST(T, m, n) .off = offsetof(struct T, m), .noff = offsetof(struct T, n)

static int get_list(struct ctx *c, const struct node *v, const struct field *f, void *obj)
{
	const struct node *it, *dup, *orig;
	const char **out;
	size_t i = 0;

	if (expect(c, v, NODE_SEQ) < 0)
		return -1;
	if (v->n < f->min)
		return fail(c, v->loc, "expected at least %llu item%s", (unsigned long long)f->min, f->min == 1 ? "" : "s");
	out = sw_arena_allocarray(c->a, v->n, sizeof(*out));
	for (it = v->first; it; it = it->next) {
		if (get_str(c, it, &out[i++]) < 0)
			return -1;
		if (f->type == F_PATHS && check_relpath(c, it, it->str) < 0)
			return -1;
	}
	if ((dup = first_dup(v, &orig)))
		return fail(c, dup->loc, "'%s' is listed twice", q(c, dup->str));
	*(const char ***)((char *)obj + f->off) = out;
	*(size_t *)((char *)obj + f->noff) = v->n;
	return 0;
}

static int get_kvs(struct ctx *c, const struct node *v, const struct field *f, void *obj)
{
	struct sw_spec_kv *kv;
	const struct node *it;
	size_t i = 0;

	if (expect(c, v, NODE_MAP) < 0)
		return -1;
	if (v->n < f->min)
		return fail(c, v->key ? v->key->loc : v->loc, "expected at least %llu entr%s",
			    (unsigned long long)f->min, f->min == 1 ? "y" : "ies");
	kv = sw_arena_allocarray(c->a, v->n, sizeof(*kv));
	for (it = v->first; it; it = it->next, i++) {
		if ((f->type == F_ENV ? check_env_name(c, it->key, "environment variable")
				      : check_name(c, it->key, "label")) < 0)
			return -1;
		/* values are text: `PORT: 8080` and `DEBUG: true` keep what was written */
		if (expect(c, it, NODE_SCALAR) < 0)
			return -1;
		if (f->type == F_LABELS && !it->str[0])
			return fail(c, it->loc, "expected a non-empty string");
		kv[i].key = sw_arena_strdup(c->a, it->key->str);
		kv[i].value = sw_arena_strdup(c->a, it->str);
		kv[i].loc = it->key->loc;
	}
	*(struct sw_spec_kv **)((char *)obj + f->off) = kv;
	*(size_t *)((char *)obj + f->noff) = v->n;
	return 0;
}

static int set_field(struct ctx *c, const struct field *f, const struct node *v, void *obj)
{
	void *at = (char *)obj + f->off;
	uint64_t u;

	switch (f->type) {
	case F_STR:
		return get_str(c, v, (const char **)at);
	case F_PATH:
		if (get_str(c, v, (const char **)at) < 0)
			return -1;
		return check_relpath(c, v, v->str);
	case F_DURATION:
		return get_duration(c, v, f->min, (uint64_t *)at);
	case F_UINT:
		if (get_u64(c, v, f->min, f->max, &u) < 0)
			return -1;
		*(unsigned *)at = (unsigned)u;
		return 0;
	case F_SIZE:
		return get_size(c, v, f->min, f->max, (uint64_t *)at);
	case F_BOOL:
		return get_bool(c, v, (bool *)at);
	case F_AMOUNT:
		return get_amount(c, v, f->min, f->max, (struct sw_spec_amount *)at);
	case F_STRS:
	case F_PATHS:
		return get_list(c, v, f, obj);
	case F_ENV:
	case F_LABELS:
		return get_kvs(c, v, f, obj);
	case F_FN:
		return f->fn(c, v, obj);
	}
	return -1;
}

/* "'a', 'b' or 'c'" */
static const char *key_list(struct ctx *c, const struct field *fs, size_t nf)
{
	struct sw_buf b = SW_BUF_INIT(512);
	const char *out;
	size_t i;

	for (i = 0; i < nf; i++)
		sw_buf_printf(&b, "%s'%s'", i == 0 ? "" : i + 1 == nf ? " or " : ", ", fs[i].key);
	out = sw_arena_strdup(&c->tmp, sw_buf_str(&b));
	sw_buf_release(&b);
	return out;
}

/* The index of key in fs[], or -1 after an "unknown key" error. */
static long find_field(struct ctx *c, const struct field *fs, size_t nf, const struct node *key)
{
	struct suggest s = { NULL, 0 };
	size_t i;

	for (i = 0; i < nf; i++)
		if (!strcmp(fs[i].key, key->str))
			return (long)i;
	if (nf == 0)
		return fail(c, key->loc, "unknown key '%s' (expected an empty mapping)", q(c, key->str));
	for (i = 0; i < nf; i++)
		suggest_add(&s, key->str, fs[i].key);
	return fail(c, key->loc, "unknown key '%s'%s", q(c, key->str), suggest_str(c, &s));
}

/*
 * Walk mapping n with the allowed keys fs[], filling obj. *seen gets a bit
 * per key present. Missing required keys are reported at the owning key.
 */
static int walk(struct ctx *c, const struct node *n, const struct field *fs, size_t nf, void *obj, uint64_t *seen)
{
	const struct node *v;
	uint64_t got = 0;
	size_t i;
	long k;

	SW_BUG_ON(nf > 64);
	if (expect(c, n, NODE_MAP) < 0)
		return -1;
	for (v = n->first; v; v = v->next) {
		if ((k = find_field(c, fs, nf, v->key)) < 0)
			return -1;
		i = (size_t)k;
		if (set_field(c, &fs[i], v, obj) < 0)
			return -1;
		got |= 1ull << i;
	}
	for (i = 0; i < nf; i++)
		if (fs[i].required && !(got & (1ull << i)))
			return fail(c, n->key ? n->key->loc : n->loc, "missing required key '%s'%s", fs[i].key,
				    where(c, n));
	if (seen)
		*seen = got;
	return 0;
}

/* A mapping with exactly one of the keys fs[]; returns its index or -1.
 * Unknown keys are reported first, then a second key, then the value. */
static int one_of(struct ctx *c, const struct node *n, const struct field *fs, size_t nf, void *obj)
{
	const struct node *v;
	uint64_t seen;
	int i;

	if (expect(c, n, NODE_MAP) < 0)
		return -1;
	for (v = n->first; v; v = v->next)
		if (find_field(c, fs, nf, v->key) < 0)
			return -1;
	if (n->n != 1)
		return fail(c, n->n ? n->first->next->key->loc : n->key ? n->key->loc : n->loc,
			    "expected exactly one of %s%s", key_list(c, fs, nf), where(c, n));
	if (walk(c, n, fs, nf, obj, &seen) < 0)
		return -1;
	for (i = 0; !(seen & (1ull << i)); i++)
		;
	return i;
}

#define WALK(c, n, fs, obj, seen) walk(c, n, fs, SW_ARRAY_LEN(fs), obj, seen)
#define ONE_OF(c, n, fs, obj) one_of(c, n, fs, SW_ARRAY_LEN(fs), obj)

static void add_ref(struct ctx *c, enum ref_kind kind, const struct node *at, size_t *index, bool finite)
{
	struct ref *r = sw_arena_alloc(&c->tmp, sizeof(*r));

	r->kind = kind, r->at = at, r->index = index, r->finite = finite;
	*c->refs_tail = r;
	c->refs_tail = &r->next;
}

/* ---- build ------------------------------------------------------------- */

static int secret_env(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_secret *s = obj;

	if (get_str(c, v, &s->from) < 0)
		return -1;
	if (!env_name_ok(s->from))
		return fail(c, v->loc, "bad environment variable name '%s'", q(c, s->from));
	s->source = SW_SECRET_ENV;
	return 0;
}

static int secret_file(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_secret *s = obj;

	s->source = SW_SECRET_FILE;
	return get_str(c, v, &s->from);
}

static const struct field secret_fields[] = {
	{ "env", F_FN, .fn = secret_env },
	{ "file", F_FN, .fn = secret_file },
};

static int build_secrets(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec *spec = obj;
	const struct node *v;
	size_t i = 0;

	if (expect(c, n, NODE_MAP) < 0)
		return -1;
	spec->secrets = sw_arena_allocarray(c->a, n->n, sizeof(*spec->secrets));
	spec->nsecrets = n->n;
	for (v = n->first; v; v = v->next, i++) {
		struct sw_spec_secret *s = &spec->secrets[i];

		if (check_env_name(c, v->key, "secret") < 0 || ONE_OF(c, v, secret_fields, s) < 0)
			return -1;
		s->name = sw_arena_strdup(c->a, v->key->str);
		s->loc = v->key->loc;
	}
	return 0;
}

static const struct field step_fields[] = {
	{ "run", F_STR, AT(sw_spec_step, run), .required = true },
	{ "name", F_STR, AT(sw_spec_step, name) },
	{ "timeout", F_DURATION, AT(sw_spec_step, timeout_ms), .min = 1 },
};

static int job_steps(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec_job *j = obj;
	const struct node *it;
	size_t i = 0;

	if (expect(c, n, NODE_SEQ) < 0)
		return -1;
	if (n->n == 0)
		return fail(c, n->key->loc, "job '%s' needs at least one step", j->base_name);
	j->steps = sw_arena_allocarray(c->a, n->n, sizeof(*j->steps));
	j->nsteps = n->n;
	for (it = n->first; it; it = it->next, i++) {
		struct sw_spec_step *s = &j->steps[i];

		s->loc = it->loc;
		if (it->kind == NODE_SCALAR) {
			if (get_str(c, it, &s->run) < 0)
				return -1;
		} else if (it->kind != NODE_MAP) {
			return fail(c, it->loc, "expected a command or a mapping with 'run', got %s", kind_name(it));
		} else if (WALK(c, it, step_fields, s, NULL) < 0) {
			return -1;
		}
		if (!s->name) { /* the command's first non-blank line */
			const char *p = s->run + strspn(s->run, " \t\r\n");

			s->name = sw_arena_strndup(c->a, p, strcspn(p, "\r\n"));
		}
	}
	return 0;
}

static int job_needs(struct ctx *c, const struct node *n, void *obj)
{
	static const struct field f = { "needs", F_STRS, LIST(sw_spec_job, needs, nneeds) };
	const struct node *it;

	if (get_list(c, n, &f, obj) < 0)
		return -1;
	for (it = n->first; it; it = it->next)
		add_ref(c, REF_JOB, it, NULL, false);
	((struct bjob *)obj)->needs = n;
	return 0;
}

static int job_secrets(struct ctx *c, const struct node *n, void *obj)
{
	static const struct field f = { "secrets", F_STRS, LIST(sw_spec_job, secrets, nsecrets) };
	const struct node *it;

	if (get_list(c, n, &f, obj) < 0)
		return -1;
	for (it = n->first; it; it = it->next)
		add_ref(c, REF_SECRET, it, NULL, false);
	return 0;
}

/* Matrix values become part of job names and log file names: keep them tame. */
static bool matrix_value_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= MAX_NAME && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:+@-") == n;
}

static int job_matrix(struct ctx *c, const struct node *n, void *obj)
{
	struct bjob *bj = (struct bjob *)obj;
	const struct node *ax, *it, *dup, *orig;
	size_t i = 0, k;
	char *up;

	if (expect(c, n, NODE_MAP) < 0)
		return -1;
	if (n->n == 0)
		return fail(c, n->key->loc, "matrix needs at least one axis");
	bj->matrix = n;
	bj->axes = sw_arena_allocarray(&c->tmp, n->n, sizeof(*bj->axes));
	bj->naxes = n->n;
	bj->nexp = 1;
	for (ax = n->first; ax; ax = ax->next, i++) {
		if (check_env_name(c, ax->key, "matrix axis") < 0 || expect(c, ax, NODE_SEQ) < 0)
			return -1;
		if (ax->n == 0)
			return fail(c, ax->key->loc, "matrix axis '%s' has no values", q(c, ax->key->str));
		for (it = ax->first; it; it = it->next) {
			if (expect(c, it, NODE_SCALAR) < 0)
				return -1;
			if (!matrix_value_ok(it->str))
				return fail(c, it->loc,
					    "bad matrix value '%s' (use letters, digits and _ . : + @ -, at most %d)",
					    q(c, it->str), MAX_NAME);
		}
		if ((dup = first_dup(ax, &orig)))
			return fail(c, dup->loc, "'%s' is listed twice", q(c, dup->str));
		if (ax->n > SW_SPEC_MAX_JOBS || bj->nexp * ax->n > SW_SPEC_MAX_JOBS)
			return fail(c, n->key->loc, "matrix expands to more than %d jobs", SW_SPEC_MAX_JOBS);
		bj->nexp *= ax->n;
		bj->axes[i].name = ax->key->str;
		bj->axes[i].n = ax->n;
		bj->axes[i].vals = sw_arena_allocarray(&c->tmp, ax->n, sizeof(*bj->axes[i].vals));
		for (k = 0, it = ax->first; it; it = it->next)
			bj->axes[i].vals[k++] = it;
		bj->axes[i].env = up = sw_arena_printf(c->a, "MATRIX_%s", ax->key->str);
		for (; *up; up++)
			if (*up >= 'a' && *up <= 'z')
				*up = (char)(*up - 'a' + 'A');
		for (k = 0; k < i; k++)
			if (!strcmp(bj->axes[k].env, bj->axes[i].env))
				return fail(c, ax->key->loc, "matrix axes '%s' and '%s' both set %s", bj->axes[k].name,
					    bj->axes[i].name, bj->axes[i].env);
	}
	return 0;
}

static const struct field job_fields[] = {
	{ "steps", F_FN, .fn = job_steps, .required = true },
	{ "needs", F_FN, .fn = job_needs },
	{ "env", F_ENV, LIST(sw_spec_job, env, nenv) },
	{ "secrets", F_FN, .fn = job_secrets },
	{ "workdir", F_PATH, AT(sw_spec_job, workdir) },
	{ "timeout", F_DURATION, AT(sw_spec_job, timeout_ms), .min = 1 },
	{ "retries", F_UINT, AT(sw_spec_job, retries), .max = 10 },
	{ "cache", F_PATHS, LIST(sw_spec_job, cache, ncache) },
	{ "reports", F_PATHS, LIST(sw_spec_job, reports, nreports) },
	{ "outputs", F_PATHS, LIST(sw_spec_job, outputs, noutputs) },
	{ "matrix", F_FN, .fn = job_matrix },
};

static int build_jobs(struct ctx *c, const struct node *n, void *obj)
{
	const struct node *v;
	size_t i = 0;

	(void)obj;
	if (expect(c, n, NODE_MAP) < 0)
		return -1;
	if (n->n > SW_SPEC_MAX_JOBS)
		return fail(c, n->key->loc, "more than %d jobs", SW_SPEC_MAX_JOBS);
	c->bjobs = sw_arena_allocarray(&c->tmp, n->n, sizeof(*c->bjobs));
	c->nbjobs = n->n;
	for (v = n->first; v; v = v->next, i++) {
		struct bjob *bj = &c->bjobs[i];

		if (check_name(c, v->key, "job") < 0)
			return -1;
		bj->j.name = bj->j.base_name = sw_arena_strdup(c->a, v->key->str);
		bj->j.workdir = ".";
		bj->j.timeout_ms = DEFAULT_JOB_TIMEOUT_MS;
		bj->j.loc = v->key->loc;
		bj->nexp = 1;
		if (WALK(c, v, job_fields, &bj->j, NULL) < 0)
			return -1;
		for (size_t k = 0; k < bj->naxes; k++)
			for (size_t e = 0; e < bj->j.nenv; e++)
				if (!strcmp(bj->j.env[e].key, bj->axes[k].env))
					return fail(c, bj->j.env[e].loc, "'%s' is set by the matrix", bj->j.env[e].key);
	}
	return 0;
}

static const struct field build_fields[] = {
	{ "secrets", F_FN, .fn = build_secrets },
	{ "jobs", F_FN, .fn = build_jobs },
};

static int top_build(struct ctx *c, const struct node *n, void *obj)
{
	return WALK(c, n, build_fields, obj, NULL);
}

/* ---- run ----------------------------------------------------------------- */

static int health_http(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_health *h = obj;

	if (get_str(c, v, &h->target) < 0)
		return -1;
	if (h->target[0] != '/')
		return fail(c, v->loc, "health path '%s' must start with '/'", q(c, h->target));
	h->kind = SW_HEALTH_HTTP;
	return 0;
}

static int health_tcp(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_health *h = obj;
	bool on = false;

	if (get_bool(c, v, &on) < 0)
		return -1;
	if (!on)
		return fail(c, v->loc, "tcp: false checks nothing (use 'tcp: true' or remove it)");
	h->kind = SW_HEALTH_TCP;
	return 0;
}

static int health_command(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_health *h = obj;

	h->kind = SW_HEALTH_COMMAND;
	return get_str(c, v, &h->target);
}

static const struct field health_fields[] = {
	{ "http", F_FN, .fn = health_http },
	{ "tcp", F_FN, .fn = health_tcp },
	{ "command", F_FN, .fn = health_command },
	{ "interval", F_DURATION, AT(sw_spec_health, interval_ms), .min = 1, .required = true },
	{ "timeout", F_DURATION, AT(sw_spec_health, timeout_ms), .min = 1, .required = true },
	{ "retries", F_UINT, AT(sw_spec_health, retries), .min = 1, .max = 100 },
	{ "start_period", F_DURATION, AT(sw_spec_health, start_period_ms) },
};

static int run_health(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec_health *h = &((struct sw_spec_run *)obj)->health;
	const struct node *v, *at;
	unsigned kinds;
	uint64_t seen;

	h->retries = 3;
	h->loc = n->key->loc;
	if (WALK(c, n, health_fields, h, &seen) < 0)
		return -1;
	if (__builtin_popcountll(seen & 7) == 1)
		return 0;
	at = n->key; /* none: the 'health' key; two: the second one */
	for (v = n->first, kinds = 0; v; v = v->next)
		if (!strcmp(v->key->str, "http") || !strcmp(v->key->str, "tcp") || !strcmp(v->key->str, "command"))
			if (++kinds == 2)
				at = v->key;
	return fail(c, at->loc, "expected exactly one of 'http', 'tcp' or 'command'%s", where(c, n));
}

static int stop_signal(struct ctx *c, const struct node *v, void *obj)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
		{ "HUP", SIGHUP },   { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	};
	struct sw_spec_run *r = obj;
	struct suggest s = { NULL, 0 };
	size_t i;

	if (expect(c, v, NODE_SCALAR) < 0)
		return -1;
	for (i = 0; i < SW_ARRAY_LEN(sigs); i++) {
		if (!strcmp(v->str, sigs[i].name)) {
			r->stop_signal = sigs[i].sig;
			r->stop_signal_name = sigs[i].name;
			return 0;
		}
		suggest_add(&s, v->str, sigs[i].name);
		if (!strncmp(v->str, "SIG", 3)) /* SIGTERM -> TERM */
			suggest_add(&s, v->str + 3, sigs[i].name);
	}
	return fail(c, v->loc, "unknown signal '%s'%s (expected TERM, INT, QUIT, KILL, HUP, USR1 or USR2)",
		    q(c, v->str), suggest_str(c, &s));
}

static const struct field stop_fields[] = {
	{ "signal", F_FN, .fn = stop_signal },
	{ "grace", F_DURATION, AT(sw_spec_run, stop_grace_ms) },
};

static int run_stop(struct ctx *c, const struct node *n, void *obj)
{
	return WALK(c, n, stop_fields, obj, NULL);
}

static const struct field hook_fields[] = {
	{ "before_install", F_STR, AT(sw_spec_hooks, before_install) },
	{ "after_install", F_STR, AT(sw_spec_hooks, after_install) },
	{ "before_start", F_STR, AT(sw_spec_hooks, before_start) },
	{ "validate", F_STR, AT(sw_spec_hooks, validate) },
	{ "timeout", F_DURATION, AT(sw_spec_hooks, timeout_ms), .min = 1 },
};

static int run_hooks(struct ctx *c, const struct node *n, void *obj)
{
	return WALK(c, n, hook_fields, &((struct sw_spec_run *)obj)->hooks, NULL);
}

static const struct field run_fields[] = {
	{ "command", F_STR, AT(sw_spec_run, command), .required = true },
	{ "env", F_ENV, LIST(sw_spec_run, env, nenv) },
	{ "health", F_FN, .fn = run_health },
	{ "stop", F_FN, .fn = run_stop },
	{ "hooks", F_FN, .fn = run_hooks },
	{ "keep_releases", F_UINT, AT(sw_spec_run, keep_releases), .min = 1, .max = 100 },
};

static int top_run(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec_run *r = sw_arena_alloc(c->a, sizeof(*r));

	(void)obj;
	r->stop_signal = SIGTERM;
	r->stop_signal_name = "TERM";
	r->stop_grace_ms = 10000;
	r->hooks.timeout_ms = 5 * 60000;
	r->keep_releases = 3;
	r->loc = n->key->loc;
	c->spec->run = r;
	return WALK(c, n, run_fields, r, NULL);
}

/* ---- environments ---------------------------------------------------------- */

static const struct field haproxy_fields[] = {
	{ "socket", F_STR, AT(sw_spec_traffic, haproxy_socket), .required = true },
	{ "backend", F_STR, AT(sw_spec_traffic, haproxy_backend), .required = true },
};

static int traffic_haproxy(struct ctx *c, const struct node *n, void *obj)
{
	return WALK(c, n, haproxy_fields, obj, NULL);
}

static const struct field traffic_fields[] = {
	{ "haproxy", F_FN, .fn = traffic_haproxy },
};

static int get_traffic(struct ctx *c, const struct node *n, struct sw_spec_traffic *t)
{
	t->loc = n->key->loc;
	return ONE_OF(c, n, traffic_fields, t) < 0 ? -1 : 0;
}

static int rolling_traffic(struct ctx *c, const struct node *n, void *obj)
{
	return get_traffic(c, n, &((struct sw_spec_rolling *)obj)->traffic);
}

static const struct field rolling_fields[] = {
	{ "batch", F_AMOUNT, AT(sw_spec_rolling, batch), .min = 1, .max = 100000 },
	{ "max_unavailable", F_AMOUNT, AT(sw_spec_rolling, max_unavailable), .max = 100000 },
	{ "min_healthy", F_AMOUNT, AT(sw_spec_rolling, min_healthy), .max = 100000 },
	{ "health_timeout", F_DURATION, AT(sw_spec_rolling, health_timeout_ms), .min = 1 },
	{ "traffic", F_FN, .fn = rolling_traffic },
};

static int strategy_rolling(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec_env *e = obj;

	e->strategy = SW_STRATEGY_ROLLING;
	return WALK(c, n, rolling_fields, &e->rolling, NULL);
}

static int bg_traffic(struct ctx *c, const struct node *n, void *obj)
{
	return get_traffic(c, n, &((struct sw_spec_blue_green *)obj)->traffic);
}

static const struct field blue_green_fields[] = {
	{ "smoke", F_STR, AT(sw_spec_blue_green, smoke) },
	{ "keep_old", F_DURATION, AT(sw_spec_blue_green, keep_old_ms) },
	{ "traffic", F_FN, .fn = bg_traffic, .required = true },
};

static int strategy_blue_green(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec_env *e = obj;

	e->strategy = SW_STRATEGY_BLUE_GREEN;
	e->blue_green.keep_old_ms = 3600000;
	return WALK(c, n, blue_green_fields, &e->blue_green, NULL);
}

static int step_pause(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_canary_step *s = obj;

	if (v->kind == NODE_SCALAR && !v->null)
		return get_duration(c, v, 1, &s->pause_ms);
	s->pause_manual = true;
	return walk(c, v, NULL, 0, NULL, NULL); /* only {} */
}

static int step_analysis(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_canary_step *s = obj;

	if (get_str(c, v, &s->analysis) < 0)
		return -1;
	add_ref(c, REF_ANALYSIS, v, &s->analysis_index, true);
	return 0;
}

static const struct field canary_step_fields[] = {
	{ "weight", F_UINT, AT(sw_spec_canary_step, weight), .max = 100 },
	{ "pause", F_FN, .fn = step_pause },
	{ "analysis", F_FN, .fn = step_analysis },
	{ "instances", F_AMOUNT, AT(sw_spec_canary_step, instances), .min = 1, .max = 100000 },
};

static int canary_steps(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec_canary *cn = obj;
	const struct node *it;
	size_t i = 0;

	if (expect(c, n, NODE_SEQ) < 0)
		return -1;
	if (n->n == 0)
		return fail(c, n->key->loc, "a canary needs at least one step");
	cn->steps = sw_arena_allocarray(c->a, n->n, sizeof(*cn->steps));
	cn->nsteps = n->n;
	for (it = n->first; it; it = it->next, i++) {
		struct sw_spec_canary_step *s = &cn->steps[i];
		int k;

		s->loc = it->loc;
		if (it->kind != NODE_MAP)
			return fail(c, it->loc, "expected a mapping with one of %s, got %s",
				    key_list(c, canary_step_fields, SW_ARRAY_LEN(canary_step_fields)), kind_name(it));
		if ((k = ONE_OF(c, it, canary_step_fields, s)) < 0)
			return -1;
		s->kind = (enum sw_canary_step_kind)k;
	}
	return 0;
}

static int canary_templates(struct ctx *c, const struct node *n, void *obj)
{
	static const struct field f = { "templates", F_STRS, LIST(sw_spec_canary, templates, ntemplates), .min = 1 };
	struct sw_spec_canary *cn = obj;
	const struct node *it;
	size_t i = 0;

	if (get_list(c, n, &f, obj) < 0)
		return -1;
	cn->template_index = sw_arena_allocarray(c->a, n->n, sizeof(size_t));
	for (it = n->first; it; it = it->next, i++)
		add_ref(c, REF_ANALYSIS, it, &cn->template_index[i], false);
	return 0;
}

static const struct field canary_analysis_fields[] = {
	{ "templates", F_FN, .fn = canary_templates, .required = true },
	{ "start_at_step", F_UINT, AT(sw_spec_canary, start_at_step), .max = 1000 },
};

static int canary_analysis(struct ctx *c, const struct node *n, void *obj)
{
	return WALK(c, n, canary_analysis_fields, obj, NULL);
}

static int canary_traffic(struct ctx *c, const struct node *n, void *obj)
{
	return get_traffic(c, n, &((struct sw_spec_canary *)obj)->traffic);
}

static const struct field canary_fields[] = {
	{ "traffic", F_FN, .fn = canary_traffic },
	{ "analysis", F_FN, .fn = canary_analysis },
	{ "steps", F_FN, .fn = canary_steps, .required = true },
};

static int strategy_canary(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec_env *e = obj;
	struct sw_spec_canary *cn = &e->canary;
	const struct node *v;
	size_t i;

	e->strategy = SW_STRATEGY_CANARY;
	if (WALK(c, n, canary_fields, cn, NULL) < 0)
		return -1;
	for (i = 0; i < cn->nsteps; i++)
		if (cn->steps[i].kind == SW_CANARY_WEIGHT && !cn->traffic.haproxy_socket)
			return fail(c, cn->steps[i].loc, "a 'weight' step needs 'traffic' in the canary strategy");
	if (cn->ntemplates && cn->start_at_step >= cn->nsteps) {
		for (v = n->first; strcmp(v->key->str, "analysis"); v = v->next)
			;
		return fail(c, v->key->loc, "start_at_step %u is past the last step (%zu steps)", cn->start_at_step,
			    cn->nsteps);
	}
	return 0;
}

static int rings_analysis(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_rings *r = obj;

	if (get_str(c, v, &r->analysis) < 0)
		return -1;
	add_ref(c, REF_ANALYSIS, v, &r->analysis_index, false);
	return 0;
}

static int rings_traffic(struct ctx *c, const struct node *n, void *obj)
{
	return get_traffic(c, n, &((struct sw_spec_rings *)obj)->traffic);
}

static const struct field rings_fields[] = {
	{ "label", F_STR, AT(sw_spec_rings, label) },
	{ "order", F_STRS, LIST(sw_spec_rings, order, norder), .min = 1, .required = true },
	{ "bake", F_DURATION, AT(sw_spec_rings, bake_ms) },
	{ "analysis", F_FN, .fn = rings_analysis },
	{ "traffic", F_FN, .fn = rings_traffic },
};

static int strategy_rings(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec_env *e = obj;
	const struct node *v;

	e->strategy = SW_STRATEGY_RINGS;
	e->rings.label = "ring";
	if (WALK(c, n, rings_fields, &e->rings, NULL) < 0)
		return -1;
	for (v = n->first; v; v = v->next)
		if (!strcmp(v->key->str, "label"))
			return check_name(c, v, "label");
	return 0;
}

static const struct field strategy_fields[] = {
	{ "rolling", F_FN, .fn = strategy_rolling },
	{ "blue_green", F_FN, .fn = strategy_blue_green },
	{ "canary", F_FN, .fn = strategy_canary },
	{ "rings", F_FN, .fn = strategy_rings },
};

static int env_strategy(struct ctx *c, const struct node *n, void *obj)
{
	return ONE_OF(c, n, strategy_fields, obj) < 0 ? -1 : 0;
}

/*
 * `approvals:` is reserved: no approval is enforced yet, so a spec asking for
 * one is refused (fail closed) rather than deployed without it.
 */
static int env_approvals(struct ctx *c, const struct node *n, void *obj)
{
	(void)obj;
	return fail(c, n->key ? n->key->loc : n->loc,
		    "approvals are not built yet: no deployment would wait for one; remove 'approvals' "
		    "(planned, see docs/spec.md)");
}

static int env_after(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_env *e = obj;

	if (get_str(c, v, &e->after) < 0)
		return -1;
	add_ref(c, REF_ENV, v, &e->after_index, false);
	return 0;
}

static const struct field unpack_fields[] = {
	{ "max_size", F_SIZE, AT(sw_spec_unpack, max_size), .min = 1 },
	{ "max_file_size", F_SIZE, AT(sw_spec_unpack, max_file_size), .min = 1 },
	{ "max_ratio", F_UINT, AT(sw_spec_unpack, max_ratio), .min = 1, .max = 1000000 },
};

static int env_unpack(struct ctx *c, const struct node *n, void *obj)
{
	return WALK(c, n, unpack_fields, &((struct sw_spec_env *)obj)->unpack, NULL);
}

static const struct field env_fields[] = {
	{ "hosts", F_LABELS, LIST(sw_spec_env, hosts, nhosts), .min = 1, .required = true },
	{ "after", F_FN, .fn = env_after },
	{ "progress_deadline", F_DURATION, AT(sw_spec_env, progress_deadline_ms), .min = 1 },
	{ "approvals", F_FN, .fn = env_approvals },
	{ "strategy", F_FN, .fn = env_strategy },
	{ "unpack", F_FN, .fn = env_unpack },
};

static int top_environments(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec *spec = obj;
	const struct node *v;
	size_t i = 0;

	if (expect(c, n, NODE_MAP) < 0)
		return -1;
	spec->envs = sw_arena_allocarray(c->a, n->n, sizeof(*spec->envs));
	spec->nenvs = n->n;
	for (v = n->first; v; v = v->next, i++) {
		struct sw_spec_env *e = &spec->envs[i];

		if (check_name(c, v->key, "environment") < 0)
			return -1;
		e->name = sw_arena_strdup(c->a, v->key->str);
		e->loc = v->key->loc;
		e->progress_deadline_ms = 10 * 60000;
		e->strategy = SW_STRATEGY_ROLLING;
		e->rolling.batch.value = 1;
		e->rolling.max_unavailable.value = 1;
		e->rolling.health_timeout_ms = 5 * 60000;
		if (WALK(c, v, env_fields, e, NULL) < 0)
			return -1;
	}
	return 0;
}

/* ---- analysis ------------------------------------------------------------ */

static const struct field prometheus_fields[] = {
	{ "address", F_STR, AT(sw_spec_analysis, address), .required = true },
	{ "query", F_STR, AT(sw_spec_analysis, query), .required = true },
};
static const struct field http_fields[] = {
	{ "url", F_STR, AT(sw_spec_analysis, url), .required = true },
	{ "expect_status", F_UINT, AT(sw_spec_analysis, expect_status), .min = 100, .max = 599 },
	{ "json_field", F_STR, AT(sw_spec_analysis, json_field) },
};
static const struct field command_fields[] = {
	{ "run", F_STR, AT(sw_spec_analysis, command), .required = true },
};

static int provider_haproxy(struct ctx *c, const struct node *n, void *obj)
{
	return walk(c, n, NULL, 0, obj, NULL);
}
static int provider_prometheus(struct ctx *c, const struct node *n, void *obj)
{
	return WALK(c, n, prometheus_fields, obj, NULL);
}
static int provider_http(struct ctx *c, const struct node *n, void *obj)
{
	return WALK(c, n, http_fields, obj, NULL);
}
static int provider_command(struct ctx *c, const struct node *n, void *obj)
{
	return WALK(c, n, command_fields, obj, NULL);
}

static const struct field provider_fields[] = {
	{ "haproxy", F_FN, .fn = provider_haproxy },
	{ "prometheus", F_FN, .fn = provider_prometheus },
	{ "http", F_FN, .fn = provider_http },
	{ "command", F_FN, .fn = provider_command },
};

static int analysis_provider(struct ctx *c, const struct node *n, void *obj)
{
	int k = ONE_OF(c, n, provider_fields, obj);

	if (k < 0)
		return -1;
	((struct sw_spec_analysis *)obj)->provider = (enum sw_provider)k;
	return 0;
}

/* Compile `return (<expr>)` in a fresh Lua state; never run it. */
static int check_lua(struct ctx *c, const struct node *v, const char **out, struct sw_spec_loc *loc)
{
	struct sw_buf b = SW_BUF_INIT(MAX_EXPR + 32);
	lua_State *L;
	int rc;

	if (get_str(c, v, out) < 0)
		return -1;
	*loc = v->key->loc;
	if (strlen(*out) > MAX_EXPR)
		return fail(c, v->key->loc, "'%s' is longer than %d bytes", v->key->str, MAX_EXPR);
	/* newlines keep a trailing "--" comment from swallowing the ')' */
	sw_buf_printf(&b, "return (\n%s\n)", *out);
	if (!(L = luaL_newstate()))
		sw_die("lua: out of memory");
	rc = luaL_loadbufferx(L, b.data, b.len, "=expr", "t");
	if (rc != LUA_OK) {
		const char *m = lua_tostring(L, -1), *p = m ? strstr(m, ": ") : NULL;

		fail(c, v->key->loc, "bad Lua expression in '%s': %s", v->key->str,
		     p ? q(c, p + 2) : "cannot compile");
	}
	lua_close(L);
	sw_buf_release(&b);
	return rc == LUA_OK ? 0 : -1;
}

static int analysis_success(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_analysis *an = obj;
	return check_lua(c, v, &an->success, &an->success_loc);
}

static int analysis_failure(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec_analysis *an = obj;
	return check_lua(c, v, &an->failure, &an->failure_loc);
}

static const struct field analysis_fields[] = {
	{ "provider", F_FN, .fn = analysis_provider, .required = true },
	{ "interval", F_DURATION, AT(sw_spec_analysis, interval_ms), .min = 1 },
	{ "count", F_UINT, AT(sw_spec_analysis, count), .max = 100000 },
	{ "initial_delay", F_DURATION, AT(sw_spec_analysis, initial_delay_ms) },
	{ "success", F_FN, .fn = analysis_success },
	{ "failure", F_FN, .fn = analysis_failure },
	{ "failure_limit", F_UINT, AT(sw_spec_analysis, failure_limit), .max = 100000 },
	{ "inconclusive_limit", F_UINT, AT(sw_spec_analysis, inconclusive_limit), .max = 100000 },
	{ "dry_run", F_BOOL, AT(sw_spec_analysis, dry_run) },
};

/* ---- analysis conditions: the fields they may use ------------------------
 *
 * What each provider measures, by the names conditions use. src/analysis/
 * sets exactly these names (tests/unit/test_analysis.c checks that the two
 * agree); the table lives here because spec/ may not call analysis/.
 * A condition that uses any other free name is refused at load time.
 */
static const char *const haproxy_values[] = {
	"requests", "request_rate", "errors", "error_rate", "response_ms",
	"stable_requests", "stable_request_rate", "stable_errors", "stable_error_rate", "stable_response_ms",
};
static const char *const prometheus_values[] = { "result", "results" };
static const char *const http_values[] = { "status", "latency_ms", "result" };
static const char *const command_values[] = { "exit_code", "result" };

static const struct {
	const char *const *names;
	size_t n;
} provider_values[] = {
	[SW_PROVIDER_HAPROXY] = { haproxy_values, SW_ARRAY_LEN(haproxy_values) },
	[SW_PROVIDER_PROMETHEUS] = { prometheus_values, SW_ARRAY_LEN(prometheus_values) },
	[SW_PROVIDER_HTTP] = { http_values, SW_ARRAY_LEN(http_values) },
	[SW_PROVIDER_COMMAND] = { command_values, SW_ARRAY_LEN(command_values) },
};

const char *const *sw_spec_provider_fields(enum sw_provider p, size_t *n)
{
	SW_BUG_ON((size_t)p >= SW_ARRAY_LEN(provider_values));
	*n = provider_values[p].n;
	return provider_values[p].names;
}

const char *sw_spec_provider_name(enum sw_provider p)
{
	SW_BUG_ON((size_t)p >= SW_ARRAY_LEN(provider_fields));
	return provider_fields[p].key;
}

/* Globals a condition may use besides the provider's fields. */
static const char *const condition_globals[] = { "math" };

static const char *const lua_keywords[] = {
	"and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
	"local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
};

/* A token of Lua source (off, len into the text): a name, punctuation, or a string or number. */
enum ltok_kind { LTOK_EOF, LTOK_NAME, LTOK_PUNCT, LTOK_VALUE };
struct ltok {
	enum ltok_kind kind;
	size_t off, len;
};

/* Length of a long bracket opening "[==[" at s[i], or 0 if none; *level = the '='s. */
static size_t long_open(const char *s, size_t n, size_t i, size_t *level)
{
	size_t j = i + 1;

	if (i >= n || s[i] != '[')
		return 0;
	while (j < n && s[j] == '=')
		j++;
	if (j >= n || s[j] != '[')
		return 0;
	*level = j - i - 1;
	return j - i + 1;
}

/* Index just past the "]==]" closing a long bracket of this level (or n). */
static size_t long_close(const char *s, size_t n, size_t i, size_t level)
{
	for (; i < n; i++) {
		size_t j = i + 1;

		if (s[i] != ']')
			continue;
		while (j < n && s[j] == '=')
			j++;
		if (j < n && s[j] == ']' && j - i - 1 == level)
			return j + 1;
	}
	return n;
}

static bool lname_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool lname_char(char ch)
{
	return lname_start(ch) || (ch >= '0' && ch <= '9');
}

/*
 * The next token of s at *pos, with Lua's lexical rules: whitespace,
 * comments (short and long), strings (quoted and long) and numbers are
 * skipped over as values; names and punctuation come out. Input that the
 * compiler accepted is assumed (the check runs after it), but nothing is
 * read past n whatever the input.
 */
static struct ltok lex_next(const char *s, size_t n, size_t *pos)
{
	static const char *const multi[] = { "...", "..", "::", "==", "~=", "<=", ">=", "//", "<<", ">>" };
	struct ltok t = { LTOK_EOF, n, 0 };
	size_t i = *pos, level, k;

	for (;;) {
		while (i < n && strchr(" \t\r\n\f\v", s[i]))
			i++;
		if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
			i += 2;
			if ((k = long_open(s, n, i, &level)))
				i = long_close(s, n, i + k, level);
			else
				while (i < n && s[i] != '\n')
					i++;
			continue;
		}
		break;
	}
	if (i >= n) {
		*pos = n;
		return t;
	}
	t.off = i;
	if (s[i] == '"' || s[i] == '\'') {
		char quote = s[i++];

		while (i < n && s[i] != quote && s[i] != '\n')
			i += s[i] == '\\' && i + 1 < n ? 2 : 1;
		i += i < n;
		t.kind = LTOK_VALUE;
	} else if ((k = long_open(s, n, i, &level))) {
		i = long_close(s, n, i + k, level);
		t.kind = LTOK_VALUE;
	} else if ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')) {
		const char *expo = "Ee";

		if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X'))
			expo = "Pp", i += 2;
		while (i < n) {
			if (strchr(expo, s[i]) && i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-'))
				i += 2;
			else if (lname_char(s[i]) || s[i] == '.')
				i++;
			else
				break;
		}
		t.kind = LTOK_VALUE;
	} else if (lname_start(s[i])) {
		while (i < n && lname_char(s[i]))
			i++;
		t.kind = LTOK_NAME;
	} else {
		t.kind = LTOK_PUNCT;
		i++;
		for (k = 0; k < SW_ARRAY_LEN(multi); k++) {
			size_t ml = strlen(multi[k]);

			if (t.off + ml <= n && !memcmp(s + t.off, multi[k], ml)) {
				i = t.off + ml;
				break;
			}
		}
	}
	t.len = i - t.off;
	*pos = i;
	return t;
}

static bool ltok_is(const char *s, struct ltok t, const char *what)
{
	return t.kind != LTOK_EOF && t.len == strlen(what) && !memcmp(s + t.off, what, t.len);
}

static bool in_list(const char *s, struct ltok t, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ltok_is(s, t, list[i]))
			return true;
	return false;
}

#define MAX_BOUND 256 /* local names tracked in one condition */

struct lscan {
	const char *s;
	size_t n;
	struct ltok *toks;
	size_t ntoks;
	bool *attrib;                 /* per token: the name of a local's attribute (<const>, <close>) */
	struct ltok bound[MAX_BOUND]; /* names a condition declares (locals, parameters, for variables) */
	size_t nbound;
	bool too_many;
};

static void bind_name(struct lscan *ls, struct ltok t)
{
	if (t.kind != LTOK_NAME)
		return;
	if (ls->nbound == MAX_BOUND)
		ls->too_many = true;
	else
		ls->bound[ls->nbound++] = t;
}

/*
 * Names the expression declares itself, wherever they are (scopes are not
 * followed: a name declared anywhere counts as declared everywhere, which
 * can only let a misspelling through, never refuse a good condition).
 */
static void collect_bound(struct lscan *ls)
{
	const char *s = ls->s;
	size_t i, j;

	for (i = 0; i < ls->ntoks; i++) {
		struct ltok t = ls->toks[i];

		if (ltok_is(s, t, "local") || ltok_is(s, t, "for")) {
			/* local a <const>, b = ...; local function f; for k, v in / for i = */
			for (j = i + 1; j < ls->ntoks; j++) {
				struct ltok u = ls->toks[j];

				if (ltok_is(s, u, "function"))
					continue;
				if (u.kind == LTOK_NAME && !in_list(s, u, lua_keywords, SW_ARRAY_LEN(lua_keywords)))
					bind_name(ls, u);
				else if (ltok_is(s, u, "<") && j + 2 < ls->ntoks && ltok_is(s, ls->toks[j + 2], ">")) {
					ls->attrib[j + 1] = true; /* attribute: <const>, <close> */
					j += 2;
				} else if (!ltok_is(s, u, ","))
					break;
			}
		} else if (ltok_is(s, t, "function")) {
			/* function [a.b:c] (p1, p2, ...) */
			bool method = false;

			for (j = i + 1; j < ls->ntoks && !ltok_is(s, ls->toks[j], "("); j++) {
				if (ltok_is(s, ls->toks[j], ":"))
					method = true;
				if (j == i + 1)
					bind_name(ls, ls->toks[j]); /* an assignment target, not a read */
			}
			for (j++; j < ls->ntoks && !ltok_is(s, ls->toks[j], ")"); j++)
				bind_name(ls, ls->toks[j]);
			if (method)
				bind_name(ls, (struct ltok){ LTOK_NAME, 0, 0 }); /* "self": see is_bound */
		}
	}
}

static bool is_bound(const struct lscan *ls, struct ltok t)
{
	size_t i;

	for (i = 0; i < ls->nbound; i++) {
		struct ltok b = ls->bound[i];

		if (b.len == 0 ? ltok_is(ls->s, t, "self")
			       : b.len == t.len && !memcmp(ls->s + b.off, ls->s + t.off, t.len))
			return true;
	}
	return false;
}

/* Start of 1-based line `line` of the file (or its end). */
static const char *line_ptr(struct ctx *c, unsigned line)
{
	const char *p = c->data, *end = c->data + c->len, *nl;
	unsigned l;

	for (l = 1; l < line && p < end; l++)
		p = (nl = memchr(p, '\n', (size_t)(end - p))) ? nl + 1 : end;
	return p;
}

/*
 * Where byte `off` (a name of len bytes) of a condition is in the file, for
 * a one-line scalar (plain or quoted) and a literal block (`|`); the value's
 * start when the text cannot be matched byte for byte (escapes, folding).
 */
static struct sw_spec_loc expr_loc(struct ctx *c, const struct node *v, size_t off, size_t len)
{
	const char *expr = v->str, *end = c->data + c->len, *p = line_ptr(c, v->loc.line);
	size_t k = 0, line_off = 0, chars = 0, i;
	struct sw_spec_loc loc = v->loc;

	for (i = 1; i < v->loc.col && p < end; i++) /* libyaml counts characters */
		for (p++; p < end && ((unsigned char)*p & 0xc0) == 0x80; p++)
			;
	for (i = 0; i < off; i++)
		if (expr[i] == '\n')
			k++, line_off = i + 1;
	for (i = line_off; i < off; i++)
		chars += ((unsigned char)expr[i] & 0xc0) != 0x80;
	if (p >= end)
		return loc;
	if (*p == '|') { /* line k of the text is file line +1+k, after the block's indentation */
		const char *first = line_ptr(c, v->loc.line + 1), *src = line_ptr(c, v->loc.line + 1 + (unsigned)k);
		size_t indent = 0;

		while (first + indent < end && first[indent] == ' ')
			indent++;
		if ((size_t)(end - src) >= indent + off - line_off + len &&
		    !memcmp(src + indent, expr + line_off, off - line_off + len)) {
			loc.line = v->loc.line + 1 + (unsigned)k;
			loc.col = (unsigned)(indent + 1 + chars);
		}
		return loc;
	}
	if (k == 0) {
		size_t q0 = *p == '"' || *p == '\'';

		if ((size_t)(end - p) >= q0 + off + len && !memcmp(p + q0, expr, off + len))
			loc.col += (unsigned)(q0 + chars);
	}
	return loc;
}

/*
 * Refuse a condition that reads a name the provider does not measure: a
 * lexical scan with Lua's rules. Free names are those that are not
 * keywords, not after '.', ':', '::' or goto (fields, methods, labels), not
 * directly before a single '=' (table keys, assignment targets) and not
 * declared by the expression itself.
 */
static int check_condition_fields(struct ctx *c, const struct sw_spec_analysis *an, const struct node *v)
{
	const char *s = v->str;
	size_t n = strlen(s), pos = 0, nf, i, cap = 64;
	const char *const *fields = sw_spec_provider_fields(an->provider, &nf);
	struct lscan *ls = sw_arena_alloc(&c->tmp, sizeof(*ls));
	struct ltok t;

	ls->s = s;
	ls->n = n;
	ls->toks = sw_arena_allocarray(&c->tmp, cap, sizeof(*ls->toks));
	while ((t = lex_next(s, n, &pos)).kind != LTOK_EOF) {
		if (ls->ntoks == cap) {
			struct ltok *more = sw_arena_allocarray(&c->tmp, cap * 2, sizeof(*more));

			memcpy(more, ls->toks, cap * sizeof(*more));
			ls->toks = more;
			cap *= 2;
		}
		ls->toks[ls->ntoks++] = t;
	}
	ls->attrib = sw_arena_allocarray(&c->tmp, ls->ntoks ? ls->ntoks : 1, sizeof(bool));
	collect_bound(ls);
	if (ls->too_many)
		return 0; /* cannot tell; the run-time check still names the field */
	for (i = 0; i < ls->ntoks; i++) {
		struct ltok prev = i ? ls->toks[i - 1] : (struct ltok){ LTOK_EOF, 0, 0 };
		struct ltok next = i + 1 < ls->ntoks ? ls->toks[i + 1] : (struct ltok){ LTOK_EOF, n, 0 };
		struct suggest sg = { NULL, 0 };
		struct sw_buf list = SW_BUF_INIT(SW_ERR_MSG_MAX);
		char *name;
		size_t k;
		int rc;

		t = ls->toks[i];
		if (t.kind != LTOK_NAME || ls->attrib[i] || in_list(s, t, lua_keywords, SW_ARRAY_LEN(lua_keywords)) ||
		    ltok_is(s, prev, ".") || ltok_is(s, prev, ":") || ltok_is(s, prev, "::") ||
		    ltok_is(s, prev, "goto") || ltok_is(s, next, "=") || is_bound(ls, t) ||
		    in_list(s, t, fields, nf) || in_list(s, t, condition_globals, SW_ARRAY_LEN(condition_globals)))
			continue;
		name = sw_arena_strndup(&c->tmp, s + t.off, t.len);
		for (k = 0; k < nf; k++) {
			suggest_add(&sg, name, fields[k]);
			sw_buf_printf(&list, "%s%s", k ? ", " : "", fields[k]);
		}
		if (sg.best)
			rc = fail(c, expr_loc(c, v, t.off, t.len), "condition refers to unknown field '%s'%s",
				  q(c, name), suggest_str(c, &sg));
		else
			rc = fail(c, expr_loc(c, v, t.off, t.len),
				  "condition refers to unknown field '%s' (the %s provider measures: %s)", q(c, name),
				  sw_spec_provider_name(an->provider), sw_buf_str(&list));
		sw_buf_release(&list);
		return rc;
	}
	return 0;
}

/* Both conditions of a fully read analysis, in file order (fail keeps the first). */
static int check_conditions(struct ctx *c, const struct sw_spec_analysis *an, const struct node *n)
{
	const struct node *v;
	int rc = 0;

	for (v = n->first; v; v = v->next)
		if (v->kind == NODE_SCALAR && (!strcmp(v->key->str, "success") || !strcmp(v->key->str, "failure")))
			rc |= check_condition_fields(c, an, v);
	return rc ? -1 : 0;
}

static int top_analysis(struct ctx *c, const struct node *n, void *obj)
{
	struct sw_spec *spec = obj;
	const struct node *v;
	size_t i = 0;

	if (expect(c, n, NODE_MAP) < 0)
		return -1;
	spec->analyses = sw_arena_allocarray(c->a, n->n, sizeof(*spec->analyses));
	spec->nanalyses = n->n;
	for (v = n->first; v; v = v->next, i++) {
		struct sw_spec_analysis *an = &spec->analyses[i];

		if (check_name(c, v->key, "analysis") < 0)
			return -1;
		an->name = sw_arena_strdup(c->a, v->key->str);
		an->loc = v->key->loc;
		an->expect_status = 200;
		an->interval_ms = 30000;
		an->count = 1;
		if (WALK(c, v, analysis_fields, an, NULL) < 0)
			return -1;
		if (!an->success && !an->failure)
			return fail(c, v->key->loc, "analysis '%s' needs 'success' or 'failure'", an->name);
		if (check_conditions(c, an, v) < 0)
			return -1;
	}
	return 0;
}

/* ---- top level ----------------------------------------------------------- */

static int top_service(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec *spec = obj;

	if (get_str(c, v, &spec->service) < 0)
		return -1;
	if (!sw_spec_service_name_ok(spec->service))
		return fail(c, v->loc, "bad service name '%s' (use a-z, 0-9 and '-', starting with a letter or digit, at most %d)",
			    q(c, v->str), MAX_NAME);
	return 0;
}

bool sw_spec_version_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > SW_SPEC_VERSION_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '/')
			return false;
	return true;
}

static int version_file(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec *spec = obj;

	if (get_str(c, v, &spec->version_file) < 0 || check_relpath(c, v, v->str) < 0)
		return -1;
	spec->version_from = SW_SPEC_VERSION_FILE;
	spec->version_loc = v->loc;
	return 0;
}

static int version_git(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec *spec = obj;
	const char *how;

	if (get_str(c, v, &how) < 0)
		return -1;
	if (strcmp(how, "describe"))
		return fail(c, v->loc, "unknown git version source '%s' (expected 'describe')", q(c, how));
	spec->version_from = SW_SPEC_VERSION_GIT;
	spec->version_loc = v->loc;
	return 0;
}

static const struct field version_fields[] = {
	{ "file", F_FN, .fn = version_file },
	{ "git", F_FN, .fn = version_git },
};

static int top_version(struct ctx *c, const struct node *v, void *obj)
{
	struct sw_spec *spec = obj;

	if (v->kind == NODE_MAP)
		return ONE_OF(c, v, version_fields, spec) < 0 ? -1 : 0;
	if (get_str(c, v, &spec->version) < 0)
		return -1;
	if (!sw_spec_version_ok(v->str))
		return fail(c, v->loc,
			    "bad version '%s' (printable, no spaces or '/', at most %d bytes; or {file: PATH} or {git: describe})",
			    q(c, v->str), SW_SPEC_VERSION_MAX);
	spec->version_from = SW_SPEC_VERSION_LITERAL;
	spec->version_loc = v->loc;
	return 0;
}

int sw_spec_version_resolve(const struct sw_spec *spec, const char *git_describe, char *out, size_t size,
			    struct sw_err *err)
{
	const struct sw_spec_loc *l = &spec->version_loc;
	struct sw_buf b = SW_BUF_INIT(4096);
	struct sw_err e = SW_ERR_INIT;
	char path[PATH_MAX];
	const char *t;
	size_t n;

	out[0] = '\0';
	switch (spec->version_from) {
	case SW_SPEC_VERSION_NONE:
		return 0;
	case SW_SPEC_VERSION_LITERAL:
		if (sw_strlcpy(out, spec->version, size) < 0)
			return sw_err_setloc(err, SW_EINPUT, spec->path, l->line, l->col, "version too long");
		return 0;
	case SW_SPEC_VERSION_GIT:
		if (!git_describe || !*git_describe)
			return sw_err_setloc(err, SW_EINPUT, spec->path, l->line, l->col,
					     "version: {git: describe} needs a git repository with a commit around '%s'",
					     spec->dir);
		if (!sw_spec_version_ok(git_describe) || sw_strlcpy(out, git_describe, size) < 0)
			return sw_err_setloc(err, SW_EINPUT, spec->path, l->line, l->col,
					     "git describe gave '%s', which is not a usable version", git_describe);
		return 0;
	case SW_SPEC_VERSION_FILE:
		break;
	}
	if (sw_snprintf(path, sizeof(path), "%s/%s", spec->dir, spec->version_file) < 0)
		return sw_err_setloc(err, SW_EINPUT, spec->path, l->line, l->col, "version file path too long");
	if (sw_fs_read_file(path, 4096, &b, &e) < 0) {
		sw_buf_release(&b);
		return sw_err_setloc(err, SW_EINPUT, spec->path, l->line, l->col, "version file '%s': %s",
				     spec->version_file, e.msg);
	}
	t = sw_buf_str(&b);
	while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')
		t++;
	n = strlen(t);
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r' || t[n - 1] == '\n'))
		n--;
	if (n == 0 || n >= size || memchr(t, '\0', n) != NULL || b.len != strlen(sw_buf_str(&b))) {
		sw_buf_release(&b);
		return sw_err_setloc(err, SW_EINPUT, spec->path, l->line, l->col, "version file '%s' is %s",
				     spec->version_file, n == 0 ? "empty" : "not a usable version");
	}
	memcpy(out, t, n);
	out[n] = '\0';
	sw_buf_release(&b);
	if (!sw_spec_version_ok(out)) {
		sw_err_setloc(err, SW_EINPUT, spec->path, l->line, l->col,
			      "version file '%s' holds '%.60s', not a usable version (printable, no spaces or '/', at most %d bytes)",
			      spec->version_file, out, SW_SPEC_VERSION_MAX);
		out[0] = '\0';
		return -1;
	}
	return 0;
}

static const struct field top_fields[] = {
	{ "service", F_FN, .fn = top_service, .required = true },
	{ "version", F_FN, .fn = top_version },
	{ "build", F_FN, .fn = top_build },
	{ "run", F_FN, .fn = top_run },
	{ "environments", F_FN, .fn = top_environments },
	{ "analysis", F_FN, .fn = top_analysis },
};

/* ---- pass 3: references, matrix, order ------------------------------------- */

struct name_index {
	const char **names; /* sorted */
	size_t *idx;
	size_t n;
};

static int cmp_idx(const void *a, const void *b, void *names)
{
	const char **v = names;

	return strcmp(v[*(const size_t *)a], v[*(const size_t *)b]);
}

/* names[i] = the name of item i; kept so lookups are O(log n). */
static void index_names(struct ctx *c, struct name_index *ni, const char **names, size_t n)
{
	size_t i;

	ni->n = n;
	ni->idx = sw_arena_allocarray(&c->tmp, n ? n : 1, sizeof(size_t));
	ni->names = sw_arena_allocarray(&c->tmp, n ? n : 1, sizeof(char *));
	for (i = 0; i < n; i++)
		ni->idx[i] = i;
	qsort_r(ni->idx, n, sizeof(size_t), cmp_idx, names);
	for (i = 0; i < n; i++)
		ni->names[i] = names[ni->idx[i]];
}

static long lookup(const struct name_index *ni, const char *name)
{
	size_t lo = 0, hi = ni->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(name, ni->names[mid]);

		if (r == 0)
			return (long)ni->idx[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static int resolve_refs(struct ctx *c, struct name_index *ix)
{
	static const char *const what[] = { "job", "secret", "environment", "analysis" };
	const struct ref *r;

	for (r = c->refs; r; r = r->next) {
		const struct name_index *ni = &ix[r->kind];
		long i = lookup(ni, r->at->str);
		struct suggest s = { NULL, 0 };
		size_t k;

		if (i >= 0) {
			if (r->index)
				*r->index = (size_t)i;
			if (r->finite && c->spec->analyses[i].count == 0)
				return fail(c, r->at->loc, "analysis '%s' has count 0 (runs until the end) and cannot be a step",
					    c->spec->analyses[i].name);
			continue;
		}
		for (k = 0; k < ni->n; k++)
			suggest_add(&s, r->at->str, ni->names[k]);
		return fail(c, r->at->loc, "unknown %s '%s'%s", what[r->kind], q(c, r->at->str), suggest_str(c, &s));
	}
	return 0;
}

/* environments: `after` must not loop. Each walk marks what it visits
 * with its own number, so meeting its own mark again means a cycle. */
/*
 * The haproxy provider reads the strategy's HAProxy backend: an analysis
 * that uses it needs `traffic` where it runs (rings, or a canary's
 * templates and analysis steps).
 */
static int check_haproxy_analyses(struct ctx *c)
{
	const struct sw_spec *spec = c->spec;
	const struct sw_spec_env *e;
	const struct sw_spec_canary_step *st;
	size_t i, k;

	for (i = 0; i < spec->nenvs; i++) {
		e = &spec->envs[i];
		if (e->strategy == SW_STRATEGY_RINGS && e->rings.analysis && !e->rings.traffic.haproxy_socket &&
		    spec->analyses[e->rings.analysis_index].provider == SW_PROVIDER_HAPROXY)
			return fail(c, e->loc,
				    "environment '%s': analysis '%s' uses the haproxy provider, which needs 'traffic' in "
				    "the rings strategy (or use the prometheus, http or command provider)",
				    e->name, e->rings.analysis);
		if (e->strategy != SW_STRATEGY_CANARY || e->canary.traffic.haproxy_socket)
			continue;
		for (k = 0; k < e->canary.ntemplates; k++)
			if (spec->analyses[e->canary.template_index[k]].provider == SW_PROVIDER_HAPROXY)
				return fail(c, e->loc,
					    "environment '%s': analysis '%s' uses the haproxy provider, which needs "
					    "'traffic' in the canary strategy",
					    e->name, e->canary.templates[k]);
		for (k = 0; k < e->canary.nsteps; k++) {
			st = &e->canary.steps[k];
			if (st->kind == SW_CANARY_ANALYSIS && spec->analyses[st->analysis_index].provider == SW_PROVIDER_HAPROXY)
				return fail(c, st->loc,
					    "analysis '%s' uses the haproxy provider, which needs 'traffic' in the canary "
					    "strategy",
					    st->analysis);
		}
	}
	return 0;
}

static int check_env_order(struct ctx *c)
{
	const struct sw_spec *spec = c->spec;
	size_t *mark = sw_arena_allocarray(&c->tmp, spec->nenvs + 1, sizeof(size_t));
	size_t i, at;

	for (i = 0; i < spec->nenvs; i++) {
		for (at = i; !mark[at]; at = spec->envs[at].after_index) {
			mark[at] = i + 1;
			if (!spec->envs[at].after)
				break;
		}
		if (mark[at] == i + 1 && spec->envs[at].after) {
			struct sw_buf b = SW_BUF_INIT(SW_ERR_MSG_MAX);
			size_t k = at;

			sw_buf_puts(&b, spec->envs[at].name);
			do {
				k = spec->envs[k].after_index;
				sw_buf_printf(&b, " -> %s", spec->envs[k].name);
			} while (k != at);
			fail(c, spec->envs[at].loc, "environment cycle in 'after': %s", b.data);
			sw_buf_release(&b);
			return -1;
		}
	}
	return 0;
}

/* The n-th needs item (a node) of job b, for locations. */
static const struct node *needs_item(struct ctx *c, size_t b, size_t n)
{
	const struct node *it = c->bjobs[b].needs->first;

	while (n--)
		it = it->next;
	return it;
}

static void heap_push(size_t *h, size_t *n, size_t v)
{
	size_t i = (*n)++;

	while (i > 0 && h[(i - 1) / 2] > v) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = v;
}

static size_t heap_pop(size_t *h, size_t *n)
{
	size_t top = h[0], v = h[--*n], i = 0;

	for (;;) {
		size_t k = 2 * i + 1;

		if (k >= *n)
			break;
		if (k + 1 < *n && h[k + 1] < h[k])
			k++;
		if (v <= h[k])
			break;
		h[i] = h[k];
		i = k;
	}
	if (*n)
		h[i] = v;
	return top;
}

/* Name the cycle among the jobs Kahn's algorithm could not place. */
static int report_cycle(struct ctx *c, const bool *placed)
{
	size_t n = c->nbjobs, i, at, *pos = sw_arena_allocarray(&c->tmp, n, sizeof(size_t)),
	       *path = sw_arena_allocarray(&c->tmp, n + 1, sizeof(size_t)), len = 0, start, min, k;
	struct sw_buf b = SW_BUF_INIT(SW_ERR_MSG_MAX);
	const struct node *item = NULL;

	for (i = 0; i < n; i++)
		pos[i] = SIZE_MAX;
	for (at = 0; placed[at]; at++)
		;
	/* every unplaced job needs an unplaced job: walk until one repeats */
	while (pos[at] == SIZE_MAX) {
		pos[at] = len;
		path[len++] = at;
		for (k = 0; placed[c->bjobs[at].needs_idx[k]]; k++)
			;
		at = c->bjobs[at].needs_idx[k];
	}
	start = pos[at];
	for (min = start, i = start; i < len; i++)
		if (path[i] < path[min])
			min = i;
	for (i = 0; i <= len - start; i++) {
		size_t j = start + (min - start + i) % (len - start);

		sw_buf_printf(&b, "%s%s", i ? " -> " : "", c->bjobs[path[j]].j.base_name);
	}
	/* point at the first job's needs entry naming the next one */
	{
		size_t from = path[min], to = path[start + (min - start + 1) % (len - start)];

		for (k = 0; k < c->bjobs[from].j.nneeds; k++)
			if (c->bjobs[from].needs_idx[k] == to)
				item = needs_item(c, from, k);
		fail(c, item ? item->loc : c->bjobs[from].j.loc, "dependency cycle: %s", b.data);
	}
	sw_buf_release(&b);
	return -1;
}

/* Topological order of build.jobs (smallest file position first among the
 * ready ones, so file order is kept where the needs allow it). */
static int order_jobs(struct ctx *c, const struct name_index *jobs_ix, size_t *order)
{
	size_t n = c->nbjobs, i, k, nheap = 0, nout = 0;
	size_t *indeg = sw_arena_allocarray(&c->tmp, n ? n : 1, sizeof(size_t));
	size_t *heap = sw_arena_allocarray(&c->tmp, n ? n : 1, sizeof(size_t));
	size_t *nuser = sw_arena_allocarray(&c->tmp, n + 1, sizeof(size_t)), *users;
	bool *placed = sw_arena_allocarray(&c->tmp, n ? n : 1, sizeof(bool));
	size_t total = 0;

	/* users[] in CSR form: who needs job i */
	for (i = 0; i < n; i++) {
		struct bjob *bj = &c->bjobs[i];

		bj->needs_idx = sw_arena_allocarray(&c->tmp, bj->j.nneeds ? bj->j.nneeds : 1, sizeof(size_t));
		for (k = 0; k < bj->j.nneeds; k++) {
			bj->needs_idx[k] = (size_t)lookup(jobs_ix, bj->j.needs[k]);
			nuser[bj->needs_idx[k] + 1]++;
		}
		indeg[i] = bj->j.nneeds;
		total += bj->j.nneeds;
	}
	for (i = 0; i < n; i++)
		nuser[i + 1] += nuser[i];
	users = sw_arena_allocarray(&c->tmp, total ? total : 1, sizeof(size_t));
	{
		size_t *fill = sw_arena_allocarray(&c->tmp, n ? n : 1, sizeof(size_t));

		for (i = 0; i < n; i++)
			for (k = 0; k < c->bjobs[i].j.nneeds; k++) {
				size_t d = c->bjobs[i].needs_idx[k];
				users[nuser[d] + fill[d]++] = i;
			}
	}
	for (i = 0; i < n; i++)
		if (indeg[i] == 0)
			heap_push(heap, &nheap, i);
	while (nheap) {
		size_t j = heap_pop(heap, &nheap);

		order[nout++] = j;
		placed[j] = true;
		for (k = nuser[j]; k < nuser[j + 1]; k++)
			if (--indeg[users[k]] == 0)
				heap_push(heap, &nheap, users[k]);
	}
	return nout == n ? 0 : report_cycle(c, placed);
}

/* Expand matrices in topological order and fill spec->jobs with deps. */
static int expand_jobs(struct ctx *c, const size_t *order)
{
	struct sw_spec *spec = c->spec;
	size_t i, k, e, total = 0, edges = 0, at = 0;

	for (i = 0; i < c->nbjobs; i++) {
		struct bjob *bj = &c->bjobs[order[i]];
		size_t per = 0;

		if ((total += bj->nexp) > SW_SPEC_MAX_JOBS)
			return fail(c, bj->matrix ? bj->matrix->key->loc : bj->j.loc,
				    "matrix expansion makes more than %d jobs", SW_SPEC_MAX_JOBS);
		for (k = 0; k < bj->j.nneeds; k++)
			per += c->bjobs[bj->needs_idx[k]].nexp;
		if (per > MAX_EDGES || (edges += per * bj->nexp) > MAX_EDGES)
			return fail(c, bj->j.loc, "job '%s' makes more than %d dependencies after matrix expansion",
				    bj->j.base_name, MAX_EDGES);
	}
	spec->jobs = sw_arena_allocarray(c->a, total ? total : 1, sizeof(*spec->jobs));
	spec->njobs = total;
	for (i = 0; i < c->nbjobs; i++) {
		struct bjob *bj = &c->bjobs[order[i]];

		size_t *deps, ndeps = 0, d;

		/* the jobs it needs come earlier in order[]: their indices are known */
		for (k = 0; k < bj->j.nneeds; k++)
			ndeps += c->bjobs[bj->needs_idx[k]].nexp;
		deps = sw_arena_allocarray(c->a, ndeps ? ndeps : 1, sizeof(size_t));
		for (ndeps = 0, k = 0; k < bj->j.nneeds; k++) {
			const struct bjob *dep = &c->bjobs[bj->needs_idx[k]];

			for (d = 0; d < dep->nexp; d++)
				deps[ndeps++] = dep->first_exp + d;
		}
		bj->first_exp = at;
		for (e = 0; e < bj->nexp; e++, at++) {
			struct sw_spec_job *j = &spec->jobs[at];
			size_t rest = e, a;

			*j = bj->j;
			j->deps = deps; /* shared by the expansions of one job */
			j->ndeps = ndeps;
			if (!bj->naxes)
				continue;
			/* test[os=a,py=3]: the last axis varies fastest */
			{
				struct sw_buf name = SW_BUF_INIT(SW_BUF_UNLIMITED);
				const struct node **vals = sw_arena_allocarray(&c->tmp, bj->naxes, sizeof(*vals));

				for (a = bj->naxes; a-- > 0;) {
					vals[a] = bj->axes[a].vals[rest % bj->axes[a].n];
					rest /= bj->axes[a].n;
				}
				j->env = sw_arena_allocarray(c->a, bj->j.nenv + bj->naxes, sizeof(*j->env));
				if (bj->j.nenv)
					memcpy(j->env, bj->j.env, bj->j.nenv * sizeof(*j->env));
				sw_buf_printf(&name, "%s[", bj->j.base_name);
				for (a = 0; a < bj->naxes; a++) {
					struct sw_spec_kv *kv = &j->env[j->nenv++];

					kv->key = bj->axes[a].env;
					kv->value = sw_arena_strdup(c->a, vals[a]->str);
					kv->loc = vals[a]->loc;
					sw_buf_printf(&name, "%s%s=%s", a ? "," : "", bj->axes[a].name, vals[a]->str);
				}
				sw_buf_putc(&name, ']');
				j->name = sw_arena_strdup(c->a, name.data);
				sw_buf_release(&name);
			}
		}
	}
	return 0;
}

static int resolve(struct ctx *c)
{
	struct sw_spec *spec = c->spec;
	struct name_index ix[4];
	const char **names;
	size_t i, *order;

	names = sw_arena_allocarray(&c->tmp, c->nbjobs + 1, sizeof(*names));
	for (i = 0; i < c->nbjobs; i++)
		names[i] = c->bjobs[i].j.base_name;
	index_names(c, &ix[REF_JOB], names, c->nbjobs);
	names = sw_arena_allocarray(&c->tmp, spec->nsecrets + 1, sizeof(*names));
	for (i = 0; i < spec->nsecrets; i++)
		names[i] = spec->secrets[i].name;
	index_names(c, &ix[REF_SECRET], names, spec->nsecrets);
	names = sw_arena_allocarray(&c->tmp, spec->nenvs + 1, sizeof(*names));
	for (i = 0; i < spec->nenvs; i++)
		names[i] = spec->envs[i].name;
	index_names(c, &ix[REF_ENV], names, spec->nenvs);
	names = sw_arena_allocarray(&c->tmp, spec->nanalyses + 1, sizeof(*names));
	for (i = 0; i < spec->nanalyses; i++)
		names[i] = spec->analyses[i].name;
	index_names(c, &ix[REF_ANALYSIS], names, spec->nanalyses);

	if (resolve_refs(c, ix) < 0 || check_env_order(c) < 0 || check_haproxy_analyses(c) < 0)
		return -1;
	order = sw_arena_allocarray(&c->tmp, c->nbjobs + 1, sizeof(*order));
	if (order_jobs(c, &ix[REF_JOB], order) < 0)
		return -1;
	if (expand_jobs(c, order) < 0)
		return -1;
	names = sw_arena_allocarray(&c->tmp, spec->njobs + 1, sizeof(*names));
	for (i = 0; i < spec->njobs; i++)
		names[i] = spec->jobs[i].name;
	spec->job_by_name = sw_arena_allocarray(c->a, spec->njobs + 1, sizeof(size_t));
	for (i = 0; i < spec->njobs; i++)
		spec->job_by_name[i] = i;
	qsort_r(spec->job_by_name, spec->njobs, sizeof(size_t), cmp_idx, names);
	return 0;
}

/* ---- entry points ---------------------------------------------------------- */

struct sw_spec *sw_spec_parse(const char *path, const char *data, size_t len, struct sw_err *err)
{
	struct sw_spec *spec = sw_xcalloc(1, sizeof(*spec));
	struct ctx c = { .spec = spec, .a = &spec->arena, .data = data, .len = len, .err = err };
	const struct node *root;
	const char *slash;

	sw_arena_init(&spec->arena);
	sw_arena_init(&c.tmp);
	c.refs_tail = &c.refs;
	spec->path = c.file = sw_arena_strdup(c.a, path);
	slash = strrchr(path, '/');
	spec->dir = !slash ? "." : slash == path ? "/" : sw_arena_strndup(c.a, path, (size_t)(slash - path));
	if (len > SW_SPEC_MAX_BYTES) {
		sw_err_setloc(err, SW_EINPUT, path, 0, 0, "larger than %u bytes", SW_SPEC_MAX_BYTES);
		goto fail;
	}
	if (!(root = build_tree(&c)))
		goto fail;
	if (WALK(&c, root, top_fields, spec, NULL) < 0 || resolve(&c) < 0)
		goto fail;
	sw_arena_release(&c.tmp);
	return spec;
fail:
	sw_arena_release(&c.tmp);
	sw_spec_free(spec);
	return NULL;
}

struct sw_spec *sw_spec_load(const char *path, struct sw_err *err)
{
	struct sw_buf b = SW_BUF_INIT(SW_SPEC_MAX_BYTES + 1);
	struct sw_spec *spec = NULL;

	if (sw_fs_read_file(path, SW_SPEC_MAX_BYTES, &b, err) == 0)
		spec = sw_spec_parse(path, sw_buf_str(&b), b.len, err);
	sw_buf_release(&b);
	return spec;
}

void sw_spec_free(struct sw_spec *spec)
{
	if (!spec)
		return;
	sw_arena_release(&spec->arena);
	free(spec);
}

long sw_spec_job_index(const struct sw_spec *spec, const char *name)
{
	size_t lo = 0, hi = spec->njobs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, i = spec->job_by_name[mid];
		int r = strcmp(name, spec->jobs[i].name);

		if (r == 0)
			return (long)i;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

long sw_spec_env_index(const struct sw_spec *spec, const char *name)
{
	size_t i;

	for (i = 0; i < spec->nenvs; i++)
		if (!strcmp(spec->envs[i].name, name))
			return (long)i;
	return -1;
}

long sw_spec_analysis_index(const struct sw_spec *spec, const char *name)
{
	size_t i;

	for (i = 0; i < spec->nanalyses; i++)
		if (!strcmp(spec->analyses[i].name, name))
			return (long)i;
	return -1;
}
