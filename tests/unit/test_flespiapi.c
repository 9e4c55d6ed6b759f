/* flespiapi: URL encoding of the selector and of the data parameter. */
#include <stdlib.h>

#include "flespiapi.h"
#include "unit.h"

static void
esc(const char *in, const char *want)
{
	char *got = fa_escape(in);

	CHECK(got != NULL && strcmp(got, want) == 0, "escape '%s' -> '%s'%s%s",
	    in, want, got && strcmp(got, want) ? ", got " : "",
	    got && strcmp(got, want) ? got : "");
	free(got);
}

static void
clear(const char *url, int want)
{
	int got = fa_cleartext(url);

	CHECK(got == want, "cleartext '%s' -> %d (got %d)", url, want, got);
}

int
main(void)
{
	/* The plain-http warning is decided on the parsed scheme and host. */
	clear("https://flespi.io", 0);
	clear("HTTPS://flespi.io", 0);
	clear("http://127.0.0.1:8080", 0);
	clear("http://127.9.9.9", 0);
	clear("http://localhost:1", 0);
	clear("http://LOCALHOST", 0);
	clear("http://[::1]:1", 0);
	clear("http://[::ffff:127.0.0.1]:1", 0);
	clear("http://flespi.io", 1);
	clear("HTTP://10.9.9.9", 1);
	clear("http://localhost@10.9.9.9", 1);
	clear("http://127.0.0.1@10.9.9.9/", 1);
	clear("http://127.0.0.1.example.com", 1);
	clear("http://localhost.example.com", 1);
	clear("http://[::ffff:10.9.9.9]", 1);
	clear("http://[::2]", 1);
	clear("http://", -1);
	clear("not a url at all", -1);

	esc("1234", "1234");
	esc("1234,5678", "1234,5678");	/* a selector keeps its commas */
	esc("{\"curr_key\":0,\"delete\":true}",
	    "%7B%22curr_key%22%3A0,%22delete%22%3Atrue%7D");	/* legal */
	esc("a b/c?d&e=f#g%", "a%20b%2Fc%3Fd%26e%3Df%23g%25");
	esc("-._~", "-._~");
	esc("\xc3\xbc", "%C3%BC");
	esc("", "");
	return UNIT_END();
}
