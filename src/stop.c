#include <signal.h>
#include <string.h>

#include "stop.h"

volatile sig_atomic_t stop_requested;
volatile sig_atomic_t stop_count;
volatile sig_atomic_t stop_interrupts;
volatile sig_atomic_t stats_requested;

static void
onsignal(int sig)
{
	stop_requested = sig;
	if (stop_count < 1000)
		stop_count++;
	if (sig == SIGINT && stop_interrupts < 1000)
		stop_interrupts++;
}

static void
onusr1(int sig)
{
	(void)sig;
	stats_requested = 1;
}

void
stop_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onsignal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: blocking calls return EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	sa.sa_handler = onusr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);

	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigaction(SIGPIPE, &sa, NULL);
}
