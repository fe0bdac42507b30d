/*
 * policy - per-recipient policy: what each recipient's copy gets
 *
 * policy_load() reads the [policy] and [spam] defaults and the lookup file
 * ([policy] lookup_file) in simscan's simcontrol syntax, one line each:
 *
 *     postmaster@example.com:clam=yes,spam=no,attach=.txt:.com
 *     example.com:clam=no,spam=yes,attach=.mp3
 *     :clam=yes,spam=yes,spam_hits=20.1
 *
 * Keys: clam= and spam= (yes/no: use the virus / spam verdict for this
 * recipient), spam_hits= (this recipient's kill level), attach= (extra
 * banned extensions for this recipient, added to the [banned] rules).
 * Keys a line does not give come from the default line (":"), then from
 * the config. '#' starts a comment; blank lines are ignored. A malformed
 * line fails the load with "FILE:LINE: reason".
 *
 * policy_lookup(): full address, then the address without its +/-
 * extension (user+ext@dom -> user@dom), then the domain, then the default
 * line, then the config defaults. Case-insensitive.
 *
 * policy_apply() gives every recipient of a message its effective category
 * (from msg->found, the spam score and the recipient's policy; its allow
 * or block list entry rcpt->list, else the sender white/blacklist), its destiny and quarantine flag, and the name of the
 * policy line in rcpt->policy; msg->category becomes the highest effective
 * category. BOUNCE is downgraded to DISCARD for viruses (forged senders)
 * and for the null sender. Returns the number of distinct destinies.
 *
 * A db is immutable and reference-counted: reloads build a new one.
 */
#ifndef GH_POLICY_H
#define GH_POLICY_H

#include "conf.h"
#include "msg.h"

struct policy {
	char *name;     /* the lookup key that matched; "" = default line; "[policy]" = config */
	bool clam;
	bool spam;
	double kill;    /* spam_hits, or [spam] kill_level */
	char **attach;  /* lower-case extensions with their dot; never NULL */
};

struct policy_db;

struct policy_db *policy_load(const struct conf *c, char **err);
struct policy_db *policy_ref(struct policy_db *db);
void policy_unref(struct policy_db *db);

const struct policy *policy_lookup(const struct policy_db *db, const char *rcpt);
/* Parses one simcontrol line into (key, policy) over base; -1 with *err. */
int policy_parse_line(const char *line, const struct policy *base, char **key, struct policy **out, char **err);
void policy_free(struct policy *p);

enum msg_category policy_rcpt_category(const struct policy_db *db, const struct policy *p, struct msg *m);
int policy_apply(const struct policy_db *db, struct msg *m);
enum msg_destiny policy_destiny(const struct policy_db *db, enum msg_category c);
bool policy_quarantine(const struct policy_db *db, enum msg_category c);
bool policy_archive(const struct policy_db *db);

#endif
