/*
 * fuzz_mime - libFuzzer harness for the MIME walk and banned-name checks
 *
 * LLVMFuzzerTestOneInput() hands the input to the banned-content stage
 * (scan_banned_stage, configured with the defaults once) as a received
 * message: GMime parses it, mime_walk() visits every part and archive
 * member (libarchive), libmagic types each, and the [banned] rules judge
 * the names. Checked beyond "no crash, no leak, no UB": the stage returns
 * OK or UNCHECKED, never TEMPFAIL; UNCHECKED always comes with a reason;
 * every banned name recorded is printable (no control characters), since
 * it goes into log lines, headers and alerts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <glib.h>

#include "conf.h"
#include "scand/msg.h"
#include "scand/scan_banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *fuzz_mime_state;

static void fuzz_mime_init(void)
{
	char *err = NULL;
	struct conf *c = conf_defaults();

	if (scan_banned_stage.init(c, &fuzz_mime_state, &err) != 0) {
		fprintf(stderr, "fuzz_mime: banned stage init: %s\n", err);
		abort();
	}
	conf_free(c);
}

static void fuzz_mime_check_printable(const GPtrArray *names)
{
	for (guint i = 0; names && i < names->len; i++)
		for (const unsigned char *p = names->pdata[i]; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fuzz_mime_state)
		fuzz_mime_init();
	struct msg *m = msg_new();
	m->data = data;
	m->len = size;
	enum stage_result r = scan_banned_stage.scan(fuzz_mime_state, m);
	if (r == STAGE_TEMPFAIL)
		abort();
	if (r == STAGE_UNCHECKED && (m->category != CAT_UNCHECKED && m->category != CAT_BANNED))
		abort();
	fuzz_mime_check_printable(m->banned_names);
	m->data = NULL;
	m->len = 0;
	msg_free(m);
	return 0;
}
