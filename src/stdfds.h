/*
 * Descriptors 0, 1 and 2 must be open before a tool opens anything: a
 * closed stdout would otherwise be taken by the next open() or by
 * libcurl's or libmosquitto's internal socketpair, and messages would be
 * "written" into it.
 */
#ifndef STDFDS_H
#define STDFDS_H

/*
 * Call first in main().  Returns 0 when 0, 1 and 2 are all open; else -1
 * after occupying each closed one with /dev/null (so nothing else can
 * take it): the caller exits 74, saying why only when fd 2 was open.
 * *which gets the lowest closed descriptor.
 */
int	stdfds_check(int *which);

#endif
