/*
 * The stop flag: SIGINT and SIGTERM only set it.  Handlers are installed
 * without SA_RESTART so a blocking poll() or read() returns EINTR and the
 * loop gets to look at the flag.
 */
#ifndef STOP_H
#define STOP_H

#include <signal.h>

extern volatile sig_atomic_t stop_requested;	/* signal number, or 0 */

/* Install the handlers and ignore SIGPIPE (a vanished reader is EPIPE). */
void stop_install(void);

#endif
