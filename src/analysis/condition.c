/*
 * condition.c - Lua conditions in a sandbox: fresh state, own allocator
 * with a cap, instruction-count hook, _ENV with only `math` and the
 * measured values (see condition.h).
 */
#include "analysis/condition.h"
#include "base/buf.h"
#include "base/mem.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_STEP 1000u /* instructions between two calls of the count hook */

struct eval {
	struct sw_values *vs;
	size_t mem, max_mem;
	unsigned hooks, max_hooks;
	bool too_long;
	const struct sw_value *absent; /* the value without a value that it read */
	char unknown[64];              /* a name the provider does not measure */
	char assigned[64];             /* a global it tried to set */
	const char *chunk;
	size_t chunk_len;
};

/* lua_Alloc with a cap: a refused allocation makes Lua collect, then fail with LUA_ERRMEM. */
static void *eval_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct eval *e = ud;
	size_t old = ptr ? osize : 0;
	void *np;

	if (nsize == 0) {
		free(ptr);
		e->mem -= old;
		return NULL;
	}
	if (nsize > old && e->mem + (nsize - old) > e->max_mem)
		return NULL;
	np = realloc(ptr, nsize);
	if (!np)
		return NULL;
	e->mem = e->mem - old + nsize;
	return np;
}

static struct eval *eval_of(lua_State *L)
{
	void *ud = NULL;

	lua_getallocf(L, &ud);
	return ud;
}

static void eval_hook(lua_State *L, lua_Debug *ar)
{
	struct eval *e = eval_of(L);

	(void)ar;
	if (++e->hooks >= e->max_hooks) {
		e->too_long = true;
		luaL_error(L, "condition ran too long");
	}
}

