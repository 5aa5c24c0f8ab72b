/*
 * suggest.c - "did you mean" by edit distance (see suggest.h).
 * Calls only libc.
 */
#include "base/suggest.h"

#include <string.h>

unsigned sw_suggest_distance(const char *a, const char *b, unsigned cap)
{
	unsigned d[SW_SUGGEST_MAX_WORD + 1][SW_SUGGEST_MAX_WORD + 1];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > SW_SUGGEST_MAX_WORD || lb > SW_SUGGEST_MAX_WORD || (la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	for (i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			unsigned v = d[i - 1][j] + 1, cost = a[i - 1] != b[j - 1];

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb] <= cap ? d[la][lb] : cap + 1;
}

void sw_suggest_init(struct sw_suggest *s, const char *word, bool prefixes)
{
	s->word = word;
	s->prefixes = prefixes;
	s->best = NULL;
	s->dist = 0;
	s->by_prefix = false;
}

/* One starts with the other, the shorter having 3 or more characters (and the two differing). */
static bool sw_suggest_prefix(const char *word, const char *cand)
{
	size_t lw = strlen(word), lc = strlen(cand), n = lw < lc ? lw : lc;

	return n >= 3 && lw != lc && !strncmp(word, cand, n);
}

void sw_suggest_add(struct sw_suggest *s, const char *cand)
{
	unsigned d;
	bool by_prefix = false;

	if (!cand || !*cand || !strcmp(s->word, cand))
		return;
	d = sw_suggest_distance(s->word, cand, 2);
	if (s->prefixes && d > 1 && sw_suggest_prefix(s->word, cand)) {
		d = 1; /* "hist" is closer to "history" than to "hosts" */
		by_prefix = true;
	}
	if (d > 2 || d >= strlen(s->word))
		return;
	/* on a tie a real one-edit typo beats a prefix: "outptu" is "output", not "out" */
	if (!s->best || d < s->dist || (d == s->dist && s->by_prefix && !by_prefix)) {
		s->best = cand;
		s->dist = d;
		s->by_prefix = by_prefix;
	}
}

const char *sw_suggest_best(const struct sw_suggest *s)
{
	return s->best;
}
