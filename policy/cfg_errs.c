/* cfg_errs.c - the config error list: append, sort, print (FILE:LINE:COL: PATH: MSG), free. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

void
pol_cfg_err_add(struct pol_cfg_errs *errs, const char *file, unsigned line, unsigned col,
                const char *path, const char *fmt, ...)
{
	struct pol_cfg_err *e;
	va_list ap;
	char *msg = NULL;
	int n;

	if (!errs)
		return;
	if (errs->n == errs->cap) {
		unsigned cap = errs->cap ? errs->cap * 2 : 16;
		struct pol_cfg_err *v = realloc(errs->v, cap * sizeof(*v));

		if (!v)
			goto out_drop;
		errs->v = v;
		errs->cap = cap;
	}
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(msg = malloc((size_t)n + 1)))
		goto out_drop;
	va_start(ap, fmt);
	vsnprintf(msg, (size_t)n + 1, fmt, ap);
	va_end(ap);
	e = &errs->v[errs->n];
	e->file = strdup(file ? file : "-");
	e->path = strdup(path ? path : "");
	if (!e->file || !e->path) {
		free(e->file);
		free(e->path);
		free(msg);
		goto out_drop;
	}
	e->line = line;
	e->col = col;
	e->msg = msg;
	errs->n++;
	return;

out_drop:
	errs->dropped++;
}

unsigned
pol_cfg_errs_count(const struct pol_cfg_errs *errs)
{
	return errs ? errs->n + errs->dropped : 0;
}

struct sort_ent {
	unsigned file_rank, idx;
	struct pol_cfg_err e;
};

static int
cmp_ent(const void *pa, const void *pb)
{
	const struct sort_ent *a = pa, *b = pb;

	if (a->file_rank != b->file_rank)
		return a->file_rank < b->file_rank ? -1 : 1;
	if (a->e.line != b->e.line)
		return a->e.line < b->e.line ? -1 : 1;
	if (a->e.col != b->e.col)
		return a->e.col < b->e.col ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void
pol_cfg_errs_sort(struct pol_cfg_errs *errs, unsigned from)
{
	struct sort_ent *t;
	unsigned n, i, j;

	if (!errs || from >= errs->n || errs->n - from < 2)
		return;
	n = errs->n - from;
	t = calloc(n, sizeof(*t));
	if (!t)
		return; /* unsorted is still correct */
	for (i = 0; i < n; i++) {
		t[i].e = errs->v[from + i];
		t[i].idx = i;
		t[i].file_rank = i;
		/* files are few: rank = index of the first error naming the same file */
		for (j = 0; j < i; j++) {
			if (!strcmp(t[j].e.file, t[i].e.file)) {
				t[i].file_rank = t[j].file_rank;
				break;
			}
		}
	}
	qsort(t, n, sizeof(*t), cmp_ent);
	for (i = 0; i < n; i++)
		errs->v[from + i] = t[i].e;
	free(t);
}

void
pol_cfg_errs_print(const struct pol_cfg_errs *errs, FILE *out)
{
	unsigned i;

	if (!errs)
		return;
	for (i = 0; i < errs->n; i++) {
		const struct pol_cfg_err *e = &errs->v[i];
		const char *path = e->path[0] ? e->path : "(document)";

		if (e->line)
			fprintf(out, "%s:%u:%u: %s: %s\n", e->file, e->line, e->col, path, e->msg);
		else
			fprintf(out, "%s: %s: %s\n", e->file, path, e->msg);
	}
	if (errs->dropped)
		fprintf(out, "(%u more errors not recorded: out of memory)\n", errs->dropped);
}

void
pol_cfg_errs_clear(struct pol_cfg_errs *errs)
{
	unsigned i;

	if (!errs)
		return;
	for (i = 0; i < errs->n; i++) {
		free(errs->v[i].file);
		free(errs->v[i].path);
		free(errs->v[i].msg);
	}
	free(errs->v);
	errs->v = NULL;
	errs->n = errs->cap = errs->dropped = 0;
}

const char *
pol_cfg_path(char *buf, size_t size, const char *base, const char *fmt, ...)
{
	size_t n = 0;
	va_list ap;

	if (!size)
		return buf;
	if (base && base[0])
		n = (size_t)snprintf(buf, size, "%s.", base);
	if (n >= size)
		n = size - 1;
	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
	return buf;
}
