/*
 * scan_badh - the bad-header stage (see scan_badh.c for the checks)
 *
 * scan_badh_stage sets CAT_BADH for a header section that breaks RFC 5322
 * (long lines, control or 8-bit characters, missing From/Date, duplicated
 * single fields) and adds X-Gatehouse-Alert to the forwarded copy.
 * scan_badh_check() gives the first finding (g_free) or NULL.
 */
#ifndef GH_SCAN_BADH_H
#define GH_SCAN_BADH_H

#include "stage.h"

extern const struct stage scan_badh_stage;

char *scan_badh_check(const unsigned char *data, size_t len, bool utf8);

#endif
