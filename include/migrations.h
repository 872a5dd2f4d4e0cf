/* migrations.h - the SQL migrations compiled in from migrations/NNNN_*.sql
 * (tools/embed_sql.sh). Applied in order by the store; version = the file's number. */
#ifndef LSD_MIGRATIONS_H
#define LSD_MIGRATIONS_H
struct migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct migration migrations[];
extern const int migrations_count;
#endif
