/*
 * reconcile.c - the agent's pure decision rules (see reconcile.h).
 * Calls only libc.
 */
#include "agent/reconcile.h"

#include <string.h>

static bool sw_reconcile_streq(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	return strcmp(a, b) == 0;
}

bool sw_reconcile_same(const struct sw_reconcile_target *a, const struct sw_reconcile_target *b)
{
	return sw_reconcile_streq(a->digest, b->digest) && a->port == b->port &&
	       ((!a->run && !b->run) || sw_reconcile_streq(a->run, b->run));
}

bool sw_reconcile_satisfies(const struct sw_reconcile_target *cur, const struct sw_reconcile_target *target)
{
	return sw_reconcile_streq(cur->digest, target->digest) && cur->port == target->port &&
	       (!target->run || sw_reconcile_streq(cur->run, target->run));
}

enum sw_reconcile_change sw_reconcile_change(const struct sw_reconcile_target *have, bool have_removing,
					     const struct sw_reconcile_target *want)
{
	if (!want)
		return have && !have_removing ? SW_CHANGE_REMOVE : SW_CHANGE_KEEP;
	if (!have)
		return SW_CHANGE_CREATE;
	if (have_removing || !sw_reconcile_same(have, want))
		return SW_CHANGE_RETARGET;
	if (have->active != want->active)
		return SW_CHANGE_ACTIVE;
	return SW_CHANGE_KEEP;
}

enum sw_reconcile_step sw_reconcile_step(const struct sw_reconcile_view *v)
{
	bool crashed_due = v->cur.digest && !v->proc_alive && v->restart_due;

	if (v->remove)
		return v->proc_alive ? SW_STEP_STOP : SW_STEP_DONE;
	if (!v->has_target)
		return crashed_due ? SW_STEP_RESTART : SW_STEP_NONE;
	if (v->failed_seq == v->target_seq)
		return crashed_due ? SW_STEP_RESTART : SW_STEP_NONE;
	if (!v->target_valid)
		return SW_STEP_REJECT; /* reported even when what runs has the same digest */
	if (v->cur.digest && sw_reconcile_satisfies(&v->cur, &v->target))
		return crashed_due ? SW_STEP_RESTART : SW_STEP_NONE;
	return SW_STEP_DEPLOY;
}

const char *sw_reconcile_step_name(enum sw_reconcile_step s)
{
	static const char *const names[] = { "none", "deploy", "restart", "reject", "stop", "done" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}
