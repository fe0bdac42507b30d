/*
 * notify - the alert set: templates + who gets what (see notify.h)
 *
 * notify_load() reads the [notify] options and every template (all errors
 * are collected, one "FILE:LINE: what" per line, so `scand-notify check`
 * shows them all); notify_alerts() turns one verdict into outbox rows;
 * notify_render_stored() renders any kind for a stored message.
 * The rules on who is never alerted are in notify.h; the guards here
 * exist because every sender or recipient alert about forged or automatic
 * mail is backscatter to an innocent party.
 */
#include "notify.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <string.h>

#include "log.h"
#include "mailfmt.h"
#include "mailhdr.h"

#define NOTIFY_HEADERS_MAX 65536 /* original header block kept for alerts */

static const char *const kind_names[NOTIFY_NKINDS] = {
    "virus-sender",     "virus-recipient", "virus-admin", "banned-sender",
    "banned-recipient", "banned-admin",    "spam-admin",  "release",
    "digest",           "digest.html",
};

/* Lower-case substrings that mark a test signature. */
static const char *const test_virus_marks[] = {
    "eicar", "test-signature", "test.file", "clamav-test", "gatehouse-test", "gatehouse.test",
};

struct notify {
	gint refs; /* notify_ref / notify_free */
	struct notify_tmpl *t[NOTIFY_NKINDS];
	char *hostname;
	char *from;
	bool warn_virus_sender, warn_virus_recipient, warn_banned_sender, warn_banned_recipient;
	bool attach_headers;
	char **virus_admin, **banned_admin, **spam_admin; /* qualified addresses */
	char **forged;                                    /* lower-case globs */
};

const char *notify_kind_name(enum notify_kind k)
{
	if ((int)k < 0 || k >= NOTIFY_NKINDS)
		msg_panic("notify_kind_name: bad kind %d", (int)k);
	return kind_names[k];
}

int notify_kind_parse(const char *name)
{
	for (int i = 0; i < NOTIFY_NKINDS; i++)
		if (strcmp(name, kind_names[i]) == 0)
			return i;
	return -1;
}

/* A plain ASCII addr-spec we are willing to put in RCPT TO and To:. */
static bool notify_addr_ok(const char *a)
{
	const char *at = strrchr(a, '@');
	size_t n = strlen(a);
	if (!at || at == a || !at[1] || n > 254)
		return false;
	for (const unsigned char *c = (const unsigned char *)a; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f || strchr("<>()[],;:\\\"", *c))
			return false;
	return true;
}

/* "postmaster" -> "postmaster@host"; NULL when the result is not usable. */
static char *notify_qualify(const char *a, const char *host)
{
	char *q = strchr(a, '@') ? g_strdup(a) : g_strdup_printf("%s@%s", a, host);
	if (notify_addr_ok(q))
		return q;
	g_free(q);
	return NULL;
}

