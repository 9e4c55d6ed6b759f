/*
 * The command line (cli.h): long options match whole or not at all, a
 * near miss is named, short options bundle and take values attached or
 * apart, an optional value may be the next word when it is one of the
 * option's values, operands may come among the options, "--" ends them,
 * -h stands alone, a deprecated spelling says so once, a habit gets its
 * hint.  Mistakes exit 64: each is run in a child, its stderr read back.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "unit.h"

enum { O_STATE = 256, O_RETRIES, O_RETRYWAIT, O_WINDOW, O_DUMP, O_QUIET,
	O_OLD };

static const struct cli_opt tab[] = {
	{ "state", 0, CLI_ARG, O_STATE, "FILE", "the key file", NULL, 0 },
	{ "retries", 0, CLI_ARG, O_RETRIES, "N", "give up after N", NULL, 0 },
	{ "retry", 0, CLI_ARG, O_RETRIES, "N", NULL, NULL, CLI_ALIAS },
	{ "retry-wait", 0, CLI_ARG, O_RETRYWAIT, "SECS", "first delay", NULL,
	  0 },
	{ "window", 'w', CLI_ARG, O_WINDOW, "N", "in flight", NULL, 0 },
	{ "dump", 0, CLI_OPTARG, O_DUMP, "hex|text", "no network", "hex|text",
	  0 },
	{ "quiet-old", 0, CLI_FLAG, O_QUIET, NULL, NULL, NULL, CLI_DEPRECATED },
	{ NULL, 'c', CLI_ARG, O_OLD, "N", NULL, NULL, CLI_DEPRECATED },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, 0 }
};

static const struct cli_habit habits[] = {
	{ "-h", NULL, "the host is --endpoint HOST here" },
	{ "-q", "0|1|2", "-q is --quiet here" },
	{ NULL, NULL, NULL }
};

/* A second table: a family's habits, looked up after the command's. */
static const struct cli_habit family[] = {
	{ "--fail", NULL, "an HTTP error is a failure already" },
	{ "-h", NULL, "never said: the first table's -h comes first" },
	{ NULL, NULL, NULL }
};
static const struct cli_habit *habit_tabs[] = { habits, family, NULL };

/* Parse argv (NULL-ended) into a string of "id=value;" and operands. */
static void
parse(char **argv, char *out, size_t sz)
{
	const struct cli_opt *tabs[] = { tab, cli_common, NULL };
	struct cli cl;
	const char *arg;
	int argc, id, i;
	size_t n = 0;

	for (argc = 0; argv[argc] != NULL; argc++)
		;
	out[0] = '\0';
	if (cli_init(&cl, argc, argv, tabs, "usage: t\n", habit_tabs) == -1)
		return;
	while ((id = cli_next(&cl, &arg)) != -1)
		n += (size_t)snprintf(out + n, sz - n, "%d=%s;", id,
		    arg ? arg : "-");
	for (i = 0; i < cl.noperands; i++)
		n += (size_t)snprintf(out + n, sz - n, "[%s]", cl.operands[i]);
	cli_free(&cl);
}

#define ARGS(...) ((char *[]){ "t", __VA_ARGS__, NULL })

static void
good(char **argv, const char *want)
{
	char got[512];

	parse(argv, got, sizeof got);
	CHECK(strcmp(got, want) == 0, "%s ... gives %s (got %s)", argv[1],
	    want, got);
}

/*
 * Parse argv in a child: its exit status and what it said on stderr
 * (stdout and stderr both to the pipe; the parse prints nothing on
 * stdout unless it is --help).
 */
static int
child(char **argv, char *err, size_t sz)
{
	int p[2], st;
	ssize_t n, got = 0;
	pid_t pid;
	char out[512];

	fflush(stdout);
	if (pipe(p) == -1 || (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		dup2(p[1], STDOUT_FILENO);
		parse(argv, out, sizeof out);
		printf("%s\n", out);
		fflush(stdout);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], err + got, sz - 1 - (size_t)got)) > 0)
		got += n;
	err[got] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* err on one line, for a TAP line: newlines shown as |. */
static const char *
flat(char *err)
{
	char *p;

	for (p = err; *p; p++)
		if (*p == '\n')
			*p = '|';
	return err;
}

static void
bad(char **argv, const char *want)
{
	char err[2048];
	int st = child(argv, err, sizeof err), ok;

	ok = st == 64 && strstr(err, want) != NULL &&
	    strstr(err, "usage: t\n") != NULL &&
	    strstr(err, "Try 't --help'.") != NULL;
	CHECK(ok, "%s %s: 64, says \"%.*s\" (%d: %s)", argv[1],
	    argv[2] ? argv[2] : "", (int)strcspn(want, "\n"), want, st,
	    flat(err));
}

int
main(void)
{
	char err[2048];
	int st;

	diag_init("t");
	/* Spellings that work. */
	good(ARGS("--state", "k", "host"), "256=k;[host]");
	good(ARGS("--state=k"), "256=k;");
	good(ARGS("--retry", "3"), "257=3;");
	good(ARGS("-w64", "-w", "8"), "259=64;259=8;");
	good(ARGS("-qv", "x"), "113=-;118=-;[x]");
	good(ARGS("a", "--retries", "2", "b"), "257=2;[a][b]");
	good(ARGS("--", "--state", "-w"), "[--state][-w]");
	good(ARGS("-"), "[-]");
	good(ARGS("--dump"), "260=-;");
	good(ARGS("--dump=text"), "260=text;");
	good(ARGS("--dump", "text"), "260=text;");
	good(ARGS("--dump", "host"), "260=-;[host]");
	good(ARGS("--state", "--weird"), "256=--weird;");
	/* Mistakes. */
	bad(ARGS("--retry-w", "2"),
	    "unknown option --retry-w; did you mean --retry-wait SECS");
	bad(ARGS("--stat", "k"), "unknown option --stat; did you mean "
	    "--state FILE");
	bad(ARGS("--retires", "2"), "did you mean --retries N");
	bad(ARGS("--nonsense"), "unknown option --nonsense\n");
	bad(ARGS("-x"), "unknown option -x\n");
	bad(ARGS("--fail"), "unknown option --fail: an HTTP error is a "
	    "failure already");
	bad(ARGS("--state"), "--state needs a value: --state FILE");
	bad(ARGS("-w"), "-w needs a value: -w N");
	bad(ARGS("--quiet=1"), "--quiet takes no value");
	bad(ARGS("-h", "localhost"), "-h is --help and takes nothing else "
	    "(the host is --endpoint HOST here)");
	bad(ARGS("-V", "5"), "-V is --version and takes nothing else");
	bad(ARGS("-q", "1"), "-q 1: -q is --quiet here");
	/* -h alone is help; -q before other words is quiet. */
	st = child(ARGS("-h"), err, sizeof err);
	CHECK(st == 0 && strstr(err, "1=-;") != NULL, "-h alone: help (%d: %s)",
	    st, flat(err));
	good(ARGS("-q", "host"), "113=-;[host]");
	/* Deprecated spellings: work, say so once. */
	st = child(ARGS("--quiet-old", "--quiet-old", "-c", "3", "-c", "4"),
	    err, sizeof err);
	CHECK(st == 0 &&
	    strstr(err, "t: --quiet-old is deprecated\n") != NULL &&
	    strstr(strstr(err, "--quiet-old is") + 1, "--quiet-old is") ==
	    NULL && strstr(err, "t: -c is deprecated\n") != NULL &&
	    strstr(err, "262=3;262=4;") != NULL,
	    "deprecated: work, said once each (%s)", flat(err));
	return UNIT_END();
}
