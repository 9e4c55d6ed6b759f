/* token: the token's exposure once it is in memory. */
#include <sys/prctl.h>

#include <stdlib.h>

#include "token.h"
#include "unit.h"

int
main(void)
{
	char buf[64];

	setenv("FLESPI_TOKEN", "  secret-token\n", 1);
	CHECK(prctl(PR_GET_DUMPABLE) == 1, "dumpable before");
	token_get(NULL, buf, sizeof buf);
	CHECK(strcmp(buf, "secret-token") == 0, "the token, trimmed");
	CHECK(prctl(PR_GET_DUMPABLE) == 0, "not dumpable once it is read");
	CHECK(getenv("FLESPI_TOKEN") == NULL,
	    "FLESPI_TOKEN gone from the environment");
	return UNIT_END();
}
