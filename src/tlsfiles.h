/*
 * The TLS files of a command line, checked before connecting: a local
 * mistake (an unreadable file, a directory, garbage, --cert and --key
 * swapped, a key that is not the certificate's) is the user's to fix and
 * must not look like the peer refusing us after a handshake.
 */
#ifndef TLSFILES_H
#define TLSFILES_H

#include <stddef.h>

/*
 * Check the files that are not NULL: cafile (--cafile) must hold at least
 * one PEM certificate; cert (--cert) a PEM certificate, its first being
 * ours; key (--key) a PEM private key, the key of that first certificate
 * (cert and key go together: one without the other is refused).  An
 * encrypted key cannot be read without its passphrase: it is taken as
 * it is, never prompted for.  Returns 0, or -1 with a one-line reason
 * naming the option and the file in why.  Reads the files, nothing else;
 * leaves no OpenSSL error queued.
 */
int	tlsfiles_check(const char *cafile, const char *cert, const char *key,
	    char *why, size_t whysz);

#endif
