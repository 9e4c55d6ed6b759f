/*
 * The command line of every flespi-pipe tool: a table of options, parsed
 * with exact long names only (getopt_long takes a unique prefix, so curl's
 * --retry 2 became --retry-wait 2), a "did you mean" for a near miss, the
 * suite's rule for -h and -V (alone only: mosquitto's -h HOST must not
 * print help and exit 0), the --help lines made from the same table, and
 * the table itself for shell completion (--list-options).
 *
 * Options may come anywhere among the operands, as with GNU getopt; "--"
 * ends them.  Short options bundle (-qv) and take a value attached or as
 * the next word (-w64, -w 64); long options take "=VALUE" or the next
 * word.  Every mistake is a usage error: the reason, the synopsis and
 * "Try 'PROG --help'." on stderr, exit 64.
 */
#ifndef CLI_H
#define CLI_H

#include <stdio.h>

enum { CLI_FLAG, CLI_ARG, CLI_OPTARG };

/* Flags of an option. */
#define CLI_ALIAS	0x1	/* another spelling of the option with the
				   same id: not in --help (that one's help
				   names it) */
#define CLI_DEPRECATED	0x2	/* works, says once which spelling replaces
				   it; not in --help */
#define CLI_MODE	0x4	/* may stand beside -h/--help: it picks
				   which help (flespi-recv --mqtt) */

/*
 * The ids of the options every tool has (cli_common, cli_every); a
 * tool's own ids are >= 256.
 */
enum { CLI_HELP = 1, CLI_VERSION, CLI_LIST, CLI_RETRIES, CLI_RETRYWAIT,
	CLI_CONNTO, CLI_STATSINT, CLI_METRICS };

struct cli_opt {
	const char     *name;		/* long name without "--", or NULL */
	int		letter;		/* short letter, or 0 */
	int		arg;		/* CLI_FLAG, CLI_ARG, CLI_OPTARG */
	int		id;		/* what cli_next() returns for it */
	const char     *argname;	/* the value in --help: "FILE" */
	/*
	 * --help text; each "\n" starts a line under the first, indented.
	 * values: the values it takes, if a few ("hex|text"), for shell
	 * completion; for CLI_OPTARG also the words the next argument may
	 * be: "--dump text" is then taken as "--dump=text".
	 */
	const char     *help;
	const char     *values;
	int		flags;
};

/*
 * A habit from a tool our users know (curl, mosquitto_pub) that means
 * something else here, or nothing: when spelling is used where it cannot
 * be what the user meant, the hint says what to write instead.  With
 * next set, only a use followed by one of the words in next ("0|1|2")
 * is taken as the habit (mosquitto_pub's -q 1 given to a tool whose -q
 * is --quiet).  Tables end with { NULL }.
 */
struct cli_habit {
	const char     *spelling;	/* "-h", "--fail" */
	const char     *next;		/* "0|1|2", or NULL */
	const char     *hint;		/* "the host is --endpoint HOST" */
};

/*
 * The options every tool has (help, version, verbose, quiet and the
 * hidden --list-options), to end a tool's list of tables.  Their ids:
 * CLI_HELP, CLI_VERSION, 'v', 'q' and CLI_LIST.
 */
extern const struct cli_opt cli_common[];
/*
 * The options of every tool's run, with the same names, values and
 * defaults everywhere: --retries (and curl's --retry), --retry-wait,
 * --connect-timeout, --stats-interval, --metrics.  Their ids are
 * CLI_RETRIES... CLI_METRICS; each tool stores them itself.
 */
extern const struct cli_opt cli_every[];

#define CLI_TABLES	4	/* tables of options a tool may have */
#define CLI_WARNED	8	/* deprecated spellings remembered as said */

struct cli {
	int		argc;
	char	      **argv;
	/* Tables of options, each ended by an entry with no name and no
	   letter; the list ends with NULL. */
	const struct cli_opt *tabs[CLI_TABLES + 1];
	/* Tables of habits, each ended by an entry with no spelling; the
	   list ends with NULL. */
	const struct cli_habit *habits[CLI_TABLES + 1];
	const char     *synopsis;	/* "usage: ..." lines */
	int		i;		/* the argv word being read */
	const char     *bundle;		/* the rest of a short bundle */
	char	      **operands;	/* in order; the caller's argv
					   holds them */
	int		noperands;
	/* The deprecated spellings already said (each once; past
	   CLI_WARNED of them, said again). */
	const struct cli_opt *warned[CLI_WARNED];
	int		nwarned;
};

/*
 * Start reading argv (argv[0] is the program) with the tables of tabs and
 * of habits (each list at most CLI_TABLES, then NULL; copied; habits may
 * be NULL: none).  Returns 0, or -1 when out of memory.
 */
int	cli_init(struct cli *, int argc, char **argv,
	    const struct cli_opt *const *tabs, const char *synopsis,
	    const struct cli_habit *const *habits);
void	cli_free(struct cli *);
/*
 * The next option: its id, with *arg its value (NULL for a flag, or an
 * optional value not given).  -1 when the options are over; the operands
 * are then in cl->operands.  Exits 64 on a usage error.  CLI_HELP,
 * CLI_VERSION and CLI_LIST are returned only when they stand alone (or
 * beside CLI_MODE options).
 */
int	cli_next(struct cli *, const char **arg);
/*
 * A usage error in the command line: "PROG: reason", the synopsis and
 * "Try 'PROG --help'." on stderr, exit 64.
 */
void	cli_fail(const struct cli *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
/*
 * An operand the tool cannot take: a usage error naming it, with the
 * hint of a habit when the word before it was one (mosquitto's "-q 1").
 */
void	cli_operand_fail(const struct cli *, int k, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4), noreturn));
/* The --help lines of one table's shown options. */
void	cli_help(FILE *, const struct cli_opt *);
/*
 * --list-options: every option of every table, one a line, for shell
 * completion and the documentation tests: "LETTER LONG ARG VALUES" with
 * "-" for what an option lacks (ARG is its argname, "[ARG]" when
 * optional).  Aliases are listed, deprecated spellings not.
 */
void	cli_list(FILE *, const struct cli_opt *const *tabs);
/*
 * Print to stdout, check that it got there, exit 0: for --help and
 * --version (">/dev/full" must fail: 74).
 */
void	cli_done(void) __attribute__((noreturn));

#endif
