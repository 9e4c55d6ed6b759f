#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tlsfiles.h"

/* A PEM file bigger than this is not a certificate, key or CA bundle. */
#define PEM_MAX	(16 << 20)

/* A file's bytes, NUL-terminated; the caller wipes and frees them. */
struct pemfile {
	char	       *buf;
	size_t		len;
};

/*
 * Double pf's buffer of *cap bytes, up to PEM_MAX + 1; the old one is
 * wiped (it may hold a key), not left to realloc.  -1 when it is full.
 */
static int
grow(struct pemfile *pf, size_t *cap)
{
	size_t ncap = *cap * 2 > PEM_MAX + 1 ? PEM_MAX + 1 : *cap * 2;
	char *nb;

	if (ncap <= *cap || (nb = malloc(ncap)) == NULL)
		return -1;
	memcpy(nb, pf->buf, pf->len);
	explicit_bzero(pf->buf, pf->len);
	free(pf->buf);
	pf->buf = nb;
	*cap = ncap;
	return 0;
}

/*
 * Read path whole.  Returns 0, or -1 with why naming opt and path: it
 * cannot be opened or read, is a directory, or is too big.
 */
static int
slurp(const char *opt, const char *path, struct pemfile *pf, char *why,
    size_t whysz)
{
	struct stat sb;
	ssize_t n;
	size_t cap;
	int fd;

	pf->buf = NULL;
	pf->len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(why, whysz, "%s: cannot read '%s': %s", opt, path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		snprintf(why, whysz, "%s: cannot read '%s': %s", opt, path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (S_ISDIR(sb.st_mode)) {
		snprintf(why, whysz, "%s: '%s' is a directory, not a PEM file",
		    opt, path);
		close(fd);
		return -1;
	}
	/* A regular file's size is known; a pipe's grows as it comes. */
	cap = S_ISREG(sb.st_mode) && sb.st_size < PEM_MAX ?
	    (size_t)sb.st_size + 1 : 65536;
	if ((pf->buf = malloc(cap)) == NULL) {
		snprintf(why, whysz, "out of memory");
		close(fd);
		return -1;
	}
	for (;;) {
		if (pf->len + 1 == cap && grow(pf, &cap) == -1) {
			if (cap < PEM_MAX + 1)
				snprintf(why, whysz, "out of memory");
			else
				snprintf(why, whysz, "%s: '%s' is over %d MiB: "
				    "not a PEM file", opt, path, PEM_MAX >> 20);
			n = -1;
			break;
		}
		n = read(fd, pf->buf + pf->len, cap - 1 - pf->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(why, whysz, "%s: cannot read '%s': %s", opt,
			    path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		pf->len += (size_t)n;
	}
	close(fd);
	if (n == -1) {
		explicit_bzero(pf->buf, pf->len);
		free(pf->buf);
		pf->buf = NULL;
		return -1;
	}
	pf->buf[pf->len] = '\0';
	return 0;
}

static void
release(struct pemfile *pf)
{
	if (pf->buf != NULL) {
		explicit_bzero(pf->buf, pf->len);
		free(pf->buf);
	}
	pf->buf = NULL;
}

/* Never prompt on the terminal: report that a passphrase was wanted. */
static int
nopass(char *buf, int size, int rwflag, void *arg)
{
	(void)buf, (void)size, (void)rwflag;
	*(int *)arg = 1;
	return -1;
}

/* The first certificate in pf (other PEM blocks skipped), or NULL. */
static X509 *
firstcert(const struct pemfile *pf)
{
	BIO *b;
	X509 *x;

	if ((b = BIO_new_mem_buf(pf->buf, (int)pf->len)) == NULL)
		return NULL;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	return x;
}

/* The first private key in pf, or NULL; *encrypted set when locked. */
static EVP_PKEY *
firstkey(const struct pemfile *pf, int *encrypted)
{
	EVP_PKEY *k;
	BIO *b;

	*encrypted = 0;
	if ((b = BIO_new_mem_buf(pf->buf, (int)pf->len)) == NULL)
		return NULL;
	k = PEM_read_bio_PrivateKey(b, NULL, nopass, encrypted);
	BIO_free(b);
	return k;
}

/* True when pf holds a PEM block whose label ends in "PRIVATE KEY". */
static int
haskey(const struct pemfile *pf)
{
	const char *p = pf->buf, *e;

	while ((p = strstr(p, "-----BEGIN ")) != NULL) {
		p += strlen("-----BEGIN ");
		if ((e = strstr(p, "-----")) == NULL)
			break;
		if (e - p >= 11 && memcmp(e - 11, "PRIVATE KEY", 11) == 0)
			return 1;
		p = e;
	}
	return 0;
}

static int
checkca(const char *path, char *why, size_t whysz)
{
	struct pemfile pf;
	X509 *x;

	if (slurp("--cafile", path, &pf, why, whysz) == -1)
		return -1;
	x = firstcert(&pf);
	release(&pf);
	if (x == NULL) {
		snprintf(why, whysz, "--cafile: '%s' holds no PEM certificate",
		    path);
		return -1;
	}
	X509_free(x);
	return 0;
}

static int
check(const char *cafile, const char *cert, const char *key, char *why,
    size_t whysz)
{
	struct pemfile cf = { NULL, 0 }, kf = { NULL, 0 };
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int rc = -1, locked = 0;

	if (cafile != NULL && checkca(cafile, why, whysz) == -1)
		return -1;
	if (cert != NULL) {
		if (slurp("--cert", cert, &cf, why, whysz) == -1)
			goto out;
		if ((x = firstcert(&cf)) == NULL) {
			snprintf(why, whysz, haskey(&cf) ? "--cert: '%s' holds "
			    "a private key, not a certificate (--cert and "
			    "--key swapped?)" : "--cert: '%s' holds no PEM "
			    "certificate", cert);
			goto out;
		}
	}
	if (key != NULL) {
		if (slurp("--key", key, &kf, why, whysz) == -1)
			goto out;
		if ((k = firstkey(&kf, &locked)) == NULL && !locked) {
			X509 *kx = firstcert(&kf);

			snprintf(why, whysz, kx != NULL ? "--key: '%s' holds a "
			    "certificate, not a private key (--cert and --key "
			    "swapped?)" :
			    "--key: '%s' holds no PEM private key", key);
			X509_free(kx);
			goto out;
		}
	}
	if (x != NULL && k != NULL && X509_check_private_key(x, k) != 1) {
		snprintf(why, whysz, "--key: '%s' is not the key of the "
		    "certificate in --cert '%s'", key, cert);
		goto out;
	}
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	release(&cf);
	release(&kf);
	return rc;
}

int
tlsfiles_check(const char *cafile, const char *cert, const char *key,
    char *why, size_t whysz)
{
	int rc;

	if ((cert == NULL) != (key == NULL)) {
		snprintf(why, whysz, "--cert and --key go together");
		return -1;
	}
	rc = check(cafile, cert, key, why, whysz);
	/* The callers' libraries read OpenSSL's queue after their own calls. */
	ERR_clear_error();
	return rc;
}
