/*
 * msgin: integers past 64 bits become doubles one by one, every other
 * number keeps its type; a real that overflows is still a bad line.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "msgin.h"
#include "unit.h"

int
main(void)
{
	static const char in[] =
	    "{\"ident\":\"a\",\"timestamp\":1,\"i\":7,"
	    "\"big\":123456789012345678901234567890,\"neg\":-99999999999999999999,"
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
	/* Diagnostics of the bad line go to stderr; keep the TAP output clean. */
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
	return UNIT_END();
}
