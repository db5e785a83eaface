/* ctl-backup.c: minimailctl backup DIR [--full] and restore DIR, over
 * store_backup() / store_restore() (src/store/store-backup.c, which says
 * how a backup stays consistent while the daemon writes). The one idea:
 * backup joins the running daemon's environment like every minimailctl
 * command, while restore never opens the configured store before it is
 * restored: data_dir must be missing or empty, so no daemon serves it. */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

static void
summary(const char *what, const struct store_backup_stats *s, const char *dir)
{
	char copied[32], total[32];
	ctl_fmt_bytes(s->copied_bytes, copied, sizeof(copied));
	ctl_fmt_bytes(s->backup_bytes, total, sizeof(total));
	printf("%s: %s%llu files, %s copied in %.1f s; %s now holds %s "
	    "(log file %u)\n", what,
	    strcmp(what, "restore") == 0 ? "" : s->incremental ?
	    "incremental (log files only), " : "full, ",
	    (unsigned long long)s->copied_files, copied, s->msecs / 1000.0, dir,
	    total, s->log_last);
}

int
ctl_backup(struct config *cfg, int argc, char **argv)
{
	const char *dir = NULL;
	bool full = false;
	char err[768];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--full") == 0)
			full = true;
		else if (argv[i][0] == '-' || dir != NULL)
			ctl_die("usage: minimailctl backup DIR [--full]");
		else
			dir = argv[i];
	}
	if (dir == NULL)
		ctl_die("usage: minimailctl backup DIR [--full]");
	struct store *st = ctl_open_store(cfg, false);
	struct store_backup_stats s;
	int r = store_backup(st, dir, full, ctl_progress, NULL, &s, err, sizeof(err));
	ctl_progress_end();
	ctl_close_store();
	if (r != STORE_OK)
		ctl_die("backup failed: %s", err);
	if (!s.incremental && s.reason != NULL)
		printf("full backup: %s\n", s.reason);
	summary("backup", &s, dir);
	ctl_flush();
	return 0;
}

int
ctl_restore(struct config *cfg, int argc, char **argv)
{
	char err[768];

	if (argc != 2 || argv[1][0] == '-')
		ctl_die("usage: minimailctl restore DIR");
	struct store_backup_stats s;
	int r = store_restore(argv[1], cfg->data_dir, ctl_progress, NULL, &s, err,
	    sizeof(err));
	ctl_progress_end();
	if (r != STORE_OK)
		ctl_die("restore failed: %s", err);
	summary("restore", &s, cfg->data_dir);
	ctl_flush();
	return 0;
}
