/*
 * mailcat - a verdict's category and a recipient's destiny, and their names
 *
 * The names are the ones the store keeps (msgs.category,
 * msgrcpt.destiny) and every program shows: scand sets them, notify decides
 * on them, quarctl and the report filter on them. msg_category_name() and
 * msg_destiny_name() never fail (an out-of-range value reads "clean" /
 * "pass"); the _parse functions return -1 for an unknown name.
 */
#ifndef GH_MAILCAT_H
#define GH_MAILCAT_H

/* Ascending precedence: a later value wins. */
enum msg_category {
	CAT_CLEAN = 0,
	CAT_SPAMMY,    /* passed, above tag2 but below kill */
	CAT_OVERSIZED,
	CAT_BADH,
	CAT_SPAM,
	CAT_UNCHECKED,
	CAT_BANNED,
	CAT_VIRUS,
};

enum msg_destiny { DESTINY_PASS = 0, DESTINY_DISCARD, DESTINY_BOUNCE, DESTINY_REJECT, DESTINY_TEMPFAIL };

const char *msg_category_name(enum msg_category c); /* "clean", "virus", ... (store names) */
const char *msg_destiny_name(enum msg_destiny d);   /* "pass", ... */
int msg_category_parse(const char *name);           /* -1 if unknown */
int msg_destiny_parse(const char *name);            /* -1 if unknown */

#endif
