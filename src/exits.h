/*
 * Exit statuses, the same in every flespi-pipe tool (values from sysexits(3)).
 * Every man page lists them; a supervisor can act on them without parsing text.
 */
#ifndef EXITS_H
#define EXITS_H

#define EXIT_OK		0	/* everything delivered / written */
#define EXIT_USAGE	64	/* bad command line */
#define EXIT_DATAERR	65	/* some input lines were bad and skipped */
#define EXIT_REFUSED	69	/* the peer refused us: auth, ACL, TLS,
				   no such channel */
#define EXIT_LOCKED	73	/* another run holds the --state file
				   (cron overrun) */
#define EXIT_IOERR	74	/* local I/O error: stdout, stdin,
				   state or failed file */
#define EXIT_TEMPFAIL	75	/* gave up after retries / undelivered messages:
				   retry later */

#endif
