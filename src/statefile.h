/*
 * The key file of flespi-recv: one decimal key and a newline.  Saved
 * atomically (FILE.tmp created 0600, written, fsync'd, renamed over FILE,
 * then the directory fsync'd), so after a crash FILE holds either the old
 * key or the new one, never a torn mix.
 */
#ifndef STATEFILE_H
#define STATEFILE_H

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

#endif
