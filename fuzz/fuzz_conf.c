/*
 * fuzz_conf - libFuzzer harness for the configuration parser
 *
 * LLVMFuzzerTestOneInput() feeds the input to conf_load_text() as if it
 * were scand.conf. A parse either fails with a message that names the
 * input ("fuzz:LINE: ..." or "fuzz: ...") or succeeds, in which case every
 * key of the table is read back with its typed accessor: a value that
 * the loader accepted must be readable without a panic. Crashes, leaks
 * and undefined behaviour are reported by the sanitizers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read every key back through the accessor of its type. */
static void fuzz_conf_read_all(const struct conf *c)
{
	for (int i = 0; conf_table[i].section; i++) {
		const struct conf_key *k = &conf_table[i];
		if (!conf_str(c, k->section, k->name))
			abort();
		switch (k->type) {
		case CONF_INT:
		case CONF_SIZE:
		case CONF_TIME:
			(void)conf_int(c, k->section, k->name);
			break;
		case CONF_BOOL:
			(void)conf_bool(c, k->section, k->name);
			break;
		case CONF_DOUBLE:
			(void)conf_double(c, k->section, k->name);
			break;
		case CONF_STR:
		case CONF_ENUM:
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
	struct conf *c = conf_load_text("fuzz", (const char *)data, size, &err);

	if (!c) {
		/* A failure always says why and where. */
		if (!err || strncmp(err, "fuzz:", 5) != 0)
			abort();
		g_free(err);
		return 0;
	}
	if (err)
		abort();
	fuzz_conf_read_all(c);
	conf_free(c);
	return 0;
}
