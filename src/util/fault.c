/*
 * fault.c - fault injection for the test build: fail the Nth allocation,
 * SQLite allocation, SQLite file write or SQLite fsync (see fault.h).
 *
 * SQLite's allocations are redirected with SQLITE_CONFIG_MALLOC; its file
 * I/O goes through a VFS that wraps the default one and forwards every call
 * except the failing write or sync. This is the shape of SQLite's own test
 * VFS (src/test_vfs.c), reduced to what the fault harness needs.
 */
#ifdef RB_FAULT_INJECT

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "runbook/common.h"
#include "runbook/fault.h"
#include "runbook/banned.h"

enum { F_ALLOC, F_SQLITE_ALLOC, F_WRITE, F_FSYNC, F_NKINDS };

static const char *const kind_names[F_NKINDS] = {
	"alloc", "sqlite-alloc", "write", "fsync"
};

/* Test build only: the counters of this one process. */
static _Atomic unsigned long counts[F_NKINDS];
static unsigned long fail_at[F_NKINDS];
static atomic_bool loaded;
static atomic_bool sqlite_armed;	/* after SQLite's own initialization */
static const char *report_path;
static sqlite3_mem_methods real_mem;
static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;

static void
load(void)
{
	const char *spec = getenv("RUNBOOK_FAULT");
	char buf[256], *p, *next;
	int k;

	if (atomic_exchange(&loaded, true))
		return;
	report_path = getenv("RUNBOOK_FAULT_REPORT");
	if (spec == NULL || strlen(spec) >= sizeof(buf))
		return;
	memcpy(buf, spec, strlen(spec) + 1);
	for (p = buf; p != NULL && *p != '\0'; p = next) {
		char *eq, *end;
		unsigned long n;

		if ((next = strchr(p, ',')) != NULL)
			*next++ = '\0';
		if ((eq = strchr(p, '=')) == NULL)
			continue;
		*eq = '\0';
		n = strtoul(eq + 1, &end, 10);
		for (k = 0; k < F_NKINDS; k++)
			if (strcmp(p, kind_names[k]) == 0 && *end == '\0')
				fail_at[k] = n;
	}
}

/* Count one event of kind k; true (after saying so) when it must fail. */
static bool
hit(int k)
{
	unsigned long n;
	char msg[96];
	int len;

	load();
	n = atomic_fetch_add(&counts[k], 1) + 1;
	if (fail_at[k] == 0 || n != fail_at[k])
		return false;
	len = snprintf(msg, sizeof(msg), "runbook: fault injected: %s #%lu\n",
	    kind_names[k], n);
	if (len > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)len);
	return true;
}

bool
rb_fault_alloc(void)
{
	return hit(F_ALLOC);
}

static void
write_report(void)
{
	FILE *f;
	int k;

	if (report_path == NULL || (f = fopen(report_path, "w")) == NULL)
		return;
	for (k = 0; k < F_NKINDS; k++)
		fprintf(f, "%s %lu\n", kind_names[k], (unsigned long)counts[k]);
	fclose(f);
}

/* ------------------------------------------------------------------ */
/* SQLite allocator                                                     */
/* ------------------------------------------------------------------ */

static void *
mem_malloc(int n)
{
	if (sqlite_armed && hit(F_SQLITE_ALLOC))
		return NULL;
	return real_mem.xMalloc(n);
}

static void *
mem_realloc(void *p, int n)
{
	if (sqlite_armed && hit(F_SQLITE_ALLOC))
		return NULL;
	return real_mem.xRealloc(p, n);
}

static void
mem_free(void *p)
{
	real_mem.xFree(p);
}

static int
mem_size(void *p)
{
	return real_mem.xSize(p);
}

static int
mem_roundup(int n)
{
	return real_mem.xRoundup(n);
}

static int
mem_init(void *app)
{
	(void)app;
	return real_mem.xInit(real_mem.pAppData);
}

static void
mem_shutdown(void *app)
{
	(void)app;
	real_mem.xShutdown(real_mem.pAppData);
}

/* ------------------------------------------------------------------ */
/* SQLite VFS: the default one, with failing xWrite and xSync           */
/* ------------------------------------------------------------------ */

struct fault_file {
	sqlite3_file base;
	sqlite3_file *real;	/* the wrapped file, right after this struct */
};

#define REAL(f) (((struct fault_file *)(f))->real)

static int
f_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int
f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int
f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	if (hit(F_WRITE))
		return SQLITE_IOERR_WRITE;
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int
f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
f_sync(sqlite3_file *f, int flags)
{
	if (hit(F_FSYNC))
		return SQLITE_IOERR_FSYNC;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
f_size(sqlite3_file *f, sqlite3_int64 *out)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), out);
}

static int
f_lock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int
f_unlock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int
f_check_lock(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
f_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
f_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
f_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int
f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void
f_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
f_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int
f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods fault_io_v3 = {
	3, f_close, f_read, f_write, f_truncate, f_sync, f_size, f_lock,
	f_unlock, f_check_lock, f_control, f_sector, f_devchar, f_shm_map,
	f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch
};

static const sqlite3_io_methods fault_io_v1 = {
	1, f_close, f_read, f_write, f_truncate, f_sync, f_size, f_lock,
	f_unlock, f_check_lock, f_control, f_sector, f_devchar, NULL, NULL,
	NULL, NULL, NULL, NULL
};

static int
f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
    int *out_flags)
{
	struct fault_file *ff = (struct fault_file *)f;
	int rc;

	(void)vfs;
	ff->real = (sqlite3_file *)(ff + 1);
	rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
	if (rc != SQLITE_OK || ff->real->pMethods == NULL) {
		ff->base.pMethods = NULL;
		return rc;
	}
	ff->base.pMethods = ff->real->pMethods->iVersion >= 3 ?
	    &fault_io_v3 : &fault_io_v1;
	return SQLITE_OK;
}

void
rb_fault_init(void)
{
	sqlite3_mem_methods m;

	load();
	if (report_path != NULL)
		atexit(write_report);
	if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem) == SQLITE_OK) {
		m = real_mem;
		m.xMalloc = mem_malloc;
		m.xRealloc = mem_realloc;
		m.xFree = mem_free;
		m.xSize = mem_size;
		m.xRoundup = mem_roundup;
		m.xInit = mem_init;
		m.xShutdown = mem_shutdown;
		m.pAppData = NULL;
		if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK)
			RB_BUG("cannot install the fault allocator");
	}
	if ((real_vfs = sqlite3_vfs_find(NULL)) == NULL)
		RB_BUG("no default SQLite VFS");
	fault_vfs = *real_vfs;
	fault_vfs.zName = "rb-fault";
	fault_vfs.szOsFile = (int)sizeof(struct fault_file) +
	    real_vfs->szOsFile;
	fault_vfs.xOpen = f_open;
	fault_vfs.pNext = NULL;
	if (sqlite3_vfs_register(&fault_vfs, 1) != SQLITE_OK)
		RB_BUG("cannot register the fault VFS");
	sqlite_armed = true;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int rb_fault_unused;

#endif
