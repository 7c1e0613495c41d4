/* C ABI of the store, for the nginx module (plain C). Every function catches all C++
 * exceptions: none ever crosses into the caller. A handle is used by one thread at a time
 * (one per nginx worker). */
#ifndef PROGRESSISTA_STORE_H
#define PROGRESSISTA_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct progressista_store progressista_store;

/* Creates or attaches the segment `name` (capacity 0: attach as it is, or create with the
 * default; mode e.g. 0600 or 0660). NULL on failure, with a message in err (NUL-terminated,
 * truncated to err_len). */
progressista_store* progressista_attach(const char* name, uint32_t capacity, unsigned mode,
                                        char* err, size_t err_len);

/* Applies a request body (one event object, an array of them, or NDJSON when ndjson != 0)
 * and writes the JSON answer into out (at most out_cap bytes; *out_len gets the full length,
 * which may exceed out_cap if the buffer was too small). Returns the HTTP status (200, 400,
 * 422, 507), or 500 on an internal error. */
int progressista_apply(progressista_store* store, const char* body, size_t len, int ndjson,
                       char* out, size_t out_cap, size_t* out_len);

/* Writes {"tasks":{...}} into buf if it fits; returns the snapshot's length either way, so a
 * caller can retry with a larger buffer. Returns 0 on an internal error. */
size_t progressista_snapshot(progressista_store* store, char* buf, size_t cap);

/* Non-zero when the segment was removed or re-created since attaching: detach and attach. */
int progressista_replaced(const progressista_store* store);

void progressista_detach(progressista_store* store);

#ifdef __cplusplus
}
#endif

#endif /* PROGRESSISTA_STORE_H */
