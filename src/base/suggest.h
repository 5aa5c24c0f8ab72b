/*
 * suggest.h - "did you mean": the closest of a set of known words to a word
 * that was not recognised (a command, an option, a YAML key, a job name).
 *
 * One edit distance (optimal string alignment: insertions, deletions,
 * substitutions and swaps of two adjacent characters, each costing 1) and
 * one rule for what is close enough to suggest: at most 2 edits and fewer
 * edits than the word has characters. With `prefixes` set, a word that
 * starts with a known word of 3 or more characters (`--environment` for
 * `--env`), or is the start of one (`hist` for `history`), counts as one
 * edit away (a true one-edit typo wins a tie with a prefix).
 * Ties keep the first candidate added. Borrows every string; owns nothing.
 * Calls only libc.
 */
#ifndef SW_SUGGEST_H
#define SW_SUGGEST_H

#include <stdbool.h>
#include <stddef.h>

/* Longest word compared; longer words are never close to anything. */
#define SW_SUGGEST_MAX_WORD 64

struct sw_suggest {
	const char *word; /* what was typed (borrowed) */
	bool prefixes;	  /* also suggest by prefix (see above) */
	const char *best; /* the suggestion so far, or NULL (borrowed from a candidate) */
	unsigned dist;	  /* its distance */
	bool by_prefix;	  /* best was found by prefix */
};

/* Optimal string alignment distance of a and b, or cap + 1 when it is more than cap. */
unsigned sw_suggest_distance(const char *a, const char *b, unsigned cap);
void sw_suggest_init(struct sw_suggest *s, const char *word, bool prefixes);
/* Consider one known word (NULL and "" are ignored). */
void sw_suggest_add(struct sw_suggest *s, const char *candidate);
/* The closest candidate worth suggesting, or NULL. */
const char *sw_suggest_best(const struct sw_suggest *s);

#endif