static void push_value(lua_State *L, const struct sw_value *v)
{
	size_t i;

	switch (v->kind) {
	case SW_VALUE_NUMBER:
		lua_pushnumber(L, v->num);
		break;
	case SW_VALUE_INTEGER:
		lua_pushinteger(L, (lua_Integer)v->integer);
		break;
	case SW_VALUE_BOOL:
		lua_pushboolean(L, v->boolean);
		break;
	case SW_VALUE_STRING:
		lua_pushlstring(L, v->str, v->str_len);
		break;
	case SW_VALUE_LIST:
		lua_createtable(L, (int)v->nlist, 0);
		for (i = 0; i < v->nlist; i++) {
			lua_pushnumber(L, v->list[i]);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	default:
		lua_pushnil(L);
		break;
	}
}

/* _ENV's __index(env, name): a measured value (kept in env from then on), or an error. */
static int env_index(lua_State *L)
{
	struct eval *e = lua_touserdata(L, lua_upvalueindex(1));
	struct sw_value *v;
	const char *name;

	if (lua_type(L, 2) != LUA_TSTRING) {
		lua_pushnil(L);
		return 1;
	}
	name = lua_tostring(L, 2);
	v = sw_values_find(e->vs, name);
	if (!v) {
		sw_strlcpy(e->unknown, name, sizeof(e->unknown));
		return luaL_error(L, "unknown name");
	}
	if (v->kind == SW_VALUE_ABSENT || v->kind == SW_VALUE_UNSET) {
		e->absent = v;
		return luaL_error(L, "no value");
	}
	v->read = true;
	lua_pushvalue(L, 2);
	push_value(L, v);
	lua_pushvalue(L, -1);
	lua_insert(L, -3);  /* value, name, value */
	lua_rawset(L, 1);   /* env[name] = value */
	return 1;
}

static int env_newindex(lua_State *L)
{
	struct eval *e = lua_touserdata(L, lua_upvalueindex(1));
	const char *name = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";

	sw_strlcpy(e->assigned, name, sizeof(e->assigned));
	return luaL_error(L, "conditions cannot assign");
}

/* Runs in protected mode: builds _ENV, compiles and calls the chunk. */
static int eval_main(lua_State *L)
{
	struct eval *e = lua_touserdata(L, 1);

	lua_settop(L, 0);
	lua_createtable(L, 0, 4); /* 1: env */
	luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
	lua_pushnil(L);
	lua_setfield(L, -2, "random");
	lua_pushnil(L);
	lua_setfield(L, -2, "randomseed");
	lua_setfield(L, 1, "math");
	lua_createtable(L, 0, 2);
	lua_pushlightuserdata(L, e);
	lua_pushcclosure(L, env_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushlightuserdata(L, e);
	lua_pushcclosure(L, env_newindex, 1);
	lua_setfield(L, -2, "__newindex");
	lua_setmetatable(L, 1);
	if (luaL_loadbufferx(L, e->chunk, e->chunk_len, "=condition", "t") != LUA_OK)
		return lua_error(L);
	lua_pushvalue(L, 1);
	if (!lua_setupvalue(L, -2, 1)) /* its only upvalue is _ENV */
		lua_pop(L, 1);
	lua_call(L, 0, 1);
	return 1;
}

/* A Lua message without its "condition:2: " prefix. */
static const char *strip_where(const char *m)
{
	const char *p;

	if (!m)
		return "unknown error";
	if (!strncmp(m, "condition:", 10)) {
		p = m + 10;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p > m + 10 && p[0] == ':' && p[1] == ' ')
			return p + 2;
	}
	return m;
}

static enum sw_condition_outcome result(struct sw_condition_result *out, enum sw_condition_outcome oc,
					enum sw_verdict v, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum sw_condition_outcome result(struct sw_condition_result *out, enum sw_condition_outcome oc,
					enum sw_verdict v, const char *fmt, ...)
{
	va_list ap;

	out->outcome = oc;
	out->verdict = v;
	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
	return oc;
}

enum sw_condition_outcome sw_condition_eval(const char *expr, struct sw_values *vs, size_t max_memory,
					    unsigned max_instructions, struct sw_condition_result *out)
{
	struct eval e = { .vs = vs };
	struct sw_buf chunk = SW_BUF_INIT(SW_BUF_UNLIMITED);
	enum sw_condition_outcome oc;
	unsigned step;
	lua_State *L;
	int st;

	e.max_mem = max_memory ? max_memory : SW_CONDITION_MAX_MEMORY;
	if (!max_instructions)
		max_instructions = SW_CONDITION_MAX_INSTRUCTIONS;
	step = max_instructions < HOOK_STEP ? max_instructions : HOOK_STEP;
	e.max_hooks = max_instructions / step;
	/* newlines keep a trailing "--" comment from swallowing the ')' */
	sw_buf_printf(&chunk, "return (\n%s\n)", expr);
	e.chunk = chunk.data;
	e.chunk_len = chunk.len;
	L = lua_newstate(eval_alloc, &e);
	if (!L) {
		sw_buf_release(&chunk);
		return result(out, SW_CONDITION_ERROR, SW_VERDICT_ERROR, "condition needs more than %zu bytes of memory",
			      e.max_mem);
	}
	lua_sethook(L, eval_hook, LUA_MASKCOUNT, (int)step);
	lua_pushcfunction(L, eval_main);
	lua_pushlightuserdata(L, &e);
	st = lua_pcall(L, 1, 1, 0);
	if (st == LUA_OK && lua_type(L, -1) == LUA_TBOOLEAN)
		oc = result(out, lua_toboolean(L, -1) ? SW_CONDITION_TRUE : SW_CONDITION_FALSE, SW_VERDICT_SUCCESS, "%s", "");
	else if (st == LUA_OK)
		oc = result(out, SW_CONDITION_ERROR, SW_VERDICT_ERROR, "condition gave %s%s, not true or false",
			    lua_type(L, -1) == LUA_TNIL ? "" : "a ", luaL_typename(L, -1));
	else if (st == LUA_ERRMEM)
		oc = result(out, SW_CONDITION_ERROR, SW_VERDICT_ERROR, "condition needs more than %zu bytes of memory",
			    e.max_mem);
	else if (e.too_long)
		oc = result(out, SW_CONDITION_ERROR, SW_VERDICT_ERROR,
			    "condition ran too long (more than %u instructions)", max_instructions);
	else if (e.absent)
		oc = result(out, SW_CONDITION_ABSENT, e.absent->kind == SW_VALUE_ABSENT ? e.absent->verdict : SW_VERDICT_ERROR,
			    "'%s' has no value: %s", e.absent->name,
			    e.absent->kind == SW_VALUE_ABSENT ? e.absent->why : "the provider did not measure it");
	else if (e.unknown[0])
		oc = result(out, SW_CONDITION_ERROR, SW_VERDICT_ERROR, "condition refers to '%s', which the %s provider does not measure",
			    e.unknown, sw_spec_provider_name(vs->provider));
	else if (e.assigned[0])
		oc = result(out, SW_CONDITION_ERROR, SW_VERDICT_ERROR, "conditions cannot assign '%s'", e.assigned);
	else
		oc = result(out, SW_CONDITION_ERROR, SW_VERDICT_ERROR, "condition failed: %s",
			    strip_where(lua_tostring(L, -1)));
	lua_close(L);
	sw_buf_release(&chunk);
	return oc;
}

/* The expression on one line, at most 80 bytes, for messages. */
static const char *short_expr(const char *expr, char *out, size_t size)
{
	size_t i = 0, max = size - 4 < 80 ? size - 4 : 80;
	bool space = false;

	for (; *expr == ' ' || *expr == '\t' || *expr == '\n' || *expr == '\r'; expr++)
		;
	for (; *expr && i < max; expr++) {
		unsigned char ch = (unsigned char)*expr;

		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			space = true;
			continue;
		}
		if (space && i + 1 < max)
			out[i++] = ' ';
		space = false;
		out[i++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (*expr && i == max)
		memcpy(out + i, "...", 4);
	else
		out[i] = '\0';
	return out;
}

/* " (a = 1, b = 2)" of the values read, or "". */
static const char *reads(const struct sw_values *vs, char *out, size_t size)
{
	struct sw_buf b = SW_BUF_INIT(size - 1);
	size_t i, k = 0;

	for (i = 0; i < vs->n; i++) {
		char v[64];

		if (!vs->v[i].read)
			continue;
		sw_buf_printf(&b, "%s%s = %s", k++ ? ", " : " (", vs->v[i].name, sw_values_format(&vs->v[i], v, sizeof(v)));
	}
	if (k)
		sw_buf_putc(&b, ')');
	sw_strlcpy(out, sw_buf_failed(&b) ? "" : sw_buf_str(&b), size);
	sw_buf_release(&b);
	return out;
}

enum sw_verdict sw_condition_verdict(const struct sw_spec_analysis *a, struct sw_values *vs, char *msg, size_t size)
{
	struct sw_condition_result r;
	char fx[96], sx[96], rd[400];

	sw_values_clear_read(vs);
	if (a->failure) {
		short_expr(a->failure, fx, sizeof(fx));
		switch (sw_condition_eval(a->failure, vs, 0, 0, &r)) {
		case SW_CONDITION_TRUE:
			snprintf(msg, size, "failure condition '%s' is true%s", fx, reads(vs, rd, sizeof(rd)));
			return SW_VERDICT_FAILURE;
		case SW_CONDITION_FALSE:
			break;
		default:
			snprintf(msg, size, "failure condition '%s': %s", fx, r.msg);
			return r.verdict;
		}
		if (!a->success) {
			snprintf(msg, size, "failure condition '%s' is false%s", fx, reads(vs, rd, sizeof(rd)));
			return SW_VERDICT_SUCCESS;
		}
	}
	SW_BUG_ON(!a->success); /* the loader requires success or failure */
	short_expr(a->success, sx, sizeof(sx));
	switch (sw_condition_eval(a->success, vs, 0, 0, &r)) {
	case SW_CONDITION_TRUE:
		snprintf(msg, size, "success condition '%s' is true%s", sx, reads(vs, rd, sizeof(rd)));
		return SW_VERDICT_SUCCESS;
	case SW_CONDITION_FALSE:
		if (a->failure) {
			snprintf(msg, size, "success condition '%s' and failure condition '%s' are both false%s", sx, fx,
				 reads(vs, rd, sizeof(rd)));
			return SW_VERDICT_INCONCLUSIVE;
		}
		snprintf(msg, size, "success condition '%s' is false%s", sx, reads(vs, rd, sizeof(rd)));
		return SW_VERDICT_FAILURE;
	default:
		snprintf(msg, size, "success condition '%s': %s", sx, r.msg);
		return r.verdict;
	}
}
