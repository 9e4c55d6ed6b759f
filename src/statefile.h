/*
 * The key file (--state) of flespi-recv and of every forwarder: one
 * decimal key and a newline.  Saved
 * atomically (FILE.tmp created 0600, written, fsync'd, renamed over FILE,
 * then the directory fsync'd), so after a crash FILE holds either the old
 * key or the new one, never a torn mix.
 */
#ifndef STATEFILE_H
#define STATEFILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read the key from path.  Returns 1 and *key, 0 when the file does not
 * exist, or -1 with errno (EINVAL: the content is not a key).
 */
int	state_load(const char *path, uint64_t *key);
/*
 * Save key to path atomically.  PATH.tmp is created anew (O_EXCL,
 * O_NOFOLLOW); one left over by a run that died is removed first.
 * Returns 0, or -1 with errno.
 */
int	state_save(const char *path, uint64_t key);
/*
 * The file to save to, decided once at start: path itself, or when path is
 * a symbolic link the file it names (so that the link stays a link and its
 * target gets the key, written next to it).  Returns a malloc'd path, or
 * NULL with errno (ENOENT: a link to nothing).
 */
char   *state_resolve(const char *path);
/*
 * Take the lock that says "a run is using path": flock(2) on PATH.lock
 * (created 0600 and never removed, so the lock outlives every rename of
 * PATH).  Returns the descriptor, held open for the life of the run; -1
 * with errno EWOULDBLOCK when another process holds it, or another errno
 * when the lock file cannot be opened.
 */
int	state_lock(const char *path);

/*
 * The whole life of a --state file, the same in every tool: a path that
 * is a symbolic link stands for its target (the key is saved there, the
 * link stays a link, and the target is what is locked, so that a run
 * through the link and a run on the target exclude each other); the
 * lock is taken for the life of the run; the key is read.
 */
struct statefile {
	char	       *path;		/* the file saved to (malloc'd) */
	int		lockfd;		/* held until state_close, or -1 */
};

/*
 * Resolve, lock and load path.  Returns 1 with *key, 0 when there is no
 * key yet, or -1 with a one-line reason in why (the same wording in every
 * tool) and *status the exit status to end with: EXIT_LOCKED (another run
 * holds it) or EXIT_IOERR.
 */
int	state_open(struct statefile *, const char *path, uint64_t *key,
	    int *status, char *why, size_t whysz);
void	state_close(struct statefile *);

#endif