static char **notify_addr_list(const char *csv, const char *host, GString *errs, const char *key)
{
	GPtrArray *out = g_ptr_array_new();
	char **parts = g_strsplit(csv ? csv : "", ",", -1);
	for (char **p = parts; *p; p++) {
		char *a = g_strstrip(*p);
		if (!*a)
			continue;
		char *q = notify_qualify(a, host);
		if (q)
			g_ptr_array_add(out, q);
		else
			g_string_append_printf(errs, "[notify] %s: not an address: %s\n", key, a);
	}
	g_strfreev(parts);
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

static char **notify_globs(const char *csv)
{
	char **parts = g_strsplit(csv ? csv : "", ",", -1);
	GPtrArray *out = g_ptr_array_new();
	for (char **p = parts; *p; p++) {
		char *g = g_strstrip(*p);
		if (*g)
			g_ptr_array_add(out, g_ascii_strdown(g, -1));
	}
	g_strfreev(parts);
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

/* First existing file along the lookup order in notify.h. */
static char *notify_find(const char *override, const char *lang, const char *shipped, const char *kind)
{
	const char *dirs[2] = {override, shipped};
	for (int d = 0; d < 2; d++) {
		if (!dirs[d] || !*dirs[d])
			continue;
		char *p = lang && *lang ? g_build_filename(dirs[d], lang, kind, NULL) : NULL;
		if (p && g_file_test(p, G_FILE_TEST_IS_REGULAR))
			return p;
		g_free(p);
		p = g_build_filename(dirs[d], kind, NULL);
		if (g_file_test(p, G_FILE_TEST_IS_REGULAR))
			return p;
		g_free(p);
	}
	return NULL;
}

static void notify_load_templates(struct notify *n, const struct conf *c, const char *shipped, GString *errs)
{
	const char *lang = conf_str(c, "notify", "language");
	if (strchr(lang, '/') || strcmp(lang, "..") == 0)
		g_string_append_printf(errs, "[notify] language: not a directory name: %s\n", lang);
	for (int k = 0; k < NOTIFY_NKINDS; k++) {
		char *err = NULL;
		char *path = notify_find(conf_str(c, "notify", "template_dir"), lang, shipped, kind_names[k]);
		if (!path) {
			g_string_append_printf(errs, "%s/%s: no such template\n", shipped, kind_names[k]);
			continue;
		}
		n->t[k] = notify_tmpl_load(path, &err);
		if (!n->t[k]) {
			g_string_append_printf(errs, "%s\n", err);
			g_free(err);
		}
		g_free(path);
	}
}

char *notify_conf_hostname(const struct conf *c)
{
	return notify_header_safe(conf_hostname(c), 255);
}

char *notify_conf_from(const struct conf *c, const char *hostname)
{
	const char *from = conf_str(c, "notify", "from");
	if (*from)
		return notify_header_safe(from, 0);
	return g_strdup_printf("\"Content filter at %s\" <postmaster@%s>", hostname, hostname);
}

/* Whether From parses as at least one mailbox with an '@'. */
static bool notify_from_ok(const char *from)
{
	mailfmt_mime_init();
	InternetAddressList *l = internet_address_list_parse(NULL, from);
	bool ok = l && internet_address_list_length(l) > 0;
	for (int i = 0; ok && i < internet_address_list_length(l); i++) {
		InternetAddress *a = internet_address_list_get_address(l, i);
		ok = INTERNET_ADDRESS_IS_MAILBOX(a) &&
		     strchr(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)), '@') != NULL;
	}
	if (l)
		g_object_unref(l);
	return ok;
}

struct notify *notify_load(const struct conf *c, const char *shipped_dir, char **err)
{
	struct notify *n = g_new0(struct notify, 1);
	GString *errs = g_string_new("");

	n->refs = 1;

	n->hostname = notify_conf_hostname(c);
	n->from = notify_conf_from(c, n->hostname);
	if (!notify_from_ok(n->from))
		g_string_append_printf(errs, "[notify] from: not an address: %s\n", n->from);
	n->warn_virus_sender = conf_bool(c, "notify", "warn_virus_sender");
	n->warn_virus_recipient = conf_bool(c, "notify", "warn_virus_recipient");
	n->warn_banned_sender = conf_bool(c, "notify", "warn_banned_sender");
	n->warn_banned_recipient = conf_bool(c, "notify", "warn_banned_recipient");
	n->attach_headers = conf_bool(c, "notify", "attach_headers");
	n->virus_admin =
	    notify_addr_list(conf_str(c, "notify", "virus_admin"), n->hostname, errs, "virus_admin");
	n->banned_admin =
	    notify_addr_list(conf_str(c, "notify", "banned_admin"), n->hostname, errs, "banned_admin");
	n->spam_admin =
	    notify_addr_list(conf_str(c, "notify", "spam_admin"), n->hostname, errs, "spam_admin");
	n->forged = notify_globs(conf_str(c, "notify", "forged_sender_viruses"));
	notify_load_templates(n, c, shipped_dir ? shipped_dir : conf_str(c, "notify", "shipped_dir"), errs);
	if (errs->len) {
		g_string_truncate(errs, errs->len - 1);
		*err = g_string_free(errs, FALSE);
		notify_free(n);
		return NULL;
	}
	g_string_free(errs, TRUE);
	return n;
}

