/* store_stamp.h - the database's change stamp (part of the store module, index/store_stamp.c).
 *
 * Every committed change of a replicated table advances the change log's sequence number
 * (migration 0005: triggers, in the same transaction); a replica's applied position
 * advances the same way; a restore renames the log. So the stamp
 *     "<log id>:<last sequence number>:<followed log>@<position>"
 * names one committed state of the database: derived files (snapshots of the memory
 * copy and the catalog, statesnap.h) stamped with it are valid exactly while the
 * database's stamp is unchanged, with no need to read any row.
 *
 * The store also tracks the stamp its own process's view corresponds to ("known"): set
 * by the caller once it has loaded its view (store_stamp_set_known), advanced by every
 * write transaction of this process that starts from it, and cleared ("") when a write
 * transaction finds the database changed by someone else (another process). A snapshot
 * written with the known stamp is therefore never claimed for a state it does not hold.
 */
#ifndef LSD_STORE_STAMP_H
#define LSD_STORE_STAMP_H

#include "store.h"

#define STORE_STAMP_MAX 128

/* The database's current stamp (one read transaction). 0, or -1 with err. */
int store_stamp(struct store *st, char *out /* OUT, STORE_STAMP_MAX */, char *err);
/* The stamp of this process's view, "" when unknown or lost. */
void store_stamp_known(struct store *st, char *out /* OUT, STORE_STAMP_MAX */);
void store_stamp_set_known(struct store *st, const char *stamp);

#endif
