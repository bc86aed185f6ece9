/* Small text helpers shared by the modules that suggest a name for a typo. */
#ifndef GREENTUNE_UTIL_TEXT_H
#define GREENTUNE_UTIL_TEXT_H

/* Optimal string alignment distance (Levenshtein plus adjacent swaps) of two
 * short names. Names are short, so a 64-column table is enough: a name of 64
 * bytes or more is TEXT_FAR from everything. */
#define TEXT_FAR 99
int text_edit_distance(const char *a, const char *b);

#endif
