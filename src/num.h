/* Bounded number parsing: no atoi, every bad value named. */
#ifndef NUM_H
#define NUM_H

/*
 * Parse a whole decimal integer in [min, max].  Returns 0, or -1 with
 * errno EINVAL (not a number, trailing junk) or ERANGE (out of bounds).
 */
int		parse_ll(const char *s, long long min, long long max,
		    long long *out);
/*
 * Parse seconds, fractions allowed ("2", "0.25"), into milliseconds in
 * [min_ms, max_ms].  Same returns as parse_ll.
 */
int		parse_secs(const char *s, long long min_ms, long long max_ms,
		    long long *out_ms);

/* The same for command-line options: on error print
 * "prog: OPT: 'VALUE' is not a number from MIN to MAX" and exit 64. */
long long	num_arg(const char *opt, const char *s, long long min,
		    long long max);
long long	secs_arg(const char *opt, const char *s, long long min_ms,
		    long long max_ms);

#endif
