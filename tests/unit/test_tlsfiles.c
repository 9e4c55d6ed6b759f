/*
 * tlsfiles: local TLS mistakes found before connecting, on certificates
 * the openssl command makes in a temporary directory.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "tlsfiles.h"
#include "unit.h"

static char dir[64];

static const char *
at(const char *name)
{
	static char buf[8][128];
	static int n;

	n = (n + 1) % 8;
	snprintf(buf[n], sizeof buf[n], "%s/%s", dir, name);
	return buf[n];
}

static int
sh(const char *cmd)
{
	char buf[1024];

	snprintf(buf, sizeof buf, "cd %s && (%s) >/dev/null 2>&1", dir, cmd);
	return system(buf);
}

/* A self-signed certificate NAME.pem with its key NAME.key. */
static int
makecert(const char *name, const char *alg)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "openssl req -x509 -new -newkey %s -nodes "
	    "-days 2 -subj /CN=%s -keyout %s.key -out %s.pem", alg, name,
	    name, name);
	return sh(cmd);
}

/* tlsfiles_check fails with a reason holding want (and the file). */
static void
fails(const char *ca, const char *cert, const char *key, const char *want,
    const char *file, const char *what)
{
	char why[512] = "";
	int rc;

	rc = tlsfiles_check(ca, cert, key, why, sizeof why);
	CHECK(rc == -1 && strstr(why, want) != NULL &&
	    strstr(why, file) != NULL, "%s: %s", what, why);
	CHECK(ERR_peek_error() == 0, "%s: no OpenSSL error left queued",
	    what);
}

int
main(void)
{
	char why[512] = "";

	snprintf(dir, sizeof dir, "/tmp/test_tlsfiles.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (makecert("a", "ec -pkeyopt ec_paramgen_curve:P-256") != 0 ||
	    makecert("b", "ec -pkeyopt ec_paramgen_curve:P-256") != 0 ||
	    makecert("r", "rsa:2048") != 0) {
		printf("not ok - openssl makes test certificates\n");
		return 1;
	}
	sh("cat a.pem r.pem >bundle.pem; cat a.key a.pem >both.pem; "
	    "echo 'not a certificate' >garbage.pem; : >empty.pem; "
	    "mkdir cadir; cp a.pem locked.pem; chmod 000 locked.pem; "
	    "openssl pkey -in r.key -aes128 -passout pass:x -out enc.key");

	CHECK(tlsfiles_check(at("bundle.pem"), at("a.pem"), at("a.key"), why,
	    sizeof why) == 0, "matching EC certificate and key, CA bundle: %s",
	    why);
	CHECK(tlsfiles_check(NULL, at("r.pem"), at("r.key"), why,
	    sizeof why) == 0, "matching RSA certificate and key: %s", why);
	CHECK(tlsfiles_check(NULL, at("both.pem"), at("both.pem"), why,
	    sizeof why) == 0, "key and certificate in one file: %s", why);
	CHECK(tlsfiles_check(NULL, NULL, NULL, why, sizeof why) == 0,
	    "nothing to check");
	CHECK(tlsfiles_check(NULL, at("r.pem"), at("enc.key"), why,
	    sizeof why) == 0, "an encrypted key is not prompted for: %s", why);

	fails(NULL, at("a.pem"), at("b.key"), "is not the key of the "
	    "certificate", "b.key", "EC key of another certificate");
	fails(NULL, at("a.pem"), at("r.key"), "is not the key of the "
	    "certificate", "r.key", "RSA key for an EC certificate");
	fails(NULL, at("a.key"), at("a.pem"), "(--cert and --key swapped?)",
	    "a.key", "swapped --cert and --key");
	fails(NULL, at("a.pem"), at("b.pem"), "--key: '", "b.pem",
	    "a certificate as --key");
	fails(NULL, at("a.pem"), at("garbage.pem"), "holds no PEM private key",
	    "garbage.pem", "garbage --key");
	fails(NULL, at("garbage.pem"), at("a.key"), "--cert: '", "garbage.pem",
	    "garbage --cert");
	fails(NULL, at("a.pem"), NULL, "--cert and --key go together", "",
	    "a certificate without its key");
	fails(NULL, NULL, at("a.key"), "--cert and --key go together", "",
	    "a key without its certificate");
	fails(at("garbage.pem"), NULL, NULL, "--cafile: '", "garbage.pem",
	    "garbage --cafile");
	fails(at("empty.pem"), NULL, NULL, "holds no PEM certificate",
	    "empty.pem", "empty --cafile");
	fails(at("a.key"), NULL, NULL, "holds no PEM certificate", "a.key",
	    "a key as --cafile");
	fails(at("cadir"), NULL, NULL, "is a directory", "cadir",
	    "a directory as --cafile");
	fails(at("nosuch.pem"), NULL, NULL, "--cafile: cannot read '",
	    "nosuch.pem", "missing --cafile");
	fails(NULL, at("nosuch.pem"), at("a.key"), "No such file",
	    "nosuch.pem", "missing --cert");
	if (geteuid() != 0)
		fails(NULL, at("locked.pem"), at("a.key"), "Permission denied",
		    "locked.pem", "unreadable --cert");

	sh("chmod 600 locked.pem; rm -rf " "cadir *.pem *.key *.srl");
	rmdir(dir);
	return UNIT_END();
}
