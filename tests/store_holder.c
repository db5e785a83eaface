/* store_holder.c: a test helper that opens the store in DATA_DIR and
 * holds it until it is killed, so that end-to-end tests can SIGKILL a
 * process that has the store open (minimailctl holds fatal signals and is
 * done in milliseconds). With "lock" it also starts a transaction that
 * writes users.db and never ends, so the dead process leaves a lock that
 * the daemon's transactions wait for. Prints "ready" once it holds it.
 *
 * The one idea: it uses the store exactly as minimailctl does (no
 * STORE_OPEN_RECOVER), so what the daemon survives here it survives
 * from a killed minimailctl. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/store-int.h"

int
main(int argc, char **argv)
{
	struct store *st;
	char err[512];

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "lock") != 0)) {
		fprintf(stderr, "usage: store_holder DATA_DIR [lock]\n");
		return 2;
	}
	if (store_open(argv[1], 0, &st, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "store_holder: %s\n", err);
		return 1;
	}
	if (argc == 3) {
		static const char key[] = "holder@example.org";
		struct sdb_user u = { .version = SDB_USER_VERSION };
		DBT k = { .data = (void *)key, .size = sizeof(key) - 1 };
		DBT d = { .data = &u, .size = sizeof(u) };
		DB_TXN *txn;
		if (st->env->txn_begin(st->env, NULL, &txn, 0) != 0 ||
		    st->users->put(st->users, txn, &k, &d, 0) != 0) {
			fprintf(stderr, "store_holder: cannot start the transaction\n");
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
