/*
 * mailcat - category and destiny names (see mailcat.h)
 *
 * Functions: msg_category_name, msg_destiny_name, msg_category_parse,
 * msg_destiny_parse.
 */
#include "mailcat.h"

#include <glib.h>
#include <string.h>

static const char *const cat_names[] = {"clean", "spammy", "oversized", "badh",
					"spam",  "unchecked", "banned", "virus"};
static const char *const destiny_names[] = {"pass", "discard", "bounce", "reject", "tempfail"};

const char *msg_category_name(enum msg_category c)
{
	return (unsigned)c < G_N_ELEMENTS(cat_names) ? cat_names[c] : "clean";
}

const char *msg_destiny_name(enum msg_destiny d)
{
	return (unsigned)d < G_N_ELEMENTS(destiny_names) ? destiny_names[d] : "pass";
}

int msg_category_parse(const char *name)
{
	for (unsigned i = 0; name && i < G_N_ELEMENTS(cat_names); i++)
		if (strcmp(name, cat_names[i]) == 0)
			return (int)i;
	return -1;
}

int msg_destiny_parse(const char *name)
{
	for (unsigned i = 0; name && i < G_N_ELEMENTS(destiny_names); i++)
		if (strcmp(name, destiny_names[i]) == 0)
			return (int)i;
	return -1;
}
