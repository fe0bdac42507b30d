/*
 * digest - the recipients' digest (see digest.h)
 *
 * One pass over the store's items, grouped by recipient: each group keeps
 * at most [digest] max_items items (the newest, as the store orders them)
 * and counts the rest, so memory stays bounded by the largest digest,
 * not by the quarantine. A group is flushed (rendered) when the next
 * recipient starts; rendered digests are queued DIGEST_BATCH to a
 * transaction (each commit costs an fsync), and at the end.
 */
#include "digest.h"

#include <gmime/gmime.h>
#include <string.h>

#include "linktok.h"
#include "log.h"
#include "mailfmt.h"
#include "privs.h"

#define DIGEST_BATCH 256

struct digest_item {
	char *mail_id, *sender, *subject, *category;
	int64_t time, size;
};

/* One digest run's state. */
struct digest {
	const struct notify *n;
	const struct conf *c;
	struct store *st;
	const struct notify_digest_opts *o;
	struct notify_digest_stats *stats;
	GHashTable *prefs; /* target -> frequency */
	GHashTable *last;  /* rcpt -> int64 time of its last digest */
	struct linktok_key key;
	bool have_key;
	char *base_url;
	int64_t lifetime;
	guint max_items;
	/* the recipient being collected */
	char *rcpt;
	GPtrArray *items; /* struct digest_item*, at most max_items */
	int total;
	/* rendered, not yet queued (rcpt, period and the alert owned) */
	GArray *out; /* struct store_digest_out */
	/* the text rendering of the last group (for the preview) */
	char *preview;
	bool want_preview;
	char *err;
};

static void digest_item_free(gpointer p)
{
	struct digest_item *it = p;
	g_free(it->mail_id);
	g_free(it->sender);
	g_free(it->subject);
	g_free(it->category);
	g_free(it);
}

static bool csv_has(const char *csv, const char *word)
{
	char **parts = g_strsplit(csv ? csv : "", ",", -1);
	bool hit = false;
	for (char **p = parts; *p && !hit; p++)
		hit = g_ascii_strcasecmp(g_strstrip(*p), word) == 0;
	g_strfreev(parts);
	return hit;
}

bool notify_digest_self_release(const struct conf *c, const char *cat)
{
	/* a virus is never the recipient's to release, whatever the file says */
	return cat && strcmp(cat, "virus") != 0 && csv_has(conf_str(c, "digest", "self_release"), cat);
}

bool notify_digest_listed(const struct conf *c, const char *cat)
{
	return cat && csv_has(conf_str(c, "digest", "categories"), cat);
}

static int digest_pref_row(const char *target, const char *freq, void *arg)
{
	g_hash_table_insert(arg, g_strdup(target), g_strdup(freq));
	return 0;
}

static int digest_last_row(const char *rcpt, int64_t last, void *arg)
{
	int64_t *t = g_new(int64_t, 1);
	*t = last;
	g_hash_table_insert(arg, g_strdup(rcpt), t);
	return 0;
}

/* never, daily or weekly for rcpt: the address, its domain, the default. */
static const char *digest_frequency(const struct digest *d, const char *rcpt)
{
	const char *f = g_hash_table_lookup(d->prefs, rcpt);
	const char *at = strrchr(rcpt, '@');
	if (!f && at)
		f = g_hash_table_lookup(d->prefs, at + 1);
	return f ? f : conf_str(d->c, "digest", "frequency");
}

/* The period a digest for rcpt is due in, or NULL when it is not due. */
static char *digest_period(const struct digest *d, const char *rcpt)
{
	if (d->o->rcpt)
		return g_strdup_printf("now:%" G_GINT64_FORMAT, (int64_t)d->o->now);
	const char *f = digest_frequency(d, rcpt);
	GDateTime *dt = g_date_time_new_from_unix_utc(d->o->now);
	char *p = NULL;
	if (strcmp(f, "daily") == 0)
		p = g_date_time_format(dt, "daily:%Y-%m-%d");
	else if (strcmp(f, "weekly") == 0)
		p = g_date_time_format(dt, "weekly:%G-W%V");
	g_date_time_unref(dt);
	return p;
}

static int64_t digest_since(const struct digest *d, const char *rcpt)
{
	if (d->o->since)
		return d->o->since;
	const int64_t *t = g_hash_table_lookup(d->last, rcpt);
	return t ? *t : 0;
}

static int digest_key(struct digest *d)
{
	if (d->have_key)
		return 0;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	char *err = NULL;
	if (geteuid() == 0) { /* the daemon user reads the key too */
		if (privs_prepare(d->c, &err) < 0) {
			d->err = err;
			return -1;
		}
		privs_target(d->c, &uid, &gid);
	}
	if (linktok_key_load(conf_str(d->c, "web", "secret_file"), uid, gid, &d->key, &err) < 0) {
		d->err = err;
		return -1;
	}
	d->have_key = true;
	return 0;
}

static char *digest_url(struct digest *d, const char *rcpt, const char *mail_id, const char *action)
{
	char *tok = linktok_make(&d->key, rcpt, mail_id, action, (int64_t)d->o->now + d->lifetime);
	char *url = tok ? g_strdup_printf("%s/%s/%s", d->base_url, action, tok) : NULL;
	g_free(tok);
	return url;
}

