#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmap.h"

/* Renames every Wialon user expects; din/dout become the hidden blocks. */
static const char *const defaults[][2] = {
	{ "din", "avl_inputs" },
	{ "dout", "avl_outputs" },
	{ "external.powersource.voltage", "pwr_ext" },
	{ "battery.voltage", "pwr_int" },
	{ "engine.ignition.status", "ign" },
	{ "gsm.signal.level", "gsm" },
};

/* Wialon's alphabet: each byte's replacement. */
static unsigned char alpha[256];

static void
mkalpha(void)
{
	unsigned c;

	if (alpha['a'] == 'a')
		return;
	for (c = 0; c < 256; c++) {
		if (c >= 'A' && c <= 'Z')
			alpha[c] = (unsigned char)(c - 'A' + 'a');
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_')
			alpha[c] = (unsigned char)c;
		else
			alpha[c] = '_';
	}
}

size_t
pmap_sanitize(const char *in, char out[PMAP_NAMEMAX + 1])
{
	size_t n;

	mkalpha();
	for (n = 0; n < PMAP_NAMEMAX && in[n] != '\0'; n++)
		out[n] = (char)alpha[(unsigned char)in[n]];
	out[n] = '\0';
	return n;
}

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

int
pmap_add(struct pmap *pm, const char *from, const char *to)
{
	struct pmap_rule *r;
	char name[PMAP_NAMEMAX + 1];
	size_t i;

	if (to == NULL || strcmp(to, "-") == 0)
		to = "";
	pmap_sanitize(to, name);
	for (i = 0; i < pm->n; i++)
		if (strcmp(pm->rules[i].from, from) == 0)
			break;
	if (i == pm->n) {
		if (pm->n == pm->cap) {
			size_t ncap = pm->cap ? pm->cap * 2 : 16;
			r = realloc(pm->rules, ncap * sizeof *r);
			if (r == NULL)
				return -1;
			pm->rules = r;
			pm->cap = ncap;
		}
		r = &pm->rules[pm->n];
		if ((r->from = strdup(from)) == NULL)
			return -1;
		r->to = NULL;
		pm->n++;
	}
	r = &pm->rules[i];
	free(r->to);
	if ((r->to = strdup(name)) == NULL)
		return -1;
	free(pm->slots);		/* stale until the next pmap_ready() */
	pm->slots = NULL;
	return 0;
}

int
pmap_init(struct pmap *pm)
{
	size_t i;

	memset(pm, 0, sizeof *pm);
	for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (pmap_add(pm, defaults[i][0], defaults[i][1]) == -1)
			return -1;
	return pmap_ready(pm);
}

void
pmap_free(struct pmap *pm)
{
	size_t i;

	for (i = 0; i < pm->n; i++) {
		free(pm->rules[i].from);
		free(pm->rules[i].to);
	}
	free(pm->rules);
	free(pm->slots);
	memset(pm, 0, sizeof *pm);
}

/* Trim spaces and tabs at both ends, in place. */
static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Split "from=to" in place and add it; why gets the reason on error. */
static int
addspec(struct pmap *pm, char *s, const char **why)
{
	char *eq, *from, *to;

	if ((eq = strchr(s, '=')) == NULL) {
		*why = "expected FROM=TO";
		return -1;
	}
	*eq = '\0';
	from = trim(s);
	to = trim(eq + 1);
	if (*from == '\0') {
		*why = "empty FROM name";
		return -1;
	}
	if (pmap_add(pm, from, to) == -1) {
		*why = strerror(errno);
		return -1;
	}
	return 0;
}

int
pmap_rule(struct pmap *pm, const char *spec, char *err, size_t errsz)
{
	const char *why;
	char *s;
	int r;

	if ((s = strdup(spec)) == NULL) {
		snprintf(err, errsz, "%s", strerror(errno));
		return -1;
	}
	r = addspec(pm, s, &why);
	if (r == -1)
		snprintf(err, errsz, "'%s': %s", spec, why);
	free(s);
	return r;
}

int
pmap_load(struct pmap *pm, const char *path, char *err, size_t errsz)
{
	FILE *f;
	char *line = NULL, *s;
	size_t cap = 0;
	unsigned long lineno = 0;
	const char *why;
	int r = 0;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (addspec(pm, s, &why) == -1) {
			snprintf(err, errsz, "%s:%lu: %s", path, lineno, why);
			r = -1;
			break;
		}
	}
	if (r == 0 && ferror(f)) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		r = -1;
	}
	free(line);
	fclose(f);
	return r;
}

int
pmap_ready(struct pmap *pm)
{
	size_t size = 16, i, j;

	mkalpha();
	while (size < pm->n * 2)
		size *= 2;
	free(pm->slots);
	if ((pm->slots = calloc(size, sizeof *pm->slots)) == NULL)
		return -1;
	pm->mask = size - 1;
	for (i = 0; i < pm->n; i++) {
		for (j = hash(pm->rules[i].from) & pm->mask; pm->slots[j] != 0;
		    j = (j + 1) & pm->mask)
			;
		pm->slots[j] = (uint32_t)i + 1;
	}
	return 0;
}

static size_t
ruleto(const struct pmap_rule *r, char out[PMAP_NAMEMAX + 1])
{
	size_t n = strlen(r->to);

	memcpy(out, r->to, n + 1);
	return n;
}

size_t
pmap_name(const struct pmap *pm, const char *from,
    char out[PMAP_NAMEMAX + 1])
{
	uint32_t h = 2166136261u, k;
	size_t n, i, j;
	unsigned char c;

	if (pm->slots == NULL) {
		for (i = 0; i < pm->n; i++)
			if (strcmp(from, pm->rules[i].from) == 0)
				return ruleto(&pm->rules[i], out);
		return pmap_sanitize(from, out);
	}
	/* Hash the whole name and sanitise its head in one pass. */
	for (n = 0; (c = (unsigned char)from[n]) != '\0'; n++) {
		h = (h ^ c) * 16777619u;
		if (n < PMAP_NAMEMAX)
			out[n] = (char)alpha[c];
	}
	n = n < PMAP_NAMEMAX ? n : PMAP_NAMEMAX;
	out[n] = '\0';
	for (j = h & pm->mask; (k = pm->slots[j]) != 0; j = (j + 1) & pm->mask)
		if (strcmp(from, pm->rules[k - 1].from) == 0)
			return ruleto(&pm->rules[k - 1], out);
	return n;
}