struct notify *notify_ref(struct notify *n)
{
	g_atomic_int_inc(&n->refs);
	return n;
}

void notify_free(struct notify *n)
{
	if (!n || !g_atomic_int_dec_and_test(&n->refs))
		return;
	for (int k = 0; k < NOTIFY_NKINDS; k++)
		notify_tmpl_free(n->t[k]);
	g_free(n->hostname);
	g_free(n->from);
	g_strfreev(n->virus_admin);
	g_strfreev(n->banned_admin);
	g_strfreev(n->spam_admin);
	g_strfreev(n->forged);
	g_free(n);
}

const struct notify_tmpl *notify_template(const struct notify *n, enum notify_kind k)
{
	return n->t[k];
}

bool notify_is_test_virus(const char *name)
{
	char *low = g_ascii_strdown(name, -1);
	bool test = false;
	for (size_t i = 0; i < G_N_ELEMENTS(test_virus_marks) && !test; i++)
		test = strstr(low, test_virus_marks[i]) != NULL;
	g_free(low);
	return test;
}

static bool notify_forged(const struct notify *n, const GPtrArray *viruses)
{
	for (guint i = 0; i < viruses->len; i++) {
		const char *name = viruses->pdata[i];
		if (notify_is_test_virus(name))
			continue;
		char *low = g_ascii_strdown(name, -1);
		bool hit = false;
		for (char **g = n->forged; *g && !hit; g++)
			hit = g_pattern_match_simple(*g, low);
		g_free(low);
		if (hit)
			return true;
	}
	return false;
}

/* A header value's first word: "auto-replied" of "auto-replied; x=y". */
static bool notify_word_is(const char *v, const char *word)
{
	while (*v == ' ' || *v == '\t')
		v++;
	size_t w = strcspn(v, " \t;(");
	return w == strlen(word) && g_ascii_strncasecmp(v, word, w) == 0;
}

bool notify_is_auto_generated(const unsigned char *data, size_t len)
{
	char *as = mailhdr_get_raw(data, len, "Auto-Submitted");
	char *prec = mailhdr_get_raw(data, len, "Precedence");
	bool autogen = (as && !notify_word_is(as, "no")) ||
	               (prec && (notify_word_is(prec, "bulk") || notify_word_is(prec, "list") ||
	                         notify_word_is(prec, "junk")));
	g_free(as);
	g_free(prec);
	return autogen;
}

/* The header block without the empty line that ends it, at most max bytes. */
static char *notify_header_block(const unsigned char *d, size_t len, size_t max)
{
	size_t hl = mailhdr_body_offset(d, len);
	while (hl && (d[hl - 1] == '\n' || d[hl - 1] == '\r'))
		hl--;
	char *h = g_strndup((const char *)d, MIN(hl, max));
	char *out = g_strconcat(h, "\n", NULL);
	g_free(h);
	return out;
}

static char *notify_date(time_t t)
{
	GDateTime *dt = g_date_time_new_from_unix_local(t);
	char *s = g_date_time_format(dt, "%a, %d %b %Y %H:%M:%S %z");
	g_date_time_unref(dt);
	return s;
}

/* Values common to every alert of a message. */
static void notify_vars_common(struct notify_vars *v, const struct notify *n, const char *sender,
                               const char *category, const char *mail_id, const char *qpath,
                               const char *subject, const char *message_id, const char *client, time_t when)
{
	char *date = notify_date(when);
	notify_vars_add(v, NV_SENDER, sender && *sender ? sender : "<>");
	notify_vars_add(v, NV_CATEGORY, category);
	notify_vars_add(v, NV_MAIL_ID, mail_id);
	notify_vars_add(v, NV_QUARANTINE_PATH, qpath);
	notify_vars_add(v, NV_SUBJECT, subject);
	notify_vars_add(v, NV_MESSAGE_ID, message_id);
	notify_vars_add(v, NV_CLIENT_ADDR, client);
	notify_vars_add(v, NV_DATE, date);
	notify_vars_add(v, NV_HOSTNAME, n->hostname);
	g_free(date);
}