char *notify_digest_subject(const char *raw)
{
	if (!raw || !strstr(raw, "=?"))
		return g_strdup(raw ? raw : "");
	mailfmt_mime_init();
	return g_mime_utils_header_decode_text(NULL, raw);
}

static void digest_item_vars(struct digest *d, struct notify_vars *v, const struct digest_item *it)
{
	struct notify_item *ni = notify_vars_add_item(v);
	GDateTime *dt = g_date_time_new_from_unix_local(it->time);
	char *when = g_date_time_format(dt, "%Y-%m-%d %H:%M");
	char *size = g_format_size((guint64)it->size);
	g_date_time_unref(dt);
	notify_item_set(ni, NI_TIME, when);
	notify_item_set(ni, NI_SENDER, *it->sender ? it->sender : "<>");
	notify_item_set(ni, NI_SUBJECT, *it->subject ? it->subject : "(no subject)");
	notify_item_set(ni, NI_CATEGORY, it->category);
	notify_item_set(ni, NI_SIZE, size);
	notify_item_set(ni, NI_MAIL_ID, it->mail_id);
	static const struct {
		const char *action;
		enum notify_item_field f;
	} links[] = {{"view", NI_VIEW_URL},
	             {"release", NI_RELEASE_URL},
	             {"delete", NI_DELETE_URL},
	             {"allow", NI_ALLOW_URL},
	             {"block", NI_BLOCK_URL}};
	bool self = notify_digest_self_release(d->c, it->category);
	for (size_t i = 0; i < G_N_ELEMENTS(links); i++) {
		enum notify_item_field f = links[i].f;
		if ((f == NI_RELEASE_URL || f == NI_ALLOW_URL) && !self)
			continue;
		if ((f == NI_ALLOW_URL || f == NI_BLOCK_URL) && !*it->sender)
			continue; /* the null sender cannot be listed */
		char *url = digest_url(d, d->rcpt, it->mail_id, links[i].action);
		notify_item_set(ni, links[i].f, url);
		g_free(url);
	}
	g_free(when);
	g_free(size);
}

/* The digest of the collected group: 0, or -1 with d->err. */
static int digest_render(struct digest *d, struct store_alert *a)
{
	struct notify_vars v;
	char num[32];
	if (digest_key(d) < 0)
		return -1;
	notify_vars_init(&v);
	notify_vars_add(&v, NV_RECIPIENTS, d->rcpt);
	g_snprintf(num, sizeof(num), "%d", d->total);
	notify_vars_add(&v, NV_TOTAL, num);
	if ((guint)d->total > d->items->len) {
		g_snprintf(num, sizeof(num), "%d", d->total - (int)d->items->len);
		notify_vars_add(&v, NV_MORE, num);
	}
	GDateTime *dt = g_date_time_new_from_unix_local(d->o->now);
	char *date = g_date_time_format(dt, "%Y-%m-%d");
	g_date_time_unref(dt);
	notify_vars_add(&v, NV_DATE, date);
	g_free(date);
	for (guint i = 0; i < d->items->len; i++)
		digest_item_vars(d, &v, d->items->pdata[i]);
	int rc = notify_render_digest(d->n, d->rcpt, &v, a, &d->err);
	if (rc == 0 && d->want_preview) {
		g_free(d->preview);
		d->preview = notify_tmpl_render_body(notify_template(d->n, NOTIFY_DIGEST), &v);
	}
	notify_vars_clear(&v);
	return rc;
}

/* Queues the rendered digests in one transaction: 0, or -1 with d->err. */
static int digest_commit(struct digest *d)
{
	int rc = 0;
	if (d->out->len == 0)
		return 0;
	struct store_digest_out *o = (struct store_digest_out *)(void *)d->out->data;
	if (store_digest_queue(d->st, o, d->out->len, (int64_t)d->o->now) < 0) {
		d->err = g_strdup(store_error(d->st));
		rc = -1;
	}
	for (guint i = 0; i < d->out->len; i++) {
		if (rc == 0 && o[i].already) {
			d->stats->already++;
		} else if (rc == 0) {
			d->stats->queued++;
			d->stats->items += o[i].items;
		}
		g_free((char *)o[i].rcpt);
		g_free((char *)o[i].period);
		notify_alert_clear(&o[i].a);
	}
	g_array_set_size(d->out, 0);
	return rc;
}

