/*
 * msgin: integers past 64 bits become doubles one by one, every other
 * number keeps its type; a real that overflows is still a bad line.  A
 * line over the limit reaches the rejected file whole; a cut-off last
 * line is neither good nor bad; the failed file's torn tail is kept
 * aside at open, and a file moved away is opened again by its name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "msgin.h"
#include "unit.h"

static char dir[] = "/tmp/test_msgin.XXXXXX";

/* path NAME: NAME in the test's directory (a static buffer of four). */
static const char *
path(const char *name)
{
	static char b[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(b[i], sizeof b[i], "%s/%s", dir, name);
	return b[i];
}

/* The file's bytes (malloc'd, NUL-terminated) and size in *n; or NULL. */
static char *
slurp(const char *p, size_t *n)
{
	struct stat st;
	char *b;
	int fd;

	*n = 0;
	if ((fd = open(p, O_RDONLY)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || (b = malloc((size_t)st.st_size + 1)) ==
	    NULL || read_exact(fd, b, (size_t)st.st_size) == -1) {
		close(fd);
		return NULL;
	}
	close(fd);
	b[st.st_size] = '\0';
	*n = (size_t)st.st_size;
	return b;
}

static void
spit(const char *p, const char *s)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write_all(fd, s, strlen(s), NULL) == -1)
		abort();
	close(fd);
}

/* A reader of input (a child writes it to a pipe: it may be large). */
static int
feed(const char *input, size_t len)
{
	int fds[2];

	if (pipe(fds) == -1)
		abort();
	fflush(stdout);
	if (fork() == 0) {
		close(fds[0]);
		write_all(fds[1], input, len, NULL);
		_exit(0);
	}
	close(fds[1]);
	return fds[0];
}

static void
longlines(void)
{
	static const char good[] = "{\"ident\":\"a\",\"timestamp\":1}";
	size_t big = 3 * 1024 * 1024 + 5, n, i, len;
	char *in, *got, *want;
	struct msgin mi;
	struct msg m;
	int fd, r, ok = 1;

	/* good, a 3 MiB line of every byte but \n, good, a cut-off line */
	len = 2 * (sizeof good) + big + 1 + 20;
	in = malloc(len);
	n = 0;
	memcpy(in + n, good, sizeof good - 1), n += sizeof good - 1;
	in[n++] = '\n';
	for (i = 0; i < big; i++)
		in[n++] = (char)(i % 255 == '\n' ? 0 : i % 255);
	in[n++] = '\n';
	memcpy(in + n, good, sizeof good - 1), n += sizeof good - 1;
	in[n++] = '\n';
	memcpy(in + n, "{\"ident\":\"b\",\"ti", 16), n += 16;
	fd = feed(in, n);
	msgin_init(&mi, fd, 64 * 1024, NULL);
	CHECK(msgin_open_rejected(&mi, path("rej")) != -1,
	    "rejected file opened");
	r = msgin_next(&mi, &m);
	CHECK(r == MSG_OK && m.lineno == 1, "line 1 good");
	json_decref(m.obj);
	r = msgin_next(&mi, &m);
	while (r == MSG_BUSY)
		r = msgin_next(&mi, &m);
	CHECK(r == MSG_OK && m.lineno == 3 && mi.bad == 1,
	    "line 2, 3 MiB over a 64 KiB limit, rejected; line 3 good");
	json_decref(m.obj);
	r = msgin_next(&mi, &m);
	CHECK(r == MSG_EOF && mi.bad == 1 && mi.cutoff == 1,
	    "line 4, cut off at the end: not bad, counted apart");
	msgin_free(&mi);
	close(fd);
	got = slurp(path("rej"), &n);
	want = in + sizeof good;
	for (i = 0; got != NULL && i < big + 1 && ok; i++)
		ok = got[i] == want[i];
	CHECK(got != NULL && n == big + 1 && ok,
	    "the rejected file holds line 2 whole, byte for byte (%zu bytes)",
	    n);
	free(got);
	free(in);
}