static void notify_vars_score(struct notify_vars *v, bool checked, double score)
{
	if (!checked)
		return;
	char buf[G_ASCII_DTOSTR_BUF_SIZE];
	notify_vars_add(v, NV_SPAM_SCORE, g_ascii_formatd(buf, sizeof(buf), "%.1f", score));
}

static void notify_vars_from_store(struct notify_vars *v, const struct notify *n, const struct store_msg *m)
{
	notify_vars_init(v);
	notify_vars_common(v, n, m->sender, m->category, m->mail_id, m->quar_path, m->subject, m->message_id,
	                   m->client_addr, (time_t)m->time);
	for (size_t i = 0; i < m->nrcpt; i++)
		notify_vars_add(v, NV_RECIPIENTS, m->rcpt[i].addr);
	notify_vars_add_csv(v, NV_VIRUS_NAMES, m->virus_names);
	notify_vars_add_csv(v, NV_BANNED_NAMES, m->banned_names);
	notify_vars_score(v, m->spam_checked, m->spam_score);
	notify_vars_add_csv(v, NV_SPAM_TESTS, m->spam_tests);
}

static bool is_admin_kind(enum notify_kind k)
{
	return k == NOTIFY_VIRUS_ADMIN || k == NOTIFY_BANNED_ADMIN || k == NOTIFY_SPAM_ADMIN;
}

/* Renders one alert into out; 0, or -1 with *err. */
static int notify_make(const struct notify *n, enum notify_kind k, const char *to, const char *mail_id,
                       const struct notify_vars *v, struct store_alert *out, char **err)
{
	if (!notify_addr_ok(to)) {
		*err = g_strdup("not a plain address");
		return -1;
	}
	const GPtrArray *oh = v->v[NV_ORIGINAL_HEADERS];
	struct notify_msg_spec spec = {
	    .from = n->from,
	    .to = to,
	    .hostname = n->hostname,
	    .mail_id = mail_id,
	    .kind = kind_names[k],
	    .tmpl = n->t[k],
	    .html = k == NOTIFY_DIGEST ? n->t[NOTIFY_DIGEST_HTML] : NULL,
	    .vars = v,
	    .attach_headers = is_admin_kind(k) && n->attach_headers && oh->len ? oh->pdata[0] : NULL,
	    .date = time(NULL),
	};
	out->body = notify_build_message(&spec, &out->body_len, err);
	if (!out->body)
		return -1;
	out->kind = g_strdup(kind_names[k]);
	out->env_from = g_strdup(""); /* <> for every alert: nothing bounces back to us */
	out->rcpt = g_strdup(to);
	return 0;
}

static void notify_push(GArray *a, const struct notify *n, enum notify_kind k, const char *to,
                        const struct store_msg *m, const struct notify_vars *v)
{
	struct store_alert al = {0};
	char *err = NULL;
	if (notify_make(n, k, to, m->mail_id, v, &al, &err) < 0) {
		char *p = log_printable(to, 200);
		msg_warn("(%s) no %s alert to <%s>: %s", m->mail_id, kind_names[k], p, err);
		g_free(p);
		g_free(err);
		return;
	}
	g_array_append_val(a, al);
}

/* A recipient that did not get the message (and will not on a retry). */
static bool notify_rcpt_blocked(const struct store_rcpt *r)
{
	return r->addr && r->destiny && strcmp(r->destiny, "pass") != 0 && strcmp(r->destiny, "tempfail") != 0;
}

/* The per-recipient alert names only that recipient. */
static void notify_push_rcpts(GArray *a, const struct notify *n, enum notify_kind k,
                              const struct store_msg *m, struct notify_vars *v)
{
	GPtrArray *all = v->v[NV_RECIPIENTS];
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct store_rcpt *r = &m->rcpt[i];
		if (!notify_rcpt_blocked(r))
			continue;
		v->v[NV_RECIPIENTS] = g_ptr_array_new_with_free_func(g_free);
		notify_vars_add(v, NV_RECIPIENTS, r->addr);
		notify_push(a, n, k, r->addr, m, v);
		g_ptr_array_free(v->v[NV_RECIPIENTS], TRUE);
		v->v[NV_RECIPIENTS] = all;
	}
}

