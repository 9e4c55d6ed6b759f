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

int
main(void)
{
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
