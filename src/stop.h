/*
 * The stop flag: SIGINT, SIGTERM and SIGHUP only set it (SIGHUP too: a
 * closed terminal or a supervisor's reload must drain, not kill).
 * Handlers are installed without SA_RESTART so a blocking poll() or
 * read() returns EINTR and the loop gets to look at the flag.
 */
#ifndef STOP_H
#define STOP_H

#include <signal.h>

extern volatile sig_atomic_t stop_requested;	/* signal number, or 0 */
extern volatile sig_atomic_t stop_count;	/* stop signals so far */
/*
 * SIGINTs so far.  Only a person at a terminal presses Ctrl-C twice; a
 * supervisor may well send SIGTERM twice (timeout(1) signals the child
 * and its process group, systemd the main process and the group), so only
 * a further SIGINT may cut a drain short.
 */
extern volatile sig_atomic_t stop_interrupts;

/*
 * SIGUSR1: show the stats line now (health.h).  Its handler is
 * installed with SA_RESTART: a read, write or connect it interrupts
 * goes on, and only poll() returns early (poll is never restarted), so
 * that the loop looks at the flag within a turn.
 */
extern volatile sig_atomic_t stats_requested;

/*
 * Install the handlers (SIGUSR1's too) and ignore SIGPIPE (a vanished
 * reader is EPIPE).
 */
void stop_install(void);

#endif
