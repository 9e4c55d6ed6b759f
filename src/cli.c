/*
 * The command line (see cli.h): exact long options, near misses named,
 * -h and -V alone, --help and --list-options from the table.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "exits.h"

#define HELP_COL	26	/* where --help texts start */
#define SUGGEST_MAX	3	/* "did you mean" names at most */

const struct cli_opt cli_common[] = {
	{ "quiet", 'q', CLI_FLAG, 'q', NULL,
	  "no progress line or totals on stderr (errors still)", NULL, 0 },
	{ "verbose", 'v', CLI_FLAG, 'v', NULL,
	  "say more on stderr (twice: the library's log too)", NULL, 0 },
	{ "help", 'h', CLI_FLAG, CLI_HELP, NULL, "this help, alone", NULL, 0 },
	{ "version", 'V', CLI_FLAG, CLI_VERSION, NULL, "the version, alone",
	  NULL, 0 },
	{ "list-options", 0, CLI_FLAG, CLI_LIST, NULL, NULL, NULL,
	  CLI_ALIAS },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

const struct cli_opt cli_every[] = {
	{ "retries", 0, CLI_ARG, CLI_RETRIES, "N",
	  "give up after N failed retries in a row (exit 75;\n"
	  "default: never); curl's --retry N is the same", NULL, 0 },
	{ "retry", 0, CLI_ARG, CLI_RETRIES, "N", NULL, NULL, CLI_ALIAS },
	{ "retry-wait", 0, CLI_ARG, CLI_RETRYWAIT, "SECS",
	  "first retry delay, doubling up to 30 (default 0.5)", NULL, 0 },
	{ "connect-timeout", 0, CLI_ARG, CLI_CONNTO, "SECS",
	  "per connection attempt: TCP, TLS and an MQTT\n"
	  "CONNACK (default 10)", NULL, 0 },
	{ "stats-interval", 0, CLI_ARG, CLI_STATSINT, "SECS",
	  "a stats line on stderr every SECS when it is not\n"
	  "a terminal (default: 60 into the journal or a\n"
	  "file, else none; 0: none); SIGUSR1: one now", NULL, 0 },
	{ "metrics", 0, CLI_ARG, CLI_METRICS, "FILE",
	  "keep the figures in FILE for node_exporter's\n"
	  "textfile collector (Prometheus text format)", NULL, 0 },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

static int
end_of(const struct cli_opt *o)
{
	return o->name == NULL && o->letter == 0;
}

int
cli_init(struct cli *cl, int argc, char **argv,
    const struct cli_opt *const *tabs, const char *synopsis,
    const struct cli_habit *const *habits)
{
	int i;

	memset(cl, 0, sizeof *cl);
	cl->argc = argc;
	cl->argv = argv;
	for (i = 0; i < CLI_TABLES && tabs[i] != NULL; i++)
		cl->tabs[i] = tabs[i];
	for (i = 0; habits != NULL && i < CLI_TABLES && habits[i] != NULL;
	    i++)
		cl->habits[i] = habits[i];
	cl->synopsis = synopsis;
	cl->i = 1;
	if ((cl->operands = calloc((size_t)argc + 1, sizeof *cl->operands)) ==
	    NULL)
		return -1;
	return 0;
}

void
cli_free(struct cli *cl)
{
	free(cl->operands);
	cl->operands = NULL;
}

static void
vfail(const struct cli *cl, const char *hint, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (hint != NULL)
		xwarn("%s (%s)", msg, hint);
	else
		xwarn("%s", msg);
	usage_fail(cl->synopsis);
}

void
cli_fail(const struct cli *cl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(cl, NULL, fmt, ap);
	va_end(ap);
	exit(EXIT_USAGE);	/* not reached */
}

/* Is word one of the '|'-separated words of set? */
static int
inset(const char *set, const char *word)
{
	size_t n = strlen(word);
	const char *p = set, *e;

	if (set == NULL || n == 0)
		return 0;
	for (;;) {
		e = strchr(p, '|');
		if ((e ? (size_t)(e - p) : strlen(p)) == n &&
		    strncmp(p, word, n) == 0)
			return 1;
		if (e == NULL)
			return 0;
		p = e + 1;
	}
}

/* The habit for spelling (and the word after it, when it matters). */
static const struct cli_habit *
habit(const struct cli *cl, const char *spelling, const char *next)
{
	const struct cli_habit *h;
	int i;

	for (i = 0; cl->habits[i] != NULL; i++)
		for (h = cl->habits[i]; h->spelling != NULL; h++)
			if (strcmp(h->spelling, spelling) == 0 &&
			    (h->next == NULL ||
			    (next != NULL && inset(h->next, next))))
				return h;
	return NULL;
}

void
cli_operand_fail(const struct cli *cl, int k, const char *fmt, ...)
{
	const struct cli_habit *h = NULL;
	va_list ap;
	int i;

	/* The word before the operand on the command line. */
	for (i = 2; i < cl->argc; i++)
		if (cl->argv[i] == cl->operands[k]) {
			h = habit(cl, cl->argv[i - 1], cl->argv[i]);
			break;
		}
	va_start(ap, fmt);
	vfail(cl, h ? h->hint : NULL, fmt, ap);
	va_end(ap);
	exit(EXIT_USAGE);
}

static const struct cli_opt *
bylong(const struct cli *cl, const char *name, size_t n)
{
	const struct cli_opt *const *t;
	const struct cli_opt *o;

	for (t = cl->tabs; *t != NULL; t++)
		for (o = *t; !end_of(o); o++)
			if (o->name != NULL && strlen(o->name) == n &&
			    strncmp(o->name, name, n) == 0)
				return o;
	return NULL;
}

static const struct cli_opt *
byletter(const struct cli *cl, int c)
{
	const struct cli_opt *const *t;
	const struct cli_opt *o;

	for (t = cl->tabs; *t != NULL; t++)
		for (o = *t; !end_of(o); o++)
			if (o->letter == c)
				return o;
	return NULL;
}

/* The option shown in --help for id (the one an alias stands for). */
static const struct cli_opt *
main_of(const struct cli *cl, int id)
{
	const struct cli_opt *const *t;
	const struct cli_opt *o;

	for (t = cl->tabs; *t != NULL; t++)
		for (o = *t; !end_of(o); o++)
			if (o->id == id && !(o->flags & (CLI_ALIAS |
			    CLI_DEPRECATED)) && o->name != NULL)
				return o;
	return NULL;
}

/* Optimal string alignment distance between a and b, capped at 9. */
static int
distance(const char *a, size_t la, const char *b, size_t lb)
{
	int d[40][40];
	size_t i, j;
	int v;

	if (la >= 40 || lb >= 40)
		return 9;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb] > 9 ? 9 : d[la][lb];
}

/*
 * The options a mistyped long name may have meant: those it is a prefix
 * of (what getopt_long would have taken silently), and those within a
 * small edit distance.  Into buf as "--a or --b".
 */
static void
suggest(const struct cli *cl, const char *name, size_t n, char *buf,
    size_t sz)
{
	const struct cli_opt *const *t;
	const struct cli_opt *o, *m, *seen[SUGGEST_MAX];
	size_t k = 0, i, len = 0;
	int pass, d;

	buf[0] = '\0';
	for (pass = 0; pass < 2; pass++)
		for (t = cl->tabs; *t != NULL; t++)
			for (o = *t; !end_of(o) && k < SUGGEST_MAX; o++) {
				if (o->name == NULL || (o->flags &
				    CLI_DEPRECATED) || o->id == CLI_LIST)
					continue;
				d = distance(name, n, o->name, strlen(o->name));
				if (pass == 0 ? strncmp(o->name, name, n) != 0 :
				    d > (n < 5 ? 1 : 2))
					continue;
				m = (o->flags & CLI_ALIAS) ?
				    main_of(cl, o->id) : o;
				if (m == NULL)
					m = o;
				for (i = 0; i < k && seen[i] != m; i++)
					;
				if (i < k)
					continue;
				seen[k++] = m;
				len += (size_t)snprintf(buf + len, len < sz ?
				    sz - len : 0, "%s--%s%s%s", k > 1 ? " or " :
				    "", m->name, m->argname ? " " : "",
				    m->argname ? m->argname : "");
			}
}

/* Say once that a deprecated spelling was used, and what replaces it. */
static void
olduse(struct cli *cl, const struct cli_opt *o)
{
	const struct cli_opt *m = main_of(cl, o->id);
	char old[64];
	int i;

	if (!(o->flags & CLI_DEPRECATED))
		return;
	for (i = 0; i < cl->nwarned; i++)
		if (cl->warned[i] == o)
			return;
	if (cl->nwarned < CLI_WARNED)
		cl->warned[cl->nwarned++] = o;
	if (o->name != NULL)
		snprintf(old, sizeof old, "--%s", o->name);
	else
		snprintf(old, sizeof old, "-%c", o->letter);
	if (m != NULL)
		xwarn("%s is deprecated; use --%s", old, m->name);
	else
		xwarn("%s is deprecated", old);
}

/*
 * -h, -V and --list-options stand alone (beside CLI_MODE options only):
 * with anything else the user meant something else (mosquitto's -h HOST,
 * -V 5), and printing help with exit 0 would hide it.
 */
static void
alone(struct cli *cl, const struct cli_opt *o, const char *spelled)
{
	const struct cli_opt *m;
	const struct cli_habit *h;
	int i, others = 0;
	const char *w, *e;

	for (i = 1; i < cl->argc; i++) {
		w = cl->argv[i];
		if (w == spelled)
			continue;
		if (strncmp(w, "--", 2) == 0 && w[2] != '\0') {
			e = strchr(w + 2, '=');
			m = bylong(cl, w + 2, e ? (size_t)(e - w - 2) :
			    strlen(w + 2));
			if (m != NULL && (m->flags & CLI_MODE))
				continue;
		}
		others++;
	}
	if (others == 0)
		return;
	h = habit(cl, spelled, NULL);
	cli_fail(cl, "%s is --%s and takes nothing else%s%s%s", spelled,
	    o->name, h ? " (" : "", h ? h->hint : "", h ? ")" : "");
}

/* A long option: "--name" or "--name=value" at argv[cl->i]. */
static int
longopt(struct cli *cl, const char *w, const char **arg)
{
	const char *name = w + 2, *eq = strchr(name, '=');
	size_t n = eq ? (size_t)(eq - name) : strlen(name);
	const struct cli_opt *o = bylong(cl, name, n);
	const struct cli_habit *h;
	char sug[256];

	if (o == NULL) {
		char spelled[128];

		snprintf(spelled, sizeof spelled, "--%.*s", (int)n, name);
		if ((h = habit(cl, spelled, NULL)) != NULL)
			cli_fail(cl, "unknown option %s: %s", spelled, h->hint);
		suggest(cl, name, n, sug, sizeof sug);
		if (sug[0] != '\0')
			cli_fail(cl, "unknown option %s; did you mean %s?",
			    spelled, sug);
		cli_fail(cl, "unknown option %s", spelled);
	}
	cl->i++;
	*arg = NULL;
	switch (o->arg) {
	case CLI_FLAG:
		if (eq != NULL)
			cli_fail(cl, "--%s takes no value", o->name);
		break;
	case CLI_ARG:
		if (eq != NULL)
			*arg = eq + 1;
		else if (cl->i < cl->argc)
			*arg = cl->argv[cl->i++];
		else
			cli_fail(cl, "--%s needs a value: --%s %s", o->name,
			    o->name, o->argname ? o->argname : "VALUE");
		break;
	case CLI_OPTARG:
		if (eq != NULL)
			*arg = eq + 1;
		else if (cl->i < cl->argc && inset(o->values, cl->argv[cl->i]))
			*arg = cl->argv[cl->i++];
		break;
	}
	if (o->id == CLI_HELP || o->id == CLI_VERSION || o->id == CLI_LIST)
		alone(cl, o, w);
	olduse(cl, o);
	return o->id;
}

/* The next letter of a short bundle; cl->bundle points at it. */
static int
shortopt(struct cli *cl, const char **arg)
{
	const struct cli_opt *o = byletter(cl, *cl->bundle);
	const struct cli_habit *h;
	const char *w = cl->argv[cl->i], *next;
	char spelled[3] = { '-', *cl->bundle, '\0' };

	if (o == NULL) {
		if ((h = habit(cl, spelled, NULL)) != NULL)
			cli_fail(cl, "unknown option %s: %s", spelled, h->hint);
		cli_fail(cl, "unknown option %s", spelled);
	}
	cl->bundle++;
	*arg = NULL;
	if (o->arg != CLI_FLAG) {
		if (*cl->bundle != '\0')
			*arg = cl->bundle;
		else if (o->arg == CLI_ARG && cl->i + 1 < cl->argc)
			*arg = cl->argv[++cl->i];
		else if (o->arg == CLI_ARG)
			cli_fail(cl, "-%c needs a value: -%c %s", o->letter,
			    o->letter, o->argname ? o->argname : "VALUE");
		cl->bundle = "";
	}
	if (*cl->bundle == '\0') {
		cl->bundle = NULL;
		cl->i++;
	}
	/* A flag followed by what a habit takes: mosquitto's "-q 1". */
	next = cl->bundle == NULL && o->arg == CLI_FLAG && cl->i < cl->argc ?
	    cl->argv[cl->i] : NULL;
	if (next != NULL && w[2] == '\0' && (h = habit(cl, spelled, next)) !=
	    NULL && h->next != NULL)
		cli_fail(cl, "%s %s: %s", spelled, next, h->hint);
	if (o->id == CLI_HELP || o->id == CLI_VERSION)
		alone(cl, o, w);
	olduse(cl, o);
	return o->id;
}

int
cli_next(struct cli *cl, const char **arg)
{
	const char *w;

	if (cl->bundle != NULL)
		return shortopt(cl, arg);
	while (cl->i < cl->argc) {
		w = cl->argv[cl->i];
		if (strcmp(w, "--") == 0) {
			for (cl->i++; cl->i < cl->argc; cl->i++)
				cl->operands[cl->noperands++] = cl->argv[cl->i];
			break;
		}
		if (w[0] == '-' && w[1] == '-')
			return longopt(cl, w, arg);
		if (w[0] == '-' && w[1] != '\0') {
			cl->bundle = w + 1;
			return shortopt(cl, arg);
		}
		/* An operand ("-" too: stdin, by convention). */
		cl->operands[cl->noperands++] = cl->argv[cl->i++];
	}
	return -1;
}

/* One option's name part as --help shows it: "-q, --quiet" etc. */
static int
optname(char *buf, size_t sz, const struct cli_opt *o)
{
	char l[8] = "    ";

	if (o->letter)
		snprintf(l, sizeof l, "-%c%s", o->letter, o->name ? ", " : "");
	if (o->name == NULL)
		return snprintf(buf, sz, "%s%s%s", l, o->argname ? " " : "",
		    o->argname ? o->argname : "");
	if (o->arg == CLI_OPTARG)
		return snprintf(buf, sz, "%s--%s[=%s]", l, o->name,
		    o->argname ? o->argname : "VALUE");
	return snprintf(buf, sz, "%s--%s%s%s", l, o->name,
	    o->argname ? " " : "", o->argname ? o->argname : "");
}

void
cli_help(FILE *fp, const struct cli_opt *tab)
{
	const struct cli_opt *o;
	const char *p, *nl;
	char name[128];
	int n;

	for (o = tab; !end_of(o); o++) {
		if (o->help == NULL ||
		    (o->flags & (CLI_ALIAS | CLI_DEPRECATED)))
			continue;
		n = optname(name, sizeof name, o);
		fprintf(fp, "  %s", name);
		if (n + 2 >= HELP_COL)
			fprintf(fp, "\n%*s", HELP_COL, "");
		else
			fprintf(fp, "%*s", HELP_COL - 2 - n, "");
		for (p = o->help; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
			fprintf(fp, "%.*s\n%*s", (int)(nl - p), p,
			    HELP_COL, "");
		fprintf(fp, "%s\n", p);
	}
}

void
cli_list(FILE *fp, const struct cli_opt *const *tabs)
{
	const struct cli_opt *const *t;
	const struct cli_opt *o;

	for (t = tabs; *t != NULL; t++)
		for (o = *t; !end_of(o); o++) {
			if (o->flags & CLI_DEPRECATED)
				continue;
			if (o->letter)
				fprintf(fp, "-%c ", o->letter);
			else
				fputs("- ", fp);
			fprintf(fp, "%s%s ", o->name ? "--" : "-",
			    o->name ? o->name : "");
			if (o->arg == CLI_FLAG)
				fputs("-", fp);
			else
				fprintf(fp,
				    o->arg == CLI_OPTARG ? "[%s]" : "%s",
				    o->argname ? o->argname : "VALUE");
			fprintf(fp, " %s\n", o->values ? o->values : "-");
		}
}

void
cli_done(void)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		dieerr(EXIT_IOERR, "stdout");
	exit(EXIT_OK);
}
