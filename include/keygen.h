/* keygen.h - an admin API key made for a server that would otherwise have none.
 *
 * `lesiond serve --generate-admin-key FILE` (what the container image runs): a server
 * told to listen beyond loopback with no API keys and without open_access uses the key
 * in FILE instead of refusing to start, creating FILE first when it does not exist.
 * Called at start and on SIGHUP, from the main thread.
 */
#ifndef LSD_KEYGEN_H
#define LSD_KEYGEN_H

/* Make sure PATH exists: when it does not, create it with one line "admin <64 hex
 * digits>" (32 bytes from getrandom), mode 0600, written whole or not at all (a
 * temporary file linked into place: an existing PATH is never replaced). *created is 1
 * when this call made it. Returns 0, or -1 with err. */
int keygen_admin_file(const char *path, int *created /* OUT */, char *err);

#endif
