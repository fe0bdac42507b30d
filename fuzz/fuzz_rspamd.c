/*
 * fuzz_rspamd - libFuzzer harness for the mapping of rspamd's JSON reply
 *
 * LLVMFuzzerTestOneInput() gives the input to rspamc_parse() as if rspamd
 * had sent it. A parse either fails with a message, or fills a result
 * whose text (symbols, header edits, SMTP message) must be safe for a
 * header: no CR, LF or other control character, bounded; the tests
 * string too. Crashes, leaks and undefined behaviour are reported by the
 * sanitizers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "rspamc.h"
#include "spam.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_rspamd_safe(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spam_result r;
	char *err = NULL;
	if (rspamc_parse((const char *)data, size, &r, &err) < 0) {
		if (!err)
			abort();
		g_free(err);
		return 0;
	}
	struct spam_levels lv = {.tag = 2, .tag2 = 6.31, .kill = 6.31, .use_actions = true};
	spam_verdict_of(&lv, &r);
	char *tests = spam_result_tests(&r);
	fuzz_rspamd_safe(tests, 900);
	g_free(tests);
	for (guint i = 0; i < r.add_headers->len; i++)
		fuzz_rspamd_safe(g_ptr_array_index(r.add_headers, i), 1000);
	for (guint i = 0; i < r.remove_headers->len; i++)
		fuzz_rspamd_safe(g_ptr_array_index(r.remove_headers, i), 100);
	if (r.message)
		fuzz_rspamd_safe(r.message, 4 * 200 + 10);
	spam_result_clear(&r);
	return 0;
}
