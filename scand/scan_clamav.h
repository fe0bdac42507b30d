/*
 * scan_clamav - the virus stage: libclamav in-process
 *
 * scan_clamav_stage is a struct stage (stage.h). One engine is shared by
 * all worker threads; it is compiled once from the signature directories
 * in [clamav] database_dirs (missing or empty ones are skipped; none
 * loading is an error). A reload (stage reload = SIGHUP, or the watcher
 * thread noticing changed files every reload_check_interval; it starts
 * with the first scan, after scand's fork, and blocks all signals) builds the
 * new engine beside the old one and swaps it in; the old one is freed
 * when the last scan using it ends. A broken update keeps the old engine
 * and logs why. With low_memory_reload the old engine is released first
 * (scans wait for the new one; if it cannot be built, scans answer
 * TEMPFAIL until a later reload succeeds).
 *
 * scan() scans the message from memory with archive parsing: with
 * [clamav] decode_parts (the default) each MIME part as GMime decodes it,
 * then the raw message with libclamav's mail parser off; messages only
 * libclamav's mail parser can decode (mime_leaves() in mime_walk.h), and
 * every message with decode_parts = no, go to libclamav whole with mail
 * parsing on. max_scan_size counts the parts and what libclamav unpacks
 * from them (a file inspection callback). A signature -> CAT_VIRUS with the name in msg->virus_names
 * (".UNOFFICIAL" stripped, as amavisd users expect "Eicar-Test-Signature");
 * a limit or an encrypted archive/document -> CAT_UNCHECKED with the reason
 * (STAGE_UNCHECKED), never a silent pass; out of memory or no engine ->
 * STAGE_TEMPFAIL.
 *
 * scan_clamav_banner() gives "libclamav 1.4.6, 2 signatures, 2026-11-21"
 * for X-Virus-Scanned (g_free); scan_clamav_sigs() the loaded engine's
 * signature count and date (the start line, /metrics).
 * scan_clamav_reload_now() forces a reload
 * (tests, SIGHUP); scan_clamav_generation() counts successful loads.
 */
#ifndef GH_SCAN_CLAMAV_H
#define GH_SCAN_CLAMAV_H

#include <time.h>

#include "stage.h"

extern const struct stage scan_clamav_stage;

char *scan_clamav_banner(void *state);
/* Signatures in the loaded engine and, in *built unless NULL, when its
 * database was built (its newest file's mtime when it does not say);
 * 0 and 0 without an engine. */
unsigned scan_clamav_sigs(void *state, time_t *built);
int scan_clamav_reload_now(void *state, char **err);
unsigned scan_clamav_generation(void *state);

#endif
