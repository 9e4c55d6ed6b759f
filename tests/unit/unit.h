/*
 * A minimal unit-test harness.  Each check prints one TAP-style line,
 * "ok - what" or "not ok - what" with the reason; tests/run counts them.
 * Byte comparisons print both sides in hex so a failure explains itself.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failed;

#define CHECK(cond, ...) do {						\
	if (cond) {							\
		printf("ok - ");					\
	} else {							\
		printf("not ok - %s:%d: (%s) ", __FILE__, __LINE__, #cond); \
		unit_failed++;						\
	}								\
	printf(__VA_ARGS__);						\
	printf("\n");							\
} while (0)

static inline void
unit_hex(const char *label, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	printf("#   %s (%zu bytes): ", label, n);
	for (i = 0; i < n; i++)
		printf("%02X", b[i]);
	printf("\n");
}

#define CHECK_MEM(got, gotlen, want, wantlen, ...) do {			\
	int same_ = (gotlen) == (wantlen) &&				\
	    memcmp((got), (want), (wantlen)) == 0;			\
	CHECK(same_, __VA_ARGS__);					\
	if (!same_) {							\
		unit_hex("got ", (got), (gotlen));			\
		unit_hex("want", (want), (wantlen));			\
	}								\
} while (0)

/*
 * A repeatable pseudo-random sequence (xorshift64, one per test program)
 * for generated and mutated cases: the same run every time.
 */
static inline uint64_t
unit_next(void)
{
	static uint64_t x = 88172645463325252ULL;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

/* 0 to n - 1 from that sequence. */
static inline unsigned
unit_rnd(unsigned n)
{
	return (unsigned)(unit_next() % n);
}

/*
 * How many rounds of a generated or mutated sweep to run: n, or a tenth
 * of it under valgrind (tests/run sets UNIT_QUICK=1 there: it looks for
 * memory errors, which a tenth of the cases reaches as well, at fifty
 * times the cost a case).
 */
static inline unsigned long
unit_rounds(unsigned long n)
{
	const char *q = getenv("UNIT_QUICK");

	return q != NULL && *q == '1' ? n / 10 : n;
}

#define UNIT_END() (fflush(stdout), unit_failed ? 1 : 0)

#endif
