/*
 * msg - the message context and its names (see msg.h)
 */
#include "msg.h"

#include <stdarg.h>
#include <string.h>

/* The words amavisd-new puts in its log lines, which mailgraph and
 * log analysers match. */
static const char *const cat_log[] = {"CLEAN", "SPAMMY", "OVERSIZED", "BAD-HEADER",
				      "SPAM",  "UNCHECKED", "BANNED", "INFECTED"};

static void rcpt_free(gpointer p)
{
	struct msg_rcpt *r = p;
	g_free(r->addr);
	g_free(r->notify);
	g_free(r->orcpt);
	g_free(r->policy);
	g_free(r->answer);
	list_entry_free(r->list);
	g_free(r);
}

struct msg *msg_new(void)
{
	struct msg *m = g_new0(struct msg, 1);
	mailid_new(m->mail_id);
	clock_gettime(CLOCK_MONOTONIC, &m->t_start);
	m->received = time(NULL);
	m->rcpts = g_ptr_array_new_with_free_func(rcpt_free);
	m->virus_names = g_ptr_array_new_with_free_func(g_free);
	m->banned_names = g_ptr_array_new_with_free_func(g_free);
	m->attach_names = g_ptr_array_new_with_free_func(g_free);
	m->add_headers = g_ptr_array_new_with_free_func(g_free);
	m->remove_headers = g_ptr_array_new_with_free_func(g_free);
	m->unchecked_reason = g_string_new("");
	return m;
}

void msg_free(struct msg *m)
{
	if (!m)
		return;
	g_free(m->sender);
	g_ptr_array_free(m->rcpts, TRUE);
	g_free(m->ret);
	g_free(m->envid);
	g_free(m->body);
	g_free(m->helo);
	g_free(m->xf_name);
	g_free(m->xf_addr);
	g_free(m->xf_port);
	g_free(m->xf_proto);
	g_free(m->xf_helo);
	g_free(m->xf_ident);
	g_free(m->xf_source);
	g_free(m->from_hdr);
	g_free(m->subject);
	g_free(m->message_id);
	g_free(m->engine);
	g_ptr_array_free(m->virus_names, TRUE);
	g_ptr_array_free(m->banned_names, TRUE);
	g_ptr_array_free(m->attach_names, TRUE);
	g_free(m->spam_tests);
	g_free(m->tempfail_reply);
	g_string_free(m->unchecked_reason, TRUE);
	g_ptr_array_free(m->add_headers, TRUE);
	g_ptr_array_free(m->remove_headers, TRUE);
	g_free(m->quar_path);
	g_free(m->quar_blob);
	g_free(m);
}

struct msg_rcpt *msg_add_rcpt(struct msg *m, const char *addr)
{
	struct msg_rcpt *r = g_new0(struct msg_rcpt, 1);
	r->addr = g_strdup(addr);
	g_ptr_array_add(m->rcpts, r);
	return r;
}

void msg_set_category(struct msg *m, enum msg_category c, const char *engine)
{
	m->found |= 1u << c;
	if (c <= m->category && !(c == CAT_CLEAN && !m->engine))
		return;
	m->category = c;
	g_free(m->engine);
	m->engine = g_strdup(engine ? engine : "");
}

const char *msg_category_log(enum msg_category c)
{
	return (unsigned)c < G_N_ELEMENTS(cat_log) ? cat_log[c] : "CLEAN";
}

void msg_add_header(struct msg *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_ptr_array_add(m->add_headers, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}

void msg_remove_header(struct msg *m, const char *name)
{
	/* several stages may ask for the same field: keep one entry */
	for (guint i = 0; i < m->remove_headers->len; i++)
		if (g_ascii_strcasecmp(g_ptr_array_index(m->remove_headers, i), name) == 0)
			return;
	g_ptr_array_add(m->remove_headers, g_strdup(name));
}

enum msg_destiny msg_rcpt_final_destiny(const struct msg_rcpt *r)
{
	return r->answer && r->answer[0] == '4' ? DESTINY_TEMPFAIL : r->destiny;
}

char *msg_take_added(struct msg *m, const char *name)
{
	size_t n = strlen(name);
	char *last = NULL;
	for (guint i = m->add_headers->len; i-- > 0;) {
		const char *h = g_ptr_array_index(m->add_headers, i);
		if (g_ascii_strncasecmp(h, name, n) != 0 || h[n] != ':')
			continue;
		if (!last)
			last = g_strdup(h[n + 1] == ' ' ? h + n + 2 : h + n + 1);
		g_ptr_array_remove_index(m->add_headers, i);
	}
	return last;
}

void msg_keep_header(struct msg *m, const char *name)
{
	for (guint i = m->remove_headers->len; i-- > 0;)
		if (g_ascii_strcasecmp(g_ptr_array_index(m->remove_headers, i), name) == 0)
			g_ptr_array_remove_index(m->remove_headers, i);
}
