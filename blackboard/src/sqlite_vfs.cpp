#include "sqlite_vfs.hpp"

#include <sqlite3.h>

#include <cstring>
#include <mutex>

#include "failpoints_internal.hpp"

namespace agora::bb::detail {

namespace {

// A file of the shim: our header, then the real VFS's file object.
struct shim_file {
  sqlite3_file base;
  sqlite3_file* real;
  int flags;  // SQLITE_OPEN_MAIN_DB, SQLITE_OPEN_WAL, ...
};

sqlite3_vfs* real_vfs = nullptr;
sqlite3_vfs shim_vfs;
sqlite3_io_methods shim_methods;

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<shim_file*>(f)->real; }

bool watched(sqlite3_file* f) {
  int flags = reinterpret_cast<shim_file*>(f)->flags;
  return (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) != 0;
}

int x_close(sqlite3_file* f) {
  sqlite3_file* r = real_of(f);
  int rc = r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
  return rc;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xRead(r, buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  sqlite3_file* r = real_of(f);
  if (disk_limit_set()) {
    sqlite3_int64 size = 0;
    if (int rc = r->pMethods->xFileSize(r, &size); rc != SQLITE_OK) return rc;
    const sqlite3_int64 end = off + n;
    if (end > size && !disk_growth_allowed(static_cast<std::uint64_t>(end - size)))
      return SQLITE_FULL;
  }
  return r->pMethods->xWrite(r, buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xTruncate(r, size);
}
int x_sync(sqlite3_file* f, int flags) {
  sqlite3_file* r = real_of(f);
  const bool w = watched(f);
  if (w && failpoint_hit(failpoint::before_sync)) return SQLITE_IOERR_FSYNC;
  int rc = r->pMethods->xSync(r, flags);
  if (rc != SQLITE_OK) return rc;
  if (w) {
    counter_syncs.fetch_add(1, std::memory_order_relaxed);
    if (failpoint_hit(failpoint::after_sync)) return SQLITE_IOERR_FSYNC;
  }
  return rc;
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xFileSize(r, size);
}
int x_lock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xUnlock(real_of(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int x_device_characteristics(sqlite3_file* f) {
  return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
int x_shm_map(sqlite3_file* f, int pg, int pgsz, int extend, void volatile** p) {
  return real_of(f)->pMethods->xShmMap(real_of(f), pg, pgsz, extend, p);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int x_shm_unmap(sqlite3_file* f, int del) {
  return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int amt, void** pp) {
  return real_of(f)->pMethods->xFetch(real_of(f), off, amt, pp);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* sf = reinterpret_cast<shim_file*>(f);
  std::memset(sf, 0, sizeof(shim_file));
  sf->real = reinterpret_cast<sqlite3_file*>(sf + 1);
  sf->flags = flags;
  int rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out_flags);
  // SQLite calls xClose only when pMethods is set: leave it null on failure.
  if (rc == SQLITE_OK && sf->real->pMethods) {
    // The shim forwards every method the real file has, and no others.
    sf->base.pMethods = &shim_methods;
  }
  return rc;
}
int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return real_vfs->xDelete(real_vfs, name, sync_dir);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return real_vfs->xAccess(real_vfs, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return real_vfs->xFullPathname(real_vfs, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return real_vfs->xDlOpen(real_vfs, name); }
void x_dl_error(sqlite3_vfs*, int n, char* msg) { real_vfs->xDlError(real_vfs, n, msg); }
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return real_vfs->xDlSym(real_vfs, h, sym);
}
void x_dl_close(sqlite3_vfs*, void* h) { real_vfs->xDlClose(real_vfs, h); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return real_vfs->xRandomness(real_vfs, n, out); }
int x_sleep(sqlite3_vfs*, int us) { return real_vfs->xSleep(real_vfs, us); }
int x_current_time(sqlite3_vfs*, double* t) { return real_vfs->xCurrentTime(real_vfs, t); }
int x_get_last_error(sqlite3_vfs*, int n, char* msg) {
  return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, msg) : 0;
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* t) {
  return real_vfs->xCurrentTimeInt64(real_vfs, t);
}

void register_shim() {
  real_vfs = sqlite3_vfs_find(nullptr);
  if (!real_vfs) return;
  // The methods of version 3 (memory-mapped I/O and shared memory for WAL).
  shim_methods.iVersion = 3;
  shim_methods.xClose = x_close;
  shim_methods.xRead = x_read;
  shim_methods.xWrite = x_write;
  shim_methods.xTruncate = x_truncate;
  shim_methods.xSync = x_sync;
  shim_methods.xFileSize = x_file_size;
  shim_methods.xLock = x_lock;
  shim_methods.xUnlock = x_unlock;
  shim_methods.xCheckReservedLock = x_check_reserved;
  shim_methods.xFileControl = x_file_control;
  shim_methods.xSectorSize = x_sector_size;
  shim_methods.xDeviceCharacteristics = x_device_characteristics;
  shim_methods.xShmMap = x_shm_map;
  shim_methods.xShmLock = x_shm_lock;
  shim_methods.xShmBarrier = x_shm_barrier;
  shim_methods.xShmUnmap = x_shm_unmap;
  shim_methods.xFetch = x_fetch;
  shim_methods.xUnfetch = x_unfetch;

  shim_vfs.iVersion = 2;
  shim_vfs.szOsFile = static_cast<int>(sizeof(shim_file)) + real_vfs->szOsFile;
  shim_vfs.mxPathname = real_vfs->mxPathname;
  shim_vfs.zName = "agora";
  shim_vfs.xOpen = x_open;
  shim_vfs.xDelete = x_delete;
  shim_vfs.xAccess = x_access;
  shim_vfs.xFullPathname = x_full_pathname;
  shim_vfs.xDlOpen = x_dl_open;
  shim_vfs.xDlError = x_dl_error;
  shim_vfs.xDlSym = x_dl_sym;
  shim_vfs.xDlClose = x_dl_close;
  shim_vfs.xRandomness = x_randomness;
  shim_vfs.xSleep = x_sleep;
  shim_vfs.xCurrentTime = x_current_time;
  shim_vfs.xGetLastError = x_get_last_error;
  shim_vfs.xCurrentTimeInt64 = x_current_time_int64;
  if (sqlite3_vfs_register(&shim_vfs, 0) != SQLITE_OK) real_vfs = nullptr;
}

}  // namespace

const char* agora_vfs() {
  static std::once_flag once;
  std::call_once(once, register_shim);
  return real_vfs ? "agora" : nullptr;
}

}  // namespace agora::bb::detail
