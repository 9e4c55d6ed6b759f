/*
 * The forwarder core with a stand-in transport that reports messages
 * done from prepare(), as fwd.h allows: the run must end once input is
 * over and everything is done, not wait in poll() for nothing.  alarm()
 * bounds the test: a core that waits forever is killed by SIGALRM, and
 * tests/run counts that as a failure.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "exits.h"
#include "fwd.h"
#include "io.h"
#include "unit.h"

#define NHELD	8

/* Holds what send() takes and acknowledges it in the next prepare(). */
struct stand {
	struct fwd     *core;
	struct fwd_msg *held[NHELD];
	int		n;
	unsigned	prepared, sent;
};

static int
s_ready(void *t, const struct fwd_msg *m, int64_t now, int64_t *wait_ms)
{
	struct stand *s = t;

	(void)m;
	(void)now;
	*wait_ms = -1;
	return s->n < NHELD;
}

static void
s_send(void *t, struct fwd_msg *m, int64_t now)
{
	struct stand *s = t;

	(void)now;
	s->held[s->n++] = m;
	s->sent++;
}

static int
s_prepare(void *t, int64_t now, struct pollfd *pfd, int max, int *timeout)
{
	struct stand *s = t;
	int i;

	(void)now;
	(void)pfd;
	(void)max;
	(void)timeout;
	s->prepared++;
	for (i = 0; i < s->n; i++)
		fwd_done(s->core, s->held[i], FWD_ACKED, NULL);
	s->n = 0;
	return 0;
}

static void
s_handle(void *t, struct pollfd *pfd, int n, int64_t now)
{
	(void)t;
	(void)pfd;
	(void)n;
	(void)now;
}

static int
s_idle(void *t)
{
	return ((struct stand *)t)->n == 0;
}

static int
s_fatal(void *t, char *why, size_t whysz)
{
	(void)t;
	(void)why;
	(void)whysz;
	return 0;
}

static void
s_abandon(void *t)
{
	((struct stand *)t)->n = 0;
}

static void
s_close(void *t)
{
	(void)t;
}

static const struct fwd_ops stand_ops = {
	.ready = s_ready, .send = s_send, .prepare = s_prepare,
	.handle = s_handle, .idle = s_idle, .fatal = s_fatal,
	.abandon = s_abandon, .close = s_close,
};

int
main(void)
{
	static const char input[] =
	    "{\"ident\":\"a\",\"timestamp\":1}\n"
	    "{\"ident\":\"b\",\"timestamp\":2}\n"
	    "{\"ident\":\"c\",\"timestamp\":3}\n";
	struct fwd_conf cf;
	struct stand s;
	int p[2], status;

	diag_init("test_fwd");
	/* stdin: a pipe holding three messages, then its end. */
	if (pipe(p) == -1 || dup2(p[0], STDIN_FILENO) == -1 ||
	    write_all(p[1], input, sizeof input - 1, NULL) == -1) {
		CHECK(0, "stdin from a pipe");
		return UNIT_END();
	}
	close(p[0]);
	close(p[1]);

	fwd_conf_init(&cf, 4096, 100, 1000);
	cf.inflight = NHELD;
	memset(&s, 0, sizeof s);
	if ((s.core = fwd_new(&cf, &status)) == NULL) {
		CHECK(0, "fwd_new: status %d", status);
		return UNIT_END();
	}
	alarm(10);
	status = fwd_run(s.core, &stand_ops, &s, NULL, NULL);
	alarm(0);
	CHECK(status == EXIT_OK, "the run ends with 0 (status %d)", status);
	CHECK(s.sent == 3, "three messages sent (%u)", s.sent);
	CHECK(s.prepared >= 1 && s.n == 0,
	    "acknowledged from prepare (%u calls)", s.prepared);
	fwd_free(s.core);
	return UNIT_END();
}