static void
files(void)
{
	struct msgin mi;
	char *b;
	size_t n;

	/* A torn tail is cut off into FILE.torn at open, never glued. */
	spit(path("f"), "{\"a\":1}\n{\"a\":2}\n{\"ident\":\"x\",\"ti");
	msgin_init(&mi, STDIN_FILENO, 4096, NULL);
	CHECK(msgin_open_failed(&mi, path("f")) != -1, "failed file opened");
	msgin_failed(&mi, "{\"a\":3}", 7);
	msgin_flush(&mi);
	b = slurp(path("f"), &n);
	CHECK(b != NULL && strcmp(b, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n") == 0,
	    "torn tail cut off, the next line whole after the others");
	free(b);
	b = slurp(path("f.torn"), &n);
	CHECK(b != NULL && strcmp(b, "{\"ident\":\"x\",\"ti\n") == 0,
	    "the fragment in FILE.torn, as a line");
	free(b);

	/* Moved away: the next write goes to a new file by the same name. */
	if (rename(path("f"), path("f.replay")) == -1)
		abort();
	msgin_failed(&mi, "{\"a\":4}", 7);
	CHECK(msgin_flush(&mi) == 0 && mi.failed.written == 2,
	    "a write after the file was moved");
	b = slurp(path("f"), &n);
	CHECK(b != NULL && strcmp(b, "{\"a\":4}\n") == 0,
	    "... went to a new file at the path");
	free(b);
	b = slurp(path("f.replay"), &n);
	CHECK(b != NULL && strcmp(b, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n") == 0,
	    "... the moved one kept what it had");
	free(b);
	/* Removed: created again. */
	unlink(path("f"));
	msgin_failed(&mi, "{\"a\":5}", 7);
	msgin_sync(&mi);
	b = slurp(path("f"), &n);
	CHECK(b != NULL && strcmp(b, "{\"a\":5}\n") == 0 &&
	    mi.failed.synced == 3, "removed: created again, synced");
	free(b);
	msgin_free(&mi);

	/* A FIFO that nobody reads: ENXIO at once, no wait. */
	if (mkfifo(path("fifo"), 0600) == -1)
		abort();
	msgin_init(&mi, STDIN_FILENO, 4096, NULL);
	errno = 0;
	CHECK(msgin_open_rejected(&mi, path("fifo")) == -1 && errno == ENXIO,
	    "a FIFO without a reader: ENXIO");
	msgin_free(&mi);
}

int
main(void)
{
	static const char in[] =
	    "{\"ident\":\"a\",\"timestamp\":1,\"i\":7,"
	    "\"big\":123456789012345678901234567890,"
	    "\"neg\":-99999999999999999999,"
	    "\"r\":0.5}\n"
	    "{\"ident\":\"a\",\"timestamp\":1,\"big\":99999999999999999999,"
	    "\"r\":1e400}\n";
	struct msgin mi;
	struct msg m;
	int fd[2], devnull;

	if (pipe(fd) == -1 || write(fd[1], in, sizeof in - 1) !=
	    (ssize_t)(sizeof in - 1))
		return 1;
	close(fd[1]);
	/*
	 * Diagnostics of the bad line go to stderr; keep the TAP output clean.
	 */
	devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, STDERR_FILENO);
	msgin_init(&mi, fd[0], 4096, NULL);
	CHECK(msgin_next(&mi, &m) == MSG_OK, "line with huge integers parses");
	CHECK(json_is_integer(json_object_get(m.obj, "i")) &&
	    json_integer_value(json_object_get(m.obj, "i")) == 7,
	    "a small integer stays an integer");
	CHECK(json_is_real(json_object_get(m.obj, "big")) &&
	    json_real_value(json_object_get(m.obj, "big")) > 1.2e29,
	    "an integer past 64 bits becomes a double");
	CHECK(json_is_real(json_object_get(m.obj, "neg")) &&
	    json_real_value(json_object_get(m.obj, "neg")) < -9.9e19,
	    "a negative one too");
	CHECK(strstr(m.line, "123456789012345678901234567890,") != NULL,
	    "the line itself is unchanged");
	json_decref(m.obj);
	CHECK(msgin_next(&mi, &m) == MSG_EOF && mi.bad == 1,
	    "a real past double range is a bad line");
	msgin_free(&mi);

	if (mkdtemp(dir) == NULL)
		return 1;
	longlines();
	files();
	unlink(path("rej"));
	unlink(path("f"));
	unlink(path("f.torn"));
	unlink(path("f.replay"));
	unlink(path("fifo"));
	rmdir(dir);
	return UNIT_END();
}
