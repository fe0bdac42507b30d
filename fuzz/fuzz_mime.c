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
 * it goes into log lines, headers and alerts. The same input then goes
 * through mime_leaves(), the virus scan's part decoder: every part it gives
 * lies within the bounds, and their decoded bytes add up to no more than
 * max_total; then once more through the same struct mime_doc with a
 * smaller max_parts (the pre-parse part count, and the tree parsed once
 * and shared by the walks).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <glib.h>

#include "conf.h"
#include "scand/mime_walk.h"
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

static bool fuzz_mime_leaf(const unsigned char *data, size_t len, void *arg)
{
	int64_t *total = arg;
	if (len && !data)
		abort();
	*total += (int64_t)len;
	return true;
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
	const struct mime_limits lim = {.max_depth = 14, .max_parts = 1500, .max_total = 1 << 20};
	int64_t total = 0;
	struct mime_doc *doc = mime_doc_new(data, size);
	enum mime_leaves_result lr = mime_leaves(doc, &lim, fuzz_mime_leaf, &total);
	if (lr != MIME_LEAVES_DONE && lr != MIME_LEAVES_WHOLE)
		abort();
	if (total > lim.max_total)
		abort();
	/* the same doc again, as the pipeline's second stage sees it: the
	 * tree parsed for the first walk is reused, and a walk with a
	 * smaller max_parts is refused by the count, never by the tree */
	const struct mime_limits small = {.max_depth = 14, .max_parts = 2, .max_total = 1 << 20};
	total = 0;
	lr = mime_leaves(doc, &small, fuzz_mime_leaf, &total);
	if ((lr != MIME_LEAVES_DONE && lr != MIME_LEAVES_WHOLE) || total > small.max_total)
		abort();
	mime_doc_free(doc);
	m->data = NULL;
	m->len = 0;
	msg_free(m);
	return 0;
}