static void notify_push_admins(GArray *a, const struct notify *n, enum notify_kind k, char **admins,
                               const struct store_msg *m, const struct notify_vars *v)
{
	for (char **ad = admins; *ad; ad++)
		notify_push(a, n, k, *ad, m, v);
}

void notify_alerts(const struct notify *n, const struct store_msg *m, const unsigned char *hdr,
                   size_t hdr_len, struct store_alert **out, size_t *nout)
{
	GArray *a = g_array_new(FALSE, TRUE, sizeof(struct store_alert));
	struct notify_vars v;
	const char *cat = m->category ? m->category : "";
	bool virus = strcmp(cat, "virus") == 0, banned = strcmp(cat, "banned") == 0;
	/* sender/recipient alerts only for mail a person sent: see notify.h */
	bool personal = m->sender && *m->sender && !(hdr && notify_is_auto_generated(hdr, hdr_len));

	*out = NULL;
	*nout = 0;
	if (!virus && !banned && strcmp(cat, "spam") != 0) {
		g_array_free(a, TRUE);
		return;
	}
	notify_vars_from_store(&v, n, m);
	if (hdr) {
		char *h = notify_header_block(hdr, hdr_len, NOTIFY_HEADERS_MAX);
		notify_vars_add(&v, NV_ORIGINAL_HEADERS, h);
		g_free(h);
	}
	if (virus) {
		notify_push_admins(a, n, NOTIFY_VIRUS_ADMIN, n->virus_admin, m, &v);
		if (personal && n->warn_virus_recipient)
			notify_push_rcpts(a, n, NOTIFY_VIRUS_RECIPIENT, m, &v);
		if (personal && n->warn_virus_sender && !notify_forged(n, v.v[NV_VIRUS_NAMES]))
			notify_push(a, n, NOTIFY_VIRUS_SENDER, m->sender, m, &v);
	} else if (banned) {
		notify_push_admins(a, n, NOTIFY_BANNED_ADMIN, n->banned_admin, m, &v);
		if (personal && n->warn_banned_recipient)
			notify_push_rcpts(a, n, NOTIFY_BANNED_RECIPIENT, m, &v);
		if (personal && n->warn_banned_sender)
			notify_push(a, n, NOTIFY_BANNED_SENDER, m->sender, m, &v);
	} else {
		notify_push_admins(a, n, NOTIFY_SPAM_ADMIN, n->spam_admin, m, &v);
	}
	notify_vars_clear(&v);
	*nout = a->len;
	*out = (struct store_alert *)g_array_free(a, a->len == 0);
}

void notify_alert_clear(struct store_alert *a)
{
	g_free(a->kind);
	g_free(a->env_from);
	g_free(a->rcpt);
	g_free(a->body);
	memset(a, 0, sizeof(*a));
}

void notify_alerts_free(struct store_alert *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		notify_alert_clear(&a[i]);
	g_free(a);
}

int notify_render_stored(const struct notify *n, const struct store_msg *m, enum notify_kind k,
                         const char *rcpt, struct store_alert *out, char **err)
{
	struct notify_vars v;
	char *to = notify_qualify(rcpt, n->hostname);

	memset(out, 0, sizeof(*out));
	if (k == NOTIFY_DIGEST || k == NOTIFY_DIGEST_HTML) {
		g_free(to);
		*err = g_strdup("a digest is about a recipient, not one message: scand-notify digest");
		return -1;
	}
	if (!to) {
		char *p = log_printable(rcpt, 200);
		*err = g_strdup_printf("not a plain address: %s", p);
		g_free(p);
		return -1;
	}
	notify_vars_from_store(&v, n, m);
	int rc = notify_make(n, k, to, m->mail_id, &v, out, err);
	notify_vars_clear(&v);
	g_free(to);
	return rc;
}

int notify_render_digest(const struct notify *n, const char *to, struct notify_vars *v, struct store_alert *out,
                         char **err)
{
	memset(out, 0, sizeof(*out));
	notify_vars_add(v, NV_HOSTNAME, n->hostname);
	return notify_make(n, NOTIFY_DIGEST, to, "", v, out, err);
}