/* Renders the collected group when its recipient is due. */
static int digest_flush(struct digest *d)
{
	int rc = 0;
	if (!d->rcpt || d->total == 0)
		goto reset;
	char *period = digest_period(d, d->rcpt);
	if (!period)
		goto reset; /* never */
	if (d->o->dry_run) {
		if (d->want_preview) {
			struct store_alert a = {0};
			rc = digest_render(d, &a);
			notify_alert_clear(&a);
		} else
			fprintf(d->o->out, "%s: %d item(s)\n", d->rcpt, d->total);
		d->stats->items += d->total;
		g_free(period);
		goto reset;
	}
	struct store_alert a = {0};
	if (digest_render(d, &a) < 0) {
		char *p = log_printable(d->rcpt, 200);
		msg_warn("no digest for <%s>: %s", p, d->err);
		g_free(p);
		/* a recipient whose address cannot be mailed does not stop the
		 * others; a missing key does */
		rc = d->have_key ? 0 : -1;
		if (d->have_key)
			g_clear_pointer(&d->err, g_free);
		notify_alert_clear(&a);
		g_free(period);
	} else {
		struct store_digest_out o = {
		    .rcpt = g_strdup(d->rcpt), .period = period, .items = d->total, .a = a};
		g_array_append_val(d->out, o);
		if (d->out->len >= DIGEST_BATCH)
			rc = digest_commit(d);
	}
reset:
	g_clear_pointer(&d->rcpt, g_free);
	g_ptr_array_set_size(d->items, 0);
	d->total = 0;
	return rc;
}

static int digest_row(const struct store_digest_item *it, void *arg)
{
	struct digest *d = arg;
	if (!d->rcpt || strcmp(d->rcpt, it->rcpt) != 0) {
		if (digest_flush(d) < 0)
			return 1;
		d->rcpt = g_strdup(it->rcpt);
	}
	if (it->time < digest_since(d, it->rcpt))
		return 0;
	d->total++;
	if (d->items->len < d->max_items) {
		struct digest_item *c = g_new0(struct digest_item, 1);
		c->mail_id = g_strdup(it->mail_id);
		c->sender = g_strdup(it->sender);
		c->subject = notify_digest_subject(it->subject);
		c->category = g_strdup(it->category);
		c->time = it->time;
		c->size = it->size;
		g_ptr_array_add(d->items, c);
	}
	return 0;
}

static void digest_init(struct digest *d, const struct notify *n, const struct conf *c, struct store *st,
                        const struct notify_digest_opts *o, struct notify_digest_stats *stats)
{
	memset(d, 0, sizeof(*d));
	d->n = n;
	d->c = c;
	d->st = st;
	d->o = o;
	d->stats = stats;
	memset(stats, 0, sizeof(*stats));
	d->prefs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	d->last = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	d->items = g_ptr_array_new_with_free_func(digest_item_free);
	d->out = g_array_new(FALSE, TRUE, sizeof(struct store_digest_out));
	d->base_url = g_strdup(conf_str(c, "web", "base_url"));
	while (g_str_has_suffix(d->base_url, "/"))
		d->base_url[strlen(d->base_url) - 1] = '\0';
	d->lifetime = conf_int(c, "web", "link_lifetime");
	d->max_items = (guint)conf_int(c, "digest", "max_items");
}

static void digest_clear(struct digest *d)
{
	g_hash_table_destroy(d->prefs);
	g_hash_table_destroy(d->last);
	g_ptr_array_free(d->items, TRUE);
	struct store_digest_out *o = (struct store_digest_out *)(void *)d->out->data;
	for (guint i = 0; i < d->out->len; i++) { /* left by a failure */
		g_free((char *)o[i].rcpt);
		g_free((char *)o[i].period);
		notify_alert_clear(&o[i].a);
	}
	g_array_free(d->out, TRUE);
	g_free(d->base_url);
	g_free(d->rcpt);
	g_free(d->preview);
	g_free(d->err);
}

static int digest_walk(struct digest *d, char **err)
{
	const struct notify_digest_opts *o = d->o;
	int64_t since = o->since;
	if (store_digest_prefs(d->st, digest_pref_row, d->prefs) < 0 ||
	    store_digest_last(d->st, o->rcpt, digest_last_row, d->last) < 0 ||
	    store_digest_items(d->st, conf_str(d->c, "digest", "categories"), since, o->rcpt, digest_row, d) <
	        0) {
		*err = g_strdup(d->err ? d->err : store_error(d->st));
		return -1;
	}
	if (d->err || digest_flush(d) < 0 || digest_commit(d) < 0) {
		*err = g_strdup(d->err);
		return -1;
	}
	return 0;
}

int notify_digest_run(const struct notify *n, const struct conf *c, struct store *st,
                      const struct notify_digest_opts *o, struct notify_digest_stats *stats, char **err)
{
	struct digest d;
	digest_init(&d, n, c, st, o, stats);
	int rc = digest_walk(&d, err);
	digest_clear(&d);
	return rc;
}

int notify_digest_preview(const struct notify *n, const struct conf *c, struct store *st, const char *addr,
                          time_t now, FILE *out, char **err)
{
	struct notify_digest_opts o = {.rcpt = addr, .dry_run = true, .now = now, .out = out};
	struct notify_digest_stats stats;
	struct digest d;
	digest_init(&d, n, c, st, &o, &stats);
	d.want_preview = true;
	int rc = digest_walk(&d, err);
	if (rc == 0) {
		char *low = g_ascii_strdown(addr, -1);
		fprintf(out, "To: %s\nFrequency: %s\n\n", low, digest_frequency(&d, low));
		g_free(low);
		fputs(d.preview ? d.preview : "(nothing held since the last digest)\n", out);
	}
	digest_clear(&d);
	return rc;
}
